"""cleanroom.policy against a real OPA process (started from .cache/bin/opa on a free port,
watching a temporary copy of policies/): allow and deny for each policy, policy changes while
running, OPA stopped and back, OPA's API locked down, decisions in the audit log."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import requests
from fixtures.opa import DENY_ALL, POLICIES, wait_for, write_policy

from cleanroom.audit import AuditLog
from cleanroom.policy import (
    UNAVAILABLE,
    CheckResult,
    FileFacts,
    GrantFacts,
    PersonFacts,
    PolicyClient,
    PolicyDenied,
    ProjectFacts,
    RequestFacts,
    UserFacts,
    revision_of_dir,
)

pytestmark = pytest.mark.opa
# The fixtures opa_binary, policies_copy and opa_server.
NOW = "2025-06-01T12:00:00Z"
ALICE = UserFacts("alice", "uni-a", ("researcher",))
RITA = UserFacts("rita", "vault-operator", ("reviewer",))
OLGA = UserFacts("olga", "acme", ("data-owner",))
PROJECT_AS_RESEARCHER = ProjectFacts("p-yield", "researcher")
PROJECT_AS_REVIEWER = ProjectFacts("p-yield", "reviewer")
SHA = "0" * 64

GRANTS = [
    GrantFacts("g-sensors", "p-yield", "fab-sensors", "v1"),
    GrantFacts("g-old", "p-yield", "weld-logs", "v1", expires_at="2025-05-01T00:00:00Z"),
    GrantFacts("g-revoked", "p-yield", "design", "v2", revoked=True),
]


def a_request(status: str = "pass", file_type: str = "table", media_type: str = "text/csv"):
    return RequestFacts(
        id="r-1",
        project="p-yield",
        requester=PersonFacts("alice", "uni-a"),
        files=[FileFacts("out/t.csv", file_type, media_type, 2048, SHA)],
        checks=[
            CheckResult("min_contributors", "out/t.csv", status, message="3 organisations"),
            # Every table needs the copied-records check (release.rego's required_checks).
            CheckResult("copied-records", "out/t.csv", "pass", message="no granted row in it"),
        ],
        contributing_organisations=["acme", "globex"],
    )


@pytest.fixture
def client(opa_server):
    with PolicyClient(opa_server.url, timeout=2.0, revision_ttl=0.0) as policy_client:
        yield policy_client


# -- allow and deny, each policy ------------------------------------------------------------


def test_access_foundation_researcher_may_start_without_a_project(client):
    decision = client.access(ALICE, None, now=NOW)
    assert decision.allowed and decision.reasons == ()
    assert decision.result["grants"] == []
    assert decision.require() is decision


def test_access_without_the_researcher_role_is_denied_with_a_reason(client):
    decision = client.access(UserFacts("bob", None, ()), None, now=NOW)
    assert not decision.allowed
    assert decision.reasons == (
        'bob does not have the global role "researcher", which is needed to start a server',
    )
    with pytest.raises(PolicyDenied) as raised:
        decision.require()
    assert "researcher" in raised.value.jupyterhub_message


def test_access_member_gets_only_grants_in_force(client):
    decision = client.access(ALICE, PROJECT_AS_RESEARCHER, GRANTS, now=NOW)
    assert decision.allowed
    assert decision.result["grants"] == ["g-sensors"]
    assert {g["id"]: g["reason"] for g in decision.result["excluded_grants"]} == {
        "g-old": "expired at 2025-05-01T00:00:00Z",
        "g-revoked": "revoked",
    }


def test_access_non_member_gets_nothing(client):
    decision = client.access(ALICE, ProjectFacts("p-yield", None), GRANTS, now=NOW)
    assert not decision.allowed
    assert decision.reasons == ("alice is not a member of project p-yield",)
    assert decision.result["grants"] == []


def test_release_clean_needs_one_reviewer(client):
    decision = client.release(ALICE, PROJECT_AS_RESEARCHER, a_request(), now=NOW)
    assert decision.allowed
    assert decision.result["reviewers_required"] == 1
    assert decision.result["data_owner_approval"] == []


def test_release_warning_needs_two_reviewers(client):
    decision = client.release(ALICE, PROJECT_AS_RESEARCHER, a_request("warn"), now=NOW)
    assert decision.allowed
    assert decision.result["reviewers_required"] == 2


def test_release_model_needs_data_owners(client):
    request = a_request(file_type="model", media_type="application/onnx")
    unchecked = client.release(ALICE, PROJECT_AS_RESEARCHER, request, now=NOW)
    assert not unchecked.allowed  # a model's own check (its tensors, external data) is required
    assert any("the model check has not looked" in r for r in unchecked.reasons)
    model_check = CheckResult("model", "out/t.csv", "pass", message="ONNX: 2 initializers")
    request = dataclasses.replace(request, checks=[*request.checks, model_check])
    decision = client.release(ALICE, PROJECT_AS_RESEARCHER, request, now=NOW)
    assert decision.allowed
    assert decision.result["data_owner_approval"] == ["acme", "globex"]


def test_release_failed_check_is_denied_with_a_readable_reason(client):
    decision = client.release(ALICE, PROJECT_AS_RESEARCHER, a_request("fail"), now=NOW)
    assert not decision.allowed
    assert decision.reasons == ("out/t.csv: check min_contributors failed: 3 organisations",)


def test_review_by_a_reviewer_of_another_organisation_is_allowed(client):
    decision = client.review(RITA, PROJECT_AS_REVIEWER, a_request(), now=NOW)
    assert decision.allowed
    assert decision.result["capacities"] == ["reviewer"]


def test_review_of_ones_own_request_is_denied(client):
    as_reviewer = UserFacts("alice", "uni-a", ("researcher", "reviewer"))
    decision = client.review(as_reviewer, PROJECT_AS_REVIEWER, a_request(), now=NOW)
    assert not decision.allowed
    assert "nobody may review their own request" in decision.reasons


def test_review_by_a_data_owner_covers_their_organisation(client):
    decision = client.review(OLGA, ProjectFacts("p-yield", None), a_request(), now=NOW)
    assert decision.allowed
    assert decision.result["organisations"] == ["acme"]


def test_review_by_a_data_owner_without_data_in_it_is_denied(client):
    other = UserFacts("otto", "initech", ("data-owner",))
    decision = client.review(other, ProjectFacts("p-yield", None), a_request(), now=NOW)
    assert not decision.allowed
    assert decision.reasons == ("otto's organisation (initech) has no data in this request",)


@pytest.mark.parametrize("area", ["access", "release", "review"])
def test_every_example_input_is_decided_as_documented(client, area):
    examples = json.loads((POLICIES / "examples" / f"{area}.json").read_text())[area]
    for name, document in examples.items():
        decision = client.decide(area, document)
        assert decision.allowed, (name, decision.reasons)


def test_invalid_input_is_denied_without_asking_opa(client):
    decision = client.decide("access", {"action": "access", "now": NOW})
    assert not decision.allowed
    assert decision.reasons[0].startswith("invalid policy input:")
    assert decision.result == {} and decision.policy_revision == ""


def test_decisions_carry_the_revision_of_the_loaded_policies(client, policies_copy):
    decision = client.access(ALICE, None, now=NOW)
    assert decision.policy_revision == revision_of_dir(policies_copy)
    assert decision.policy_revision == revision_of_dir(POLICIES)
    assert len(decision.input_digest) == 64


# -- the operator changes policies while everything runs ------------------------------------


def test_swapping_in_deny_all_then_three_reviewers_takes_effect_without_restart(
    opa_server, client, policies_copy
):
    pid = opa_server.process.pid
    before = client.access(ALICE, None, now=NOW)
    assert before.allowed

    write_policy(policies_copy, "access.rego", DENY_ALL)
    denied = wait_for(
        lambda: (d := client.access(ALICE, None, now=NOW)).allowed is False and d,
        what="the deny-all access policy to be loaded",
    )
    assert denied.reasons == ("the clean room is closed for maintenance",)
    assert denied.policy_revision == revision_of_dir(policies_copy) != before.policy_revision

    release = policies_copy / "release.rego"
    text = release.read_text()
    assert '"min_reviewers": 1,' in text
    three_reviewers = text.replace('"min_reviewers": 1,', '"min_reviewers": 3,')
    write_policy(policies_copy, "release.rego", three_reviewers)
    three = wait_for(
        lambda: (
            (d := client.release(ALICE, PROJECT_AS_RESEARCHER, a_request(), now=NOW)).result.get(
                "reviewers_required"
            )
            == 3
            and d
        ),
        what="the three-reviewer release policy to be loaded",
    )
    assert three.allowed and three.policy_revision == revision_of_dir(policies_copy)
    assert opa_server.process.pid == pid and opa_server.process.poll() is None


def test_a_policy_that_does_not_compile_leaves_the_previous_one_in_force(client, policies_copy):
    before = client.access(ALICE, None, now=NOW)
    write_policy(policies_copy, "access.rego", "package access\n\ndecision := {\n")
    time.sleep(1.0)  # OPA has seen the change and refused it
    after = client.access(ALICE, None, now=NOW)
    assert after.allowed
    assert after.policy_revision == before.policy_revision


def test_a_removed_policy_is_an_undefined_decision_and_a_denial(client, policies_copy):
    (policies_copy / "review.rego").unlink()
    decision = wait_for(
        lambda: (
            (d := client.review(RITA, PROJECT_AS_REVIEWER, a_request(), now=NOW)).reasons
            == (UNAVAILABLE,)
            and d
        ),
        what="the review decision to become undefined",
    )
    assert not decision.allowed


# -- OPA stopped, and back -------------------------------------------------------------------


def test_opa_stopped_every_decision_is_denied_then_resumes_with_the_same_client(
    opa_server, policies_copy
):
    client = PolicyClient(opa_server.url, timeout=1.0, revision_ttl=0.0)
    assert client.access(ALICE, None, now=NOW).allowed

    opa_server.stop()
    started = time.monotonic()
    decisions = [
        client.access(ALICE, None, now=NOW),
        client.access(ALICE, PROJECT_AS_RESEARCHER, GRANTS, now=NOW),
        client.release(ALICE, PROJECT_AS_RESEARCHER, a_request(), now=NOW),
        client.review(RITA, PROJECT_AS_REVIEWER, a_request(), now=NOW),
    ]
    assert time.monotonic() - started < 4 * 2.0  # refused quickly, never hangs
    for decision in decisions:
        assert not decision.allowed
        assert decision.reasons == (UNAVAILABLE,)
        assert decision.policy_revision == ""
    with pytest.raises(PolicyDenied, match=UNAVAILABLE):
        decisions[0].require()

    opa_server.start()  # same address, same client object
    resumed = wait_for(
        lambda: (d := client.access(ALICE, None, now=NOW)).allowed and d,
        what="decisions to resume",
    )
    assert resumed.policy_revision == revision_of_dir(policies_copy)
    client.close()


async def test_async_decisions_while_opa_is_stopped_do_not_hang(opa_server):
    client = PolicyClient(opa_server.url, timeout=1.0)
    assert (await client.aaccess(ALICE, None, now=NOW)).allowed
    opa_server.stop()
    decision = await client.aaccess(ALICE, None, now=NOW)
    assert decision.reasons == (UNAVAILABLE,)
    client.close()


# -- OPA's own API ---------------------------------------------------------------------------


def test_opa_listens_on_loopback_only_and_refuses_writes(opa_server):
    assert opa_server.addr.startswith("127.0.0.1:")
    put = requests.put(
        f"{opa_server.url}/v1/policies/evil", data="package access\n\ndecision := {}\n", timeout=5
    )
    assert put.status_code == 401
    data = requests.put(f"{opa_server.url}/v1/data/access", json={"x": 1}, timeout=5)
    assert data.status_code == 401
    query = requests.post(f"{opa_server.url}/v1/query", json={"query": "true"}, timeout=5)
    assert query.status_code == 401
    assert requests.get(f"{opa_server.url}/health", timeout=5).status_code == 200


# -- every decision in the audit log ---------------------------------------------------------


def test_every_decision_is_recorded_with_digest_and_revision(opa_server, tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite", tmp_path / "anchor.json", tmp_path / "audit.key")
    client = PolicyClient(opa_server.url, audit=audit)
    allowed = client.access(ALICE, PROJECT_AS_RESEARCHER, GRANTS, now=NOW)
    denied = client.access(UserFacts("bob", None, ()), None, now=NOW)
    release = client.release(ALICE, PROJECT_AS_RESEARCHER, a_request(), now=NOW)
    records = audit.records()
    assert [r.event for r in records] == ["policy.decision"] * 3
    for record, decision in zip(records, [allowed, denied, release], strict=True):
        assert record.details["allowed"] == decision.allowed
        assert record.details["input_digest"] == decision.input_digest
        assert record.details["policy_revision"] == decision.policy_revision != ""
        assert record.details["reasons"] == list(decision.reasons)
    assert records[0].actor == "alice" and records[0].details["project"] == "p-yield"
    assert records[2].details["request"] == "r-1" and records[2].details["area"] == "release"
    assert audit.verify().ok
    client.close()
