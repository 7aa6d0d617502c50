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

from cleanroom.catalog.enums import MaterialisationState
from cleanroom.catalog.records import GrantInfo
from cleanroom.catalog.service import CatalogService
from cleanroom.errors import CleanRoomError, SpawnRefused
from cleanroom.grants.cache import DATA_FILE, researcher_dir
from cleanroom.grants.materialise import describe_researcher_copy
from cleanroom.grants.views import (
    CATALOG_FILE,
    DEFAULT_DATA_DIR,
    build_view_catalog,
    container_mounts,
)
from cleanroom.policy import GrantFacts, ProjectFacts, UserFacts

CATALOG_ENV = "CLEANROOM_CATALOG"
MOUNTED_FILE = "mounted.json"
STOPPED_FILE = "stopped.json"
# What the lab server's Datasets panel shows: facts about the mounted views, never their data.
DATASETS_FILE = "datasets.json"
SESSION_DIR_MODE = 0o2770
DATASETS_ENV = "CLEANROOM_DATASETS"
DATASETS_IN_LAB = "/etc/cleanroom/datasets.json"


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
    named = view_names(allowed)
    views: dict[str, str] = {}
    for name, grant in named.items():
        key = grant.materialisation_key
        if (
            key is None
            or grant.materialisation_status != MaterialisationState.READY
            or not (researcher_dir(cache_dir, key) / DATA_FILE).exists()
        ):
            raise SpawnRefused(
                f"The data of dataset {grant.dataset!r} (grant {grant.id}) is not ready on this "
                "host yet. Please tell an admin (cleanroom grant list shows its state)."
            )
        views[name] = key
    make_session_dir(session_dir)
    catalog_path = build_view_catalog(views, session_dir / CATALOG_FILE)
    os.chmod(catalog_path, 0o444)
    write_datasets_file(describe_views(named, cache_dir, session_dir), session_dir)
    # The grant watcher compares what a running server has mounted with what still applies.
    (session_dir / MOUNTED_FILE).write_text(json.dumps(sorted(str(g.id) for g in allowed)))
    os.chmod(session_dir / MOUNTED_FILE, 0o640)  # the watcher's group reads it
    volumes = container_mounts(views, cache_dir, catalog_path)
    environment = {CATALOG_ENV: f"{DEFAULT_DATA_DIR}/{CATALOG_FILE}"}
    return volumes, environment


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def describe_views(views: dict[str, GrantInfo], cache_dir: Path, scratch_dir: Path) -> list:
    """What the researcher may know of each mounted view without reading it: its columns and
    types, its number of rows, what the grant restricts and until when it runs."""
    described = []
    for name, grant in sorted(views.items()):
        key = grant.materialisation_key
        assert key is not None, "lab_mounts mounts only grants whose data is ready"
        columns, rows = describe_researcher_copy(cache_dir, key, scratch_dir)
        described.append(
            {
                "view": name,
                "dataset": grant.dataset,
                "version": grant.version_label,
                "grant": grant.id,
                "columns": [{"name": c, "type": t} for c, t in columns.items()],
                "rows": rows,
                # The names of ungranted columns are not the researcher's to know: only that
                # there are some.
                "columns_restricted": grant.columns is not None,
                "row_filter": grant.row_filter,
                "expires_at": _when(grant.expires_at),
                "granted_at": _when(grant.granted_at),
            }
        )
    return described


def write_datasets_file(described: list, session_dir: Path) -> Path:
    """Replace the session's datasets file in one step (a running lab server may read it)."""
    target = session_dir / DATASETS_FILE
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    partial.write_text(json.dumps({"datasets": described}, indent=1, sort_keys=True) + "\n")
    os.chmod(partial, 0o444)
    os.replace(partial, target)
    return target


def lab_mounts(session_dir: Path) -> tuple[dict, dict[str, str]]:
    """The lab server's read-only view of the session: the datasets file only."""
    volumes = {str(session_dir / DATASETS_FILE): {"bind": DATASETS_IN_LAB, "mode": "ro"}}
    return volumes, {DATASETS_ENV: DATASETS_IN_LAB}


def record_mounts(catalog: CatalogService, user: str, project: str, grant_ids: list[str]) -> None:
    """Record in the catalog which grants this start of ``user``'s server in ``project``
    mounts, before the server starts. The airlock reads it to ask (and show a request to)
    only the data owners whose organisations' rows were mounted; a start it cannot record
    is refused, since files made by an unrecorded server could be attributed to too few
    organisations."""
    try:
        catalog.record_mount(project, user, grant_ids, actor=user)
    except CleanRoomError as error:
        raise SpawnRefused(
            "Your server was not started: the catalog could not record which data it mounts "
            f"({error}). Try again in a moment; if it keeps failing, tell an admin."
        ) from error


def mounted_grant_ids(session_dir: Path) -> list[str]:
    try:
        return json.loads((session_dir / MOUNTED_FILE).read_text())
    except (OSError, ValueError):
        return []


def make_session_dir(session_dir: Path) -> None:
    """A server's session folder: the hub's, and the grant watcher's group may read what was
    mounted and leave a stop notice (its group comes from ``sessions/``, see
    cleanroom.host.shares)."""
    session_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(session_dir, SESSION_DIR_MODE)


def record_stop(session_dir: Path, reasons: list[str]) -> None:
    """Keep why a running server was stopped, for the researcher's next visit (written by
    the grant watcher's account: replaced whole, whoever wrote the last one)."""
    if not session_dir.is_dir():
        make_session_dir(session_dir)
    notice = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "reasons": reasons}
    tmp = session_dir / f".{STOPPED_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(notice))
    os.chmod(tmp, 0o640)
    os.replace(tmp, session_dir / STOPPED_FILE)


def stop_notice(session_dir: Path) -> dict | None:
    try:
        return json.loads((session_dir / STOPPED_FILE).read_text())
    except (OSError, ValueError):
        return None


def clear_stop_notice(session_dir: Path) -> None:
    (session_dir / STOPPED_FILE).unlink(missing_ok=True)
