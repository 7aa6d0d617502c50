"""The hub's home page, one per role: the facts about one person, as plain data.

:func:`gather` answers "what does this person's home show?" from the places that already
decide: the catalog (their projects and their role in each), the access policy (whether each
project may start, and why not: ``projectdata.gather_facts`` and ``PolicyClient.access``, as
the spawner asks before a start), the airlock (``AirlockService.review_queue``: the requests
the review policy lets them vote on and they have not voted on yet) and the audit log. Python
decides nothing here; it counts and copies reasons.

Every source may fail: what cannot be read becomes a sentence in ``HomeFacts.unavailable``
and the rest of the page still renders (never a 500).

The hub's template (``templates/home.html``, extending JupyterHub's own) gets the facts from
``c.JupyterHub.template_vars["cleanroom_home"]`` (:class:`Home`): JupyterHub calls it with the
user on every page it renders; it answers a zero-argument coroutine function that only the
home page calls, so no other page pays for the facts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cleanroom import scopes
from cleanroom.airlock.permissions import Caller
from cleanroom.hub import mounts as projectdata
from cleanroom.policy import UNAVAILABLE, PolicyClient
from cleanroom.scopes import GLOBAL_ROLES

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
CATALOG_PAGES = "/services/catalog/"
AIRLOCK = "/services/airlock/"
REVIEW_QUEUE = "/services/airlock/review"
AIRLOCK_ADMIN = "/services/airlock/admin"
AUDIT_PAGE = "/services/airlock/admin/audit"

# Sentences for what could not be read (shown as they are).
CATALOG_DOWN = "The catalog cannot be read now, so your projects are not listed."
POLICY_DOWN = (
    "The access policy (OPA) cannot be asked now, so whether a project may start is unknown."
)
AIRLOCK_DOWN = "The airlock's requests cannot be read now, so how many wait for you is unknown."
REVIEW_POLICY_DOWN = (
    "The review policy (OPA) cannot be asked now, so how many requests wait for you is unknown."
)
CATALOG_COUNTS_DOWN = "The catalog cannot be read now, so its counts are not shown."
REQUESTS_DOWN = "The airlock's requests cannot be read now, so how many are in review is unknown."
AUDIT_DOWN = "The audit log cannot be read now."


@dataclass(frozen=True)
class Person:
    """Who is looking, as the hub knows them: name, groups, and their (default) server."""

    name: str
    groups: tuple[str, ...] = ()
    server_active: bool = False  # running or on its way up or down
    server_ready: bool = False
    server_project: str | None = None
    server_url: str = ""  # the server's full URL (its own host name), "" without one

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted(g for g in self.groups if g in GLOBAL_ROLES))


@dataclass(frozen=True)
class ProjectEntry:
    """One of the person's projects (as a researcher): may it start now, and why not.

    may_start: the access policy's answer; None when it could not be asked.
    running: the person's server runs (or starts) for this project.
    """

    name: str
    description: str = ""
    may_start: bool | None = None
    reasons: tuple[str, ...] = ()
    running: bool = False


@dataclass(frozen=True)
class AuditState:
    """The audit log's head and its last verification (``AuditLog.verify``, at most every
    ``Home.verify_every`` seconds). ``verified`` None: not verified yet."""

    records: int
    last_at: str | None
    verified: bool | None = None
    verify_reason: str = ""
    verified_at: str | None = None


@dataclass(frozen=True)
class HomeFacts:
    """What one person's home shows. A part is None when the person's roles do not call for
    it; ``unavailable`` says, in sentences, what could not be read."""

    person: Person
    # Researchers: their projects (a researcher role in the catalog); the policy's answer for
    # a server without a project is there too, for researchers who have none yet.
    projects: tuple[ProjectEntry, ...] | None = None
    bare_start: ProjectEntry | None = None
    # Reviewers and data owners: requests waiting for their vote (None: unknown).
    waiting: int | None = None
    reviews: bool = False
    # Admins: catalog rows per table, requests in review, the audit log.
    admin: bool = False
    catalog_counts: dict[str, int] | None = None
    in_review: int | None = None
    audit: AuditState | None = None
    unavailable: tuple[str, ...] = ()
    links: dict[str, str] = field(
        default_factory=lambda: {
            "catalog": CATALOG_PAGES,
            "airlock": AIRLOCK,
            "queue": REVIEW_QUEUE,
            "airlock_admin": AIRLOCK_ADMIN,
            "audit": AUDIT_PAGE,
        }
    )

    @property
    def roles(self) -> tuple[str, ...]:
        return self.person.roles


@dataclass
class Sources:
    """Where the facts come from; each is opened on first use and may raise.

    catalog: a CatalogService. policy: a PolicyClient for questions that decide nothing (its
    decisions are not audited, like the airlock's ``view_policy``). airlock: an
    AirlockService whose ``review_queue`` and ``list_all`` are asked, or None when the airlock
    has no database yet (nothing waits). audit: the AuditLog.
    """

    catalog: Callable[[], Any]
    policy: Callable[[], PolicyClient]
    airlock: Callable[[Any], Any]  # called with the policy to ask; answers an AirlockService
    audit: Callable[[], Any]


class _NotingPolicy:
    """Passes review questions to the shared client and notes whether OPA failed to answer
    (``review_queue`` counts only what the policy allows, so an outage would read as 0)."""

    def __init__(self, client: PolicyClient):
        self.client = client
        self.unavailable = False

    def review(self, *args: Any, **kwargs: Any):
        decision = self.client.review(*args, **kwargs)
        if UNAVAILABLE in decision.reasons:
            self.unavailable = True
        return decision


def caller_of(person: Person) -> Caller:
    """The person as the airlock sees them: the custom scopes their groups grant
    (``scopes.GROUP_SCOPES``, the hub's own roles) and their groups."""
    granted = {s for g in person.groups for s in scopes.GROUP_SCOPES.get(g, ())}
    return Caller(person.name, frozenset(granted), person.groups)


def _projects(sources: Sources, person: Person, unavailable: list[str]):
    try:
        catalog = sources.catalog()
        mine = [p for p in catalog.projects_of(person.name) if p.role == "researcher"]
    except Exception:  # noqa: BLE001 - fail soft: say so on the page
        log.exception("home of %s: the catalog cannot be read", person.name)
        unavailable.append(CATALOG_DOWN)
        return None, None
    try:
        policy = sources.policy()
    except Exception:  # noqa: BLE001
        log.exception("home of %s: no policy client", person.name)
        policy = None
    policy_down = False

    def ask(project: str | None) -> tuple[bool | None, tuple[str, ...]]:
        nonlocal policy_down
        if policy is None or policy_down:  # asked once without an answer: do not wait again
            policy_down = True
            return None, ()
        try:
            facts = projectdata.gather_facts(catalog, person.name, person.roles, project)
        except Exception:  # noqa: BLE001
            log.exception("home of %s: no access facts for %s", person.name, project)
            unavailable.append(CATALOG_DOWN)
            return None, ()
        try:
            decision = policy.access(facts.user, facts.project, facts.grants)
        except Exception:  # noqa: BLE001
            log.exception("home of %s: no access decision for %s", person.name, project)
            policy_down = True
            return None, ()
        if UNAVAILABLE in decision.reasons:
            policy_down = True
            return None, ()
        return decision.allowed, decision.reasons

    entries = []
    for p in mine:
        allowed, reasons = ask(p.name)
        running = person.server_active and person.server_project == p.name
        entries.append(ProjectEntry(p.name, p.description, allowed, reasons, running))
    bare = None
    if not mine:
        # Without a project the policy may still let a researcher start a server with no data.
        allowed, reasons = ask(None)
        running = person.server_active and person.server_project is None
        bare = ProjectEntry("", "", allowed, reasons, running)
    if policy_down:
        unavailable.append(POLICY_DOWN)
    return tuple(entries), bare


def _waiting(sources: Sources, caller: Caller, unavailable: list[str]) -> int | None:
    """Requests in review that the review policy lets ``caller`` vote on and they have not
    voted on for every file: the airlock's own queue (exact, one OPA question per request in
    review)."""
    try:
        policy = _NotingPolicy(sources.policy())
        airlock = sources.airlock(policy)
        waiting = 0 if airlock is None else len(airlock.review_queue(caller))
    except Exception:  # noqa: BLE001
        log.exception("home of %s: the airlock cannot be read", caller.name)
        unavailable.append(AIRLOCK_DOWN)
        return None
    if policy.unavailable:
        unavailable.append(REVIEW_POLICY_DOWN)
        return None
    return waiting


class _VerifyCache:
    """The last ``AuditLog.verify`` result, redone at most every ``ttl`` seconds (verifying
    reads every record)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.lock = threading.Lock()
        self.result = None
        self.at = float("-inf")
        self.when: str | None = None

    def get(self, audit) -> tuple[Any, str | None]:
        with self.lock:
            if time.monotonic() - self.at >= self.ttl:
                self.result = audit.verify()
                self.at = time.monotonic()
                self.when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return self.result, self.when


def _audit_state(sources: Sources, cache: _VerifyCache, unavailable: list[str]):
    try:
        audit = sources.audit()
        last = audit.tail(1)
        result, when = cache.get(audit)
    except Exception:  # noqa: BLE001
        log.exception("home: the audit log cannot be read")
        unavailable.append(AUDIT_DOWN)
        return None
    record = last[-1] if last else None
    return AuditState(
        records=record.seq if record else 0,
        last_at=record.ts if record else None,
        verified=result.ok if result is not None else None,
        verify_reason=result.reason if result is not None else "",
        verified_at=when,
    )


def gather(sources: Sources, person: Person, verify_cache: _VerifyCache | None = None) -> HomeFacts:
    """The facts of ``person``'s home. Blocking (the catalog, OPA, SQLite); never raises for
    a source that fails."""
    unavailable: list[str] = []
    person_roles = set(person.roles)
    projects = bare = None
    if "researcher" in person_roles:
        projects, bare = _projects(sources, person, unavailable)
    caller = caller_of(person)
    waiting = None
    if caller.may_review:
        waiting = _waiting(sources, caller, unavailable)
    admin = "admin" in person_roles and caller.is_admin
    counts = in_review = audit = None
    if admin:
        try:
            counts = sources.catalog().counts()
        except Exception:  # noqa: BLE001
            log.exception("home of %s: the catalog cannot be counted", person.name)
            unavailable.append(CATALOG_COUNTS_DOWN)
        try:
            airlock = sources.airlock(sources.policy())
            in_review = 0 if airlock is None else len(airlock.list_all(caller, "in_review"))
        except Exception:  # noqa: BLE001
            log.exception("home of %s: the airlock cannot be read", person.name)
            unavailable.append(REQUESTS_DOWN)
        audit = _audit_state(sources, verify_cache or _VerifyCache(0), unavailable)
    return HomeFacts(
        person=person,
        projects=projects,
        bare_start=bare,
        waiting=waiting,
        reviews=caller.may_review,
        admin=admin,
        catalog_counts=counts,
        in_review=in_review,
        audit=audit,
        unavailable=tuple(dict.fromkeys(unavailable)),
    )


# ---------------------------------------------------------------------------------------------
# The hub's side: a deployment's sources, and the template variable.


def person_of(user: Any) -> Person:
    """A JupyterHub ``User`` as a Person (read on the hub's event loop: the ORM is not shared
    with worker threads)."""
    spawner = user.spawner
    project = (spawner.user_options or {}).get("project") if spawner else None
    return Person(
        name=user.name,
        groups=tuple(sorted(g.name for g in user.groups)),
        server_active=bool(spawner and spawner.active),
        server_ready=bool(spawner and spawner.ready),
        server_project=project if isinstance(project, str) and project else None,
        # With subdomains, user.url is the full URL on the user's own host name.
        server_url=user.url,
    )


def sources_for(settings) -> Sources:
    """The deployment's sources: opened once per hub, on first use."""
    from cleanroom.airlock.db import create_airlock_engine, session_factory
    from cleanroom.airlock.facts import CatalogFacts
    from cleanroom.airlock.service import AirlockService
    from cleanroom.audit import AuditLog
    from cleanroom.catalog.service import CatalogService

    @functools.cache
    def audit():
        return AuditLog.from_state_dir(settings.state_dir)

    @functools.cache
    def catalog():
        return CatalogService.open(settings.catalog_database_url, audit())

    @functools.cache
    def policy():
        # Read-only questions (may this project start? may this person review that?) are not
        # audited decisions; the spawner and the airlock ask again, audited, when it counts.
        return PolicyClient(settings.policy_url, timeout=2.0)

    database = settings.airlock_path / "airlock.sqlite"

    @functools.cache
    def reads():
        return session_factory(create_airlock_engine(database, writer=False))

    def airlock(view_policy):
        if not database.exists():
            return None  # the airlock has not stored a request yet
        # No blob store: the home only reads rows (and the airlock's own BlobStore tidies
        # its directory when made, which is the airlock's business alone).
        return AirlockService(
            reads(),
            None,
            view_policy,
            audit(),
            CatalogFacts(catalog()),
            view_policy=view_policy,
            read_sessions=reads(),
        )

    return Sources(catalog=catalog, policy=policy, airlock=airlock, audit=audit)


class Home:
    """``c.JupyterHub.template_vars["cleanroom_home"]``: called with the user for every page
    the hub renders; answers a coroutine function the home template calls (None without a
    user), so only the home page gathers facts, in a worker thread."""

    def __init__(self, settings, verify_every: float = 300.0):
        self.settings = settings
        self.verify_cache = _VerifyCache(verify_every)
        self._sources: Sources | None = None

    def __deepcopy__(self, memo: dict) -> Home:
        # traitlets deep-copies the config it loads; the copy is this same object (it holds
        # a lock and, once used, open databases).
        return self

    @property
    def sources(self) -> Sources:
        if self._sources is None:
            self._sources = sources_for(self.settings)
        return self._sources

    def __call__(self, user: Any) -> Callable[[], Any] | None:
        if user is None:
            return None

        async def facts() -> HomeFacts:
            try:
                person = person_of(user)
            except Exception:  # noqa: BLE001
                log.exception("home: cannot read the hub's user")
                person = Person(getattr(user, "name", "?"))
            return await asyncio.to_thread(gather, self.sources, person, self.verify_cache)

        return facts
