"""Journey 1 of the design, in Chromium: an admin, through the admin pages only, registers two
datasets holding rows from more than a dozen companies each, creates a project, adds a
researcher and a reviewer (after giving each an organisation), grants the project one whole
dataset and three columns of the other. Then the catalog service is asked whether it is all
there, and the grants' data materialised.

The files come from cleanroom.demo.data, written into the hub's import directory (the one
thing an admin does on the server, not in the browser). Screenshots of a dataset's page, of the
grant form and of the project's page are saved (their paths are printed) for people to look at.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from playwright.sync_api import Page, expect
from support.browser import fill_login

from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grants_dir
from cleanroom.catalog.service import CatalogService
from cleanroom.demo import data as demo_data
from cleanroom.grants import materialise

pytestmark = [pytest.mark.browser, pytest.mark.docker]

ROWS = 3000
PROJECT = "yield-drivers"
RESEARCHER, REVIEWER, ADMIN = "jules", "rosa", "adam"
WELD_COLUMNS = ["process", "heat_input_kj_mm", "result"]
LONG = 120_000  # ms: registering and materialising run as jobs


def org_id(company: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


@pytest.fixture(scope="module")
def demo(hub) -> demo_data.DemoData:
    data = demo_data.generate(hub.settings.import_path / "journey", ROWS)
    for dataset in data.datasets.values():
        assert len(dataset.organisations) >= 12
    return data


def sign_in(page: Page, hub, name: str) -> None:
    page.goto(f"{hub.url}/services/catalog/")
    page.wait_for_url(f"{hub.url}/hub/login**")
    fill_login(page, name, hub.passwords[name])
    page.wait_for_url(f"{hub.url}/services/catalog/", timeout=60_000)
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {name}")


def submit(page: Page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()


def notice(page: Page, text: str, timeout: int = 30_000) -> None:
    expect(page.locator(".notice")).to_contain_text(text, timeout=timeout)
    expect(page.locator(".error")).to_have_count(0)


def test_an_admin_does_it_all_through_the_admin_pages(hub, page, demo, tmp_path):
    hub.add_user(RESEARCHER, ("researcher",))
    hub.add_user(REVIEWER, ("reviewer",))
    sign_in(page, hub, ADMIN)
    base = f"{hub.url}/services/catalog/"

    # Organisations: every company in the demo data, a university and the vault's operator.
    companies = sorted({c for d in demo.datasets.values() for c in d.organisations})
    page.get_by_role("link", name="Organisations", exact=True).click()
    for company in companies:
        page.fill("#org-id", org_id(company))
        page.fill("#org-name", company)
        page.select_option("#org-kind", "depositor")
        submit(page, "Add organisation")
        notice(page, f"Added organisation {org_id(company)}")
    for oid, name in (
        ("uni-somewhere", "University of Somewhere"),
        ("vault-operator", "The vault's operator"),
    ):
        page.fill("#org-id", oid)
        page.fill("#org-name", name)
        page.select_option("#org-kind", "other")
        submit(page, "Add organisation")
        notice(page, f"Added organisation {oid}")

    # A mistake on the way: the message is shown, the input kept, nothing added.
    page.fill("#org-id", "Not An Id")
    page.fill("#org-name", "Typo Corp")
    submit(page, "Add organisation")
    expect(page.locator(".error")).to_contain_text("is not a valid organisation id")
    expect(page.locator("#org-name")).to_have_value("Typo Corp")

    # Users' organisations.
    page.get_by_role("link", name="Users", exact=True).click()
    for user, org in ((RESEARCHER, "uni-somewhere"), (REVIEWER, "vault-operator")):
        page.fill("#user-name", user)
        page.select_option("#user-org", org)
        submit(page, "Set organisation")
        notice(page, f"{user} belongs to {org}")

    # Two datasets, from the files under the import directory, each plant mapped to its company.
    for name, fmt in (("wafer_lots", "parquet"), ("weld_inspections", "csv")):
        dataset = demo.datasets[name]
        page.goto(base + "datasets")
        page.get_by_role("link", name="Register a dataset").click()
        page.fill("#ds-name", name)
        page.select_option("#ds-file", f"journey/{name}.{fmt}")
        page.fill("#ds-contributor", dataset.contributor_column)
        page.fill("#ds-description", dataset.title)
        page.fill(
            "#ds-mapping",
            "\n".join(
                f"{value}={org_id(company)}" for value, company in dataset.contributors.items()
            ),
        )
        submit(page, "Register")
        notice(page, f"Registered {name} v1: {ROWS} rows", timeout=LONG)
        page.get_by_role("link", name="Open it").click()
        expect(page.locator("h1")).to_have_text(name)
    page.screenshot(path=str(tmp_path / "dataset.png"), full_page=True)

    # The project, its researcher and its reviewer.
    page.get_by_role("link", name="Projects", exact=True).click()
    page.fill("#p-name", PROJECT)
    page.fill("#p-description", "What drives wafer yield and weld quality")
    submit(page, "Create project")
    notice(page, f"Created project {PROJECT}")
    for user, role in ((RESEARCHER, "researcher"), (REVIEWER, "reviewer")):
        page.select_option("#m-user", user)
        page.select_option("#m-role", role)
        submit(page, "Add member")
        notice(page, f"is a {role} of {PROJECT}")

    # Grants: all of wafer_lots; three columns of weld_inspections.
    page.select_option("#g-dataset", "wafer_lots")
    submit(page, "Choose columns and rows…")
    page.check("input[name=scope][value=all]")
    page.fill("#g-reason", "yield study: the whole wafer record")
    submit(page, "Grant")
    notice(page, f"Granted {PROJECT} wafer_lots v1 (all columns)", timeout=LONG)
    page.get_by_role("link", name="Open it").click()

    page.select_option("#g-dataset", "weld_inspections")
    submit(page, "Choose columns and rows…")
    page.check("input[name=scope][value=some]")
    for column in WELD_COLUMNS:
        page.check(f"input[name=columns][value={column}]")
    page.fill("#g-reason", "weld quality: process, heat input and result only")
    page.screenshot(path=str(tmp_path / "grant.png"), full_page=True)
    submit(page, "Grant")
    notice(page, f"Granted {PROJECT} weld_inspections v1 ({', '.join(WELD_COLUMNS)})", timeout=LONG)
    page.get_by_role("link", name="Open it").click()
    expect(page.locator("#grants tbody tr")).to_have_count(2)
    expect(page.locator("#members tbody tr")).to_have_count(2)
    page.screenshot(path=str(tmp_path / "project.png"), full_page=True)
    print("screenshots:", *(tmp_path / f"{n}.png" for n in ("dataset", "grant", "project")))

    # It is all in the catalog, done by the admin, audited, and the data is materialised.
    catalog = CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )
    known = {o.id for o in catalog.list_organisations()}
    assert {org_id(c) for c in companies} | {"uni-somewhere", "vault-operator"} <= known
    for name, dataset in demo.datasets.items():
        version = catalog.get_version(name)
        assert version.row_count == ROWS and version.created_by == ADMIN
        assert version.contributors == {v: org_id(c) for v, c in dataset.contributors.items()}
        assert len(version.organisations) >= 12
    assert {(m.user, m.role, m.organisation) for m in catalog.list_members(PROJECT)} == {
        (RESEARCHER, "researcher", "uni-somewhere"),
        (REVIEWER, "reviewer", "vault-operator"),
    }
    grants = {g.dataset: g for g in catalog.list_grants(PROJECT)}
    assert set(grants) == {"wafer_lots", "weld_inspections"}
    assert grants["wafer_lots"].columns is None
    assert grants["weld_inspections"].columns == tuple(WELD_COLUMNS)
    for grant in grants.values():
        assert grant.active and grant.row_filter is None and grant.expires_at is None
        assert grant.granted_by == ADMIN and grant.materialisation_status == "ready"
        cache, key = grants_dir(hub.settings.state_dir), grant.materialisation_key
        assert (materialise.researcher_dir(cache, key) / materialise.DATA_FILE).is_file()
        assert (materialise.airlock_dir(cache, key) / materialise.MANIFEST).is_file()
    events = [
        r.event
        for r in catalog.audit.records()
        if r.actor == ADMIN and r.event.startswith("catalog.")
    ]
    for event in (
        "catalog.organisation.add",
        "catalog.user.set_organisation",
        "catalog.dataset.register",
        "catalog.project.create",
        "catalog.member.add",
        "catalog.grant.create",
    ):
        assert event in events
    assert events.count("catalog.grant.create") >= 2
