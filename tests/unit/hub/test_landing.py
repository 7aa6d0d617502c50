"""The home page's facts per role (cleanroom.hub.landing), without a hub: a real catalog (the
``seeded`` fixture: alice researcher and rita reviewer of project ``yield``), a real airlock
database holding requests in given states, and the real policies in a real OPA; the failures
with sources that raise or an OPA that is not there.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markupsafe import escape

from cleanroom.airlock.db import create_airlock_engine, session_factory
from cleanroom.airlock.facts import CatalogFacts
from cleanroom.airlock.models import FileVersion, Request, Vote
from cleanroom.airlock.service import AirlockService
from cleanroom.catalog.data_plane import grant_materialiser
from cleanroom.hub import landing
from cleanroom.policy import UNAVAILABLE, PolicyClient

pytestmark = pytest.mark.opa

_ids = itertools.count(1)


def person(name: str, *groups: str, **server) -> landing.Person:
    return landing.Person(name, tuple(groups), **server)


class Airlock:
    """The airlock's database in tmp_path, with a factory for a request in a given state."""

    def __init__(self, path: Path):
        self.path = path
        self.sessions = session_factory(create_airlock_engine(path))

    def request(
        self,
        project: str,
        requester: str,
        state: str = "in_review",
        organisations=("acme",),
        voted_by: str | None = None,
    ) -> str:
        rid = f"r{next(_ids)}"
        at = datetime.now(UTC).replace(tzinfo=None)
        with self.sessions() as s, s.begin():
            s.add(
                Request(
                    id=rid,
                    title="t",
                    project=project,
                    requester=requester,
                    state=state,
                    contributing_organisations=list(organisations),
                    reviewers_required=1,
                    created_at=at,
                    updated_at=at,
                )
            )
            f = FileVersion(
                request_id=rid,
                name="t.csv",
                version=1,
                type="table",
                sha256="0" * 64,
                size=3,
                media_type="text/csv",
                round=1,
                added_at=at,
            )
            s.add(f)
            s.flush()
            if voted_by:
                s.add(
                    Vote(
                        request_id=rid,
                        file_id=f.id,
                        reviewer=voted_by,
                        decision="approve",
                        capacities=["reviewer"],
                        round=0,
                        at=at,
                    )
                )
        return rid


@pytest.fixture
def airlock(tmp_path) -> Airlock:
    return Airlock(tmp_path / "airlock" / "airlock.sqlite")


def sources_over(catalog, policy_url: str, airlock: Airlock | None) -> landing.Sources:
    client = PolicyClient(policy_url, timeout=2.0)

    def open_airlock(view_policy):
        if airlock is None:
            return None
        reads = session_factory(create_airlock_engine(airlock.path, writer=False))
        return AirlockService(
            reads,
            None,
            view_policy,
            catalog.audit,
            CatalogFacts(catalog),
            view_policy=view_policy,
            read_sessions=reads,
        )

    return landing.Sources(
        catalog=lambda: catalog,
        policy=lambda: client,
        airlock=open_airlock,
        audit=lambda: catalog.audit,
    )


@pytest.fixture
def world(seeded, opa_server, airlock, tmp_path):
    """seeded + a data owner of acme (olga) and another project (secret) that rita does not
    review, with a grant of wafers to yield."""
    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    seeded.set_user_organisation("olga", "acme", actor="adam")
    seeded.create_project("secret", description="Not rita's", actor="adam")
    seeded.add_member("secret", "bob", "researcher", actor="adam")
    seeded.add_member("secret", "alice", "reviewer", actor="adam")
    seeded.grant("yield", "wafers", reason="study", actor="adam")
    return seeded, sources_over(seeded, opa_server.url, airlock), airlock


# -- researchers --------------------------------------------------------------------------------


def test_a_researcher_sees_her_projects_and_the_policys_answer(world):
    catalog, sources, _ = world
    facts = landing.gather(sources, person("alice", "researcher"))
    # Only the projects where she is a researcher (in secret she reviews).
    assert [(p.name, p.may_start, p.reasons) for p in facts.projects] == [("yield", True, ())]
    assert facts.projects[0].description == "Yield drivers"
    assert facts.bare_start is None
    assert facts.reviews is False and facts.waiting is None and facts.admin is False
    assert facts.unavailable == ()

    # The grant is revoked: the reason is the access policy's own sentence.
    grant = catalog.list_grants("yield")[0]
    catalog.revoke_grant(grant.id, reason="ended", actor="adam")
    facts = landing.gather(sources, person("alice", "researcher"))
    (entry,) = facts.projects
    assert entry.may_start is False
    assert entry.reasons == (
        f"none of project yield's grants is in force any more (grant {grant.id}: revoked)",
    )


def test_the_running_project_is_marked_and_carries_the_server_url(world):
    _, sources, _ = world
    url = "https://alice.example.org/user/alice/"
    alice = person(
        "alice",
        "researcher",
        server_active=True,
        server_ready=True,
        server_project="yield",
        server_url=url,
    )
    facts = landing.gather(sources, alice)
    assert facts.projects[0].running is True
    assert facts.person.server_url == "https://alice.example.org/user/alice/"


def test_a_researcher_without_projects_gets_the_empty_state_and_the_bare_start(world):
    _, sources, _ = world
    facts = landing.gather(sources, person("nina", "researcher"))
    assert facts.projects == ()
    assert facts.bare_start is not None and facts.bare_start.may_start is True


# -- reviewers and data owners ----------------------------------------------------------------


def test_a_reviewer_counts_exactly_the_requests_her_policy_lets_her_vote_on(world):
    _, sources, airlock = world
    airlock.request("yield", "alice")  # waits for rita
    airlock.request("yield", "alice")  # waits for rita
    airlock.request("yield", "alice", voted_by="rita")  # she has voted: no longer waiting
    airlock.request("yield", "alice", state="submitted")  # not in review yet
    airlock.request("secret", "bob")  # another project: never counted, never shown
    facts = landing.gather(sources, person("rita", "reviewer"))
    assert facts.reviews is True
    assert facts.waiting == 2
    assert facts.projects is None and facts.admin is False
    assert facts.unavailable == ()


def test_a_data_owner_counts_only_requests_with_her_organisations_data(world):
    _, sources, airlock = world
    airlock.request("yield", "alice", organisations=("acme", "bolt"))
    airlock.request("secret", "bob", organisations=("acme",))
    airlock.request("yield", "alice", organisations=("bolt", "cora"))  # no acme data
    facts = landing.gather(sources, person("olga", "data-owner"))
    assert facts.waiting == 2


def test_nothing_waits_before_the_airlock_has_a_database(seeded, opa_server):
    sources = sources_over(seeded, opa_server.url, None)
    facts = landing.gather(sources, person("rita", "reviewer"))
    assert facts.waiting == 0 and facts.unavailable == ()


# -- admins -----------------------------------------------------------------------------------


def test_an_admin_sees_the_catalog_the_requests_in_review_and_the_audit_log(world):
    catalog, sources, airlock = world
    airlock.request("yield", "alice")
    airlock.request("secret", "bob", state="approved")
    facts = landing.gather(sources, person("adam", "admin"))
    assert facts.admin is True and facts.projects is None and facts.reviews is False
    assert facts.catalog_counts["projects"] == 2
    assert facts.catalog_counts["grants"] == 1
    assert facts.in_review == 1
    head = catalog.audit.tail(1)[-1]
    assert facts.audit.records == head.seq > 0
    assert facts.audit.last_at == head.ts
    assert facts.audit.verified is True and facts.audit.verified_at


def test_the_audit_log_is_verified_at_most_once_per_period(world):
    _, sources, _ = world
    cache = landing._VerifyCache(ttl=3600)
    calls = []

    class Counting:
        def __init__(self, log):
            self.log = log

        def tail(self, n):
            return self.log.tail(n)

        def verify(self):
            calls.append(1)
            return self.log.verify()

    audit = Counting(sources.audit())
    sources.audit = lambda: audit
    for _ in range(3):
        landing.gather(sources, person("adam", "admin"), cache)
    assert len(calls) == 1


def test_every_role_at_once_gets_every_block(world):
    _, sources, _ = world
    facts = landing.gather(sources, person("alice", "researcher", "reviewer", "admin"))
    assert facts.projects is not None and facts.reviews and facts.admin
    assert facts.roles == ("admin", "researcher", "reviewer")


def test_no_role_no_blocks(world):
    _, sources, _ = world
    facts = landing.gather(sources, person("zed", "some-other-group"))
    assert facts.roles == ()
    assert facts.projects is None and not facts.reviews and not facts.admin


# -- failing soft -----------------------------------------------------------------------------


def broken():
    raise OSError("disk on fire")


def test_a_catalog_that_cannot_be_read_is_said_not_raised(world):
    _, sources, _ = world
    sources.catalog = broken
    facts = landing.gather(sources, person("adam", "researcher", "admin"))
    assert facts.projects is None
    assert facts.catalog_counts is None
    assert landing.CATALOG_DOWN in facts.unavailable
    assert landing.CATALOG_COUNTS_DOWN in facts.unavailable
    assert facts.audit is not None  # the rest is still there


def test_an_opa_that_does_not_answer_makes_the_answers_unknown(seeded, airlock, tmp_path):
    sources = sources_over(seeded, "http://127.0.0.1:9", airlock)  # nothing listens there
    airlock.request("yield", "bob")
    facts = landing.gather(sources, person("alice", "researcher", "reviewer"))
    (entry,) = facts.projects
    # Unknown, not "denied": and the input was valid (the client reached the HTTP call).
    assert entry.may_start is None and entry.reasons == ()
    assert landing.POLICY_DOWN in facts.unavailable
    assert facts.waiting is None
    assert landing.REVIEW_POLICY_DOWN in facts.unavailable


def test_an_airlock_database_that_cannot_be_read_is_said_not_raised(world, tmp_path):
    catalog, sources, _ = world
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not SQLite" * 100)
    reads = session_factory(create_airlock_engine(bad, writer=False))
    sources.airlock = lambda policy: AirlockService(
        reads, None, policy, catalog.audit, CatalogFacts(catalog), read_sessions=reads
    )
    facts = landing.gather(sources, person("rita", "reviewer", "admin"))
    assert facts.waiting is None and facts.in_review is None
    assert landing.AIRLOCK_DOWN in facts.unavailable
    assert landing.REQUESTS_DOWN in facts.unavailable


def test_an_audit_log_that_cannot_be_read_is_said_not_raised(world):
    _, sources, _ = world
    sources.audit = broken
    facts = landing.gather(sources, person("adam", "admin"))
    assert facts.audit is None and landing.AUDIT_DOWN in facts.unavailable


def test_the_noting_policy_sees_an_outage():
    class Down:
        def review(self, *a, **k):
            from cleanroom.policy import Decision

            return Decision.deny("review", UNAVAILABLE)

    noting = landing._NotingPolicy(Down())
    assert noting.review().allowed is False
    assert noting.unavailable is True


# -- the hub's side ---------------------------------------------------------------------------


class FakeSpawner:
    def __init__(self, active, ready, options):
        self.active, self.ready, self.user_options = active, ready, options


class FakeGroup:
    def __init__(self, name):
        self.name = name


class FakeUser:
    name = "alice"
    url = "https://alice.example.org/user/alice/"
    groups = [FakeGroup("researcher"), FakeGroup("reviewer")]
    spawner = FakeSpawner(True, True, {"project": "yield"})


def test_a_hub_user_becomes_a_person():
    p = landing.person_of(FakeUser())
    assert p == landing.Person(
        "alice",
        ("researcher", "reviewer"),
        True,
        True,
        "yield",
        "https://alice.example.org/user/alice/",
    )


def test_the_template_variable_is_lazy_and_none_without_a_user(world, settings_for_home):
    home = landing.Home(settings_for_home)
    assert home(None) is None
    facts_of = home(FakeUser())
    assert callable(facts_of)  # nothing was gathered yet: only the home page calls it


@pytest.fixture
def settings_for_home(tmp_path):
    from cleanroom.settings import Settings

    return Settings.from_env({"CLEANROOM_STATE_DIR": str(tmp_path / "state")})


async def test_the_home_gathers_in_a_thread_and_fails_soft_with_nothing_running(
    settings_for_home,
):
    # A fresh state directory, no OPA: the page still gets facts, and says what is missing.
    home = landing.Home(settings_for_home)
    settings_for_home.state_path.mkdir(parents=True, exist_ok=True)
    facts = await home(FakeUser())()
    assert isinstance(facts, landing.HomeFacts)
    assert facts.person.name == "alice"
    assert landing.POLICY_DOWN in facts.unavailable or facts.projects == ()


# -- the template, in JupyterHub's own loader -------------------------------------------------


def hub_templates():
    """JupyterHub's environment as its app builds it: "templates/..." is its own copy, then
    template_paths (ours first, its own last)."""
    import os

    import jupyterhub
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader

    share = Path(jupyterhub.__file__).parents[4] / "share" / "jupyterhub" / "templates"
    base = str(share) if share.exists() else os.path.join(jupyterhub.DATA_FILES_PATH, "templates")
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([base])}, "/"),
            FileSystemLoader([str(landing.TEMPLATES), base]),
        ]
    )
    return Environment(loader=loader, autoescape=True, enable_async=True)


async def render_home(facts: landing.HomeFacts) -> str:
    class User:
        name = escaped_name = facts.person.name
        json_escaped_name = f'"{facts.person.name}"'
        spawner = None
        admin = False

    async def cleanroom_home():
        return facts

    template = hub_templates().get_template("home.html")
    return await template.render_async(
        cleanroom_home=cleanroom_home,
        user=User(),
        base_url="/hub/",
        prefix="/",
        xsrf="XS",
        static_url=lambda path, **kw: path,
        services=[],
        parsed_scopes={},
        expanded_scopes=set(),
        login_url="/hub/login",
        logout_url="/hub/logout",
        version_hash="",
    )


async def test_the_home_extends_jupyterhubs_page_and_shows_each_roles_block():
    researcher = landing.HomeFacts(
        person("alice", "researcher"),
        projects=(
            landing.ProjectEntry("yield", "Yield drivers", True),
            landing.ProjectEntry("old", "", False, ("grant 3: revoked",)),
        ),
    )
    html = await render_home(researcher)
    assert 'id="jupyterhub-logo"' in html or "jupyterhub" in html.lower()  # the hub's page
    assert "Clean room home" in html and "Your projects" in html
    assert 'name="project" value="yield"' in html and 'action="/hub/spawn/alice"' in html
    assert 'name="_xsrf" value="XS"' in html
    assert "Not now: grant 3: revoked." in html
    assert "Requests waiting" not in html and "Administration" not in html

    empty = await render_home(landing.HomeFacts(person("nina", "researcher"), projects=()))
    assert "No projects yet: an admin adds you to one." in empty

    reviewer = await render_home(
        landing.HomeFacts(person("rita", "reviewer"), waiting=3, reviews=True)
    )
    assert "3</strong> release requests wait" in reviewer
    assert 'href="/services/airlock/review"' in reviewer and "Your projects" not in reviewer
    none_waiting = await render_home(
        landing.HomeFacts(person("rita", "reviewer"), waiting=0, reviews=True)
    )
    assert "No requests wait for you." in none_waiting

    admin = await render_home(
        landing.HomeFacts(
            person("adam", "admin"),
            admin=True,
            catalog_counts={"projects": 0},
            in_review=1,
            audit=landing.AuditState(7, "2026-03-01T12:00:00Z", True, "ok", "now"),
            unavailable=(landing.AIRLOCK_DOWN,),
        )
    )
    for link in ("/services/catalog/", "/services/airlock/admin", "/services/airlock/admin/audit"):
        assert f'href="{link}"' in admin
    assert "Audit log: 7 record(s)" in admin and "the chain checks out" in admin
    assert str(escape(landing.AIRLOCK_DOWN)) in admin

    nobody = await render_home(landing.HomeFacts(person("zed")))
    assert "No role yet" in nobody


def test_the_hub_is_configured_to_land_everyone_on_the_home(tmp_path):
    from traitlets.config import Config

    from cleanroom.hub.config import configure
    from cleanroom.settings import Settings

    c = configure(Config(), Settings.from_env({}), admin_token="t" * 64)
    assert c.JupyterHub.default_url == "/hub/home"
    assert c.JupyterHub.template_paths == [str(landing.TEMPLATES)]
    assert isinstance(c.JupyterHub.template_vars["cleanroom_home"], landing.Home)
    # JupyterHub deep-copies the config it loads (a Home holds a lock and open databases).
    copied = copy.deepcopy(c)
    assert (
        copied.JupyterHub.template_vars["cleanroom_home"]
        is c.JupyterHub.template_vars["cleanroom_home"]
    )
    assert (landing.TEMPLATES / "home.html").read_text().count('{% extends "templates/home.html"')
