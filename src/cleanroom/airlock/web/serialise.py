"""The request object of the airlock's HTTP contract (``openapi.json``'s ``Request``), as one
viewer may see it: formatting only; which votes and comments they see is
:mod:`cleanroom.airlock.visibility`'s rule."""

from __future__ import annotations

from datetime import datetime

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.models import FileVersion, Request
from cleanroom.airlock.service import counting_votes, current_files, ref
from cleanroom.airlock.states import FINAL_STATES, State
from cleanroom.airlock.visibility import (
    visible_comments,
    visible_files,
    visible_policy_answers,
    visible_text,
    visible_votes,
)
from cleanroom.core import times


def rfc3339(moment: datetime | None) -> str | None:
    return times.rfc3339(moment) if moment is not None else None


def request_model(request: Request, viewer: perm.Caller, *, inside: bool = False) -> dict:
    """The request object of the HTTP contract, as ``viewer`` may see it (which votes,
    comments, files and text: :mod:`.visibility`). ``inside``: the call comes from inside the
    clean room (the requester's running server); the default is the stricter outside view."""
    seen_as = ref(request)
    reviewed = request.reviewed
    title, justification = visible_text(
        viewer, seen_as, request.title, request.justification, reviewed, inside
    )
    shown = visible_files(viewer, seen_as, list(request.files), reviewed, inside)
    shown_ids = {f.id for f in shown}
    current = [f for f in current_files(request) if f.id in shown_ids]
    answers = visible_policy_answers(viewer, seen_as, inside)
    comments = visible_comments(viewer, seen_as, request.comments, reviewed, inside)
    withheld = (
        (title, justification) != (request.title, request.justification)
        or len(shown) != len(request.files)
        or len(comments) != len(visible_comments(viewer, seen_as, request.comments, inside=True))
        or (not answers and bool(request.reasons or request.notes))
    )

    def votes_of(f: FileVersion) -> list[dict]:
        return [
            {
                "reviewer": v.reviewer,
                "decision": v.decision,
                "comment": comment,
                "visible_to_requester": v.visible_to_requester,
                "at": rfc3339(v.at),
                "capacities": list(v.capacities),
            }
            for v, comment in visible_votes(viewer, seen_as, counting_votes(f))
        ]

    def file_model(f: FileVersion) -> dict:
        return {
            "name": f.name,
            "type": f.type,
            "size": f.size,
            "sha256": f.sha256,
            "media_type": f.media_type,
            "version": f.version,
            "round": f.round,
            "removed": f.removed,
            "added_at": rfc3339(f.added_at),
            "votes": votes_of(f),
        }

    names = {f.id: f.name for f in request.files}
    return {
        "id": request.id,
        "title": title,
        "project": request.project,
        "requester": request.requester,
        "state": request.state,
        "justification": justification,
        "created_at": rfc3339(request.created_at),
        "updated_at": rfc3339(request.updated_at),
        "round": request.round,
        "reasons": list(request.reasons or []) if answers else [],
        "notes": list(request.notes or []) if answers else [],
        "reviewers_required": request.reviewers_required,
        "data_owner_approval": list(request.data_owner_approval or []),
        "files": [file_model(f) for f in current],
        "history": [file_model(f) for f in sorted(shown, key=lambda f: (f.name, f.version))],
        "checks": [
            {
                "check": c.check,
                "file": names.get(c.file_id) if c.file_id is not None else None,
                "status": c.status,
                "message": c.message,
                "round": c.round,
                "findings": c.findings,
                "metrics": c.metrics,
            }
            for c in request.checks
            if c.file_id in shown_ids or (c.file_id is None and answers)
        ],
        "comments": [
            {"by": c.by, "file": c.file, "text": c.text, "at": rfc3339(c.at)} for c in comments
        ],
        "final": State(request.state) in FINAL_STATES,
        # Some of what the requester wrote is not shown here: not reviewed yet (outside the
        # clean room the requester sees only what reviewers saw).
        "withheld": withheld,
    }
