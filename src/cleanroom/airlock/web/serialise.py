"""The request object of the airlock's HTTP contract (``openapi.json``'s ``Request``), as one
viewer may see it: formatting only; which votes and comments they see is
:mod:`cleanroom.airlock.visibility`'s rule."""

from __future__ import annotations

from datetime import datetime

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.models import FileVersion, Request
from cleanroom.airlock.service import counting_votes, current_files, ref
from cleanroom.airlock.states import FINAL_STATES, State
from cleanroom.airlock.visibility import visible_comments, visible_votes
from cleanroom.core import times


def rfc3339(moment: datetime | None) -> str | None:
    return times.rfc3339(moment) if moment is not None else None


def request_model(request: Request, viewer: perm.Caller) -> dict:
    """The request object of the HTTP contract, as ``viewer`` may see it (which votes and
    comments: :mod:`.visibility`)."""
    seen_as = ref(request)

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
        "title": request.title,
        "project": request.project,
        "requester": request.requester,
        "state": request.state,
        "justification": request.justification,
        "created_at": rfc3339(request.created_at),
        "updated_at": rfc3339(request.updated_at),
        "round": request.round,
        "reasons": list(request.reasons or []),
        "notes": list(request.notes or []),
        "reviewers_required": request.reviewers_required,
        "data_owner_approval": list(request.data_owner_approval or []),
        "files": [file_model(f) for f in current_files(request)],
        "history": [
            file_model(f) for f in sorted(request.files, key=lambda f: (f.name, f.version))
        ],
        "checks": [
            {
                "check": c.check,
                "file": names.get(c.file_id) if c.file_id is not None else None,
                "status": c.status,
                "message": c.message,
                "round": c.round,
            }
            for c in request.checks
        ],
        "comments": [
            {"by": c.by, "file": c.file, "text": c.text, "at": rfc3339(c.at)}
            for c in visible_comments(viewer, seen_as, request.comments)
        ],
        "final": State(request.state) in FINAL_STATES,
    }
