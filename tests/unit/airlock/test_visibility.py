"""Truth tables for who sees which votes and comments of a release request
(cleanroom.airlock.visibility): every kind of viewer in every state, votes marked for the
requester or not. The expected tables are written out by hand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.enums import State
from cleanroom.airlock.visibility import visible_comments, visible_votes


@dataclass(frozen=True)
class Vote:
    reviewer: str
    comment: str
    visible_to_requester: bool


@dataclass(frozen=True)
class Comment:
    by: str
    text: str
    visible_to_requester: bool


VIEWERS = {
    "requester": perm.Caller("alice", frozenset({perm.SUBMIT}), ("researcher",)),
    "reviewer who voted": perm.Caller("rita", frozenset({perm.REVIEW}), ("reviewer",)),
    "reviewer yet to vote": perm.Caller("rowan", frozenset({perm.REVIEW}), ("reviewer",)),
    "owner who voted": perm.Caller("otto", frozenset({perm.OWNER_APPROVE}), ("data-owner",)),
    "owner yet to vote": perm.Caller("olga", frozenset({perm.OWNER_APPROVE}), ("data-owner",)),
    "admin": perm.Caller("adam", frozenset({perm.ADMINISTER}), ("admin",)),
}

# The counting votes on one file: rita's comment is marked for the requester, otto's is not.
VOTES = [
    Vote("rita", "round the means", True),
    Vote("otto", "internal: row 3 is one farm", False),
]
EVERYTHING = [("rita", "round the means"), ("otto", "internal: row 3 is one farm")]
FOR_REQUESTER = [("rita", "round the means"), ("otto", "")]
NOTHING: list = []

# viewer -> (what they see in review, what they see in every other state)
EXPECTED_VOTES = {
    "requester": (NOTHING, FOR_REQUESTER),
    "reviewer who voted": (EVERYTHING, EVERYTHING),
    "reviewer yet to vote": (NOTHING, EVERYTHING),
    "owner who voted": (EVERYTHING, EVERYTHING),
    "owner yet to vote": (NOTHING, EVERYTHING),
    "admin": (EVERYTHING, EVERYTHING),
}


def request_in(state: State) -> perm.RequestRef:
    return perm.RequestRef("r-1", "alice", state)


@pytest.mark.parametrize(("who", "state"), list(itertools.product(VIEWERS, State)))
def test_votes_truth_table(who, state):
    in_review, otherwise = EXPECTED_VOTES[who]
    expected = in_review if state == State.IN_REVIEW else otherwise
    seen = visible_votes(VIEWERS[who], request_in(state), VOTES)
    assert [(v.reviewer, comment) for v, comment in seen] == expected
    assert all(v is original for (v, _), original in zip(seen, VOTES, strict=False))


def test_a_vote_on_another_file_does_not_open_this_one():
    """rita voted on a.csv, not on b.csv: in review she sees rowan's vote on b.csv only after
    voting on it too."""
    on_b = [Vote("rowan", "fine", False)]
    rita = VIEWERS["reviewer who voted"]
    assert visible_votes(rita, request_in(State.IN_REVIEW), on_b) == []
    with_hers = [*on_b, Vote("rita", "fine too", False)]
    seen = visible_votes(rita, request_in(State.IN_REVIEW), with_hers)
    assert [v.reviewer for v, _ in seen] == ["rowan", "rita"]


def test_no_votes_show_nothing_to_anyone():
    for who, state in itertools.product(VIEWERS, State):
        assert visible_votes(VIEWERS[who], request_in(state), []) == []


def test_a_requester_who_is_also_an_admin_still_sees_no_running_tally():
    both = perm.Caller("alice", frozenset({perm.SUBMIT, perm.ADMINISTER}), ("admin",))
    assert visible_votes(both, request_in(State.IN_REVIEW), VOTES) == []
    seen = visible_votes(both, request_in(State.APPROVED), VOTES)
    assert [(v.reviewer, comment) for v, comment in seen] == FOR_REQUESTER


COMMENTS = [
    Comment("rita", "please round", True),
    Comment("otto", "between reviewers", False),
]


@pytest.mark.parametrize(("who", "state"), list(itertools.product(VIEWERS, State)))
def test_comments_truth_table(who, state):
    expected = ["please round"] if who == "requester" else ["please round", "between reviewers"]
    seen = visible_comments(VIEWERS[who], request_in(state), COMMENTS)
    assert [c.text for c in seen] == expected
