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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from .enums import State
from .permissions import Caller, RequestRef


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


V = TypeVar("V", bound=VoteRow)
C = TypeVar("C", bound=CommentRow)


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


def visible_comments(viewer: Caller, request: RequestRef, comments: Sequence[C]) -> list[C]:
    """The request's comments ``viewer`` sees: the requester only those marked for them."""
    if viewer.name != request.requester:
        return list(comments)
    return [c for c in comments if c.visible_to_requester]
