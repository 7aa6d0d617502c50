"""The grant watcher's rounds: every page of active servers, and the catalog's record when OPA
does not answer. The hub API, the policy and the catalog's facts are small fakes here; the real
hub, OPA and catalog are in tests/integration/test_project_data.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from cleanroom.host import homes
from cleanroom.hub import mounts, watcher
from cleanroom.hub.watcher import GrantWatcher, withdrawn_by_catalog
from cleanroom.hubapi import HubAPI
from cleanroom.policy import UNAVAILABLE
from cleanroom.policy.facts import ProjectFacts, UserFacts


class PagedHub(HubAPI):
    """The hub's paginated /users answer over ``users``, at most ``page`` a time; a plain
    GET gets the first page only, as the real hub does."""

    def __init__(self, users: list[dict], page: int = 200):
        self.users, self.page, self.deleted = users, page, []

    def call(self, method, path, body=None, *, accept=None):
        if method == "DELETE":
            self.deleted.append(path)
            return None
        query = dict(p.split("=") for p in path.partition("?")[2].split("&") if "=" in p)
        offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 50)), self.page)
        items = self.users[offset : offset + limit]
        if accept is None:
            return items
        following = offset + limit if offset + limit < len(self.users) else None
        nxt = None if following is None else {"offset": following, "limit": limit}
        return {"items": items, "_pagination": {"offset": offset, "next": nxt}}


@dataclass
class Answer:
    allowed: bool
    reasons: tuple = ()
    result: dict | None = None

    def __post_init__(self):
        self.result = self.result or {}


class Policy:
    def __init__(self, answer):
        self.answer = answer

    def access(self, user, project, grants):
        return self.answer(user, project, grants)


class Audit:
    def __init__(self):
        self.records = []

    def append(self, event, actor, **details):
        self.records.append((event, actor, details))


def grant(gid: str, revoked=False, expired=False):
    return SimpleNamespace(id=gid, revoked=revoked, expired=expired)


def facts(*infos, role="researcher", user="u"):
    return mounts.AccessFacts(
        UserFacts(user, None, ("researcher",)), ProjectFacts("p", role), (), tuple(infos)
    )


def active(name: str) -> dict:
    return {
        "name": name,
        "groups": ["researcher"],
        "servers": {"": {"ready": True, "user_options": {"project": "p"}}},
    }


@pytest.fixture
def world(tmp_path, monkeypatch):
    """260 users with running servers in project p, each with grant g<i> mounted; the 250th
    user's grant is revoked in the catalog."""
    users = [active(f"user{i:03d}") for i in range(1, 261)]
    for user in users:
        session = tmp_path / homes.home_key(user["name"], "p")
        session.mkdir(parents=True)
        (session / mounts.MOUNTED_FILE).write_text(json.dumps([f"g-{user['name']}"]))

    def gather(catalog, name, roles, project):
        return facts(grant(f"g-{name}", revoked=name == "user250"), user=name)

    monkeypatch.setattr(watcher.projectdata, "gather_facts", gather)
    return users, tmp_path


def test_the_250th_users_revoked_grant_stops_her_server(world):
    users, sessions = world

    def answer(user, project, grants):  # the policy's view: user250's grant no longer applies
        keep = [] if user.name == "user250" else [f"g-{user.name}"]
        return Answer(True, (), {"grants": keep})

    api, audit = PagedHub(users), Audit()
    stopped = GrantWatcher(api, None, Policy(answer), audit, sessions).check_once()
    assert stopped == ["user250"] and api.deleted == ["/users/user250/server"]
    # The control: one plain call (what the watcher did before) never sees user250.
    assert "user250" not in [u["name"] for u in api.call("GET", "/users?state=active")]


def test_with_opa_down_the_catalogs_record_still_stops_a_revoked_grant_and_only_that(world):
    users, sessions = world
    down = Policy(lambda *a: Answer(False, (UNAVAILABLE,)))
    api, audit = PagedHub(users), Audit()
    assert GrantWatcher(api, None, down, audit, sessions).check_once() == ["user250"]
    event, actor, details = audit.records[-1]
    assert (event, actor, details["grants"]) == ("grant.withdrawn", "user250", ["g-user250"])
    assert details["reasons"] == [UNAVAILABLE, "grant g-user250: revoked"]
    notice = json.loads((sessions / homes.home_key("user250", "p") / "stopped.json").read_text())
    assert "grant g-user250: revoked" in notice["reasons"]


@pytest.mark.parametrize(
    ("infos", "role", "expected"),
    [
        ((grant("a"), grant("b")), "researcher", {}),
        ((grant("a", revoked=True), grant("b")), "researcher", {"a": "revoked"}),
        ((grant("a", expired=True), grant("b")), "researcher", {"a": "expired"}),
        ((grant("b"),), "researcher", {"a": "no longer in the catalog"}),
        (
            (grant("a"), grant("b")),
            None,
            {g: "you are no longer a member of the project" for g in "ab"},
        ),
    ],
)
def test_what_the_catalog_withdraws_without_the_policy(infos, role, expected):
    assert withdrawn_by_catalog(facts(*infos, role=role), {"a", "b"}) == expected
