"""The airlock's business layer without OPA (tests/factories/airlock.py: a stub policy client,
requests made at any state): the factory reaches every state, nobody votes on their own
request, the service applies the tally's answer with the policy's numbers, and the HTTP model
shows votes as visibility.py says. The same life cycle against the real policies is in
tests/integration/test_airlock_service.py.
"""

from __future__ import annotations

import pytest
from factories.airlock import (
    ADAM,
    ALICE,
    OTTO,
    RITA,
    ROWAN,
    StubPolicy,
    allow,
    create_request_at,
    deny,
    make_airlock,
)

from cleanroom.airlock.enums import State
from cleanroom.airlock.errors import Conflict, PermissionDenied
from cleanroom.airlock.permissions import REVIEW, SUBMIT, Caller
from cleanroom.airlock.service import VoteInput
from cleanroom.airlock.web.serialise import request_model


def transitions(airlock, request_id) -> list[tuple[str, str]]:
    return [
        (r.details["source"], r.details["target"])
        for r in airlock.audit.records()
        if r.event == "airlock.request.state" and r.details.get("request") == request_id
    ]


@pytest.mark.parametrize("state", list(State))
def test_the_factory_reaches_every_state_through_checked_transitions(tmp_path, state):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, state)
    assert request.state == state
    assert airlock.get(ALICE, request.id).state == state
    path = transitions(airlock, request.id)
    assert [target for _, target in path][-1:] == ([] if state == State.DRAFT else [state])
    assert all(a[1] == b[0] for a, b in zip(path, path[1:], strict=False))  # a connected path
    assert airlock.audit.verify().ok


def test_nobody_votes_on_their_own_request_even_with_the_review_scope(tmp_path):
    """The service asks permissions.check_user_can_vote, which refuses the requester before
    anything else (and before the review policy is asked, even one that would allow)."""
    airlock = make_airlock(tmp_path)
    both = Caller("alice", frozenset({SUBMIT, REVIEW}), ("researcher", "reviewer"))
    request = create_request_at(airlock, State.IN_REVIEW, requester=both)
    asked = list(airlock.policy.asked)
    with pytest.raises(PermissionDenied, match="nobody may review their own request"):
        airlock.vote(both, request.id, [VoteInput("t.csv", "approve")])
    assert airlock.policy.asked == asked
    assert airlock.get(ADAM, request.id).state == State.IN_REVIEW
    assert not any(r.event == "airlock.vote" for r in airlock.audit.records())


def test_a_reviewer_the_review_policy_refuses_cannot_vote(tmp_path):
    airlock = make_airlock(tmp_path, policy=StubPolicy(review={"rowan": deny("review")}))
    request = create_request_at(airlock, State.IN_REVIEW)
    with pytest.raises(PermissionDenied, match="review policy"):
        airlock.vote(ROWAN, request.id, [VoteInput("t.csv", "approve")])
    assert airlock.vote(RITA, request.id, [VoteInput("t.csv", "approve")]).state == "approved"


def test_votes_are_taken_only_in_review(tmp_path):
    airlock = make_airlock(tmp_path)
    for state in (State.RETURNED, State.APPROVED, State.WITHDRAWN):
        request = create_request_at(airlock, state)
        with pytest.raises(Conflict):
            airlock.vote(ROWAN, request.id, [VoteInput("t.csv", "approve")])


def test_a_model_waits_for_two_reviewers_and_the_data_owner(tmp_path):
    """The release policy's numbers, stored at submission, are what the tally counts."""
    policy = StubPolicy(
        release=allow("release", reviewers_required=2, data_owner_approval=["acme"]),
        review={"otto": allow("review", capacities=["data-owner"], organisations=["acme"])},
    )
    airlock = make_airlock(tmp_path, policy=policy)
    files = {"a.csv": b"a\n1\n", "b.csv": b"b\n2\n"}
    request = create_request_at(airlock, State.IN_REVIEW, files=files)
    assert (request.reviewers_required, request.data_owner_approval) == (2, ["acme"])
    everything = [VoteInput("a.csv", "approve"), VoteInput("b.csv", "approve")]
    assert airlock.vote(RITA, request.id, everything).state == "in_review"
    assert airlock.vote(OTTO, request.id, everything).state == "in_review"  # one reviewer yet
    assert airlock.vote(ROWAN, request.id, everything[:1]).state == "in_review"  # b.csv: one
    assert airlock.vote(ROWAN, request.id, everything[1:]).state == "approved"
    assert transitions(airlock, request.id)[-1] == ("in_review", "approved")


def test_one_request_for_changes_returns_whatever_else_was_approved(tmp_path):
    airlock = make_airlock(tmp_path)
    files = {"a.csv": b"a\n1\n", "b.csv": b"b\n2\n"}
    request = create_request_at(airlock, State.IN_REVIEW, files=files)
    after = airlock.vote(
        RITA, request.id, [VoteInput("a.csv", "approve"), VoteInput("b.csv", "changes", "round")]
    )
    assert after.state == "returned"


def test_the_http_model_shows_votes_as_visibility_says(tmp_path):
    policy = StubPolicy(release=allow("release", reviewers_required=2))
    airlock = make_airlock(tmp_path, policy=policy)
    request = create_request_at(airlock, State.IN_REVIEW)
    airlock.vote(ROWAN, request.id, [VoteInput("t.csv", "approve", "fine, between us")])

    def seen_by(viewer) -> list[tuple[str, str, str]]:
        # As seen from the requester's server: outside, her files in review are withheld.
        model = request_model(airlock.get(viewer, request.id), viewer, inside=True)
        return [(v["reviewer"], v["decision"], v["comment"]) for v in model["files"][0]["votes"]]

    rowans = ("rowan", "approve", "fine, between us")
    assert seen_by(ALICE) == []  # no running tally for the requester
    assert seen_by(RITA) == []  # not before her own vote
    assert seen_by(ROWAN) == seen_by(ADAM) == [rowans]
    airlock.vote(RITA, request.id, [VoteInput("t.csv", "changes", "round the means", True)])
    assert airlock.get(ALICE, request.id).state == "returned"
    ritas = ("rita", "changes", "round the means")
    assert seen_by(ALICE) == [("rowan", "approve", ""), ritas]
    assert seen_by(RITA) == seen_by(ADAM) == [rowans, ritas]
