"""Input documents: the builders that turn facts into the one input document of
``policies/input.schema.json`` (one per area: access, release, review), the time format it
uses, and the digest a decision records instead of the input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cleanroom.core.jsoncanon import canonical_json
from cleanroom.core.times import rfc3339
from cleanroom.policy.facts import CheckResult, GrantFacts, ProjectFacts, RequestFacts, UserFacts


def format_time(moment: datetime | str | None = None) -> str:
    """RFC 3339 in UTC (``2025-06-01T12:00:00Z``); now when None. Naive datetimes are UTC
    (as JupyterHub's database stores them); strings are passed through for the schema to
    check."""
    if isinstance(moment, str):
        return moment
    return rfc3339(moment, timespec="auto")


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


def input_digest(document: Any) -> str:
    """The hex SHA-256 of the canonical JSON of an input document."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
