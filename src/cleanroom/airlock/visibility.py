"""Who sees which votes and comments of a release request. Pure: the viewer, the request
(:class:`~.permissions.RequestRef`: its requester and state) and the rows; no database.

Whether the viewer may see the request at all is decided before (``permissions``); these rules
decide what of it they see:

- The requester sees no votes while the request is in review (they learn the outcome, not a
  running tally); afterwards every vote, with its comment only when the reviewer marked it
  for them. They see only the comments marked for them.
- A reviewer (or data owner) sees the other votes on a file only once they voted on that file
  themselves, or once the review is over (any state but in review).
- An admin sees every vote and comment.

What the requester wrote (the title, the justification, their comments, and their files'
names and sizes) could carry data out, so **outside the clean room** (every page and API call
that does not come from their running server) the requester is shown only what reviewers saw:

- the title and the justification as they were when the last review round ended (nothing
  before a first round ended);
- their own comments written up to the end of the last review round that ended;
- the file versions of the rounds that ended, with their checks;
- the release policy's reasons and notes only once the review is over (approved, rejected,
  released, revoked): before that they name files not yet reviewed.

A round ends when the reviewers' votes approve, reject or return the request; a request
withdrawn while in review ends none. The vote that ends it was cast by a reviewer shown every
comment (the vote form says how many it showed; ``AirlockService.vote`` refuses a stale one).

Inside the clean room (their own server) the requester sees everything they wrote: it comes
from there. Reviewers and admins see everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from .enums import State
from .permissions import Caller, RequestRef
from .states import REVIEWED_STATES


class VoteRow(Protocol):
    @property
    def reviewer(self) -> str: ...

    @property
    def comment(self) -> str: ...

    @property
    def visible_to_requester(self) -> bool: ...


class CommentRow(Protocol):
    @property
    def visible_to_requester(self) -> bool: ...


class AuthoredCommentRow(CommentRow, Protocol):
    @property
    def by(self) -> str: ...

    @property
    def at(self) -> datetime: ...


class FileRow(Protocol):
    @property
    def round(self) -> int: ...


class ReviewedRow(Protocol):
    """The requester's text as the last review round that ended saw it."""

    @property
    def round(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def justification(self) -> str: ...

    @property
    def ended_at(self) -> datetime: ...


V = TypeVar("V", bound=VoteRow)
C = TypeVar("C", bound=AuthoredCommentRow)
F = TypeVar("F", bound=FileRow)


def visible_votes(viewer: Caller, request: RequestRef, votes: Sequence[V]) -> list[tuple[V, str]]:
    """The counting votes on one file version that ``viewer`` sees, in order, each with its
    comment as the viewer may read it ("" when it is not theirs to read)."""
    is_requester = viewer.name == request.requester
    in_review = request.state == State.IN_REVIEW
    if is_requester and in_review:
        return []
    voted = any(v.reviewer == viewer.name for v in votes)
    if not (is_requester or viewer.is_admin or voted or not in_review):
        return []
    return [(v, v.comment if (not is_requester or v.visible_to_requester) else "") for v in votes]


def sees_unreviewed(viewer: Caller, request: RequestRef, inside: bool) -> bool:
    """Whether ``viewer`` sees what the requester wrote that no review round covered yet:
    everyone but the requester outside the clean room."""
    return inside or viewer.name != request.requester


def visible_text(
    viewer: Caller,
    request: RequestRef,
    title: str,
    justification: str,
    reviewed: ReviewedRow | None,
    inside: bool,
) -> tuple[str, str]:
    """The title and the justification as ``viewer`` sees them ("" for text not reviewed)."""
    if sees_unreviewed(viewer, request, inside):
        return title, justification
    if reviewed is None:
        return "", ""
    return reviewed.title, reviewed.justification


def visible_files(
    viewer: Caller,
    request: RequestRef,
    files: Sequence[F],
    reviewed: ReviewedRow | None,
    inside: bool,
) -> list[F]:
    """The file versions ``viewer`` sees (their names and sizes are the requester's text)."""
    if sees_unreviewed(viewer, request, inside):
        return list(files)
    ended = reviewed.round if reviewed is not None else 0
    return [f for f in files if f.round <= ended]


def visible_policy_answers(viewer: Caller, request: RequestRef, inside: bool) -> bool:
    """Whether ``viewer`` sees the release policy's reasons and notes (they name files)."""
    return sees_unreviewed(viewer, request, inside) or request.state in REVIEWED_STATES


def visible_comments(
    viewer: Caller,
    request: RequestRef,
    comments: Sequence[C],
    reviewed: ReviewedRow | None = None,
    inside: bool = False,
) -> list[C]:
    """The request's comments ``viewer`` sees: the requester only those marked for them, and
    outside the clean room their own only up to the end of the last review round that ended."""
    if viewer.name != request.requester:
        return list(comments)
    marked = [c for c in comments if c.visible_to_requester]
    if inside:
        return marked
    ended = reviewed.ended_at if reviewed is not None else None

    def shown(c: C) -> bool:
        if c.by != request.requester:
            return True  # a reviewer's, marked for the requester
        return ended is not None and c.at <= ended

    return [c for c in marked if shown(c)]
