"""The copied-records check's outcome from the job's counts and the policy's thresholds."""

from __future__ import annotations

import pytest

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import copied

RULES = {
    "max_whole_rows": 0,
    "max_rearranged_rows": 0,
    "max_reformatted_rows": 0,
    "warn_verbatim_rare_values": 20,
    "max_verbatim_rare_values": 1000,
    "rare_at_most": 1,
    "min_evidence_bits": 8,
}


def answer(whole=0, rearranged=0, reformatted=0, verbatim=0):
    grant = {
        "label": "lots v1 (grant 3)",
        "mapping": {"id": "lot", "t": "temp"},
        "whole_rows": whole,
        "rearranged_rows": rearranged,
        "reformatted_rows": reformatted,
        "copied_rows": whole + rearranged + reformatted,
        "first_rows": [4, 9],
        "evidence_bits": 20.0,
        "verbatim_rare_values": {"id": verbatim} if verbatim else {},
    }
    return {
        "rows": 100,
        "copied_rows": grant["copied_rows"],
        "whole_rows": whole,
        "rearranged_rows": rearranged,
        "reformatted_rows": reformatted,
        "verbatim_rare_values": verbatim,
        "grants": [grant],
    }


@pytest.mark.parametrize(
    ("counts", "status"),
    [
        ({}, CheckStatus.PASS),
        ({"whole": 1}, CheckStatus.FAIL),
        ({"rearranged": 1}, CheckStatus.FAIL),
        ({"reformatted": 1}, CheckStatus.FAIL),
        ({"verbatim": 20}, CheckStatus.PASS),
        ({"verbatim": 21}, CheckStatus.WARN),
        ({"verbatim": 1001}, CheckStatus.FAIL),
    ],
)
def test_the_status_follows_the_policy_s_thresholds(counts, status):
    assert copied.outcome(answer(**counts), RULES).status == status


def test_raised_thresholds_turn_a_few_copied_rows_into_a_warning():
    rules = {**RULES, "max_reformatted_rows": 5}
    out = copied.outcome(answer(reformatted=3), rules)
    assert out.status == CheckStatus.WARN
    assert "3 row(s) copied with numbers re-written" in out.message


def test_a_failure_says_how_many_rows_where_and_what_to_do():
    out = copied.outcome(answer(whole=2, rearranged=48), RULES)
    assert out.message.startswith("50 row(s) copied from the project's granted data")
    assert "Release aggregates" in out.message
    rules = {f["rule"]: f for f in out.findings}
    assert rules["whole"]["rows"] == 2 and rules["rearranged"]["rows"] == 48
    assert rules["whole"]["location"] == "rows 4, 9…"
    assert "id→lot" in rules["whole"]["message"]
    assert out.metrics["copied_rows"] == 50


def test_without_thresholds_nothing_is_compared_and_nothing_passes(tmp_path):
    grants = [copied.GrantCopy("lots v1", ("lot",), tmp_path / "g.parquet")]
    out = copied.check_copied(tmp_path / "t.csv", "text/csv", grants, None)
    assert out.status == CheckStatus.ERROR and "could not be read" in out.message
    incomplete = {k: v for k, v in RULES.items() if k != "max_whole_rows"}
    out = copied.check_copied(tmp_path / "t.csv", "text/csv", grants, incomplete)
    assert out.status == CheckStatus.ERROR


def test_a_project_without_granted_data_has_nothing_to_compare(tmp_path):
    out = copied.check_copied(tmp_path / "t.csv", "text/csv", [], RULES)
    assert out.status == CheckStatus.PASS and "no granted data" in out.message


def test_a_sandbox_failure_is_an_error_never_a_pass(tmp_path, monkeypatch):
    from cleanroom import sandbox
    from cleanroom.sandbox.result import SandboxResult

    monkeypatch.setattr(sandbox, "run_warm", lambda *a, **k: SandboxResult.error("killed"))
    grant = copied.GrantCopy("lots v1", ("lot",), tmp_path / "g.parquet")
    out = copied.check_copied(tmp_path / "t.csv", "text/csv", [grant], RULES)
    assert out.status == CheckStatus.ERROR and "killed" in out.message
