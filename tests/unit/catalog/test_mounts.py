"""Whose data a grant holds (``GrantInfo.organisations``, from the materialised rows) and which
grants each server had mounted (``record_mount``, ``mounted_grant_ids``), and the migration
that adds them with a record for every server started before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fixtures.catalog import ON_SQLITE_AND_POSTGRESQL, nothing_written
from sqlalchemy import text

from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.db import create_catalog_engine, current_revision, upgrade
from cleanroom.catalog.errors import InvalidValue, UnknownGrant, UnknownProject
from cleanroom.catalog.records import Materialised


@pytest.fixture
def materialising(seeded, tmp_path):
    seeded.materialiser = grant_materialiser(grants_dir(tmp_path / "state"), airlock="wait")
    return seeded


@ON_SQLITE_AND_POSTGRESQL
# wafers.parquet: plants acme-fab1, acme-fab2 (acme), bolt-main (bolt), cora-east (cora).
@pytest.mark.parametrize(
    ("row_filter", "organisations"),
    [
        (None, ("acme", "bolt", "cora")),
        ("plant = 'bolt-main'", ("bolt",)),
        ("plant <> 'acme-fab1'", ("acme", "bolt", "cora")),  # acme-fab2 is acme's too
        ("plant NOT IN ('acme-fab1', 'acme-fab2')", ("bolt", "cora")),  # all of acme's rows out
    ],
)
def test_a_grant_records_the_organisations_of_its_rows(materialising, row_filter, organisations):
    grant = materialising.grant(
        "yield", "wafers", columns=["lot"], row_filter=row_filter, reason="r", actor="adam"
    )
    assert grant.organisations == organisations
    assert materialising.get_grant(grant.id).organisations == organisations
    [record] = [r for r in materialising.audit.records() if r.event == "catalog.grant.create"]
    assert record.details["organisations"] == list(organisations)


def test_without_contributors_a_grants_organisations_are_unknown(seeded):
    seeded.materialiser = lambda spec: "k" * 64  # a key only: nothing known of its rows
    assert seeded.grant("yield", "wafers", reason="r", actor="adam").organisations is None


def test_contributor_values_that_are_not_the_versions_leave_them_unknown(seeded):
    seeded.materialiser = lambda spec: Materialised("k" * 64, ("bolt-main", "nobody-knows"))
    assert seeded.grant("yield", "wafers", reason="r", actor="adam").organisations is None


@ON_SQLITE_AND_POSTGRESQL
def test_mounts_are_recorded_and_their_union_read(seeded):
    seeded.materialiser = lambda spec: "k" * 64
    first = seeded.grant("yield", "wafers", columns=["lot"], reason="r", actor="adam")
    assert seeded.mounted_grant_ids("yield", "alice") is None  # never recorded: unknown
    mount = seeded.record_mount("yield", "alice", [str(first.id)], actor="alice")
    assert (mount.user, mount.project, mount.grant_ids) == ("alice", "yield", (first.id,))
    seeded.revoke_grant(first.id, reason="done", actor="adam")
    second = seeded.grant("yield", "wafers", reason="again", actor="adam")
    seeded.record_mount("yield", "alice", [second.id], actor="alice")
    seeded.record_mount("yield", "alice", [], actor="alice")  # a server with no data
    assert seeded.mounted_grant_ids("yield", "alice") == [first.id, second.id]
    assert [m.grant_ids for m in seeded.mounts_of("yield", "alice")] == [
        (first.id,),
        (second.id,),
        (),
    ]
    assert seeded.mounted_grant_ids("yield", "rita") is None  # another user's are theirs
    [record, *_] = [r for r in seeded.audit.records() if r.event == "catalog.mount.record"]
    assert record.details == {"project": "yield", "user": "alice", "grants": [first.id]}


@pytest.mark.parametrize(
    ("project", "grants", "error", "fragment"),
    [
        ("nope", [], UnknownProject, "there is no project 'nope'"),
        ("yield", [99], UnknownGrant, "project yield has no grant 99"),
        ("yield", ["x"], InvalidValue, "is not a grant id"),
    ],
)
def test_a_mount_that_is_not_the_projects_is_refused(seeded, project, grants, error, fragment):
    with nothing_written(seeded), pytest.raises(error, match=fragment):
        seeded.record_mount(project, "alice", grants, actor="alice")


@ON_SQLITE_AND_POSTGRESQL
def test_a_grant_of_another_project_cannot_be_recorded_as_mounted(seeded):
    seeded.materialiser = lambda spec: "k" * 64
    seeded.create_project("other", actor="adam")
    theirs = seeded.grant("other", "wafers", reason="r", actor="adam")
    with nothing_written(seeded), pytest.raises(UnknownGrant, match="project yield has no grant"):
        seeded.record_mount("yield", "alice", [theirs.id], actor="alice")


def test_the_migration_records_every_earlier_server_as_having_mounted_every_grant(tmp_path):
    """Servers started before mounts were recorded may have left files in homes: each member
    gets one record holding every grant their project had (over-inclusion is safe)."""
    engine = create_catalog_engine(f"sqlite:///{tmp_path}/catalog.sqlite")
    try:
        check_migration_0002(engine)
    finally:
        engine.dispose()


def check_migration_0002(engine) -> None:
    """Upgrade ``engine`` (an empty database) to 0001, fill it, upgrade to head and check the
    mounts 0002 wrote (also run on PostgreSQL by tests/integration/test_catalog_postgres.py)."""
    upgrade(engine, "0001")
    at = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO organisations VALUES ('acme', 'Acme', 'depositor', :at, 'adam')"),
            {"at": at},
        )
        for name in ("alice", "rita", "zed"):
            c.execute(
                text("INSERT INTO users VALUES (:n, 'acme', :at, 'adam')"), {"n": name, "at": at}
            )
        c.execute(
            text("INSERT INTO datasets VALUES (1, 'd', 'plant', '', :at, 'adam')"), {"at": at}
        )
        c.execute(
            text(
                "INSERT INTO dataset_versions VALUES (1, 1, 1, '/x', 'csv', '[]', 1, 1, :h, :at, "
                "'adam')"
            ),
            {"h": "0" * 64, "at": at},
        )
        for pid, name in ((1, "p"), (2, "q"), (3, "empty")):
            c.execute(
                text("INSERT INTO projects VALUES (:i, :n, '', :at, 'adam')"),
                {"i": pid, "n": name, "at": at},
            )
        for pid, user in ((1, "alice"), (1, "rita"), (2, "alice"), (3, "zed")):
            c.execute(
                text("INSERT INTO members VALUES (:p, :u, 'researcher', :at, 'adam')"),
                {"p": pid, "u": user, "at": at},
            )
        for gid, pid in ((1, 1), (2, 2), (3, 1)):
            c.execute(
                text(
                    "INSERT INTO grants (id, project_id, version_id, granted_at, granted_by, "
                    "reason, materialisation_status) VALUES (:g, :p, 1, :at, 'adam', 'r', 'ready')"
                ),
                {"g": gid, "p": pid, "at": at},
            )
    upgrade(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as c:
        mounts = sorted(
            (user, project, tuple(ids if isinstance(ids, list) else json.loads(ids)))
            for user, project, ids in c.execute(
                text("SELECT user_name, project_id, grant_ids FROM mounts")
            )
        )
        organisations = c.execute(text("SELECT organisations FROM grants")).scalars().all()
    assert mounts == [("alice", 1, (1, 3)), ("alice", 2, (2,)), ("rita", 1, (1, 3)), ("zed", 3, ())]
    assert organisations == [None, None, None]  # not known: every organisation of the version
