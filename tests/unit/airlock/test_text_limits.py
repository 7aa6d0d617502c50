"""Text the requester writes is bounded and reviewed like a file, and storage is bounded:
comments only while in review, on the request's own files, counted per request and per day;
caps on titles, justifications, drafts and open requests; storage quotas per researcher and
per project, refused before anything is written and again inside the transaction; what the
requester sees back outside the clean room. Over a real SQLite database, blob store and audit
log, with a stub policy (tests/factories/airlock.py).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from factories.airlock import (
    ADAM,
    ALICE,
    BOB,
    CSV,
    RITA,
    create_request_at,
    make_airlock,
    put,
)

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.enums import State
from cleanroom.airlock.errors import Conflict, InvalidInput, PermissionDenied, TooLarge
from cleanroom.airlock.models import Comment
from cleanroom.airlock.service import Limits, VoteInput
from cleanroom.airlock.web.serialise import request_model

SMALL = Limits(
    max_file_bytes=10_000,
    max_files=5,
    max_request_bytes=20_000,
    researcher_quota_bytes=30_000,
    project_quota_bytes=50_000,
    max_requester_comments_per_request=2,
    max_requester_comments_per_day=3,
    max_drafts=2,
    max_open_requests=3,
)


def comment_events(airlock) -> list:
    return [r for r in airlock.audit.tail(1000) if r.event == "airlock.comment"]


# -- who may comment, in which state (a truth table, both forms) ----------------------------

CALLERS = {"requester": ALICE, "allowed reviewer": RITA, "other researcher": BOB, "admin": ADAM}


def expected_comment(who: str, state: State) -> type[Exception] | None:
    if who in ("other researcher", "admin"):
        return PermissionDenied  # not the requester, no review scope
    return None if state == State.IN_REVIEW else Conflict


@pytest.mark.parametrize(("who", "state"), list(itertools.product(CALLERS, State)))
def test_who_may_comment_in_which_state(who, state):
    request = perm.RequestRef("r-1", "alice", state)
    caller = CALLERS[who]
    expected = expected_comment(who, state)
    assert perm.user_can_comment(caller, request, review_allowed=True) is (expected is None)
    if expected is None:
        perm.check_user_can_comment(caller, request, review_allowed=True)
    else:
        with pytest.raises(expected):
            perm.check_user_can_comment(caller, request, review_allowed=True)


def test_a_reviewer_the_policy_does_not_allow_may_not_comment():
    request = perm.RequestRef("r-1", "alice", State.IN_REVIEW)
    with pytest.raises(PermissionDenied, match="review policy"):
        perm.check_user_can_comment(RITA, request, review_allowed=False)


# -- comments through the service -----------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.RETURNED, State.APPROVED, State.WITHDRAWN])
def test_a_comment_outside_review_is_refused_and_nothing_is_stored(tmp_path, state):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, state)
    with pytest.raises(Conflict, match="only while a request is in review") as refused:
        airlock.comment(ALICE, request.id, "the mean is 97.1393 for plant 4")
    assert "justification" in str(refused.value)  # what to do instead
    assert airlock.get(ADAM, request.id).comments == []
    assert comment_events(airlock) == []


def test_a_comment_in_review_is_stored_and_reviewers_read_it(tmp_path):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, State.IN_REVIEW)
    airlock.comment(ALICE, request.id, "rounded to one decimal", file="t.csv")
    model = request_model(airlock.get(RITA, request.id), RITA)
    assert [(c["by"], c["file"], c["text"]) for c in model["comments"]] == [
        ("alice", "t.csv", "rounded to one decimal")
    ]


@pytest.mark.parametrize("file", ["nope.csv", "../t.csv", "t.csv" + "x" * 10_000, ""])
def test_a_comment_on_a_file_the_request_does_not_hold_is_refused(tmp_path, file):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, State.IN_REVIEW)
    with pytest.raises(InvalidInput, match="has no file") as refused:
        airlock.comment(ALICE, request.id, "see this", file=file)
    assert "t.csv" in str(refused.value)  # it says which files there are
    assert airlock.get(ADAM, request.id).comments == []


def test_a_comment_on_a_removed_file_is_refused(tmp_path):
    airlock = make_airlock(tmp_path)
    files = {"a.csv": b"a\n1\n", "b.csv": b"b\n2\n"}
    request = create_request_at(airlock, State.RETURNED, files=files)
    airlock.delete_file(ALICE, request.id, "b.csv")
    airlock.submit(ALICE, request.id)
    with pytest.raises(InvalidInput, match="has no file 'b.csv'"):
        airlock.comment(RITA, request.id, "and b?", file="b.csv")


def test_the_requesters_comments_are_capped_per_request_and_per_day(tmp_path):
    airlock = make_airlock(tmp_path, limits=SMALL)
    first = create_request_at(airlock, State.IN_REVIEW)
    airlock.comment(ALICE, first.id, "one")
    airlock.comment(ALICE, first.id, "two")
    with pytest.raises(Conflict, match="2 comments on request") as refused:
        airlock.comment(ALICE, first.id, "three")
    assert "justification" in str(refused.value)
    # Reviewers are not counted, nor do they use up the requester's comments.
    for n in range(4):
        airlock.comment(RITA, first.id, f"reviewer note {n}")
    second = create_request_at(airlock, State.IN_REVIEW)
    airlock.comment(ALICE, second.id, "three today")
    with pytest.raises(Conflict, match="3 comments on your requests in the last 24 hours"):
        airlock.comment(ALICE, second.id, "four today")
    # A day later the daily count starts again (the per-request one does not).
    with airlock._tx() as s:
        for c in s.query(Comment).filter(Comment.by == "alice"):
            c.at -= timedelta(days=1, seconds=1)
    airlock.comment(ALICE, second.id, "the next day")
    with pytest.raises(Conflict, match="on request"):
        airlock.comment(ALICE, first.id, "three, the next day")
    texts = [c.text for c in airlock.get(ADAM, first.id).comments if c.by == "alice"]
    assert texts == ["one", "two"]


def test_comments_are_capped_in_length(tmp_path):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, State.IN_REVIEW)
    with pytest.raises(InvalidInput, match="at most 2000 characters"):
        airlock.comment(ALICE, request.id, "x" * 2001)
    airlock.comment(ALICE, request.id, "x" * 2000)


# -- titles, justifications, drafts and open requests ---------------------------------------


def test_titles_and_justifications_are_capped(tmp_path):
    airlock = make_airlock(tmp_path)
    with pytest.raises(InvalidInput, match="the title is at most 120 characters"):
        airlock.create(ALICE, project="yield", justification="j", title="t" * 121)
    with pytest.raises(InvalidInput, match="the justification is at most 4000 characters"):
        airlock.create(ALICE, project="yield", justification="j" * 4001)
    assert airlock.list_mine(ALICE) == []
    request = airlock.create(ALICE, project="yield", justification="j" * 4000, title="t" * 120)
    put(airlock, request.id, "t.csv", CSV)
    with pytest.raises(InvalidInput, match="at most 4000"):
        airlock.submit(ALICE, request.id, "j" * 4001)
    assert airlock.get(ALICE, request.id).state == "draft"


def test_drafts_and_open_requests_per_researcher_are_capped(tmp_path):
    airlock = make_airlock(tmp_path, limits=SMALL)
    create_request_at(airlock, State.DRAFT)
    create_request_at(airlock, State.DRAFT)
    with pytest.raises(Conflict, match="2 draft requests") as refused:
        airlock.create(ALICE, project="yield", justification="j")
    assert "withdraw" in str(refused.value)
    assert len(airlock.list_mine(ALICE)) == 2
    airlock.create(BOB, project="yield", justification="bob's own count")
    # Submitting one frees a draft place; the open ones are capped at 3.
    mine = airlock.list_mine(ALICE)
    airlock.submit(ALICE, mine[0].id)
    third = airlock.create(ALICE, project="yield", justification="third open")
    put(airlock, third.id, "t.csv", CSV)
    airlock.submit(ALICE, third.id)  # one draft left, three open
    with pytest.raises(Conflict, match="3 open requests") as refused:
        airlock.create(ALICE, project="yield", justification="fourth open")
    assert "withdraw" in str(refused.value)
    airlock.withdraw(ALICE, mine[1].id)
    airlock.create(ALICE, project="yield", justification="fits again")


# -- storage quotas -------------------------------------------------------------------------


def test_the_quota_is_part_of_what_an_upload_may_have_and_says_so(tmp_path):
    airlock = make_airlock(tmp_path, limits=SMALL)
    held = []
    for n in range(3):  # 3 x 9000 of alice's 30000
        request = airlock.create(ALICE, project="yield", justification="j")
        put(airlock, request.id, "big.csv", bytes([n]) * 9000)
        held.append(request.id)
        if n < 2:
            airlock.submit(ALICE, request.id)
    allowance = airlock.upload_allowance(ALICE, held[2], "more.csv", "table", "yield")
    assert allowance.bytes == 3000 and allowance.quota
    assert "your storage quota is 30000 bytes" in allowance.limit
    assert "27000 of them are in use" in allowance.limit
    assert airlock.check_may_put(ALICE, held[2], "more.csv", "table", "yield") == 3000
    # Replacing a file not reviewed yet frees its bytes first.
    assert airlock.upload_allowance(ALICE, held[2], "big.csv", "table", "yield").bytes == 10_000
    # Inside the transaction again: an upload that passed the first check is refused.
    with pytest.raises(TooLarge, match="your storage quota") as refused:
        put(airlock, held[2], "more.csv", b"m" * 3001)
    assert "withdraw" in str(refused.value)
    assert [f.name for f in airlock.get(ALICE, held[2]).files] == ["big.csv"]
    put(airlock, held[2], "more.csv", b"m" * 3000)
    # Full: refused before an upload starts.
    with pytest.raises(TooLarge, match="no file can be added: your storage quota"):
        airlock.upload_allowance(ALICE, held[2], "last.csv", "table", "yield")
    # Withdrawn requests no longer count.
    airlock.withdraw(ALICE, held[0])
    # (9000 left of the quota; this request's own 20000 bytes now bind: 12000 are in it.)
    after = airlock.upload_allowance(ALICE, held[2], "last.csv", "table", "yield")
    assert (after.bytes, after.quota) == (8000, False)
    assert "the files of one request may add up to 20000 bytes" in after.limit


def test_the_project_quota_counts_every_researcher_of_the_project(tmp_path):
    limits = Limits(
        max_file_bytes=10_000,
        max_request_bytes=20_000,
        researcher_quota_bytes=40_000,
        project_quota_bytes=25_000,
    )
    airlock = make_airlock(tmp_path, limits=limits)
    for who, byte in ((ALICE, b"a"), (BOB, b"b")):
        request = airlock.create(who, project="yield", justification="j")
        put(airlock, request.id, "x.csv", byte * 10_000, caller=who)
    other = airlock.create(BOB, project="other", justification="j")
    assert airlock.check_may_put(BOB, other.id, "y.csv", "table", "other") == 10_000
    request = airlock.create(ALICE, project="yield", justification="j")
    allowance = airlock.upload_allowance(ALICE, request.id, "y.csv", "table", "yield")
    assert allowance.bytes == 5000
    assert "project yield's storage quota is 25000 bytes" in allowance.limit
    with pytest.raises(TooLarge, match="project yield's storage quota"):
        put(airlock, request.id, "y.csv", b"y" * 5001)


def test_released_requests_no_longer_count(tmp_path):
    airlock = make_airlock(tmp_path, limits=SMALL)
    request = create_request_at(airlock, State.RELEASED, files={"t.csv": b"r" * 9000})
    fresh = airlock.create(ALICE, project="yield", justification="j")
    assert airlock.check_may_put(ALICE, fresh.id, "t.csv", "table", "yield") == 10_000
    assert request.state == "released"


# -- what the requester sees back outside the clean room ------------------------------------


def test_outside_the_requester_sees_only_what_a_review_round_that_ended_saw(tmp_path):
    airlock = make_airlock(tmp_path)
    request = airlock.create(ALICE, project="yield", justification="first words", title="T1")
    put(airlock, request.id, "t.csv", CSV)

    def outside():
        return request_model(airlock.get(ALICE, request.id), ALICE)

    draft = outside()
    assert (draft["title"], draft["justification"], draft["files"]) == ("", "", [])
    assert draft["withheld"] is True
    inside = request_model(airlock.get(ALICE, request.id), ALICE, inside=True)
    assert (inside["title"], inside["justification"]) == ("T1", "first words")
    assert [f["name"] for f in inside["files"]] == ["t.csv"] and inside["withheld"] is False

    airlock.submit(ALICE, request.id)
    airlock.comment(ALICE, request.id, "in round one")
    assert outside()["comments"] == [] and outside()["files"] == []
    # A reviewer sees all of it, and so does an admin.
    for viewer in (RITA, ADAM):
        seen = request_model(airlock.get(viewer, request.id), viewer)
        assert seen["title"] == "T1" and seen["withheld"] is False
        assert [c["text"] for c in seen["comments"]] == ["in round one"]

    airlock.vote(RITA, request.id, [VoteInput("t.csv", "changes", "round it", True)])
    returned = outside()
    assert (returned["title"], returned["justification"]) == ("T1", "first words")
    assert [f["name"] for f in returned["files"]] == ["t.csv"]
    assert [c["text"] for c in returned["comments"]] == ["in round one"]
    assert returned["withheld"] is False

    # Round two: new bytes, a new justification and a comment stay inside until it ends.
    put(airlock, request.id, "t.csv", CSV + b"6,98.0\n")
    put(airlock, request.id, "u.csv", b"u\n1\n")
    airlock.submit(ALICE, request.id, "second words")
    airlock.comment(ALICE, request.id, "in round two")
    second = outside()
    assert second["justification"] == "first words"
    assert [(f["name"], f["version"]) for f in second["files"]] == []  # t.csv v1 was replaced
    assert [(f["name"], f["version"]) for f in second["history"]] == [("t.csv", 1)]
    assert [c["text"] for c in second["comments"]] == ["in round one"]
    assert second["withheld"] is True
    airlock.vote(RITA, request.id, [VoteInput(n, "approve") for n in ("t.csv", "u.csv")])
    approved = outside()
    assert approved["justification"] == "second words"
    assert [f["name"] for f in approved["files"]] == ["t.csv", "u.csv"]
    assert [c["text"] for c in approved["comments"]] == ["in round one", "in round two"]
    assert approved["withheld"] is False


def test_outside_the_policys_reasons_wait_for_the_end_of_the_review(tmp_path):
    from factories.airlock import StubPolicy, deny

    airlock = make_airlock(tmp_path, policy=StubPolicy(release=deny("release", "x.csv: too big")))
    request = airlock.create(ALICE, project="yield", justification="j")
    put(airlock, request.id, "x.csv", CSV)
    with pytest.raises(Conflict):
        airlock.submit(ALICE, request.id)
    outside = request_model(airlock.get(ALICE, request.id), ALICE)
    assert outside["reasons"] == [] and outside["withheld"] is True
    inside = request_model(airlock.get(ALICE, request.id), ALICE, inside=True)
    assert inside["reasons"] == ["x.csv: too big"]


def test_a_round_withdrawn_in_review_shows_nothing_new_outside(tmp_path):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, State.IN_REVIEW)
    airlock.comment(ALICE, request.id, "never reviewed")
    airlock.withdraw(ALICE, request.id)
    outside = request_model(airlock.get(ALICE, request.id), ALICE)
    assert outside["comments"] == [] and outside["files"] == [] and outside["title"] == ""


def test_a_vote_from_a_page_opened_before_a_comment_is_refused(tmp_path):
    airlock = make_airlock(tmp_path)
    request = create_request_at(airlock, State.IN_REVIEW)
    shown = len(airlock.get(RITA, request.id).comments)
    airlock.comment(ALICE, request.id, "one more thing: plant 4 is 97.1393")
    with pytest.raises(Conflict, match="1 comment.s. were added .* since you opened it"):
        airlock.vote(RITA, request.id, [VoteInput("t.csv", "approve")], seen_comments=shown)
    assert airlock.get(ADAM, request.id).files[0].votes == []
    assert airlock.get(ADAM, request.id).state == "in_review"
    after = airlock.vote(RITA, request.id, [VoteInput("t.csv", "approve")], seen_comments=1)
    assert after.state == "approved"
    # The comment was there when the round ended: shown back outside now.
    outside = request_model(airlock.get(ALICE, request.id), ALICE)
    assert [c["text"] for c in outside["comments"]] == ["one more thing: plant 4 is 97.1393"]
