"""The ``table-recompute`` job, run in the real sandbox on synthetic grants whose truth is
known, and the disclosure rules on what it measures: organisations are counted, never rows or
plants; a forged table never passes; an error is never a pass."""

from __future__ import annotations

import pytest
from factories.tables import TABLE_RULES, long_rows, read_csv, spec_doc, write_csv

from cleanroom.sandbox import Limits
from cleanroom.tables import rules

COUNT = [{"aggregate": "count"}]
MEAN_Y = [{"aggregate": "mean", "measure": "y"}]
SUM_Y = [{"aggregate": "sum", "measure": "y"}]


def plants(grp: str, n_plants: int, rows_each: int = 3, y: float = 10.0, start: int = 0):
    """``rows_each`` rows for each of ``n_plants`` plants P<start>..., all in group ``grp``."""
    return [
        {"plant": f"P{start + i:02d}", "grp": grp, "y": y + i, "n": i}
        for i in range(n_plants)
        for _ in range(rows_each)
    ]


def one_org_per_plant(n: int = 40) -> dict[str, str]:
    return {f"P{i:02d}": f"org-{i}" for i in range(n)}


def ok(result):
    assert result.ok, result.message
    return result.value


def cell(answer, row: int, column: str) -> dict:
    (found,) = [c for c in answer["cells"] if c["row"] == row and c["column"] == column]
    return found


def findings_at(findings, row: int, column: str) -> set[str]:
    return {f["rule"] for f in findings if f["row"] == row and f["column"] == column}


def test_a_cell_of_3_organisations_fails_and_one_of_12_passes(make_grant, make_table, recompute):
    # Group A: 3 plants (3 organisations) but many rows; group B: 12 organisations.
    grant = make_grant(plants("A", 3, rows_each=20) + plants("B", 12, start=10))
    table, doc = make_table(grant, rows=["grp"], values=COUNT)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert cell(answer, 0, "count")["organisations"] == 3
    assert cell(answer, 1, "count")["organisations"] == 12
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert findings_at(findings, 0, "count") == {"threshold"}
    assert findings_at(findings, 1, "count") == set()
    (threshold,) = findings
    assert threshold["location"] == "row 1 (grp=A), column count"
    assert threshold["status"] == "fail" and "3 organisation(s)" in threshold["message"]
    assert rules.outcome(findings)[0] == "fail"


def test_12_plants_of_2_organisations_are_2_organisations(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12) + plants("B", 12, start=20))
    organisations = {f"P{i:02d}": "acme" if i < 6 else "globex" for i in range(12)}
    organisations |= {f"P{i:02d}": f"org-{i}" for i in range(20, 32)}  # B: 12 organisations
    table, doc = make_table(grant, rows=["grp"], values=COUNT + SUM_Y)
    answer = ok(recompute(table, grant, doc, organisations))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert cell(answer, 0, "count")["organisations"] == 2
    assert cell(answer, 0, "sum_y")["organisations"] == 2
    # Organisation totals add up their plants: acme's 6 plants, then globex's.
    acme = 3 * sum(10.0 + i for i in range(6))
    globex = 3 * sum(10.0 + i for i in range(6, 12))
    assert cell(answer, 0, "sum_y")["largest"] == pytest.approx([globex, acme])
    assert cell(answer, 0, "count")["largest"] == [18, 18]
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert findings_at(findings, 0, "count") == {"threshold"}
    assert {"threshold", "nk-rule", "p-ratio"} <= findings_at(findings, 0, "sum_y")
    assert findings_at(findings, 1, "count") == findings_at(findings, 1, "sum_y") == set()


def test_one_organisation_holding_95_percent_fails_the_nk_rule(make_grant, make_table, recompute):
    # 12 organisations; in group A one of them holds 95% of the total, in B none dominates.
    rows = [{"plant": "P00", "grp": "A", "y": 950.0}]
    rows += [{"plant": f"P{i:02d}", "grp": "A", "y": 50.0 / 11} for i in range(1, 12)]
    rows += [{"plant": f"P{i:02d}", "grp": "B", "y": 100.0 + i} for i in range(12)]
    grant = make_grant(rows)
    table, doc = make_table(grant, rows=["grp"], values=SUM_Y + MEAN_Y)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert "nk-rule" in findings_at(findings, 0, "sum_y")
    assert "nk-rule" in findings_at(findings, 0, "mean_y")
    assert findings_at(findings, 1, "sum_y") == findings_at(findings, 1, "mean_y") == set()
    for finding in findings:  # never another organisation's figure
        assert "950" not in finding["message"] and "4.54" not in finding["message"]


def test_the_p_ratio_on_organisation_totals(make_grant, make_table, recompute):
    # Two large organisations and ten small ones. A: the small ones add up to 5 (< 10% of the
    # largest, 100); B: to 15. With k = 0.99 the nk-rule holds in both: only p-ratio differs.
    rows = []
    for grp, small_total in (("A", 5.0), ("B", 15.0)):
        rows += [{"plant": "P00", "grp": grp, "y": 100.0}, {"plant": "P01", "grp": grp, "y": 100.0}]
        rows += [{"plant": f"P{i:02d}", "grp": grp, "y": small_total / 10} for i in range(2, 12)]
    grant = make_grant(rows)
    table, doc = make_table(grant, rows=["grp"], values=SUM_Y)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    lenient = TABLE_RULES | {"dominance": {"n": 2, "k": 0.99}}
    findings = rules.evaluate(rules_spec(doc), answer["cells"], lenient)
    assert findings_at(findings, 0, "sum_y") == {"p-ratio"}
    assert findings_at(findings, 1, "sum_y") == set()
    assert "10%" in findings[0]["message"]


def test_a_table_made_by_the_helper_passes_with_a_pivot_of_zeros(make_grant, make_table, recompute):
    # Group B has no rows in quarter Q2: the pivot's cell is 0, a "zeros" finding.
    rows = [dict(r, q="Q1") for r in plants("A", 12)] + [dict(r, q="Q2") for r in plants("A", 12)]
    rows += [dict(r, q="Q1") for r in plants("B", 12)]
    grant = make_grant(rows)
    table, doc = make_table(grant, rows=["grp"], columns=["q"], values=COUNT)
    header, written = read_csv(table)
    assert header == ["grp", "Q1", "Q2"] and written[1] == ["B", "36", "0"]
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert answer["rows"] == 2 and answer["header"] == header
    assert len(answer["cells"]) == 4
    assert cell(answer, 1, "Q2") | {"keys": None} == {
        "row": 1,
        "column": "Q2",
        "aggregate": "count",
        "organisations": 0,
        "largest": [0.0, 0.0],
        "total": 0.0,
        "keys": None,
    }
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert [(f["row"], f["column"], f["rule"], f["status"]) for f in findings] == [
        (1, "Q2", "zeros", "warn")
    ]
    assert rules.outcome(findings)[0] == "warn"


def test_a_pivot_of_means_with_medians_and_extremes_passes(make_grant, make_table, recompute):
    rows = [dict(r, q=f"Q{r['n'] % 3}") for r in plants("A", 12, y=0.1)]
    rows += [dict(r, q="Q1") for r in plants("B", 12, rows_each=2, y=1 / 3)]
    grant = make_grant(rows)
    for values in (MEAN_Y, [{"aggregate": "median", "measure": "y"}]):
        table, doc = make_table(grant, rows=["grp"], columns=["q"], values=values)
        answer = ok(recompute(table, grant, doc, one_org_per_plant()))
        assert answer["mismatch_count"] == 0, answer["mismatches"]
    values = [{"aggregate": a, "measure": "y"} for a in ("median", "min", "max", "mean")]
    table, doc = make_table(grant, rows=["grp"], values=values, rounding={"decimals": 3})
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert findings_at(findings, 0, "min_y") == {"single-value"}
    assert findings_at(findings, 0, "mean_y") == set()


def test_a_parquet_table_is_read_and_compared(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12, y=0.7) + plants("B", 12, y=1 / 7, start=12))
    values = COUNT + MEAN_Y + [{"aggregate": "sum", "measure": "n"}]
    table, doc = make_table(grant, rows=["grp"], values=values, file_format="parquet")
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert answer["header"] == ["grp", "count", "mean_y", "sum_n"] and answer["rows"] == 2
    # Control: the same Parquet file against a specification that says CSV is not read as one.
    as_csv = dict(doc, file_format="csv")
    assert not recompute(table, grant, as_csv, one_org_per_plant()).ok


@pytest.mark.parametrize(
    ("forge", "row", "column", "says"),
    [
        ("number", 1, "mean_y", "the table says 999"),
        ("row", 2, None, "is not in the recomputed table"),
        ("header", None, "mean_of_y", "the specification makes 'mean_y'"),
        ("drop", None, None, "(grp=B) is missing from the table"),
    ],
)
def test_a_forged_table_fails_with_the_cell_named(
    make_grant, make_table, recompute, forge, row, column, says
):
    grant = make_grant(plants("A", 12) + plants("B", 12, start=12))
    table, doc = make_table(grant, rows=["grp"], values=COUNT + MEAN_Y)
    header, rows = read_csv(table)
    honest = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert honest["mismatch_count"] == 0  # control: the table as written passes
    if forge == "number":
        rows[1][2] = "999"
    elif forge == "row":
        rows.append(["C", "36", "11"])
    elif forge == "header":
        header[2] = "mean_of_y"
    else:
        rows.pop()
    write_csv(table, header, rows)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] >= 1
    assert any(
        m["row"] == row and m["column"] == column and says in m["message"]
        for m in answer["mismatches"]
    ), answer["mismatches"]


def test_a_table_rounded_as_declared_passes_and_otherwise_fails(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12, y=1 / 3) + plants("B", 12, y=2 / 3, start=12))
    values = COUNT + MEAN_Y + SUM_Y
    table, doc = make_table(grant, rows=["grp"], values=values, rounding={"decimals": 1})
    header, rows = read_csv(table)
    assert all(len(v.partition(".")[2]) <= 1 for v in rows[0][2:])  # really rounded
    assert ok(recompute(table, grant, doc, one_org_per_plant()))["mismatch_count"] == 0
    # The same table rounded to 2 places, and not rounded at all, under the declared 1 place.
    for other in ({"decimals": 2}, None):
        forged, _ = make_table(grant, rows=["grp"], values=values, rounding=other)
        answer = ok(recompute(forged, grant, doc, one_org_per_plant()))
        assert answer["mismatch_count"] >= 1 and answer["mismatches"][0]["column"] == "mean_y"
    based, based_doc = make_table(grant, rows=["grp"], values=COUNT, rounding={"base": 5})
    assert read_csv(based)[1][0][1] == "35"  # 36 rows, to a multiple of 5
    assert ok(recompute(based, grant, based_doc, one_org_per_plant()))["mismatch_count"] == 0


def test_the_airlocks_filter_is_applied(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12) + plants("B", 12, start=12))
    where = "n >= 3"
    table, doc = make_table(grant, where=where, rows=["grp"], values=COUNT + MEAN_Y)
    answer = ok(recompute(table, grant, doc, one_org_per_plant(), where=where))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert cell(answer, 0, "count")["organisations"] == 9  # plants with n >= 3
    unfiltered = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert unfiltered["mismatch_count"] >= 1


def test_an_unmapped_contributor_fails_closed(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12) + [{"plant": None, "grp": "A", "y": 1.0}])
    table, doc = make_table(grant, rows=["grp"], values=COUNT)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 1 and answer["cells"] == []
    assert "does not map" in answer["mismatches"][0]["message"]
    # Control: the same table with every contributor mapped (the null one removed) passes.
    mapped = make_grant(plants("A", 12))
    table, doc = make_table(mapped, rows=["grp"], values=COUNT)
    assert ok(recompute(table, mapped, doc, one_org_per_plant()))["mismatch_count"] == 0


def test_an_unknown_aggregate_is_never_computed(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12))
    table, _ = make_table(grant, rows=["grp"], values=COUNT)
    for aggregate in ("variance", "lambda x: x.sum()", "sum(y) + 0"):
        doc = spec_doc(rows=["grp"], values=[{"aggregate": aggregate, "measure": "y"}])
        result = recompute(table, grant, doc, one_org_per_plant())
        assert not result.ok
        assert "is not an aggregate the airlock can recompute" in result.message


def test_a_spec_naming_a_column_the_grant_lacks_is_an_error(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12))
    table, _ = make_table(grant, rows=["grp"], values=COUNT)
    doc = spec_doc(rows=["site"], values=COUNT)
    result = recompute(table, grant, doc, one_org_per_plant())
    assert not result.ok and "the grant has no column(s) site" in result.message


def test_a_timeout_is_an_error(make_grant, make_table, recompute):
    grant = make_grant(plants("A", 12))
    table, doc = make_table(grant, rows=["grp"], values=COUNT)
    result = recompute(table, grant, doc, one_org_per_plant(), limits=Limits(wall_seconds=0.2))
    assert not result.ok and "took longer than 0.2 s" in result.message


def test_a_too_large_table_is_an_error(make_grant, make_table, recompute, tmp_path):
    grant = make_grant(plants("A", 12))
    _, doc = make_table(grant, rows=["grp"], values=COUNT)
    big = tmp_path / "big.csv"
    write_csv(big, ["grp", "count"], [[f"G{i}", "1"] for i in range(10_001)])
    result = recompute(big, grant, doc, one_org_per_plant())
    assert not result.ok and "a verified table has at most 10,000" in result.message


def rules_spec(doc):
    from cleanroom.tables.spec import parse_spec

    return parse_spec(doc)


def test_nulls_and_negative_values_are_measured_per_organisation(make_grant, make_table, recompute):
    # Group A: 12 organisations with rows, 4 of them with no value of y: the mean is fed by 8.
    # Group B: one organisation's -1000 against eleven +10s: dominant by absolute value.
    rows = [{"plant": f"P{i:02d}", "grp": "A", "y": None if i < 4 else 5.0} for i in range(12)]
    rows += [{"plant": "P00", "grp": "B", "y": -1000.0}]
    rows += [{"plant": f"P{i:02d}", "grp": "B", "y": 10.0} for i in range(1, 12)]
    grant = make_grant(rows)
    table, doc = make_table(grant, rows=["grp"], values=COUNT + MEAN_Y + SUM_Y)
    answer = ok(recompute(table, grant, doc, one_org_per_plant()))
    assert answer["mismatch_count"] == 0, answer["mismatches"]
    assert cell(answer, 0, "count")["organisations"] == 12
    assert cell(answer, 0, "mean_y")["organisations"] == 8
    assert cell(answer, 1, "sum_y")["largest"] == [1000.0, 10.0]
    assert cell(answer, 1, "sum_y")["total"] == 1110.0
    findings = rules.evaluate(rules_spec(doc), answer["cells"], TABLE_RULES)
    assert findings_at(findings, 0, "count") == set()
    assert findings_at(findings, 0, "mean_y") == {"threshold"}
    assert "nk-rule" in findings_at(findings, 1, "sum_y")  # 1010 of 1110: over 90%


def test_the_job_reads_no_file_but_its_inputs(make_grant, make_table, recompute, tmp_path):
    """Defence in depth behind the filter checker: even a filter with a file reader reaches
    nothing, as DuckDB's external access is off and the sandbox has no other file."""
    secret = tmp_path / "secret.csv"
    secret.write_text("grp\nA\n")
    grant = make_grant(plants("A", 12))
    table, doc = make_table(grant, rows=["grp"], values=COUNT)
    reader = f"grp IN (SELECT grp FROM read_csv('{secret}'))"
    # Control: the same filter, run by the test's own DuckDB, reads the file.
    assert long_rows(grant, doc, where=reader) == [("A", 36)]
    result = recompute(table, grant, doc, one_org_per_plant(), where=reader)
    assert not result.ok
    assert "file system operations are disabled" in result.message
    assert "\n" not in result.message  # one line, not DuckDB's page of SQL
