"""What a spawn mounts, and what the grant watcher does, over a real catalog and real
materialised grants; OPA and the hub's REST API are small fakes here (the real ones are
exercised in tests/integration/test_project_data.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cleanroom.catalog.data_plane import grant_materialiser
from cleanroom.errors import SpawnRefused
from cleanroom.grants import materialise
from cleanroom.host import homes
from cleanroom.hub import mounts as projectdata
from cleanroom.hub.watcher import GrantWatcher
from cleanroom.policy import UNAVAILABLE, Decision


@pytest.fixture
def granted(seeded, tmp_path):
    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    grant = seeded.grant(
        "yield", "wafers", reason="study", actor="adam", columns=["lot", "yield_pct"]
    )
    return seeded, grant, tmp_path / "grants"


def test_view_names_are_datasets_and_versions_only_when_needed(granted):
    _catalog, grant, _cache = granted
    assert list(projectdata.view_names([grant])) == ["wafers"]
    second = replace(grant, id=grant.id + 1, version=2)
    assert sorted(projectdata.view_names([grant, second])) == ["wafers_v1", "wafers_v2"]


def test_only_the_allowed_grants_are_mounted_read_only(granted, tmp_path):
    catalog, grant, cache = granted
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    assert facts.project.role == "researcher"
    volumes, env = projectdata.prepare_mounts(facts, [str(grant.id)], cache, tmp_path / "s")
    assert env == {"CLEANROOM_CATALOG": "/data/catalog.duckdb"}
    assert all(v["mode"] == "ro" for v in volumes.values())
    binds = {v["bind"] for v in volumes.values()}
    assert binds == {"/data/catalog.duckdb", f"/data/{grant.materialisation_key}"}
    assert not any("airlock" in host for host in volumes), "the airlock's copy is never mounted"
    assert projectdata.mounted_grant_ids(tmp_path / "s") == [str(grant.id)]
    # Not allowed by the policy: not mounted.
    volumes, _ = projectdata.prepare_mounts(facts, [], cache, tmp_path / "t")
    assert [v["bind"] for v in volumes.values()] == ["/data/catalog.duckdb"]


def test_the_datasets_file_describes_each_view_without_its_data(granted, tmp_path):
    catalog, first, cache = granted
    catalog.revoke_grant(first.id, reason="narrower", actor="adam")
    grant = catalog.grant(
        "yield",
        "wafers",
        reason="only recent lots",
        actor="adam",
        columns=["lot", "year", "yield_pct"],
        row_filter="year >= 2023",
        expires_at=datetime(2026, 9, 1, tzinfo=UTC),
    )
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    projectdata.prepare_mounts(facts, [str(grant.id)], cache, tmp_path / "s")
    written = tmp_path / "s" / projectdata.DATASETS_FILE
    assert written.stat().st_mode & 0o777 == 0o444
    [view] = json.loads(written.read_text())["datasets"]
    assert view["view"] == "wafers" and view["grant"] == grant.id
    assert view["columns"] == [
        {"name": "lot", "type": "BIGINT"},
        {"name": "year", "type": "BIGINT"},
        {"name": "yield_pct", "type": "DOUBLE"},
    ]
    # 200 lots over the years 2022, 2023, 2024 in turn: two thirds are 2023 or later.
    assert view["rows"] == 133
    assert view["columns_restricted"] is True
    assert view["row_filter"] == '"year" >= 2023'  # as the checker rewrote it
    assert view["expires_at"] == "2026-09-01T00:00:00Z"
    # Nothing of the ungranted columns, not even their names.
    assert "recipe_secret" not in written.read_text() and "plant" not in written.read_text()
    volumes, env = projectdata.lab_mounts(tmp_path / "s")
    assert volumes == {str(written): {"bind": projectdata.DATASETS_IN_LAB, "mode": "ro"}}
    assert env == {"CLEANROOM_DATASETS": projectdata.DATASETS_IN_LAB}


def test_a_server_without_grants_gets_an_empty_datasets_file(granted, tmp_path):
    catalog, _grant, cache = granted
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    projectdata.prepare_mounts(facts, [], cache, tmp_path / "s")
    written = tmp_path / "s" / projectdata.DATASETS_FILE
    assert json.loads(written.read_text()) == {"datasets": []}


def test_data_that_is_not_ready_refuses_the_start(granted, tmp_path):
    catalog, grant, cache = granted
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    data = materialise.researcher_dir(cache, grant.materialisation_key) / materialise.DATA_FILE
    data.chmod(0o644)
    data.unlink()
    with pytest.raises(SpawnRefused, match="not ready on this host"):
        projectdata.prepare_mounts(facts, [str(grant.id)], cache, tmp_path / "s")


def test_a_start_records_its_mounts_in_the_catalog(granted, tmp_path):
    catalog, grant, cache = granted
    assert catalog.mounted_grant_ids("yield", "alice") is None
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    projectdata.prepare_mounts(facts, [str(grant.id)], cache, tmp_path / "s")
    projectdata.record_mounts(catalog, "alice", "yield", [str(grant.id)])
    [mount] = catalog.mounts_of("yield", "alice")
    assert mount.grant_ids == (grant.id,) and mount.user == "alice"
    events = [r for r in catalog.audit.records() if r.event == "catalog.mount.record"]
    assert [(r.actor, r.details["grants"]) for r in events] == [("alice", [grant.id])]


def test_a_start_whose_mounts_cannot_be_recorded_is_refused(granted):
    catalog, _grant, _cache = granted
    with pytest.raises(SpawnRefused, match="could not record which data it mounts"):
        projectdata.record_mounts(catalog, "alice", "yield", ["999"])  # not the project's
    assert catalog.mounted_grant_ids("yield", "alice") is None


class FakeHub:
    def __init__(self, users):
        self.users = users
        self.deleted = []

    def call(self, method, path, body=None):
        if method == "GET":
            return self.users
        self.deleted.append(path)

    def every(self, path):
        return iter(self.users)


class FakePolicy:
    def __init__(self, decision):
        self.decision = decision

    def access(self, user, project, grants):
        return self.decision


def running(name, project):
    return {
        "name": name,
        "groups": ["researcher"],
        "servers": {"": {"ready": True, "user_options": {"project": project}}},
    }


@pytest.mark.parametrize(
    ("decision", "stopped"),
    [
        (Decision(True, (), {"grants": ["GRANT"]}, "r", "d"), False),
        (
            Decision(
                True,
                (),
                {"grants": [], "excluded_grants": [{"id": "GRANT", "reason": "revoked"}]},
                "r",
                "d",
            ),
            True,
        ),
        (Decision(False, ("alice is not a member of project yield",), {}, "r", "d"), True),
        (Decision(False, (UNAVAILABLE,), {}, "", "d"), False),  # an outage stops nobody
    ],
)
def test_watcher_stops_exactly_the_servers_whose_grants_are_gone(
    granted, tmp_path, audit, decision, stopped
):
    catalog, grant, cache = granted
    sessions = tmp_path / "sessions"
    session = sessions / homes.home_key("alice", "yield")
    facts = projectdata.gather_facts(catalog, "alice", ("researcher",), "yield")
    projectdata.prepare_mounts(facts, [str(grant.id)], cache, session)
    result = dict(decision.result)
    result["grants"] = [str(grant.id) if g == "GRANT" else g for g in result.get("grants", [])]
    result["excluded_grants"] = [
        {**e, "id": str(grant.id)} for e in result.get("excluded_grants", [])
    ]
    hub = FakeHub([running("alice", "yield")])
    watcher = GrantWatcher(
        hub, catalog, FakePolicy(replace(decision, result=result)), audit, sessions
    )
    assert watcher.check_once() == (["alice"] if stopped else [])
    assert hub.deleted == (["/users/alice/server"] if stopped else [])
    notice = projectdata.stop_notice(session)
    assert (notice is not None) == stopped
    if stopped and decision.allowed:
        assert notice["reasons"] == [f"grant {grant.id}: revoked"]
