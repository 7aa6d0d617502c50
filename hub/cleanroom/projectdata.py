"""What a server for one project gets: the facts the access policy needs, and the read-only
data of the grants the policy let through.

Nothing here decides. The catalog supplies facts, OPA decides which grants apply, and this
module turns that answer into mounts: each grant's restricted Parquet (materialised when the
grant was made) and a per-server DuckDB catalog with one view per dataset, all read-only.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import materialise
from .catalog.records import GrantInfo
from .catalog.service import CatalogService
from .errors import SpawnRefused
from .policy import GrantFacts, ProjectFacts, UserFacts

CATALOG_ENV = "CLEANROOM_CATALOG"
MOUNTED_FILE = "mounted.json"
STOPPED_FILE = "stopped.json"


@dataclass(frozen=True)
class AccessFacts:
    user: UserFacts
    project: ProjectFacts | None
    grants: tuple[GrantFacts, ...]
    grant_infos: tuple[GrantInfo, ...] = field(default=())


def gather_facts(
    catalog: CatalogService,
    user: str,
    roles: tuple[str, ...],
    project: str | None,
    now: datetime | None = None,
) -> AccessFacts:
    """The access policy's facts for ``user`` opening ``project`` (None: no project)."""
    organisation = catalog.user_organisation(user)
    facts = UserFacts(name=user, organisation=organisation, roles=roles)
    if project is None:
        return AccessFacts(facts, None, ())
    project_facts = catalog.project_facts(project, user)
    infos = tuple(catalog.grants_for(project, now or datetime.now(UTC)))
    return AccessFacts(facts, project_facts, tuple(g.to_facts() for g in infos), infos)


def view_names(grants: list[GrantInfo]) -> dict[str, GrantInfo]:
    """One view per dataset, named after it; two versions of one dataset get ``_v<n>``."""
    per_dataset = Counter(g.dataset for g in grants)
    return {
        (g.dataset if per_dataset[g.dataset] == 1 else f"{g.dataset}_v{g.version}"): g
        for g in grants
    }


def prepare_mounts(
    facts: AccessFacts, allowed_ids: list[str], cache_dir: Path, session_dir: Path
) -> tuple[dict, dict[str, str]]:
    """Build the server's view catalog; return (read-only volumes, environment).

    Raises SpawnRefused when a granted dataset's data is not ready on this host.
    """
    allowed = [g for g in facts.grant_infos if str(g.id) in set(map(str, allowed_ids))]
    views: dict[str, str] = {}
    for name, grant in view_names(allowed).items():
        key = grant.materialisation_key
        ready = grant.materialisation_status == "ready" and key is not None
        if ready:
            ready = (materialise.researcher_dir(cache_dir, key) / materialise.DATA_FILE).exists()
        if not ready:
            raise SpawnRefused(
                f"The data of dataset {grant.dataset!r} (grant {grant.id}) is not ready on this "
                "host yet. Please tell an admin (cleanroom grant list shows its state)."
            )
        views[name] = key
    session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    catalog_path = materialise.build_view_catalog(views, session_dir / materialise.CATALOG_FILE)
    os.chmod(catalog_path, 0o444)
    # The grant watcher compares what a running server has mounted with what still applies.
    (session_dir / MOUNTED_FILE).write_text(json.dumps(sorted(str(g.id) for g in allowed)))
    volumes = materialise.container_mounts(views, cache_dir, catalog_path)
    environment = {CATALOG_ENV: f"{materialise.DEFAULT_DATA_DIR}/{materialise.CATALOG_FILE}"}
    return volumes, environment


def mounted_grant_ids(session_dir: Path) -> list[str]:
    try:
        return json.loads((session_dir / MOUNTED_FILE).read_text())
    except (OSError, ValueError):
        return []


def record_stop(session_dir: Path, reasons: list[str]) -> None:
    """Keep why a running server was stopped, for the researcher's next visit."""
    session_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    notice = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "reasons": reasons}
    (session_dir / STOPPED_FILE).write_text(json.dumps(notice))


def stop_notice(session_dir: Path) -> dict | None:
    try:
        return json.loads((session_dir / STOPPED_FILE).read_text())
    except (OSError, ValueError):
        return None


def clear_stop_notice(session_dir: Path) -> None:
    (session_dir / STOPPED_FILE).unlink(missing_ok=True)
