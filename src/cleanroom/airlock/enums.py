"""The airlock's vocabularies. Each is a ``StrEnum``: a member is the very string stored in
the database, written to the audit log and sent to OPA, so ``VoteDecision.APPROVE ==
"approve"`` and rows written before these enums existed read the same.

- :class:`State`: the life cycle of a release request (its transition table is in states.py).
- :class:`VoteDecision`: what a reviewer decides about one file version.
- :class:`CheckStatus`: an automatic check's result (the policy input schema's ``check_result``).
- :class:`Capacity`: in which capacity the review policy lets a person vote (review.rego).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


class VoteDecision(StrEnum):
    APPROVE = "approve"
    CHANGES = "changes"  # return the request to its researcher for changes
    REJECT = "reject"


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    PENDING = "pending"


class Capacity(StrEnum):
    REVIEWER = "reviewer"  # counts towards the release policy's reviewers_required
    DATA_OWNER = "data-owner"  # co-approves for the organisations named with the vote
