"""The one business layer: every change to a release request goes through :class:`AirlockService`.

    service = AirlockService(sessions, store, policy, audit, catalog_facts, limits)
    request = service.create(caller, project="demo", justification="for the paper")
    service.put_file(caller, request.id, "t.csv", "table", blob, "text/csv", project="demo")
    service.submit(caller, request.id)                # checks, then the release policy
    service.vote(reviewer, request.id, [VoteInput("t.csv", "approve", "fine")])
    path = service.download(caller, request.id, "t.csv", peer_in_clean_room=False)

Each method checks permissions (``permissions``), moves state only through :meth:`_move`
(which checks the transition table and writes the audit record), asks OPA for release and
review decisions (Python only enforces their answer), and runs in one database transaction
that holds SQLite's write lock from its start. Methods are synchronous: the HTTP layer runs
them in worker threads.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..audit import AuditLog
from ..core import times
from ..policy import (
    UNAVAILABLE,
    CheckResult,
    FileFacts,
    PersonFacts,
    PolicyClient,
    PolicyDataUnavailable,
    ProjectFacts,
    RequestFacts,
    user_facts_from_groups,
)
from . import permissions as perm
from . import tally
from .enums import CheckStatus, VoteDecision
from .errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PolicyRefused,
    TooLarge,
    Unavailable,
)
from .facts import CatalogFacts
from .inspect import copied, tables
from .inspect.checks import CheckOutcome, CheckSubject, run_checks
from .models import (
    CheckDetails,
    CheckRecord,
    Comment,
    FileVersion,
    Request,
    ReviewedText,
    TableSpecRecord,
    Vote,
)
from .names import check_file_name, check_file_type
from .states import OPEN_STATES, QUOTA_STATES, State, check_transition
from .store import Blob, BlobStore

log = logging.getLogger(__name__)

DECISIONS = tuple(VoteDecision)
GiB = 1024**3
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    """Every limit the airlock enforces, in one place. The sizes and quotas come from the
    settings (``web/app.py``); the text caps are fixed here. Everything a requester writes
    is shown back to them outside the clean room once reviewed, so it is capped like a file."""

    max_file_bytes: int = 2 * GiB
    max_files: int = 50
    max_request_bytes: int = 4 * GiB
    # Storage quotas: bytes of file versions in requests that are open or approved
    # (QUOTA_STATES), per requester and per project.
    researcher_quota_bytes: int = 10 * GiB
    project_quota_bytes: int = 50 * GiB
    # Text, in characters.
    max_title: int = 120
    max_justification: int = 4_000
    max_comment: int = 2_000
    # Comments the requester may write: per request, and per 24 hours on all their requests.
    # (Reviewers' comments are capped in length only: they are written outside.)
    max_requester_comments_per_request: int = 10
    max_requester_comments_per_day: int = 30
    # Requests per researcher: drafts, and open ones (draft, submitted, in review, returned).
    max_drafts: int = 5
    max_open_requests: int = 20


@dataclass(frozen=True)
class UploadAllowance:
    """The most bytes a file may have (``bytes``) and, in words, the limit that sets it."""

    bytes: int
    limit: str
    quota: bool = False  # the limit is a storage quota (not a per-file or per-request size)


@dataclass(frozen=True)
class VoteInput:
    file: str
    decision: str
    comment: str = ""
    visible_to_requester: bool = False


def now() -> datetime:
    """Now, for the airlock's naive UTC columns (cleanroom.core.times' rule)."""
    return times.now().replace(tzinfo=None)


def ref(request: Request) -> perm.RequestRef:
    return perm.RequestRef(request.id, request.requester, State(request.state))


def current_files(request: Request) -> list[FileVersion]:
    """The newest version of each name, unless removed; in name order."""
    latest: dict[str, FileVersion] = {}
    for f in request.files:
        if f.name not in latest or f.version > latest[f.name].version:
            latest[f.name] = f
    return sorted((f for f in latest.values() if not f.removed), key=lambda f: f.name)


def counting_votes(file: FileVersion) -> list[Vote]:
    return [v for v in file.votes if not v.superseded]


def _text(value: object, what: str, limit: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required: say what the output is and why it must leave")
    if len(value) > limit:
        raise InvalidInput(f"{what} is at most {limit} characters long")
    if "\x00" in value:
        raise InvalidInput(f"{what} may not contain NUL characters")
    return value


class AirlockService:
    def __init__(
        self,
        sessions: sessionmaker,
        store: BlobStore,
        policy: PolicyClient,
        audit: AuditLog,
        catalog: CatalogFacts,
        limits: Limits | None = None,
        view_policy: PolicyClient | None = None,
        read_sessions: sessionmaker | None = None,
        grants_dir: Path | None = None,
    ):
        self.sessions = sessions
        # Reads that decide nothing need not wait for the write lock.
        self.read_sessions = read_sessions or sessions
        self.store = store
        self.policy = policy
        # Read-only questions (may this person see this request?) are not audited decisions.
        self.view_policy = view_policy or policy
        self.audit = audit
        self.catalog = catalog
        self.limits = limits or Limits()
        # The grants' cache (cleanroom.grants.cache): verified tables are recomputed from
        # its airlock copies. None: tables cannot be verified (their check is an error).
        self.grants_dir = grants_dir

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction holding the write lock; commit on success, roll back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def _get(self, s: Session, request_id: str) -> Request:
        request = s.get(Request, request_id) if isinstance(request_id, str) else None
        if request is None:
            raise NotFound(f"there is no release request {request_id!r}")
        return request

    def _move(self, request: Request, target: State, actor: str | None, **details) -> None:
        """The only place a request changes state: table check, then the audit record."""
        source = State(request.state)
        check_transition(source, target)
        request.state = target.value
        request.updated_at = now()
        self.audit.append(
            "airlock.request.state",
            actor,
            request=request.id,
            project=request.project,
            source=source.value,
            target=target.value,
            **details,
        )

    def _user_facts(self, caller: perm.Caller):
        return user_facts_from_groups(
            caller.name, caller.groups, self.catalog.organisation(caller.name)
        )

    def _request_facts(self, request: Request, checks: Sequence[CheckRecord]) -> RequestFacts:
        files = current_files(request)
        by_id = {f.id: f for f in files}
        return RequestFacts(
            id=request.id,
            project=request.project,
            requester=PersonFacts(request.requester, self.catalog.organisation(request.requester)),
            files=[FileFacts(f.name, f.type, f.media_type, f.size, f.sha256) for f in files],
            checks=[
                CheckResult(
                    c.check,
                    by_id[c.file_id].name,
                    c.status,
                    c.message or None,
                    findings=c.findings,
                    metrics=c.metrics or None,
                )
                for c in checks
                if c.file_id in by_id
            ],
            contributing_organisations=list(request.contributing_organisations or ()),
            state=request.state,
        )

    # -- creating and editing ------------------------------------------------------------------

    def create(
        self, caller: perm.Caller, *, project: str | None, justification: object, title: object = ""
    ) -> Request:
        """A new draft for the project of the caller's running server (``project``, which the
        HTTP layer took from the hub, never from the body)."""
        perm.check_user_can_create_request(caller)
        if not project:
            raise Conflict(
                "start your server for a project first: a release request belongs to the "
                "project your running server was started for"
            )
        limits = self.limits
        justification = _text(justification, "the justification", limits.max_justification, True)
        title = _text(title, "the title", limits.max_title, False)
        moment = now()
        with self._tx() as s:
            self._check_request_caps(s, caller.name)
            request = Request(
                id="r-" + secrets.token_hex(8),
                title=title,
                project=project,
                requester=caller.name,
                state=State.DRAFT.value,
                justification=justification,
                round=0,
                reasons=[],
                notes=[],
                data_owner_approval=[],
                contributing_organisations=[],
                created_at=moment,
                updated_at=moment,
            )
            s.add(request)
            s.flush()
            self.audit.append(
                "airlock.request.created", caller.name, request=request.id, project=project
            )
        return self.get(caller, request.id)

    def _check_request_caps(self, s: Session, requester: str) -> None:
        """Drafts and open requests per researcher (in the creating transaction)."""
        states = dict(
            s.execute(
                select(Request.state, func.count())
                .where(Request.requester == requester)
                .where(Request.state.in_([st.value for st in OPEN_STATES]))
                .group_by(Request.state)
            ).all()
        )
        drafts, open_ = states.get(State.DRAFT.value, 0), sum(states.values())
        if drafts >= self.limits.max_drafts:
            raise Conflict(
                f"you have {drafts} draft requests, the most a researcher may have: add your "
                "files to one of them, submit it, or withdraw one you no longer need"
            )
        if open_ >= self.limits.max_open_requests:
            raise Conflict(
                f"you have {open_} open requests (draft, submitted, in review or returned), the "
                "most a researcher may have: wait for reviews to end, or withdraw one you no "
                "longer need"
            )

    def _held_bytes(self, s: Session, *where) -> int:
        """Bytes of every file version (earlier versions too: their blobs stay) of the
        requests that count towards the quotas."""
        query = (
            select(func.coalesce(func.sum(FileVersion.size), 0))
            .join(Request, FileVersion.request_id == Request.id)
            .where(Request.state.in_([st.value for st in QUOTA_STATES]), *where)
        )
        return int(s.scalar(query) or 0)

    def _allowance(self, s: Session, request: Request, name: str) -> UploadAllowance:
        """The most bytes ``name`` may have in ``request``: the smallest of the file limit,
        what the request has left, and what the requester's and the project's quotas have
        left (a version not reviewed yet is replaced in place: its bytes are freed)."""
        limits = self.limits
        files = current_files(request)
        others = sum(f.size for f in files if f.name != name)
        versions = [f for f in request.files if f.name == name]
        latest = max(versions, key=lambda f: f.version) if versions else None
        freed = latest.size if latest is not None and latest.round == request.round + 1 else 0
        mine = self._held_bytes(s, Request.requester == request.requester) - freed
        project = self._held_bytes(s, Request.project == request.project) - freed
        options = [
            UploadAllowance(
                limits.max_file_bytes, f"a file may have at most {limits.max_file_bytes} bytes"
            ),
            UploadAllowance(
                limits.max_request_bytes - others,
                f"the files of one request may add up to {limits.max_request_bytes} bytes and "
                f"the other files of request {request.id} hold {others}",
            ),
            UploadAllowance(
                limits.researcher_quota_bytes - mine,
                f"your storage quota is {limits.researcher_quota_bytes} bytes in requests not "
                f"yet released and {mine} of them are in use: withdraw requests you no longer "
                "need, or remove files from your drafts",
                quota=True,
            ),
            UploadAllowance(
                limits.project_quota_bytes - project,
                f"project {request.project}'s storage quota is {limits.project_quota_bytes} "
                f"bytes in requests not yet released and {project} of them are in use: "
                "requests of the project must be released or withdrawn first (or ask an admin "
                "to raise the quota)",
                quota=True,
            ),
        ]
        least = min(options, key=lambda a: a.bytes)
        return UploadAllowance(max(0, least.bytes), least.limit, least.quota)

    def upload_allowance(
        self,
        caller: perm.Caller,
        request_id: str,
        name: str,
        type_: str | None,
        project: str | None,
        table_spec: dict | None = None,
    ) -> UploadAllowance:
        """Before an upload starts: may the caller put ``name`` into the request; the most
        bytes the file may have, and which limit says so. A full quota, or a verified table's
        specification that the project's grants do not allow, is refused here."""
        check_file_name(name)
        check_file_type(type_)
        with self.read_sessions() as s:
            request = self._get(s, request_id)
            perm.check_user_can_edit_request(caller, ref(request))
            self._check_project(request, project)
            if table_spec is not None:
                self.resolve_table(request.project, type_, table_spec)
            files = current_files(request)
            if name not in {f.name for f in files} and len(files) >= self.limits.max_files:
                raise TooLarge(
                    f"request {request_id} already has {len(files)} files, the most one "
                    "request may hold; remove one first"
                )
            allowance = self._allowance(s, request, name)
            if allowance.quota and allowance.bytes == 0:
                raise TooLarge(f"no file can be added: {allowance.limit}; nothing was stored")
            return allowance

    def check_may_put(
        self,
        caller: perm.Caller,
        request_id: str,
        name: str,
        type_: str | None,
        project: str | None,
    ) -> int:
        """Before an upload starts: may the caller put ``name`` into the request; returns the
        most bytes the file may have (:meth:`upload_allowance`)."""
        return self.upload_allowance(caller, request_id, name, type_, project).bytes

    @staticmethod
    def _check_project(request: Request, project: str | None) -> None:
        if project != request.project:
            raise PermissionDenied(
                f"request {request.id} belongs to project {request.project}, but your running "
                f"server is for {project or 'no project'}: files can only come from a server "
                "of the request's project"
            )

    def put_file(
        self,
        caller: perm.Caller,
        request_id: str,
        name: str,
        type_: str | None,
        blob: Blob,
        media_type: str,
        *,
        project: str | None,
        table_spec: dict | None = None,
    ) -> FileVersion:
        """Add or replace ``name`` with the stored ``blob``. In a draft, and for a version not
        yet reviewed, the file is replaced; after a review, changed bytes (or type, or table
        specification) make a new version, identical ones change nothing.

        ``table_spec``: the specification of a verified table (``cleanroom.tables.spec``),
        checked against the project's grants and the file's content before anything is
        recorded."""
        check_file_name(name)
        check_file_type(type_)
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_edit_request(caller, ref(request))
            self._check_project(request, project)
            resolved = None
            if table_spec is not None:
                resolved = self.resolve_table(request.project, type_, table_spec)
                tables.check_media_type(resolved, media_type)
            spec_json = resolved.spec.as_json() if resolved is not None else None
            files = current_files(request)
            if name not in {f.name for f in files} and len(files) >= self.limits.max_files:
                raise TooLarge(f"request {request_id} already holds {len(files)} files")
            versions = [f for f in request.files if f.name == name]
            latest = max(versions, key=lambda f: f.version) if versions else None
            pending_round = request.round + 1
            if (
                latest is not None
                and not latest.removed
                and latest.sha256 == blob.sha256
                and latest.type == type_
                and latest.table_spec == spec_json
            ):
                return latest  # the same bytes: nothing changes, votes stay
            # Again here, in the transaction: uploads racing each other counted before.
            allowance = self._allowance(s, request, name)
            if blob.size > allowance.bytes:
                raise TooLarge(
                    f"file {name} is {blob.size} bytes, but {allowance.limit}; it was not "
                    "added to the request"
                )
            if latest is not None and latest.round == pending_round:
                # Not reviewed yet: replace it in place (its checks go with it).
                for check in [c for c in request.checks if c.file_id == latest.id]:
                    s.delete(check)
                latest.sha256, latest.size, latest.type = blob.sha256, blob.size, type_
                latest.media_type, latest.removed, latest.added_at = media_type, False, now()
                latest.table = None
                row = latest
            else:
                row = FileVersion(
                    request=request,
                    name=name,
                    version=(latest.version + 1) if latest else 1,
                    type=type_,
                    sha256=blob.sha256,
                    size=blob.size,
                    media_type=media_type,
                    round=pending_round,
                    removed=False,
                    added_at=now(),
                )
                s.add(row)
            request.updated_at = now()
            s.flush()
            if resolved is not None:
                row.table = TableSpecRecord(
                    file_id=row.id, spec=spec_json, grant_id=resolved.grant_id
                )
                s.flush()
            self.audit.append(
                "airlock.file.put",
                caller.name,
                request=request.id,
                project=request.project,
                file=name,
                version=row.version,
                type=type_,
                sha256=blob.sha256,
                size=blob.size,
                media_type=media_type,
                table=resolved.spec.describe() if resolved is not None else None,
            )
            return row

    def resolve_table(self, project: str, type_: str | None, doc: dict) -> tables.ResolvedTable:
        """A verified table's specification checked against ``project``'s grants now."""
        if type_ != "table":
            raise InvalidInput(
                f"only a file of type table may come with a table specification, not {type_!r}"
            )
        return tables.resolve(doc, project, self.catalog.catalog)

    def delete_file(self, caller: perm.Caller, request_id: str, name: str) -> None:
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_edit_request(caller, ref(request))
            current = {f.name: f for f in current_files(request)}
            if name not in current:
                raise NotFound(f"request {request_id} has no file {name!r}")
            row = current[name]
            if row.round == request.round + 1:
                for check in [c for c in request.checks if c.file_id == row.id]:
                    s.delete(check)
                s.delete(row)
                s.flush()
                s.expire(request, ["files"])
                remaining = [f for f in request.files if f.name == name]
                if remaining:  # an earlier, reviewed version: removed, but kept for history
                    max(remaining, key=lambda f: f.version).removed = True
            else:
                row.removed = True
            request.updated_at = now()
            self.audit.append(
                "airlock.file.removed",
                caller.name,
                request=request.id,
                file=name,
                project=request.project,
            )

    # -- submitting ----------------------------------------------------------------------------

    def submit(self, caller: perm.Caller, request_id: str, justification: object = None) -> Request:
        """Checks, then the release policy: in review, or back (409) with the reasons."""
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_submit_request(caller, ref(request))
            if justification is not None:
                request.justification = _text(
                    justification, "the justification", self.limits.max_justification, True
                )
            back = State.DRAFT if request.round == 0 else State.RETURNED
            self._move(request, State.SUBMITTED, caller.name)
        try:
            decision = self._decide_release(caller, request_id)
        except Exception as error:
            with self._tx() as s:
                request = self._get(s, request_id)
                if request.state == State.SUBMITTED:
                    self._move(request, back, caller.name, reason=str(error))
            if isinstance(error, Unavailable | PolicyRefused):
                raise
            raise Unavailable(f"the request could not be decided: {error}") from error
        with self._tx() as s:
            request = self._get(s, request_id)
            if request.state != State.SUBMITTED:  # withdrawn meanwhile
                raise Conflict(f"request {request_id} became {request.state} meanwhile")
            request.reasons = list(decision.reasons)
            request.notes = list(decision.result.get("notes") or [])
            request.policy_revision = decision.policy_revision
            if not decision.allowed:
                self._move(request, back, caller.name, reasons=list(decision.reasons))
            else:
                request.reviewers_required = int(decision.result.get("reviewers_required") or 1)
                request.data_owner_approval = list(decision.result.get("data_owner_approval") or [])
                request.round += 1
                for f in current_files(request):
                    if f.round < request.round:  # unchanged: approvals stand, the rest not
                        for v in counting_votes(f):
                            if v.decision != VoteDecision.APPROVE:
                                v.superseded = True
                self._move(
                    request,
                    State.IN_REVIEW,
                    caller.name,
                    round=request.round,
                    reviewers_required=request.reviewers_required,
                    data_owner_approval=request.data_owner_approval,
                    policy_revision=decision.policy_revision,
                )
                s.flush()
                self._settle(s, request, caller.name)
        if not decision.allowed and UNAVAILABLE in decision.reasons:
            raise Unavailable(
                "the release policy could not be asked (the policy service did not answer); "
                "nothing was decided: submit again in a moment"
            )
        if not decision.allowed:
            raise PolicyRefused(
                "the release policy does not allow this request as it is: "
                + "; ".join(decision.reasons),
                decision.reasons,
            )
        return self.get(caller, request_id)

    def _decide_release(self, caller: perm.Caller, request_id: str):
        """Run the checks on files that have none yet, then ask the release policy."""
        with self.sessions() as s:
            request = self._get(s, request_id)
            files = current_files(request)
            done = {c.file_id for c in request.checks}
            todo = [
                (
                    f.id,
                    CheckSubject(
                        self.store.blob_path(f.sha256),
                        f.name,
                        f.type,
                        f.media_type,
                        f.size,
                        f.sha256,
                    ),
                )
                for f in files
                if f.id not in done
            ]
            specs = {f.id: f.table_spec for f in files if f.id not in done and f.table_spec}
            project = request.project
            requester = request.requester
        rules = self._table_rules() if specs else None
        tabular = any(subject.media_type in copied.MEDIA_TYPES for _, subject in todo)
        copied_rules = self._copied_rules() if tabular else None
        results = []
        for file_id, subject in todo:  # outside the transaction: checks read whole files
            outcomes = run_checks(subject)
            if file_id in specs:
                outcomes.append(self._check_table(subject, project, specs[file_id], rules))
            if subject.media_type in copied.MEDIA_TYPES:  # a table, whatever its file type
                try:
                    outcomes.append(self._check_copied(subject, project, copied_rules))
                except Exception as error:  # noqa: BLE001 - a crashing check must not pass
                    outcomes.append(
                        CheckOutcome(
                            copied.COPIED_CHECK,
                            CheckStatus.ERROR,
                            f"the table could not be compared with the project's data: {error}",
                        )
                    )
            results.append((file_id, outcomes))
        # Whose data the grants mounted for the requester's servers in the project hold: only
        # their data owners are asked, and may look (review policy).
        organisations = self.catalog.contributing_organisations(project, requester)
        with self._tx() as s:
            request = self._get(s, request_id)
            request.contributing_organisations = organisations
            for file_id, outcomes in results:
                for o in outcomes:
                    record = CheckRecord(
                        request_id=request.id,
                        file_id=file_id,
                        check=o.check,
                        status=o.status,
                        message=o.message,
                        round=request.round + 1,
                        at=now(),
                    )
                    if o.findings or o.metrics:
                        record.details = CheckDetails(
                            findings=[dict(f) for f in o.findings], metrics=dict(o.metrics)
                        )
                    s.add(record)
            if results:
                self.audit.append(
                    "airlock.checks",
                    caller.name,
                    request=request.id,
                    results=[
                        {"file_id": fid, "check": o.check, "status": o.status}
                        for fid, outs in results
                        for o in outs
                    ],
                )
            s.flush()
            s.refresh(request)
            facts = self._request_facts(request, request.checks)
        user = self._user_facts(caller)
        role = self.catalog.project_role(project, caller.name)
        return self.policy.release(user, ProjectFacts(project, role), facts)

    def _table_rules(self) -> dict | None:
        """The release policy's ``table_rules`` (None when they cannot be read: the table
        checks are then errors, and nothing unchecked leaves)."""
        try:
            return self.policy.policy_data("release", "table_rules")
        except PolicyDataUnavailable as error:
            log.warning("%s", error)
            return None

    def _copied_rules(self) -> dict | None:
        """The release policy's ``copied_records`` thresholds (None when they cannot be read:
        the check is then an error)."""
        try:
            return self.policy.policy_data("release", "copied_records")
        except PolicyDataUnavailable as error:
            log.warning("%s", error)
            return None

    def _check_copied(
        self, subject: CheckSubject, project: str, rules: dict | None
    ) -> CheckOutcome:
        """The ``copied-records`` check of one table: compared with the airlock's copy of
        every grant of the project, on the granted columns. An active grant whose copy is not
        ready makes the check an error; an ended one whose copy is gone is named in the
        metrics (its data can no longer be compared)."""
        from ..grants.cache import AirlockCopyPending, wait_for_airlock_copy

        grants: list[copied.GrantCopy] = []
        not_compared: list[str] = []
        seen: set[str] = set()
        for grant, version in self.catalog.project_grants(project):
            key = grant.materialisation_key
            label = f"{grant.dataset} {grant.version_label} (grant {grant.id})"
            if key is None or key in seen:
                continue
            seen.add(key)
            if self.grants_dir is None:
                return CheckOutcome(
                    copied.COPIED_CHECK,
                    CheckStatus.ERROR,
                    "this airlock has no grant copies to compare the table with the project's "
                    "data: an admin must set the airlock's grant cache",
                )
            # Only the granted columns: the copy also holds the contributor column.
            columns = tuple(grant.columns) if grant.columns is not None else tuple(version.schema)
            wait = tables.COPY_WAIT_SECONDS if grant.active else 0.0
            try:
                path = wait_for_airlock_copy(self.grants_dir, key, timeout=wait)
            except (AirlockCopyPending, OSError) as why:
                if grant.active:
                    return CheckOutcome(
                        copied.COPIED_CHECK,
                        CheckStatus.ERROR,
                        f"the airlock's copy of the {grant.dataset} grant is not ready ({why}); "
                        "submit again in a few minutes",
                    )
                not_compared.append(label)
                continue
            grants.append(copied.GrantCopy(label, columns, path))
        return copied.check_copied(subject.path, subject.media_type, grants, rules, not_compared)

    def _check_table(
        self, subject: CheckSubject, project: str, spec: dict, rules: dict | None
    ) -> CheckOutcome:
        """The ``table`` check of one file: its specification checked against the project's
        grants again (one may have changed since the upload), then recomputed."""
        try:
            resolved = self.resolve_table(project, subject.type, spec)
        except InvalidInput as error:
            return CheckOutcome(tables.TABLE_CHECK, CheckStatus.FAIL, str(error))
        return tables.check_table(subject.path, resolved, self.grants_dir, rules)

    # -- reviewing -----------------------------------------------------------------------------

    def review_decision(self, caller: perm.Caller, request: Request, audited: bool = False):
        role = self.catalog.project_role(request.project, caller.name)
        facts = self._request_facts(request, request.checks)
        client = self.policy if audited else self.view_policy
        return client.review(self._user_facts(caller), ProjectFacts(request.project, role), facts)

    def may_review(self, caller: perm.Caller, request: Request) -> bool:
        if not caller.may_review or caller.name == request.requester:
            return False
        return self.review_decision(caller, request).allowed

    def vote(
        self,
        caller: perm.Caller,
        request_id: str,
        votes: Sequence[VoteInput],
        seen_comments: int | None = None,
    ) -> Request:
        """Record one or more votes (one per file) at once; all or none. Then the request is
        approved, returned or rejected as the votes and the policy's numbers say.

        ``seen_comments``: how many comments the voter was shown (the vote form sends it).
        A comment added since refuses the vote: the text a review covers is what the
        reviewers saw (``visibility``), and comments are the only text that changes in review."""
        if not votes:
            raise InvalidInput("give at least one vote: a file, a decision and a comment")
        for v in votes:
            if v.decision not in DECISIONS:
                raise InvalidInput(
                    f"{v.decision!r} is not a decision; one of {', '.join(DECISIONS)}"
                )
            required = v.decision != VoteDecision.APPROVE
            _text(v.comment, "the comment", self.limits.max_comment, required)
        if len({v.file for v in votes}) != len(votes):
            raise InvalidInput("one vote per file")
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_vote(caller, ref(request), review_allowed=True)
            decision = self.review_decision(caller, request, audited=True)
            if not decision.allowed:
                if UNAVAILABLE in decision.reasons:
                    raise Unavailable("the review policy could not be asked; try again soon")
                raise PermissionDenied(
                    f"the review policy does not let {caller.name} vote on {request_id}: "
                    + "; ".join(decision.reasons),
                    decision.reasons,
                )
            if seen_comments is not None and len(request.comments) > seen_comments:
                raise Conflict(
                    f"{len(request.comments) - seen_comments} comment(s) were added to request "
                    f"{request_id} since you opened it; nothing was recorded: reload the page, "
                    "read them, and vote again"
                )
            files = {f.name: f for f in current_files(request)}
            for v in votes:
                f = files.get(v.file)
                if f is None:
                    raise NotFound(f"request {request_id} has no file {v.file!r} to vote on")
                if any(x.reviewer == caller.name for x in counting_votes(f)):
                    raise Conflict(
                        f"you already voted on {v.file} (version {f.version}); a vote is final"
                    )
                s.add(
                    Vote(
                        request_id=request.id,
                        file_id=f.id,
                        reviewer=caller.name,
                        decision=v.decision,
                        comment=v.comment.strip(),
                        visible_to_requester=bool(v.visible_to_requester),
                        capacities=list(decision.result.get("capacities") or []),
                        organisations=list(decision.result.get("organisations") or []),
                        round=request.round,
                        superseded=False,
                        at=now(),
                    )
                )
                self.audit.append(
                    "airlock.vote",
                    caller.name,
                    request=request.id,
                    project=request.project,
                    file=v.file,
                    version=f.version,
                    sha256=f.sha256,
                    decision=v.decision,
                    capacities=list(decision.result.get("capacities") or []),
                )
            try:
                s.flush()
            except DbIntegrityError:
                raise Conflict("this vote was already recorded") from None
            s.expire_all()
            request = self._get(s, request_id)
            self._settle(s, request, caller.name)
        return self.get(caller, request_id)

    def _settle(self, s: Session, request: Request, actor: str) -> None:
        """Move a request in review to what its votes decide (:func:`tally.outcome`)."""
        if request.state != State.IN_REVIEW:
            return
        votes = [counting_votes(f) for f in current_files(request)]
        target = tally.outcome(votes, request.reviewers_required, request.data_owner_approval or ())
        if target is not None:
            self._move(request, target, actor)
            self._record_reviewed(s, request)

    @staticmethod
    def _record_reviewed(s: Session, request: Request) -> None:
        """A review round ended: what reviewers saw of the requester's text is now what the
        requester is shown outside the clean room (``visibility``)."""
        row = s.get(ReviewedText, request.id) or ReviewedText(request_id=request.id)
        row.round, row.title, row.justification = (
            request.round,
            request.title,
            request.justification,
        )
        row.ended_at = now()
        s.add(row)

    def comment(
        self,
        caller: perm.Caller,
        request_id: str,
        text: object,
        file: str | None = None,
        visible_to_requester: bool = True,
    ) -> None:
        """A comment, while the request is in review (``permissions.check_user_can_comment``),
        on the request or one of its current files; the requester's are counted."""
        text = _text(text, "the comment", self.limits.max_comment, True)
        with self._tx() as s:
            request = self._get(s, request_id)
            is_requester = caller.name == request.requester
            allowed = not is_requester and self.may_review(caller, request)
            perm.check_user_can_comment(caller, ref(request), allowed)
            if file is not None:
                names = [f.name for f in current_files(request)]
                if file not in names:
                    raise InvalidInput(
                        f"request {request_id} has no file {file[:100]!r}: name one of its files "
                        f'({", ".join(names) or "it has none"}) or leave out "file" to '
                        "comment on the whole request"
                    )
            if is_requester:
                self._check_comment_caps(s, request)
                visible_to_requester = True  # their own words
            s.add(
                Comment(
                    request_id=request.id,
                    by=caller.name,
                    file=file,
                    text=text,
                    visible_to_requester=visible_to_requester,
                    at=now(),
                )
            )
            self.audit.append("airlock.comment", caller.name, request=request.id, file=file)

    def _check_comment_caps(self, s: Session, request: Request) -> None:
        limits = self.limits
        here = sum(1 for c in request.comments if c.by == request.requester)
        if here >= limits.max_requester_comments_per_request:
            raise Conflict(
                f"you have written {here} comments on request {request.id}, the most a "
                "requester may: say the rest in the justification when you next submit"
            )
        since = now() - DAY
        today = (
            s.scalar(
                select(func.count())
                .select_from(Comment)
                .join(Request, Comment.request_id == Request.id)
                .where(Comment.by == request.requester, Request.requester == request.requester)
                .where(Comment.at > since)
            )
            or 0
        )
        if today >= limits.max_requester_comments_per_day:
            raise Conflict(
                f"you have written {today} comments on your requests in the last 24 hours, the "
                "most a requester may: try again tomorrow"
            )

    # -- ending --------------------------------------------------------------------------------

    def withdraw(self, caller: perm.Caller, request_id: str) -> Request:
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_withdraw_request(caller, ref(request))
            self._move(request, State.WITHDRAWN, caller.name)
        return self.get(caller, request_id)

    def revoke(self, caller: perm.Caller, request_id: str, reason: object) -> Request:
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_revoke(caller, ref(request))
            reason = _text(reason, "the reason", self.limits.max_comment, True)
            self._move(request, State.REVOKED, caller.name, reason=reason)
        return self.get(caller, request_id)

    def download(
        self, caller: perm.Caller, request_id: str, name: str, *, peer_in_clean_room: bool
    ) -> tuple[FileVersion, Path]:
        """The approved bytes of ``name`` for its requester: hash checked, audited; the first
        download moves the request to released."""
        with self._tx() as s:
            request = self._get(s, request_id)
            perm.check_user_can_download(caller, ref(request), peer_in_clean_room)
            files = {f.name: f for f in current_files(request)}
            if name not in files:
                raise NotFound(f"request {request_id} has no file {name!r}")
            f = files[name]
            path = self.store.verified_path(f.sha256)
            self.audit.append(
                "airlock.release.download",
                caller.name,
                request=request.id,
                project=request.project,
                file=name,
                version=f.version,
                sha256=f.sha256,
                size=f.size,
            )
            if request.state == State.APPROVED:
                self._move(request, State.RELEASED, caller.name, file=name)
            return f, path

    def file_for_review(self, caller: perm.Caller, request_id: str, name: str, version: int | None):
        """A file version for previews and diffs (never for the requester)."""
        with self.read_sessions() as s:
            request = self._get(s, request_id)
            allowed = caller.is_admin or self.may_review(caller, request)
            perm.check_user_can_see_contents(caller, ref(request), allowed)
            rows = [f for f in request.files if f.name == name]
            if version is not None:
                rows = [f for f in rows if f.version == version]
            if not rows:
                raise NotFound(f"request {request_id} has no file {name!r} in that version")
            f = max(rows, key=lambda f: f.version)
            return f, self.store.verified_path(f.sha256)

    def file_for_full_view(
        self, caller: perm.Caller, request_id: str, file_id: int, *, peer_in_clean_room: bool
    ) -> tuple[FileVersion, Path]:
        """A file version (any, by its id) for the full view: reviewers and admins, from
        outside the clean room only."""
        with self.read_sessions() as s:
            request = self._get(s, request_id)
            allowed = caller.is_admin or self.may_review(caller, request)
            perm.check_user_can_see_full_view(caller, ref(request), allowed, peer_in_clean_room)
            rows = [f for f in request.files if f.id == file_id]
            if not rows:
                raise NotFound(f"request {request_id} has no file version {file_id}")
            return rows[0], self.store.verified_path(rows[0].sha256)

    # -- reading -------------------------------------------------------------------------------

    def get(self, caller: perm.Caller, request_id: str) -> Request:
        """The request, if the caller may see it (raises NotFound or PermissionDenied)."""
        with self.read_sessions() as s:
            request = self._get(s, request_id)
            allowed = False
            if caller.name != request.requester and not caller.is_admin:
                allowed = self.may_review(caller, request)
            perm.check_user_can_view_request(caller, ref(request), allowed)
            self._load(request)
            return request

    @staticmethod
    def _load(request: Request) -> None:
        for f in request.files:
            _ = f.votes
        _ = request.comments, request.checks, request.reviewed

    def list_mine(self, caller: perm.Caller) -> list[Request]:
        with self.read_sessions() as s:
            rows = s.scalars(
                select(Request)
                .where(Request.requester == caller.name)
                .order_by(Request.created_at.desc())
            ).all()
            for r in rows:
                self._load(r)
            return list(rows)

    def review_queue(self, caller: perm.Caller, waiting_only: bool = True) -> list[Request]:
        """In-review requests the review policy lets the caller vote on (and, by default, on
        which they have not voted for every file yet)."""
        if not caller.may_review:
            return []
        with self.read_sessions() as s:
            rows = s.scalars(
                select(Request)
                .where(Request.state == State.IN_REVIEW.value, Request.requester != caller.name)
                .order_by(Request.updated_at)
            ).all()
            mine = []
            for r in rows:
                self._load(r)
                if not self.may_review(caller, r):
                    continue
                voted = all(
                    any(v.reviewer == caller.name for v in counting_votes(f))
                    for f in current_files(r)
                )
                if waiting_only and voted:
                    continue
                mine.append(r)
            return mine

    def list_all(self, caller: perm.Caller, state: str | None = None) -> list[Request]:
        perm.check_user_can_administer(caller)
        with self.read_sessions() as s:
            query = select(Request).order_by(Request.updated_at.desc())
            if state:
                query = query.where(Request.state == State(state).value)
            rows = s.scalars(query).all()
            for r in rows:
                self._load(r)
            return list(rows)

    def resume_submitted(self) -> int:
        """After a restart: requests left in ``submitted`` (the airlock stopped while deciding)
        go back to where they came from; their researcher submits again."""
        with self._tx() as s:
            rows = s.scalars(select(Request).where(Request.state == State.SUBMITTED.value)).all()
            for r in rows:
                back = State.DRAFT if r.round == 0 else State.RETURNED
                self._move(r, back, None, reason="the airlock restarted while deciding")
            return len(rows)
