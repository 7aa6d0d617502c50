"""The verified-table check's findings as the pages use them (cleanroom.airlock.web.findings):
the newest check of a file version, findings worst first with nothing dropped, the marks one
sandbox job gets (on the rows shown, within a byte budget), the specification summed up."""

from __future__ import annotations

import json
from types import SimpleNamespace

from cleanroom.airlock.web import findings as tf


def finding(row, status="fail", rule="threshold", column="n", **extra):
    return {
        "row": row,
        "column": column,
        "rule": rule,
        "status": status,
        "message": f"m{row}",
        "location": f"row {row}",
        **extra,
    }


def record(check="table", file_id=1, round_=1, id_=1, **kwargs):
    return SimpleNamespace(check=check, file_id=file_id, round=round_, id=id_, **kwargs)


def test_the_newest_table_check_of_the_file_version_is_read():
    checks = [
        record(id_=1, round_=1),
        record(id_=2, round_=2),
        record(check="integrity", id_=3, round_=3),
        record(file_id=2, id_=4, round_=3),
    ]
    assert tf.table_check(checks, 1).id == 2
    assert tf.table_check(checks, 3) is None


def test_findings_come_worst_first_then_by_place_and_none_is_dropped():
    raw = [
        finding(5, "warn"),
        finding(9),
        finding(2),
        finding(1, "warn", rule="nk-rule"),
        "a finding of another shape",
        finding(True, column=None),
    ]
    found = tf.findings_of(raw)
    assert [(f.status, f.row) for f in found] == [
        ("fail", 2),
        ("fail", 9),
        ("fail", None),
        ("fail", None),
        ("warn", 1),
        ("warn", 5),
    ]
    assert found[4].label == "(n, k) dominance" and found[4].full_row == 2
    odd = [f for f in found if f.message == "a finding of another shape"]
    assert odd and not odd[0].markable
    assert tf.findings_of(None) == [] and tf.findings_of({"row": 1}) == []


def test_marks_are_the_findings_on_the_rows_shown():
    found = tf.findings_of([finding(r) for r in (0, 49, 50, 300)] + [finding(3, "pass")])
    marks = tf.highlight(found, range(50))
    assert [m["row"] for m in marks] == [0, 49]
    assert marks[0] == {
        "row": 0,
        "column": "n",
        "status": "fail",
        "title": "minimum organisations: m0",
    }
    assert [m["row"] for m in tf.highlight(found, from_end=True)] == [300, 50, 49, 0]


def test_marks_fit_in_one_sandbox_jobs_parameters():
    long = "x" * 400
    found = tf.findings_of([finding(r, message=long) for r in range(2000)])
    marks = tf.highlight(found)
    assert 0 < len(marks) < 2000
    assert len(json.dumps(marks)) <= tf.HIGHLIGHT_BYTES


def test_the_specification_is_summed_up_by_the_spec_module():
    spec = {
        "format": "cleanroom-table/1",
        "dataset": "wafer_lots",
        "grant": "0" * 64,
        "rows": ["plant"],
        "columns": ["quarter"],
        "values": [{"aggregate": "mean", "measure": "die_yield_pct"}],
        "rounding": {"decimals": 1},
    }
    review = tf.table_review(
        record(status="fail", message="m", findings=[], metrics={"spec": spec})
    )
    assert review.described.startswith("mean of die_yield_pct of wafer_lots by plant")
    assert ("Columns by", "quarter") in review.spec
    unreadable = tf.table_review(record(status="error", message="", metrics={"spec": {"x": 1}}))
    assert unreadable.spec[0][0] == "Specification" and "not readable" in unreadable.spec[0][1]
    uploaded = tf.table_review(record(status="pass", message="", metrics={}), spec)
    assert uploaded.described == review.described and uploaded.findings == []
