"""The life cycle of a release request: ONE table of valid transitions between the states of
:class:`~.enums.State` (re-exported here, where callers have always imported it from).

Every state change goes through :func:`check_transition` (the service calls it in one place,
``AirlockService._move``), and every change is written to the audit log there.

    draft -> submitted -> in_review -> approved -> released
    submitted -> draft | returned        (the release policy denied; back where it came from)
    in_review -> returned | rejected     (a reviewer asked for changes / rejected)
    returned -> submitted                (resubmitted)
    draft | submitted | in_review | returned -> withdrawn   (by the requester)
    approved | released -> revoked       (by an admin)
"""

from __future__ import annotations

from .enums import State
from .errors import InvalidTransition

# from -> the states it may move to. Nothing else is a valid change.
VALID_TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.SUBMITTED, State.WITHDRAWN}),
    # Submitted: checks run and the release policy decides; a denial goes back to where
    # the request came from (draft, or returned after a review).
    State.SUBMITTED: frozenset({State.IN_REVIEW, State.DRAFT, State.RETURNED, State.WITHDRAWN}),
    State.IN_REVIEW: frozenset({State.APPROVED, State.REJECTED, State.RETURNED, State.WITHDRAWN}),
    State.RETURNED: frozenset({State.SUBMITTED, State.WITHDRAWN}),
    State.APPROVED: frozenset({State.RELEASED, State.REVOKED}),
    State.RELEASED: frozenset({State.REVOKED}),
    State.REJECTED: frozenset(),
    State.WITHDRAWN: frozenset(),
    State.REVOKED: frozenset(),
}

# The requester may change files only here.
EDITABLE_STATES = frozenset({State.DRAFT, State.RETURNED})
# Open: not yet decided; the requester may withdraw.
OPEN_STATES = frozenset({State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.RETURNED})
# Approved bytes may be downloaded (by the requester, from outside the container).
RELEASABLE_STATES = frozenset({State.APPROVED, State.RELEASED})
# Comments are taken only where reviewers read them: while the request is in review.
COMMENTABLE_STATES = frozenset({State.IN_REVIEW})
# The bytes of these requests count towards the storage quotas (held for review or download).
QUOTA_STATES = OPEN_STATES | {State.APPROVED}
# A review ended and nothing was submitted after it: the policy's reasons and notes are about
# what reviewers saw.
REVIEWED_STATES = frozenset({State.APPROVED, State.REJECTED, State.RELEASED, State.REVOKED})
FINAL_STATES = frozenset(s for s, targets in VALID_TRANSITIONS.items() if not targets)

DESCRIPTIONS: dict[State, str] = {
    State.DRAFT: "being prepared by the researcher",
    State.SUBMITTED: "submitted; automatic checks and the release policy are deciding",
    State.IN_REVIEW: "waiting for reviewers",
    State.RETURNED: "returned to the researcher for changes",
    State.APPROVED: "approved: the researcher may download the files",
    State.REJECTED: "rejected: nothing is released",
    State.RELEASED: "released: the researcher has downloaded the files",
    State.WITHDRAWN: "withdrawn by the researcher",
    State.REVOKED: "revoked by an admin: no more downloads",
}


def transition_table_text() -> str:
    """The transition table as text, one state per line (docs/explanation/airlock.md embeds
    it, and a test keeps the two the same)."""
    width = max(len(s.value) for s in State)
    lines = []
    for source in State:
        targets = sorted(t.value for t in VALID_TRANSITIONS[source])
        lines.append(f"{source.value:<{width}} -> {', '.join(targets) or '(final)'}")
    return "\n".join(lines)


def parse_state(value: str) -> State:
    try:
        return State(value)
    except ValueError:
        raise InvalidTransition(
            f"{value!r} is not a request state; one of {', '.join(s.value for s in State)}"
        ) from None


def can_transition(current: State | str, target: State | str) -> bool:
    return State(target) in VALID_TRANSITIONS[State(current)]


def check_transition(current: State | str, target: State | str) -> None:
    """Raise InvalidTransition unless the table allows ``current`` -> ``target``."""
    current, target = State(current), State(target)
    if target not in VALID_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in VALID_TRANSITIONS[current])) or "nothing"
        raise InvalidTransition(
            f"a request that is {current.value} ({DESCRIPTIONS[current]}) cannot become "
            f"{target.value}; from {current.value} it can become: {allowed}"
        )
