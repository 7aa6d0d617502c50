"""Truth tables for who sees which votes and comments of a release request
(cleanroom.airlock.visibility): every kind of viewer in every state, votes marked for the
requester or not; and what of the requester's own text (title, justification, files,
comments, the policy's answers) each viewer sees inside and outside the clean room. The
expected tables are written out by hand.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.enums import State
from cleanroom.airlock.visibility import (
    sees_unreviewed,
    visible_comments,
    visible_files,
    visible_policy_answers,
    visible_text,
    visible_votes,
)


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


# -- the requester's own text outside the clean room ----------------------------------------
# Rounds: round 1 ended at ENDED (reviewed: title T1, justification J1); round 2 is running.

ENDED = datetime(2026, 12, 3, 12, 0)


@dataclass(frozen=True)
class Reviewed:
    round: int
    title: str
    justification: str
    ended_at: datetime


@dataclass(frozen=True)
class File:
    name: str
    round: int


@dataclass(frozen=True)
class Said:
    by: str
    text: str
    visible_to_requester: bool
    at: datetime


REVIEWED = Reviewed(1, "T1", "J1", ENDED)
FILES = [File("t.csv", 1), File("t.csv", 2), File("u.csv", 2)]
SAID = [
    Said("alice", "before the end", True, ENDED - timedelta(minutes=1)),
    Said("alice", "after the end", True, ENDED + timedelta(minutes=1)),
    Said("rita", "for alice", True, ENDED + timedelta(minutes=2)),
    Said("rita", "between reviewers", False, ENDED),
]
ALL_SAID = ["before the end", "after the end", "for alice", "between reviewers"]
MARKED = ["before the end", "after the end", "for alice"]

# viewer -> inside -> (title, justification, file rounds, comments, policy answers in review)
# with round 1 reviewed; the requester's answers with nothing reviewed are in the next test.
EXPECTED_TEXT = {
    ("requester", False): (("T1", "J1"), [1], ["before the end", "for alice"], False),
    ("requester", True): (("T2", "J2"), [1, 2, 2], MARKED, True),
}
for _who in VIEWERS:
    if _who != "requester":
        for _inside in (False, True):
            EXPECTED_TEXT[(_who, _inside)] = (("T2", "J2"), [1, 2, 2], ALL_SAID, True)


@pytest.mark.parametrize(("who", "inside"), list(EXPECTED_TEXT))
def test_requester_text_truth_table(who, inside):
    viewer, request = VIEWERS[who], request_in(State.IN_REVIEW)
    text_, rounds, said, answers = EXPECTED_TEXT[(who, inside)]
    assert visible_text(viewer, request, "T2", "J2", REVIEWED, inside) == text_
    assert [f.round for f in visible_files(viewer, request, FILES, REVIEWED, inside)] == rounds
    seen = visible_comments(viewer, request, SAID, REVIEWED, inside)
    assert [c.text for c in seen] == said
    assert visible_policy_answers(viewer, request, inside) is answers
    assert sees_unreviewed(viewer, request, inside) is (who != "requester" or inside)


def test_before_any_round_ended_the_requester_outside_sees_none_of_her_text():
    alice, request = VIEWERS["requester"], request_in(State.IN_REVIEW)
    assert visible_text(alice, request, "T", "J", None, False) == ("", "")
    assert visible_files(alice, request, FILES, None, False) == []
    assert [c.text for c in visible_comments(alice, request, SAID, None, False)] == ["for alice"]
    assert visible_text(alice, request, "T", "J", None, True) == ("T", "J")


@pytest.mark.parametrize("state", list(State))
def test_outside_the_policys_answers_show_only_once_the_review_is_over(state):
    over = {State.APPROVED, State.REJECTED, State.RELEASED, State.REVOKED}
    alice = VIEWERS["requester"]
    assert visible_policy_answers(alice, request_in(state), False) is (state in over)
    assert visible_policy_answers(alice, request_in(state), True) is True
