"""Release requests at any state, without OPA or a hub: an :class:`AirlockService` over a real
SQLite database, blob store and audit log in a temporary directory, with a stub policy client
and a stub catalog.

    airlock = make_airlock(tmp_path)                           # reviewers' votes allowed
    request = create_request_at(airlock, State.IN_REVIEW)      # alice's, with t.csv
    airlock.vote(RITA, request.id, [VoteInput("t.csv", "approve")])

    # a model that needs two reviewers and acme's data owner
    airlock = make_airlock(tmp_path, policy=StubPolicy(
        release=allow("release", reviewers_required=2, data_owner_approval=["acme"]),
        review={"otto": allow("review", capacities=["data-owner"], organisations=["acme"])},
    ))

:func:`create_request_at` gets there through the service's own methods (so every transition
is checked and audited), except for ``submitted``, which the service only passes through: that
one is set through ``AirlockService._move`` as a crash while deciding would leave it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from cleanroom.airlock.db import create_airlock_engine, session_factory
from cleanroom.airlock.enums import State, VoteDecision
from cleanroom.airlock.models import Request
from cleanroom.airlock.permissions import ADMINISTER, OWNER_APPROVE, REVIEW, SUBMIT, Caller
from cleanroom.airlock.service import AirlockService, Limits, VoteInput
from cleanroom.airlock.store import BlobStore
from cleanroom.audit import AuditLog
from cleanroom.policy import Decision

ALICE = Caller("alice", frozenset({SUBMIT}), ("researcher",))
BOB = Caller("bob", frozenset({SUBMIT}), ("researcher",))
RITA = Caller("rita", frozenset({REVIEW}), ("reviewer",))
ROWAN = Caller("rowan", frozenset({REVIEW}), ("reviewer",))
OTTO = Caller("otto", frozenset({OWNER_APPROVE}), ("data-owner",))
ADAM = Caller("adam", frozenset({ADMINISTER}), ("admin",))
PROJECT = "yield"
CSV = b"plant_count,yield\n5,97.1\n"


def allow(area: str, **result) -> Decision:
    """An allowing decision of the stub policy, with ``result`` as OPA's decision document."""
    return Decision(True, (), dict(result), "stub", "", area)


def deny(area: str, *reasons: str, **result) -> Decision:
    reasons = tuple(reasons) or ("denied by the stub policy",)
    return Decision(False, reasons, dict(result), "stub", "", area)


class StubPolicy:
    """Stands in for :class:`cleanroom.policy.PolicyClient`: the release question gets
    ``release``; the review question gets ``review[voter]``, else ``review_default`` (by default
    everybody may vote as a reviewer). Every question is recorded in ``asked`` as
    ``(area, user, request id)``."""

    def __init__(
        self,
        release: Decision | None = None,
        review: Mapping[str, Decision] | None = None,
        review_default: Decision | None = None,
    ):
        self.release_decision = release or allow(
            "release", reviewers_required=1, data_owner_approval=[], notes=[]
        )
        self.review_decisions = dict(review or {})
        self.review_default = review_default or allow(
            "review", capacities=["reviewer"], organisations=[]
        )
        self.asked: list[tuple[str, str, str]] = []

    def release(self, user, project, request, **kwargs) -> Decision:
        self.asked.append(("release", user.name, request.id))
        return self.release_decision

    def review(self, voter, project, request, **kwargs) -> Decision:
        self.asked.append(("review", voter.name, request.id))
        return self.review_decisions.get(voter.name, self.review_default)

    def policy_data(self, package: str, name: str):
        from cleanroom.policy import PolicyDataUnavailable

        raise PolicyDataUnavailable(f"the stub policy has no data {package}.{name}")


class StubCatalog:
    """Stands in for :class:`cleanroom.airlock.facts.CatalogFacts`."""

    def __init__(
        self,
        organisations: Mapping[str, str] | None = None,
        roles: Mapping[tuple[str, str], str] | None = None,
        contributing: Sequence[str] = (),
    ):
        self.organisations = dict(organisations or {})
        self.roles = dict(roles or {})
        self.contributing = list(contributing)

    def organisation(self, user: str) -> str | None:
        return self.organisations.get(user)

    def project_role(self, project: str, user: str) -> str | None:
        return self.roles.get((project, user))

    def contributing_organisations(self, project: str, requester: str | None = None) -> list[str]:
        return list(self.contributing)

    def project_grants(self, project: str) -> list:
        return []  # no granted data: a table has nothing to be compared with


def real_airlock(catalog, opa_url: str, root: Path, **options) -> AirlockService:
    """An airlock over real parts, as the integration tests use it: a real catalog service
    (its audit log too), the release and review policies in a real OPA at ``opa_url``, its
    database and blobs under ``root/airlock``, the grants' cache at ``root/grants`` (where the
    tests that grant data materialise it). ``options`` override the AirlockService's."""
    from cleanroom.airlock.facts import CatalogFacts
    from cleanroom.policy import PolicyClient

    database = root / "airlock" / "airlock.sqlite"
    arguments = {
        "limits": Limits(max_file_bytes=10_000_000, max_files=5, max_request_bytes=20_000_000),
        "view_policy": PolicyClient(opa_url),
        "read_sessions": session_factory(create_airlock_engine(database, writer=False)),
        "grants_dir": root / "grants",
        **options,
    }
    return AirlockService(
        session_factory(create_airlock_engine(database)),
        BlobStore(root / "airlock" / "blobs"),
        PolicyClient(opa_url, audit=catalog.audit, revision_ttl=0.0),
        catalog.audit,
        CatalogFacts(catalog),
        **arguments,
    )


def make_airlock(
    tmp_path: Path,
    policy: StubPolicy | None = None,
    catalog: StubCatalog | None = None,
    limits: Limits | None = None,
) -> AirlockService:
    """An AirlockService with its database, blobs and audit log under ``tmp_path``."""
    return AirlockService(
        session_factory(create_airlock_engine(tmp_path / "airlock.sqlite")),
        BlobStore(tmp_path / "blobs"),
        policy=policy or StubPolicy(),
        audit=AuditLog.from_state_dir(tmp_path / "state"),
        catalog=catalog or StubCatalog(),
        limits=limits or Limits(max_file_bytes=10_000, max_files=5, max_request_bytes=20_000),
    )


def put(
    airlock: AirlockService,
    request_id: str,
    name: str,
    data: bytes,
    type_: str = "table",
    media_type: str = "text/csv",
    caller: Caller = ALICE,
    project: str = PROJECT,
):
    """Store ``data`` and put it into the request as ``name``."""
    blob = airlock.store.put_bytes(data)
    return airlock.put_file(caller, request_id, name, type_, blob, media_type, project=project)


def create_request_at(
    airlock: AirlockService,
    state: State,
    *,
    requester: Caller = ALICE,
    project: str = PROJECT,
    files: Mapping[str, bytes] | None = None,
    reviewers: Sequence[Caller] = (RITA,),
) -> Request:
    """A request of ``requester`` for ``project`` holding ``files`` (name -> CSV bytes; one
    ``t.csv`` by default), moved to ``state``. Approved (and later) states take an approval of
    every file from each of ``reviewers``; returned and rejected take the first reviewer's
    "changes" or "reject". The policy must allow what that needs (the default StubPolicy
    does); otherwise the service's error is raised."""
    request = airlock.create(requester, project=project, justification="for the paper")
    for name, data in (files or {"t.csv": CSV}).items():
        put(airlock, request.id, name, data, caller=requester, project=project)
    if state == State.SUBMITTED:
        with airlock._tx() as s:
            airlock._move(airlock._get(s, request.id), State.SUBMITTED, requester.name)
    elif state == State.WITHDRAWN:
        airlock.withdraw(requester, request.id)
    elif state != State.DRAFT:
        airlock.submit(requester, request.id)
        _vote_to(airlock, request.id, state, reviewers)
        if state == State.RELEASED:
            first = airlock.get(requester, request.id).files[0].name
            airlock.download(requester, request.id, first, peer_in_clean_room=False)
        elif state == State.REVOKED:
            airlock.revoke(ADAM, request.id, "revoked by the test factory")
    made = airlock.get(ADAM, request.id)
    if made.state != state:
        raise AssertionError(f"create_request_at({state.value!r}) ended {made.state!r}")
    return made


def _vote_to(airlock: AirlockService, request_id: str, state: State, reviewers) -> None:
    names = [f.name for f in airlock.get(ADAM, request_id).files if not f.removed]
    if state in (State.RETURNED, State.REJECTED):
        decision = VoteDecision.CHANGES if state == State.RETURNED else VoteDecision.REJECT
        votes = [VoteInput(n, decision, "set up by the test factory") for n in names]
        airlock.vote(reviewers[0], request_id, votes)
    elif state in (State.APPROVED, State.RELEASED, State.REVOKED):
        for reviewer in reviewers:
            airlock.vote(reviewer, request_id, [VoteInput(n, VoteDecision.APPROVE) for n in names])


@contextmanager
def serving(
    service: AirlockService,
    hub,
    hub_auth,
    prefix: str,
    *,
    subnet: str = "172.30.0.0/24",
    gateway: str = "172.30.0.1",
    **server,
) -> Iterator[str]:
    """The airlock's tornado app over ``service`` on a free loopback port, with a stand-in
    hub and hub auth; yields the app's base URL (``http://127.0.0.1:<port><prefix>``).
    Callers come from 127.0.0.1: outside the clean room, unless ``subnet`` holds it."""
    from tornado.httpserver import HTTPServer

    from cleanroom.airlock.web.app import make_app

    app = make_app(
        service,
        hub,
        prefix=prefix,
        subnet=subnet,
        gateway=gateway,
        hub_auth=hub_auth,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    http = HTTPServer(app, **server)
    http.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{prefix}"
    finally:
        http.stop()


class NameTokenHubAuth:
    """``HubAuth.get_user`` for page tests: the token is the user's name, ``scopes`` are
    theirs by name; XSRF as tornado checks it."""

    login_url = "/hub/login"

    def __init__(self, scopes: Mapping[str, Sequence[str]], base_url: str = "/services/airlock/"):
        self.scopes, self.base_url = scopes, base_url

    def check_xsrf_cookie(self, handler):
        from tornado.web import RequestHandler

        return RequestHandler.check_xsrf_cookie(handler)

    def get_user(self, handler, sync=True):
        token = handler.request.headers.get("Authorization", "").removeprefix("token ")
        model = None
        if token in self.scopes:
            model = {"kind": "user", "name": token, "scopes": list(self.scopes[token])}

        async def answer():
            return model

        return model if sync else answer()
