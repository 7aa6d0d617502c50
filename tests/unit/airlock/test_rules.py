"""Truth tables for the airlock's transitions and permissions: every (state, state) pair and
every permission for every kind of caller and state, in both the bool and the raising form.

The expected tables are written out here by hand, apart from the code's own table, so that a
change to a rule has to be made twice on purpose.
"""

from __future__ import annotations

import itertools

import pytest
from support.paths import REPO

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.errors import AirlockError, Conflict, InvalidTransition, PermissionDenied
from cleanroom.airlock.states import (
    FINAL_STATES,
    State,
    can_transition,
    check_transition,
)

S = State
ALLOWED = {
    (S.DRAFT, S.SUBMITTED),
    (S.DRAFT, S.WITHDRAWN),
    (S.SUBMITTED, S.IN_REVIEW),
    (S.SUBMITTED, S.DRAFT),
    (S.SUBMITTED, S.RETURNED),
    (S.SUBMITTED, S.WITHDRAWN),
    (S.IN_REVIEW, S.APPROVED),
    (S.IN_REVIEW, S.REJECTED),
    (S.IN_REVIEW, S.RETURNED),
    (S.IN_REVIEW, S.WITHDRAWN),
    (S.RETURNED, S.SUBMITTED),
    (S.RETURNED, S.WITHDRAWN),
    (S.APPROVED, S.RELEASED),
    (S.APPROVED, S.REVOKED),
    (S.RELEASED, S.REVOKED),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(State, State)))
def test_transition_truth_table(source, target):
    expected = (source, target) in ALLOWED
    assert can_transition(source, target) is expected
    if expected:
        check_transition(source, target)
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_transition(source, target)
        assert source.value in str(refused.value) and target.value in str(refused.value)


def test_final_states_are_exactly_those_without_a_way_out():
    assert FINAL_STATES == {S.REJECTED, S.WITHDRAWN, S.REVOKED}


# -- permissions --------------------------------------------------------------------------------

RESEARCHER = perm.Caller("alice", frozenset({perm.SUBMIT}), ("researcher",))
OTHER_RESEARCHER = perm.Caller("bob", frozenset({perm.SUBMIT}), ("researcher",))
REVIEWER = perm.Caller("rita", frozenset({perm.REVIEW}), ("reviewer",))
OWNER = perm.Caller("otto", frozenset({perm.OWNER_APPROVE}), ("data-owner",))
ADMIN = perm.Caller("adam", frozenset({perm.ADMINISTER}), ("admin",))
# The requester's browser without the submit scope (e.g. an OAuth token of another service).
REQUESTER_NO_SCOPE = perm.Caller("alice", frozenset(), ())
CALLERS = {
    "requester": RESEARCHER,
    "requester-no-scope": REQUESTER_NO_SCOPE,
    "other-researcher": OTHER_RESEARCHER,
    "reviewer": REVIEWER,
    "owner": OWNER,
    "admin": ADMIN,
}


def request_in(state: State) -> perm.RequestRef:
    return perm.RequestRef("r-1", "alice", state)


OPEN = {S.DRAFT, S.SUBMITTED, S.IN_REVIEW, S.RETURNED}
EDITABLE = {S.DRAFT, S.RETURNED}
RELEASABLE = {S.APPROVED, S.RELEASED}

# permission -> caller -> the states in which it is allowed (review policy allowing, peer
# outside the clean room).
EXPECTED = {
    "edit_request": {"requester": EDITABLE},
    "submit_request": {"requester": EDITABLE},
    "withdraw_request": {"requester": OPEN, "requester-no-scope": OPEN},
    "view_request": {
        "requester": set(State),
        "requester-no-scope": set(State),
        "admin": set(State),
        "reviewer": set(State) - {S.DRAFT},
        "owner": set(State) - {S.DRAFT},
    },
    "see_contents": {
        "admin": set(State),
        "reviewer": set(State) - {S.DRAFT},
        "owner": set(State) - {S.DRAFT},
    },
    "vote": {"reviewer": {S.IN_REVIEW}, "owner": {S.IN_REVIEW}},
    "revoke": {"admin": RELEASABLE},
    "download": {"requester": RELEASABLE, "requester-no-scope": RELEASABLE},
}


def call_args(permission: str, caller, request, review_allowed=True, peer_inside=False):
    if permission in ("view_request", "see_contents", "vote"):
        return (caller, request, review_allowed)
    if permission == "download":
        return (caller, request, peer_inside)
    return (caller, request)


CASES = [(permission, who, state) for permission in EXPECTED for who in CALLERS for state in State]


@pytest.mark.parametrize(("permission", "who", "state"), CASES)
def test_permission_truth_table(permission, who, state):
    expected = state in EXPECTED[permission].get(who, set())
    args = call_args(permission, CALLERS[who], request_in(state))
    user_can = getattr(perm, f"user_can_{permission}")
    check = getattr(perm, f"check_user_can_{permission}")
    assert user_can(*args) is expected
    if expected:
        check(*args)
    else:
        with pytest.raises((PermissionDenied, Conflict)) as refused:
            check(*args)
        assert str(refused.value)  # a message for the person


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("who", ["reviewer", "owner"])
def test_without_the_review_policys_yes_reviewers_neither_see_nor_vote(who, state):
    request = request_in(state)
    for permission in ("view_request", "see_contents", "vote"):
        args = call_args(permission, CALLERS[who], request, review_allowed=False)
        assert getattr(perm, f"user_can_{permission}")(*args) is False
        with pytest.raises(PermissionDenied):
            getattr(perm, f"check_user_can_{permission}")(*args)


@pytest.mark.parametrize("state", list(State))
def test_downloads_from_inside_the_clean_room_are_always_refused(state):
    args = call_args("download", RESEARCHER, request_in(state), peer_inside=True)
    assert perm.user_can_download(*args) is False
    with pytest.raises(PermissionDenied):
        perm.check_user_can_download(*args)


def test_the_requester_never_votes_on_their_own_request_even_with_review_scopes():
    both = perm.Caller("alice", frozenset({perm.SUBMIT, perm.REVIEW, perm.ADMINISTER}))
    request = request_in(S.IN_REVIEW)
    assert perm.user_can_vote(both, request, True) is False
    with pytest.raises(PermissionDenied, match="own request"):
        perm.check_user_can_vote(both, request, True)
    assert perm.user_can_see_contents(both, request, True) is False


@pytest.mark.parametrize("who", list(CALLERS))
def test_create_and_administer(who):
    caller = CALLERS[who]
    creates = who in ("requester", "other-researcher")
    assert perm.user_can_create_request(caller) is creates
    assert perm.user_can_administer(caller) is (who == "admin")
    for check, expected in (
        (perm.check_user_can_create_request, creates),
        (perm.check_user_can_administer, who == "admin"),
    ):
        if expected:
            check(caller)
        else:
            with pytest.raises(AirlockError):
                check(caller)


def test_the_docs_show_the_transition_table_as_it_is():

    from cleanroom.airlock.states import transition_table_text

    docs = (REPO / "docs" / "explanation" / "airlock.md").read_text()
    block = docs.split("<!-- transitions:begin -->")[1].split("<!-- transitions:end -->")[0]
    assert block.strip().strip("`").strip() == transition_table_text(), (
        "docs/explanation/airlock.md shows another transition table: "
        "paste transition_table_text() there"
    )
