"""Policy decisions: a thin, typed layer over OPA (opa-python-client).

Python holds **no decision logic**: the builders (:mod:`cleanroom.policy.inputs`) gather facts
(:mod:`cleanroom.policy.facts`) into the one input document (``policies/input.schema.json``,
:mod:`cleanroom.policy.schema`), :class:`PolicyClient` validates it and asks OPA for
``data.<area>.decision``, and the caller enforces the answer. The client fails closed: an
invalid input, an error, a timeout, a non-200 answer or an undefined decision is a denial, with
the reason ``"policy service unavailable"`` (or ``"invalid policy input: ..."``).

Usage (the spawner, before every spawn)::

    from cleanroom.policy import PolicyClient, UserFacts, user_facts_from_groups

    policy = PolicyClient("http://127.0.0.1:8181", timeout=2.0, audit=audit_log)
    decision = await policy.aaccess(UserFacts("alice", None, ("researcher",)), project=None)
    decision.require()          # raises PolicyDenied (a CleanRoomError) with the reasons
    decision.result["grants"]   # the grant ids to mount

Every decision carries the policy revision (:mod:`cleanroom.policy.revision` of the policies OPA
has loaded, read from ``GET /v1/policies`` at most every ``revision_ttl`` seconds, so a
decision costs one HTTP call) and the SHA-256 digest of its input; with an audit log, every
decision is recorded (:func:`cleanroom.policy.record.record_decision`) before it is returned, and a
decision that cannot be recorded is a denial.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opa_client import OpaClient

from cleanroom.errors import CleanRoomError
from cleanroom.policy.facts import GrantFacts, ProjectFacts, RequestFacts, UserFacts
from cleanroom.policy.inputs import access_input, input_digest, release_input, review_input
from cleanroom.policy.record import record_decision
from cleanroom.policy.revision import revision_of_modules
from cleanroom.policy.schema import InputValidator, load_schema

if TYPE_CHECKING:
    from cleanroom.audit import AuditLog

log = logging.getLogger(__name__)

AREAS = ("access", "release", "review")
UNAVAILABLE = "policy service unavailable"
INVALID_INPUT = "invalid policy input"
AUDIT_UNAVAILABLE = "audit log unavailable"


class PolicyDenied(CleanRoomError):
    """A policy decision said no; the message is the reasons, for the person asking."""

    def __init__(self, decision: Decision):
        super().__init__("; ".join(decision.reasons) or "denied by policy")
        self.decision = decision


class PolicyDataUnavailable(CleanRoomError):
    """A policy's data document could not be read (OPA down, or the document undefined)."""


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

    # -- policy data -----------------------------------------------------------------------

    def policy_data(self, area: str, name: str) -> Any:
        """The value of ``data.<area>.<name>`` (a document a policy defines, e.g. the release
        policy's ``table_rules``). Raises :class:`PolicyDataUnavailable` when OPA does not
        answer or the document is not defined: its caller fails closed."""
        if area not in AREAS or not name.isidentifier():
            raise ValueError(f"unknown policy document {area}.{name}")
        try:
            response = self._opa._session.get(
                f"{self._opa.root_url}/data/{area}/{name}", timeout=self.timeout
            )
            response.raise_for_status()
            body = response.json()
        except Exception as error:  # noqa: BLE001 - any failure means "not known"
            self.invalidate_revision()
            raise PolicyDataUnavailable(
                f"the {area} policy's {name} could not be read from OPA ({type(error).__name__})"
            ) from None
        if not isinstance(body, dict) or "result" not in body:
            raise PolicyDataUnavailable(f"the {area} policy does not define {name}")
        return body["result"]

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
