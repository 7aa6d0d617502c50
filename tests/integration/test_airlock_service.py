"""The airlock's business layer against a real OPA (the repository's release and review
policies), a real catalog (SQLite, seeded: alice researcher and rita reviewer of project
``yield``) and a real audit log: the life cycle, votes, resubmission, races, downloads.

Fixtures: ``airlock`` (an AirlockService over all of that, its blobs in tmp_path), ``put``
(store bytes and add them to a request), callers ALICE, RITA, ROWAN (a second reviewer, org
bolt), BOB (another researcher) and ADAM (admin).
"""

from __future__ import annotations

import hashlib
import threading

import duckdb
import pytest
from factories.airlock import real_airlock
from factories.pdfs import make_pdf

from cleanroom.airlock.db import create_airlock_engine, session_factory
from cleanroom.airlock.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    PolicyRefused,
    TooLarge,
)
from cleanroom.airlock.facts import CatalogFacts
from cleanroom.airlock.permissions import (
    ADMINISTER,
    REVIEW,
    SUBMIT,
    Caller,
)
from cleanroom.airlock.service import AirlockService, Limits, VoteInput
from cleanroom.airlock.states import State
from cleanroom.airlock.store import BlobStore
from cleanroom.policy import PolicyClient

ALICE = Caller("alice", frozenset({SUBMIT}), ("researcher",))
BOB = Caller("bob", frozenset({SUBMIT}), ("researcher",))
RITA = Caller("rita", frozenset({REVIEW}), ("reviewer",))
ROWAN = Caller("rowan", frozenset({REVIEW}), ("reviewer",))
ADAM = Caller("adam", frozenset({ADMINISTER}), ("admin",))
CSV = b"plant_count,yield\n5,97.1\n"


@pytest.fixture
def airlock(seeded, opa_server, tmp_path) -> AirlockService:
    seeded.set_user_organisation("rowan", "bolt", actor="adam")
    seeded.add_member("yield", "rowan", "reviewer", actor="adam")
    return real_airlock(seeded, opa_server.url, tmp_path)


def put(airlock, request_id, name, data, type_="table", media_type="text/csv", caller=ALICE):
    blob = airlock.store.put_bytes(data)
    return airlock.put_file(caller, request_id, name, type_, blob, media_type, project="yield")


def draft(airlock, *files: tuple[str, bytes]) -> str:
    request = airlock.create(ALICE, project="yield", justification="for the paper")
    for name, data in files or (("t.csv", CSV),):
        put(airlock, request.id, name, data)
    return request.id


def state_of(airlock, request_id) -> State:
    return State(airlock.get(ADAM, request_id).state)


def transitions(airlock, request_id) -> list[tuple[str, str]]:
    return [
        (r.details["source"], r.details["target"])
        for r in airlock.audit.records()
        if r.event == "airlock.request.state" and r.details.get("request") == request_id
    ]


def test_a_request_goes_from_draft_to_released_with_every_step_audited(airlock):
    rid = draft(airlock)
    submitted = airlock.submit(ALICE, rid)
    assert submitted.state == "in_review" and submitted.reviewers_required == 1
    assert {c.check for c in submitted.checks} == {"integrity", "media-type", "copied-records"}
    assert [r.id for r in airlock.review_queue(RITA)] == [rid]
    assert airlock.review_queue(ALICE) == []
    after = airlock.vote(RITA, rid, [VoteInput("t.csv", "approve", "fine")])
    assert after.state == "approved"
    row, path = airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=False)
    assert (
        hashlib.sha256(path.read_bytes()).hexdigest()
        == row.sha256
        == hashlib.sha256(CSV).hexdigest()
    )
    assert state_of(airlock, rid) == State.RELEASED
    assert transitions(airlock, rid) == [
        ("draft", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
        ("approved", "released"),
    ]
    events = [r.event for r in airlock.audit.records() if r.details.get("request") == rid]
    assert "airlock.release.download" in events and "airlock.vote" in events
    areas = [
        r.details["area"]
        for r in airlock.audit.records()
        if r.event == "policy.decision" and r.details.get("request") == rid
    ]
    assert "release" in areas and "review" in areas
    assert airlock.audit.verify().ok


def test_the_release_policy_denies_with_reasons_and_the_request_stays_a_draft(airlock):
    rid = airlock.create(ALICE, project="yield", justification="x").id
    put(
        airlock,
        rid,
        "model.bin",
        b"\x00weights",
        type_="other",
        media_type="application/octet-stream",
    )
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any('files of type "other" cannot be released' in r for r in refused.value.reasons)
    request = airlock.get(ALICE, rid)
    assert request.state == "draft" and request.reasons == refused.value.reasons
    assert transitions(airlock, rid) == [("draft", "submitted"), ("submitted", "draft")]


def test_nobody_votes_on_their_own_request_twice_or_after_the_end(airlock):
    rid = draft(airlock)
    airlock.submit(ALICE, rid)
    with pytest.raises(PermissionDenied, match="own request"):
        airlock.vote(ALICE, rid, [VoteInput("t.csv", "approve")])
    with pytest.raises(PermissionDenied):
        airlock.vote(BOB, rid, [VoteInput("t.csv", "approve")])  # no review scope
    airlock.vote(RITA, rid, [VoteInput("t.csv", "reject", "identifies a plant")])
    assert state_of(airlock, rid) == State.REJECTED
    with pytest.raises(Conflict):
        airlock.vote(RITA, rid, [VoteInput("t.csv", "approve")])
    with pytest.raises(Conflict):
        airlock.vote(ROWAN, rid, [VoteInput("t.csv", "approve")])
    with pytest.raises(PermissionDenied):
        airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=False)


def test_a_second_vote_by_the_same_reviewer_is_refused(airlock):
    rid = draft(airlock, ("a.csv", CSV), ("b.csv", CSV + b"1,2\n"))
    airlock.submit(ALICE, rid)
    airlock.vote(RITA, rid, [VoteInput("a.csv", "approve")])
    with pytest.raises(Conflict, match="already voted"):
        airlock.vote(RITA, rid, [VoteInput("a.csv", "approve")])
    with pytest.raises(InvalidInput):
        airlock.vote(RITA, rid, [VoteInput("b.csv", "maybe")])
    with pytest.raises(InvalidInput, match="comment"):
        airlock.vote(RITA, rid, [VoteInput("b.csv", "changes", "")])


def test_returned_then_resubmitted_changed_files_need_fresh_votes_unchanged_keep_theirs(airlock):
    rid = draft(airlock, ("a.csv", CSV), ("b.csv", CSV + b"3,50\n"))
    airlock.submit(ALICE, rid)
    returned = airlock.vote(
        RITA,
        rid,
        [VoteInput("a.csv", "approve"), VoteInput("b.csv", "changes", "row 2 is one plant")],
    )
    assert returned.state == "returned"
    put(airlock, rid, "a.csv", CSV)  # the same bytes: nothing changes
    new = put(airlock, rid, "b.csv", CSV + b"9,50\n")
    assert new.version == 2
    again = airlock.submit(ALICE, rid)
    assert again.state == "in_review" and again.round == 2
    files = {f.name: f for f in again.files if not f.removed}
    versions = {(f.name, f.version) for f in again.files}
    assert versions == {("a.csv", 1), ("b.csv", 1), ("b.csv", 2)}  # earlier versions stay
    from cleanroom.airlock.service import counting_votes, current_files

    current = {f.name: f for f in current_files(again)}
    assert [v.decision for v in counting_votes(current["a.csv"])] == ["approve"]
    assert counting_votes(current["b.csv"]) == []
    assert files
    with pytest.raises(Conflict, match="already voted"):
        airlock.vote(RITA, rid, [VoteInput("a.csv", "approve")])
    done = airlock.vote(RITA, rid, [VoteInput("b.csv", "approve")])
    assert done.state == "approved"


@pytest.mark.parametrize("attempt", range(3))
def test_two_racing_votes_have_exactly_one_outcome(airlock, attempt):
    rid = draft(airlock)
    airlock.submit(ALICE, rid)
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def cast(caller, decision):
        barrier.wait()
        try:
            results[caller.name] = airlock.vote(
                caller, rid, [VoteInput("t.csv", decision, "because")]
            ).state
        except Conflict as error:
            results[caller.name] = error

    threads = [
        threading.Thread(target=cast, args=(RITA, "approve")),
        threading.Thread(target=cast, args=(ROWAN, "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [v for v in results.values() if isinstance(v, Conflict)]
    assert len(refused) == 1, results
    assert state_of(airlock, rid) in (State.APPROVED, State.REJECTED)
    assert len([t for t in transitions(airlock, rid) if t[0] == "in_review"]) == 1


def test_a_reviewer_sees_another_reviewers_vote_only_after_casting_their_own(airlock):
    from cleanroom.airlock.web.serialise import request_model

    rid = draft(airlock, ("a.csv", CSV), ("b.csv", CSV + b"1,1\n"))
    airlock.submit(ALICE, rid)
    airlock.vote(ROWAN, rid, [VoteInput("a.csv", "approve", "ok by rowan")])
    seen = request_model(airlock.get(RITA, rid), RITA)
    assert all(f["votes"] == [] for f in seen["files"])
    # From her server (outside, her files in review are withheld altogether).
    alice_sees = request_model(airlock.get(ALICE, rid), ALICE, inside=True)
    assert len(alice_sees["files"]) == 2
    assert all(f["votes"] == [] for f in alice_sees["files"])
    airlock.vote(RITA, rid, [VoteInput("a.csv", "approve", "ok by rita")])
    seen = {f["name"]: f for f in request_model(airlock.get(RITA, rid), RITA)["files"]}
    assert {v["reviewer"] for v in seen["a.csv"]["votes"]} == {"rita", "rowan"}
    assert seen["b.csv"]["votes"] == []


def test_the_requester_reads_only_comments_marked_for_them(airlock):
    from cleanroom.airlock.web.serialise import request_model

    rid = draft(airlock, ("a.csv", CSV), ("b.csv", CSV + b"1,1\n"))
    airlock.submit(ALICE, rid)
    airlock.vote(
        RITA,
        rid,
        [
            VoteInput("a.csv", "changes", "internal: plant 3 dominates", False),
            VoteInput("b.csv", "changes", "please round to 1 decimal", True),
        ],
    )
    seen = {f["name"]: f for f in request_model(airlock.get(ALICE, rid), ALICE)["files"]}
    assert seen["a.csv"]["votes"][0]["comment"] == ""
    assert seen["b.csv"]["votes"][0]["comment"] == "please round to 1 decimal"


def test_downloads_only_for_the_requester_from_outside_and_never_after_revocation(airlock):
    rid = draft(airlock)
    with pytest.raises(PermissionDenied):
        airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=False)  # a draft
    airlock.submit(ALICE, rid)
    airlock.vote(RITA, rid, [VoteInput("t.csv", "approve")])
    with pytest.raises(PermissionDenied, match="inside the clean room"):
        airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=True)
    with pytest.raises(PermissionDenied):
        airlock.download(RITA, rid, "t.csv", peer_in_clean_room=False)
    with pytest.raises(PermissionDenied):
        airlock.revoke(RITA, rid, "no")
    airlock.revoke(ADAM, rid, "the owner objected")
    with pytest.raises(PermissionDenied):
        airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=False)
    downloads = [r for r in airlock.audit.records() if r.event == "airlock.release.download"]
    assert downloads == []


def test_a_tampered_blob_is_never_served(airlock):
    rid = draft(airlock)
    airlock.submit(ALICE, rid)
    airlock.vote(RITA, rid, [VoteInput("t.csv", "approve")])
    sha = hashlib.sha256(CSV).hexdigest()
    path = airlock.store.root / sha
    path.chmod(0o600)
    path.write_bytes(b"plant_count,yield\n1,99\n")
    from cleanroom.airlock.errors import IntegrityError

    with pytest.raises(IntegrityError):
        airlock.download(ALICE, rid, "t.csv", peer_in_clean_room=False)
    assert state_of(airlock, rid) == State.APPROVED


def test_files_come_only_from_a_server_of_the_requests_project_and_within_limits(airlock):
    rid = draft(airlock)
    blob = airlock.store.put_bytes(b"x")
    with pytest.raises(PermissionDenied, match="belongs to project yield"):
        airlock.put_file(ALICE, rid, "x.csv", "table", blob, "text/csv", project="other")
    with pytest.raises(PermissionDenied):
        airlock.put_file(BOB, rid, "x.csv", "table", blob, "text/csv", project="yield")
    for index in range(4):
        put(airlock, rid, f"f{index}.csv", CSV)
    from cleanroom.airlock.errors import TooLarge

    with pytest.raises(TooLarge):
        airlock.check_may_put(ALICE, rid, "f9.csv", "table", "yield")
    for bad in ("../x", "a/b", "..", "x\x00y", "x\ny", "/etc/passwd", " x"):
        with pytest.raises(InvalidInput):
            airlock.check_may_put(ALICE, rid, bad, "table", "yield")


def test_withdrawn_requests_take_no_more_changes(airlock):
    rid = draft(airlock)
    airlock.withdraw(ALICE, rid)
    with pytest.raises(Conflict):
        put(airlock, rid, "t2.csv", CSV)
    with pytest.raises(Conflict):
        airlock.submit(ALICE, rid)
    with pytest.raises(Conflict):
        airlock.withdraw(ALICE, rid)
    assert transitions(airlock, rid) == [("draft", "withdrawn")]


def test_a_model_needs_two_reviewers_and_every_contributing_organisations_data_owner(
    airlock, seeded, tmp_path
):
    from cleanroom.airlock.permissions import OWNER_APPROVE
    from cleanroom.catalog.data_plane import grant_materialiser

    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    seeded.grant("yield", "wafers", reason="study", actor="adam")  # rows of acme, bolt, cora
    owners = {}
    for name, org in (("dora", "acme"), ("dave", "bolt"), ("dina", "cora")):
        seeded.set_user_organisation(name, org, actor="adam")
        owners[org] = Caller(name, frozenset({OWNER_APPROVE}), ("data-owner",))
    rid = airlock.create(ALICE, project="yield", justification="a yield model").id
    put(
        airlock,
        rid,
        "model.onnx",
        b"\x08\x01onnx-ish",
        type_="model",
        media_type="application/octet-stream",
    )
    request = airlock.submit(ALICE, rid)
    assert request.reviewers_required == 2
    assert request.data_owner_approval == ["acme", "bolt", "cora"]
    assert request.contributing_organisations == ["acme", "bolt", "cora"]
    airlock.vote(RITA, rid, [VoteInput("model.onnx", "approve")])
    airlock.vote(ROWAN, rid, [VoteInput("model.onnx", "approve")])
    assert state_of(airlock, rid) == State.IN_REVIEW  # the owners have not co-approved yet
    outsider = Caller("olga", frozenset({OWNER_APPROVE}), ("data-owner",))
    seeded.set_user_organisation("olga", "uni", actor="adam")
    with pytest.raises(PermissionDenied):
        airlock.vote(outsider, rid, [VoteInput("model.onnx", "approve")])  # no data in it
    airlock.vote(owners["acme"], rid, [VoteInput("model.onnx", "approve")])
    airlock.vote(owners["bolt"], rid, [VoteInput("model.onnx", "approve")])
    assert state_of(airlock, rid) == State.IN_REVIEW
    done = airlock.vote(owners["cora"], rid, [VoteInput("model.onnx", "approve")])
    assert done.state == "approved"
    capacities = {v.reviewer: v.capacities for v in done.files[0].votes}
    assert capacities["dora"] == ["data-owner"] and capacities["rita"] == ["reviewer"]


def test_only_the_owners_of_organisations_whose_rows_were_mounted_are_asked_and_may_look(
    airlock, seeded, tmp_path
):
    """cora's rows are filtered out of the grant mounted for alice's server: cora's data owner
    is neither asked nor able to open alice's request; acme's and bolt's are and can."""
    from cleanroom.airlock.permissions import OWNER_APPROVE
    from cleanroom.catalog.data_plane import grant_materialiser

    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    granted = seeded.grant(
        "yield", "wafers", row_filter="plant <> 'cora-east'", reason="study", actor="adam"
    )
    assert granted.organisations == ("acme", "bolt")  # from the materialised rows
    seeded.record_mount("yield", "alice", [granted.id], actor="alice")  # as the spawner does
    owners = {}
    for name, org in (("dora", "acme"), ("dave", "bolt"), ("dina", "cora")):
        seeded.set_user_organisation(name, org, actor="adam")
        owners[org] = Caller(name, frozenset({OWNER_APPROVE}), ("data-owner",))
    rid = airlock.create(ALICE, project="yield", justification="a yield model").id
    model = b"\x08\x01onnx-ish"
    put(airlock, rid, "model.onnx", model, type_="model", media_type="application/octet-stream")
    request = airlock.submit(ALICE, rid)
    assert request.contributing_organisations == ["acme", "bolt"]
    assert request.data_owner_approval == ["acme", "bolt"]

    cora = owners["cora"]
    assert airlock.review_queue(cora) == []  # not asked
    assert airlock.review_queue(cora, waiting_only=False) == []
    with pytest.raises(PermissionDenied, match="data owners of organisations whose rows"):
        airlock.get(cora, rid)  # cannot open it
    with pytest.raises(PermissionDenied):
        airlock.file_for_review(cora, rid, "model.onnx", None)  # nor preview its bytes
    with pytest.raises(PermissionDenied):
        airlock.vote(cora, rid, [VoteInput("model.onnx", "approve")])
    with pytest.raises(PermissionDenied):
        airlock.comment(cora, rid, "let me see")
    for org in ("acme", "bolt"):
        owner = owners[org]
        assert [r.id for r in airlock.review_queue(owner)] == [rid]
        assert airlock.get(owner, rid).id == rid
        row, path = airlock.file_for_review(owner, rid, "model.onnx", None)
        assert path.read_bytes() == model
    airlock.vote(RITA, rid, [VoteInput("model.onnx", "approve")])
    airlock.vote(ROWAN, rid, [VoteInput("model.onnx", "approve")])
    airlock.vote(owners["acme"], rid, [VoteInput("model.onnx", "approve")])
    done = airlock.vote(owners["bolt"], rid, [VoteInput("model.onnx", "approve")])
    assert done.state == "approved"  # without cora, whose data is not in it


def test_a_requester_whose_mounts_were_never_recorded_asks_every_organisation_of_the_project(
    airlock, seeded, tmp_path
):
    """Fail closed: no record of what bob's servers mounted, so every organisation of every
    version granted to the project counts (never the empty set)."""
    from cleanroom.airlock.permissions import OWNER_APPROVE
    from cleanroom.catalog.data_plane import grant_materialiser

    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    granted = seeded.grant(
        "yield", "wafers", row_filter="plant <> 'cora-east'", reason="study", actor="adam"
    )
    seeded.record_mount("yield", "alice", [granted.id], actor="alice")  # alice's, not bob's
    seeded.add_member("yield", "bob", "researcher", actor="adam")
    seeded.set_user_organisation("dina", "cora", actor="adam")
    dina = Caller("dina", frozenset({OWNER_APPROVE}), ("data-owner",))
    rid = airlock.create(BOB, project="yield", justification="a table").id
    put(airlock, rid, "t.csv", CSV, caller=BOB)
    request = airlock.submit(BOB, rid)
    assert request.contributing_organisations == ["acme", "bolt", "cora"]
    assert [r.id for r in airlock.review_queue(dina)] == [rid]


def test_without_opa_nothing_is_decided_and_nothing_is_lost(airlock, opa_server):
    from cleanroom.airlock.errors import Unavailable

    rid = draft(airlock)
    reviewing = draft(airlock, ("r.csv", CSV))
    airlock.submit(ALICE, reviewing)
    opa_server.stop()
    with pytest.raises(Unavailable, match="submit again"):
        airlock.submit(ALICE, rid)
    assert state_of_without_policy(airlock, rid) == "draft"
    with pytest.raises(Unavailable):
        airlock.vote(RITA, reviewing, [VoteInput("r.csv", "approve")])
    assert state_of_without_policy(airlock, reviewing) == "in_review"
    assert airlock.audit.verify().ok


def state_of_without_policy(airlock, request_id) -> str:
    return airlock.get(ALICE, request_id).state  # the requester's view asks no policy


def test_a_request_left_submitted_by_a_crash_goes_back_to_its_researcher(airlock):
    first = draft(airlock)
    second = draft(airlock, ("s.csv", CSV))
    airlock.submit(ALICE, second)
    airlock.vote(RITA, second, [VoteInput("s.csv", "changes", "merge groups")])
    for rid in (first, second):  # as if the airlock died between submit and decision
        with airlock._tx() as s:
            airlock._move(airlock._get(s, rid), State.SUBMITTED, "alice")
    assert airlock.resume_submitted() == 2
    assert state_of(airlock, first) == State.DRAFT
    assert state_of(airlock, second) == State.RETURNED
    last = [r for r in airlock.audit.records() if r.event == "airlock.request.state"][-2:]
    assert {r.details["reason"] for r in last} == {"the airlock restarted while deciding"}
    assert airlock.resume_submitted() == 0


# -- text bounded and reviewed; storage quotas (issue 13) -----------------------------------


def test_comments_are_taken_only_in_review_from_the_requester_and_allowed_reviewers(airlock):
    rid = draft(airlock, ("a.csv", CSV))
    with pytest.raises(Conflict, match="only while a request is in review"):
        airlock.comment(ALICE, rid, "plant 4 made 97.1393")  # a draft: no reviewer sees it
    airlock.submit(ALICE, rid)
    airlock.comment(ALICE, rid, "rounded as asked", file="a.csv")
    airlock.comment(RITA, rid, "noted", file="a.csv")
    with pytest.raises(PermissionDenied):
        airlock.comment(BOB, rid, "from another researcher")
    with pytest.raises(InvalidInput, match="has no file"):
        airlock.comment(ALICE, rid, "a crafted file field", file="plant 4 made 97.1393")
    airlock.vote(RITA, rid, [VoteInput("a.csv", "approve")])
    with pytest.raises(Conflict, match="approved"):
        airlock.comment(ALICE, rid, "after the review")
    comments = airlock.get(ADAM, rid).comments
    assert [(c.by, c.file, c.text) for c in comments] == [
        ("alice", "a.csv", "rounded as asked"),
        ("rita", "a.csv", "noted"),
    ]
    assert airlock.audit.verify().ok


def test_the_storage_quota_refuses_before_writing_and_again_in_the_transaction(
    seeded, opa_server, tmp_path
):
    database = tmp_path / "quota" / "airlock.sqlite"
    airlock = AirlockService(
        session_factory(create_airlock_engine(database)),
        BlobStore(tmp_path / "quota" / "blobs"),
        PolicyClient(opa_server.url, audit=seeded.audit, revision_ttl=0.0),
        seeded.audit,
        CatalogFacts(seeded),
        Limits(max_file_bytes=1000, researcher_quota_bytes=1500, project_quota_bytes=1800),
    )
    first = draft(airlock, ("a.csv", b"a" * 1000))
    allowance = airlock.upload_allowance(ALICE, first, "b.csv", "table", "yield")
    assert allowance.bytes == 500 and "your storage quota is 1500 bytes" in allowance.limit
    # Two uploads that each passed the first check: the second is refused inside.
    assert airlock.check_may_put(ALICE, first, "c.csv", "table", "yield") == 500
    put(airlock, first, "b.csv", b"b" * 400)
    with pytest.raises(TooLarge, match="your storage quota"):
        put(airlock, first, "c.csv", b"c" * 400)
    assert [f.name for f in airlock.get(ALICE, first).files] == ["a.csv", "b.csv"]
    assert not any(
        r.event == "airlock.file.put" and r.details.get("file") == "c.csv"
        for r in airlock.audit.records()
    )


# --- PDF reports: the pdf check runs in the sandbox, the release policy decides -------------


def test_a_pdf_report_with_a_parquet_file_after_eof_is_refused(airlock, tmp_path):
    path = tmp_path / "rows.parquet"
    duckdb.sql(f"COPY (SELECT range AS id FROM range(500)) TO '{path}' (FORMAT parquet)")
    hidden = path.read_bytes()
    rid = airlock.create(ALICE, project="yield", justification="the paper").id
    pdf = make_pdf(pages=4) + hidden
    put(airlock, rid, "report.pdf", pdf, type_="report", media_type="application/pdf")
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    reason = next(r for r in refused.value.reasons if "check pdf failed" in r)
    assert f"{len(hidden):,} bytes after the last %%EOF" in reason and "Parquet" in reason
    assert airlock.get(ALICE, rid).state == "draft"


def test_a_clean_pdf_report_needs_two_reviewers(airlock):
    rid = airlock.create(ALICE, project="yield", justification="the paper").id
    pdf = make_pdf(pages=2)
    put(airlock, rid, "report.pdf", pdf, type_="report", media_type="application/pdf")
    submitted = airlock.submit(ALICE, rid)
    assert submitted.state == "in_review" and submitted.reviewers_required == 2
    check = next(c for c in submitted.checks if c.check == "pdf")
    assert check.status == "pass" and check.message.startswith("2 pages;")
