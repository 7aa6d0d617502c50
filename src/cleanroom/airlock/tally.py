"""The vote tally: what the votes on a request in review decide, against the release policy's
numbers. Pure: no database, no OPA (the service passes the votes that count and the numbers
the release policy gave at submission, and moves the request to the answer).

    outcome([[rita_approves], [rita_approves]], reviewers_required=1, owner_orgs=())
    # -> State.APPROVED

- Any reject on any file rejects the request.
- Otherwise any request for changes on any file returns it to its researcher.
- Otherwise it is approved once every current file has approvals from at least
  ``reviewers_required`` different people voting as reviewers, and, for every organisation in
  ``owner_orgs``, an approval by a data owner voting for that organisation.
- Otherwise (still waiting, or no files at all) nothing changes: ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from .enums import Capacity, State, VoteDecision


class Ballot(Protocol):
    """What the tally reads of a vote (a ``models.Vote`` row has all of it)."""

    @property
    def reviewer(self) -> str: ...

    @property
    def decision(self) -> str: ...

    @property
    def capacities(self) -> Sequence[str]: ...

    @property
    def organisations(self) -> Sequence[str]: ...


def outcome(
    files_votes: Sequence[Sequence[Ballot]],
    reviewers_required: int | None,
    owner_orgs: Iterable[str],
) -> State | None:
    """The state the votes move a request in review to, or None while they decide nothing.

    files_votes: for each current file, the votes that count on it (not superseded).
    reviewers_required: the release policy's number (None or 0 count as 1).
    owner_orgs: the organisations whose data owner must co-approve every file.
    """
    decisions = [v.decision for votes in files_votes for v in votes]
    if VoteDecision.REJECT in decisions:
        return State.REJECTED
    if VoteDecision.CHANGES in decisions:
        return State.RETURNED
    need = reviewers_required or 1
    owners = set(owner_orgs)
    for votes in files_votes:
        approvals = [v for v in votes if v.decision == VoteDecision.APPROVE]
        reviewers = {v.reviewer for v in approvals if Capacity.REVIEWER in v.capacities}
        approved_orgs = {
            o for v in approvals if Capacity.DATA_OWNER in v.capacities for o in v.organisations
        }
        if len(reviewers) < need or not owners <= approved_orgs:
            return None
    if files_votes:
        return State.APPROVED
    return None
