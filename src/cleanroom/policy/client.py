"""Policy decisions: a thin, typed layer over OPA (opa-python-client).

Python holds **no decision logic**: the builders below gather facts into the one input
document (``policies/input.schema.json``), :class:`PolicyClient` validates it and asks OPA for
``data.<area>.decision``, and the caller enforces the answer. The client fails closed: an
invalid input, an error, a timeout, a non-200 answer or an undefined decision is a denial, with
the reason ``"policy service unavailable"`` (or ``"invalid policy input: ..."``).

Usage (the spawner, before every spawn)::

    from cleanroom.policy import PolicyClient, UserFacts, user_facts_from_groups

    policy = PolicyClient("http://127.0.0.1:8181", timeout=2.0, audit=audit_log)
    decision = await policy.aaccess(UserFacts("alice", None, ("researcher",)), project=None)
    decision.require()          # raises PolicyDenied (a CleanRoomError) with the reasons
    decision.result["grants"]   # the grant ids to mount

Every decision carries the policy revision (:func:`revision_of_modules` of the policies OPA
has loaded, read from ``GET /v1/policies`` at most every ``revision_ttl`` seconds, so a
decision costs one HTTP call) and the SHA-256 digest of its input; with an audit log, every
decision is recorded (:func:`cleanroom.policy.record.record_decision`) before it is returned, and a
decision that cannot be recorded is a denial.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import fastjsonschema
from opa_client import OpaClient

from cleanroom.core.jsoncanon import canonical_json
from cleanroom.core.times import rfc3339
from cleanroom.errors import CleanRoomError
from cleanroom.policy.opa import REPO_DIR, policy_files
from cleanroom.policy.record import record_decision
from cleanroom.scopes import GLOBAL_ROLES

if TYPE_CHECKING:
    from cleanroom.audit import AuditLog

log = logging.getLogger(__name__)

AREAS = ("access", "release", "review")
UNAVAILABLE = "policy service unavailable"
INVALID_INPUT = "invalid policy input"
AUDIT_UNAVAILABLE = "audit log unavailable"
SCHEMA_PATH = REPO_DIR / "policies" / "input.schema.json"


# ---------------------------------------------------------------------------------------------
# Facts: what Python knows, typed. The builders turn them into the input document.


@dataclass(frozen=True)
class UserFacts:
    """The person asking: JupyterHub name, organisation (None until the catalog knows it) and
    global roles (the JupyterHub groups among GLOBAL_ROLES)."""

    name: str
    organisation: str | None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectFacts:
    """A project, and the asking user's role in it (None: not a member)."""

    id: str
    role: str | None
    name: str | None = None


@dataclass(frozen=True)
class GrantFacts:
    """A grant of a dataset version to a project; the policy decides whether it applies."""

    id: str
    project: str
    dataset: str
    version: str
    expires_at: datetime | str | None = None
    revoked: bool = False
    columns: Sequence[str] | None = None
    row_filter: str | None = None


@dataclass(frozen=True)
class PersonFacts:
    """A person named in a request (the requester)."""

    name: str
    organisation: str | None


@dataclass(frozen=True)
class FileFacts:
    """One file of a release request."""

    path: str
    type: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CheckResult:
    """One automatic check's result, on a file (its path) or on the request (file None).

    status: pass | warn | fail | error | pending (see the schema's ``check_result``).
    """

    check: str
    file: str | None
    status: str
    message: str | None = None
    version: str | None = None
    findings: Sequence[Mapping[str, Any]] = ()
    metrics: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RequestFacts:
    """A release request, its files, their check results and the contributing organisations."""

    id: str
    project: str
    requester: PersonFacts
    files: Sequence[FileFacts]
    checks: Sequence[CheckResult]
    contributing_organisations: Sequence[str]
    state: str | None = None


def format_time(moment: datetime | str | None = None) -> str:
    """RFC 3339 in UTC (``2025-06-01T12:00:00Z``); now when None. Naive datetimes are UTC
    (as JupyterHub's database stores them); strings are passed through for the schema to
    check."""
    if isinstance(moment, str):
        return moment
    return rfc3339(moment, timespec="auto")


def user_facts_from_groups(
    name: str, groups: Iterable[str], organisation: str | None = None
) -> UserFacts:
    """UserFacts from a JupyterHub user's group names (``[g.name for g in user.groups]``);
    groups that are not global roles are left out."""
    roles = tuple(sorted({g for g in groups if g in GLOBAL_ROLES}))
    return UserFacts(name=name, organisation=organisation, roles=roles)


def _user(user: UserFacts) -> dict:
    return {"name": user.name, "organisation": user.organisation, "roles": list(user.roles)}


def _project(project: ProjectFacts | None) -> dict | None:
    if project is None:
        return None
    doc: dict = {"id": project.id, "role": project.role}
    if project.name is not None:
        doc["name"] = project.name
    return doc


def _grant(grant: GrantFacts) -> dict:
    return {
        "id": grant.id,
        "project": grant.project,
        "dataset": grant.dataset,
        "version": grant.version,
        "columns": list(grant.columns) if grant.columns is not None else None,
        "row_filter": grant.row_filter,
        "expires_at": format_time(grant.expires_at) if grant.expires_at is not None else None,
        "revoked": bool(grant.revoked),
    }


def _check(check: CheckResult) -> dict:
    doc: dict = {"check": check.check, "file": check.file, "status": check.status}
    if check.message is not None:
        doc["message"] = check.message
    if check.version is not None:
        doc["version"] = check.version
    if check.findings:
        doc["findings"] = [dict(f) for f in check.findings]
    if check.metrics is not None:
        doc["metrics"] = dict(check.metrics)
    return doc


def _request(request: RequestFacts) -> dict:
    doc: dict = {
        "id": request.id,
        "project": request.project,
        "requester": {
            "name": request.requester.name,
            "organisation": request.requester.organisation,
        },
        "files": [
            {
                "path": f.path,
                "type": f.type,
                "media_type": f.media_type,
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in request.files
        ],
        "checks": [_check(c) for c in request.checks],
        "contributing_organisations": sorted(set(request.contributing_organisations)),
    }
    if request.state is not None:
        doc["state"] = request.state
    return doc


def access_input(
    user: UserFacts,
    project: ProjectFacts | None = None,
    grants: Iterable[GrantFacts] = (),
    *,
    now: datetime | str | None = None,
) -> dict:
    """The input of an access decision: may ``user`` start a server for ``project`` (None:
    no project, the foundation's case), and which of the project's ``grants`` apply."""
    return {
        "action": "access",
        "now": format_time(now),
        "user": _user(user),
        "project": _project(project),
        "grants": [_grant(g) for g in grants],
    }


def release_input(
    user: UserFacts,
    project: ProjectFacts,
    request: RequestFacts,
    *,
    now: datetime | str | None = None,
) -> dict:
    """The input of a release decision; ``user`` is the requester, ``project`` the request's
    project with the requester's role in it."""
    return {
        "action": "release",
        "now": format_time(now),
        "user": _user(user),
        "project": _project(project),
        "grants": [],
        "request": _request(request),
    }


def review_input(
    voter: UserFacts,
    project: ProjectFacts,
    request: RequestFacts,
    *,
    now: datetime | str | None = None,
) -> dict:
    """The input of a review decision; ``project`` is the request's project with the voter's
    role in it."""
    return {
        "action": "review",
        "now": format_time(now),
        "user": _user(voter),
        "project": _project(project),
        "grants": [],
        "request": _request(request),
    }


# ---------------------------------------------------------------------------------------------
# Schema, digests, revisions.


def load_schema(path: str | os.PathLike[str] | None = None) -> dict:
    """The input schema (``$CLEANROOM_POLICY_SCHEMA``, else policies/input.schema.json)."""
    path = path or os.environ.get("CLEANROOM_POLICY_SCHEMA") or SCHEMA_PATH
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class InputValidator:
    """Validates input documents against the schema: fastjsonschema on the decision path,
    jsonschema for a readable message when an input is invalid."""

    def __init__(self, schema: Mapping[str, Any]):
        self.schema = dict(schema)
        self._fast = fastjsonschema.compile(self.schema)

    def errors(self, document: Any) -> list[str]:
        """[] when valid, else readable messages (the most relevant first)."""
        try:
            self._fast(document)
            return []
        except fastjsonschema.JsonSchemaValueException as fast_error:
            # Only on the (rare) invalid path: importing jsonschema takes about a second.
            import jsonschema

            validator = jsonschema.Draft7Validator(self.schema)
            best = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if best is None:
                return [fast_error.message]
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.path)
            return [f"{where.lstrip('.') or 'the input'}: {best.message}"]


def input_digest(document: Any) -> str:
    """The hex SHA-256 of the canonical JSON of an input document."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def revision_of_modules(sources: Iterable[str]) -> str:
    """The policy revision: a SHA-256 over the (sorted) SHA-256s of the loaded policy texts.

    File names and load order do not count, so OPA's loaded modules and a checkout of
    ``policies/`` (:func:`revision_of_dir`) give the same revision.
    """
    digests = sorted(hashlib.sha256(s.encode("utf-8")).hexdigest() for s in sources)
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def revision_of_dir(policies_dir: str | os.PathLike[str]) -> str:
    """The revision OPA will report once it has loaded ``policies_dir``."""
    return revision_of_modules(p.read_text(encoding="utf-8") for p in policy_files(policies_dir))


# ---------------------------------------------------------------------------------------------
# Decisions.


class PolicyDenied(CleanRoomError):
    """A policy decision said no; the message is the reasons, for the person asking."""

    def __init__(self, decision: Decision):
        super().__init__("; ".join(decision.reasons) or "denied by policy")
        self.decision = decision


@dataclass(frozen=True)
class Decision:
    """OPA's answer, enforced by the caller.

    allowed: True only when OPA's decision said ``allow: true``.
    reasons: why not (empty when allowed), readable by the person asking.
    result: OPA's whole decision document (e.g. ``grants``, ``reviewers_required``); ``{}``
        when OPA was not asked or did not answer.
    policy_revision: the revision of the policies that decided ("" when none did).
    input_digest: hex SHA-256 of the canonical input document.
    area: access, release or review.
    """

    allowed: bool
    reasons: tuple[str, ...]
    result: dict = field(hash=False)
    policy_revision: str
    input_digest: str
    area: str = ""

    def require(self) -> Decision:
        """Return self when allowed; raise PolicyDenied (a CleanRoomError) otherwise."""
        if not self.allowed:
            raise PolicyDenied(self)
        return self

    @classmethod
    def deny(cls, area: str, reason: str, digest: str = "", **result: Any) -> Decision:
        return cls(False, (reason,), dict(result), "", digest, area)


class PolicyClient:
    """Asks OPA for decisions; fails closed.

    url: OPA's base URL (``http://127.0.0.1:8181``).
    timeout: seconds for each HTTP call (connect and read).
    audit: an optional :class:`cleanroom.audit.AuditLog`; every decision is recorded in it.
    revision_ttl: the policy revision is re-read from OPA at most this often (seconds).
    retries: immediate retries of a failed connection (a restarted OPA closes kept-alive
        connections); 1 by default.
    schema: the input schema (a dict); policies/input.schema.json by default.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 2.0,
        *,
        audit: AuditLog | None = None,
        revision_ttl: float = 5.0,
        retries: int = 1,
        schema: Mapping[str, Any] | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA url {url!r} is not http(s)://host:port")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.audit = audit
        self.revision_ttl = revision_ttl
        self.validator = InputValidator(schema if schema is not None else load_schema())
        self._opa = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            retries=retries,
            timeout=timeout,
        )
        self._revision = ""
        self._revision_at = float("-inf")
        self._revision_lock = threading.Lock()

    def close(self) -> None:
        self._opa.close_connection()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- revision --------------------------------------------------------------------------

    def fetch_revision(self) -> str:
        """Read the loaded policies from OPA now and return their revision (raises on error)."""
        # opa-python-client has no call that returns every module's text in one request;
        # its session is the one the decisions use (same connection pool, same retries).
        response = self._opa._session.get(f"{self._opa.root_url}/policies", timeout=self.timeout)
        response.raise_for_status()
        modules = response.json().get("result", [])
        revision = revision_of_modules(m.get("raw", "") for m in modules)
        with self._revision_lock:
            self._revision, self._revision_at = revision, time.monotonic()
        return revision

    def revision(self) -> str:
        """The policy revision, re-read when older than revision_ttl; "" when unknown."""
        if time.monotonic() - self._revision_at < self.revision_ttl:
            return self._revision
        try:
            return self.fetch_revision()
        except Exception as error:  # noqa: BLE001 - any failure means "unknown"
            log.warning("cannot read the policy revision from OPA: %s", error)
            with self._revision_lock:  # "unknown", and asked again after the TTL
                self._revision, self._revision_at = "", time.monotonic()
            return ""

    def invalidate_revision(self) -> None:
        """Forget the cached revision: the next decision re-reads it."""
        with self._revision_lock:
            self._revision_at = float("-inf")

    # -- decisions -------------------------------------------------------------------------

    def decide(self, area: str, document: Mapping[str, Any]) -> Decision:
        """Ask OPA for ``data.<area>.decision`` with ``document`` as input. Never raises for
        anything OPA or the input does: every failure is a denial with a reason."""
        if area not in AREAS:
            raise ValueError(f"unknown policy area {area!r}; one of {AREAS}")
        decision = self._decide(area, document)
        if self.audit is not None:
            try:
                record_decision(self.audit, area, decision, **_subject(document))
            except Exception:  # noqa: BLE001 - an unrecorded decision must not be enforced
                log.exception("cannot record the %s decision in the audit log", area)
                return Decision.deny(area, AUDIT_UNAVAILABLE, decision.input_digest)
        return decision

    def _decide(self, area: str, document: Mapping[str, Any]) -> Decision:
        try:
            digest = input_digest(document)
        except (TypeError, ValueError) as error:
            return Decision.deny(area, f"{INVALID_INPUT}: not a JSON document ({error})")
        errors = self.validator.errors(document)
        if errors:
            return Decision.deny(area, f"{INVALID_INPUT}: {errors[0]}", digest)
        if document.get("action") != area:
            return Decision.deny(
                area,
                f"{INVALID_INPUT}: action {document.get('action')!r} sent to the {area} policy",
                digest,
            )
        try:
            response = self._opa.query_rule(
                input_data=dict(document), package_path=area, rule_name="decision"
            )
        except Exception as error:  # noqa: BLE001 - fail closed on anything
            log.warning("OPA did not decide %s: %s: %s", area, type(error).__name__, error)
            # OPA may come back with other policies: read the revision again then.
            self.invalidate_revision()
            return Decision.deny(area, UNAVAILABLE, digest, error=f"{type(error).__name__}")
        result = response.get("result") if isinstance(response, dict) else None
        if not isinstance(result, dict) or not isinstance(result.get("allow"), bool):
            log.warning("OPA's %s decision is undefined or malformed: %.200r", area, response)
            return Decision.deny(area, UNAVAILABLE, digest, error="undefined decision")
        allowed = result["allow"] is True
        raw_reasons = result.get("reasons")
        reasons = tuple(str(r) for r in raw_reasons) if isinstance(raw_reasons, list) else ()
        if allowed:
            reasons = ()
        elif not reasons:
            reasons = ("denied by policy",)
        return Decision(allowed, reasons, result, self.revision(), digest, area)

    def access(
        self,
        user: UserFacts,
        project: ProjectFacts | None = None,
        grants: Iterable[GrantFacts] = (),
        *,
        now: datetime | str | None = None,
    ) -> Decision:
        """May ``user`` start a server (for ``project``), and with which grants
        (``decision.result["grants"]``)."""
        return self.decide("access", access_input(user, project, grants, now=now))

    def release(
        self,
        user: UserFacts,
        project: ProjectFacts,
        request: RequestFacts,
        *,
        now: datetime | str | None = None,
    ) -> Decision:
        """What ``request`` needs: ``decision.result["reviewers_required"]`` and
        ``["data_owner_approval"]``, or a denial with reasons for the researcher."""
        return self.decide("release", release_input(user, project, request, now=now))

    def review(
        self,
        voter: UserFacts,
        project: ProjectFacts,
        request: RequestFacts,
        *,
        now: datetime | str | None = None,
    ) -> Decision:
        """May ``voter`` vote on ``request``, and in which capacities."""
        return self.decide("review", review_input(voter, project, request, now=now))

    # Async variants for the hub's and the airlock's event loops: the HTTP call runs in a
    # worker thread, so a slow or stopped OPA never blocks the loop beyond the timeout.

    async def adecide(self, area: str, document: Mapping[str, Any]) -> Decision:
        return await asyncio.to_thread(self.decide, area, document)

    async def aaccess(self, *args: Any, **kwargs: Any) -> Decision:
        return await asyncio.to_thread(self.access, *args, **kwargs)

    async def arelease(self, *args: Any, **kwargs: Any) -> Decision:
        return await asyncio.to_thread(self.release, *args, **kwargs)

    async def areview(self, *args: Any, **kwargs: Any) -> Decision:
        return await asyncio.to_thread(self.review, *args, **kwargs)


def _subject(document: Mapping[str, Any]) -> dict:
    """What a decision was about, for the audit record (names and ids only)."""
    subject: dict = {}
    user = document.get("user")
    if isinstance(user, Mapping) and isinstance(user.get("name"), str):
        subject["actor"] = user["name"]
    project = document.get("project")
    if isinstance(project, Mapping) and isinstance(project.get("id"), str):
        subject["project"] = project["id"]
    request = document.get("request")
    if isinstance(request, Mapping) and isinstance(request.get("id"), str):
        subject["request"] = request["id"]
    return subject


def revision_matches(client: PolicyClient, policies_dir: str | Path) -> bool:
    """Whether OPA runs exactly the policies in ``policies_dir`` (for operators and tests)."""
    return client.fetch_revision() == revision_of_dir(policies_dir)
