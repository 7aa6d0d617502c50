"""Demo contents for ``make up``: the journeys of the design, ready to try.

Two synthetic datasets with rows from more than a dozen companies (cleanroom.demo.data), their
companies as organisations, the demo people placed in organisations, and a project ``demo``
in which ``researcher`` works and ``reviewer`` and ``checker`` review, granted one whole
dataset and three columns of the other. Everything goes through the catalog service
(audited); a second run adds only what is missing.
"""

from __future__ import annotations

import re

from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService
from cleanroom.demo import data as demo_data
from cleanroom.settings import Settings

ACTOR = "admin"
PROJECT = "demo"
VAULT = ("vault-operator", "The data vault's operator", "other")
UNIVERSITY = ("demo-university", "Demo University", "other")
# Output checkers work for the vault operator: the review policy refuses a reviewer from the
# requester's own organisation, and some requests need two reviewers.
PEOPLE = {
    "admin": VAULT[0],
    "researcher": UNIVERSITY[0],
    "reviewer": VAULT[0],
    "checker": VAULT[0],
}
MEMBERS = {"researcher": "researcher", "reviewer": "reviewer", "checker": "reviewer"}
WELD_COLUMNS = ["current_a", "voltage_v", "result"]
DEMO_ROWS = 100_000


def org_id(company: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", company.lower().encode("ascii", "ignore").decode()).strip("-")


def ensure_demo_catalog(settings: Settings, rows: int = DEMO_ROWS) -> list[str]:
    """Create whatever part of the demo is missing; return what was done, as sentences."""
    done: list[str] = []
    audit = AuditLog.from_state_dir(settings.state_dir)
    catalog = CatalogService.open(
        settings.catalog_database_url,
        audit,
        materialiser=grant_materialiser(grants_dir(settings.state_dir)),
    )
    out_dir = settings.state_path / "import" / "demo"
    data = demo_data.generate(out_dir, rows, formats=("parquet",))

    known_orgs = {o.id for o in catalog.list_organisations()}
    companies = sorted({c for d in data.datasets.values() for c in d.organisations})
    wanted = [VAULT, UNIVERSITY] + [(org_id(c), c, "depositor") for c in companies]
    for ident, name, kind in wanted:
        if ident not in known_orgs:
            catalog.add_organisation(ident, name, kind, actor=ACTOR)
            done.append(f"organisation {ident}")
    orgs = {u.name: u.organisation for u in catalog.list_users()}
    owner_org = org_id(companies[0])
    for person, org in {**PEOPLE, "owner": owner_org}.items():
        if orgs.get(person) != org:
            catalog.set_user_organisation(person, org, actor=ACTOR)

    registered = {d.name for d in catalog.list_datasets()}
    for name, dataset in data.datasets.items():
        if name not in registered:
            mapping = {value: org_id(company) for value, company in dataset.contributors.items()}
            catalog.register_dataset(
                name,
                dataset.paths["parquet"],
                contributor_column=dataset.contributor_column,
                mapping=mapping,
                description=dataset.title,
                actor=ACTOR,
            )
            done.append(f"dataset {name} ({dataset.rows} rows)")

    if PROJECT not in {p.name for p in catalog.list_projects()}:
        catalog.create_project(PROJECT, description="Yield and weld quality", actor=ACTOR)
        for user, role in MEMBERS.items():
            catalog.add_member(PROJECT, user, role, actor=ACTOR)
        catalog.grant(PROJECT, "wafer_lots", reason="demo: the whole dataset", actor=ACTOR)
        catalog.grant(
            PROJECT,
            "weld_inspections",
            columns=WELD_COLUMNS,
            reason="demo: three columns",
            actor=ACTOR,
        )
        done.append(f"project {PROJECT} with its members and grants")
    members = {m.user for m in catalog.list_members(PROJECT)}
    for user, role in MEMBERS.items():
        if user not in members:
            catalog.add_member(PROJECT, user, role, actor=ACTOR)
            done.append(f"member {user} of {PROJECT}")
    return done
