"""The disclosure rules as a truth table on cells (pure: no sandbox, no DuckDB)."""

from __future__ import annotations

import pytest
from factories.tables import TABLE_RULES, spec_doc

from cleanroom.tables import rules
from cleanroom.tables.spec import parse_spec

SPEC = parse_spec(spec_doc(rows=["plant"], values=[{"aggregate": "sum", "measure": "y"}]))


def a_cell(aggregate="sum", organisations=12, largest=(10.0, 10.0), total=120.0, row=2):
    return {
        "row": row,
        "column": "sum_y",
        "aggregate": aggregate,
        "organisations": organisations,
        "largest": list(largest),
        "total": total,
        "keys": {"plant": "P7"},
    }


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (a_cell(), set()),
        (a_cell(organisations=9), {"threshold"}),
        (a_cell(organisations=10), set()),
        (a_cell(organisations=0, largest=(0, 0), total=0), {"zeros"}),
        (a_cell("count", organisations=0, largest=(0, 0), total=0), {"zeros"}),
        # nk (2, 0.9): the two largest hold 91% (fails) / 89% (passes); p-ratio fails with it.
        (a_cell(largest=(81.0, 10.0), total=100.0), {"nk-rule"}),
        (a_cell(largest=(79.0, 10.0), total=100.0), set()),
        (a_cell(largest=(60.0, 35.0), total=100.0), {"nk-rule", "p-ratio"}),
        # Dominance applies to the policy's dominance aggregates only (not to a count).
        (a_cell("count", largest=(95.0, 1.0), total=100.0), set()),
        (a_cell("mean", largest=(95.0, 1.0), total=100.0), {"nk-rule", "p-ratio"}),
        (a_cell("max"), {"single-value"}),
        (a_cell("median", organisations=3), {"threshold", "single-value"}),
        # All values zero: nothing dominates.
        (a_cell(largest=(0, 0), total=0.0), set()),
    ],
)
def test_each_rule_on_one_cell(cell, expected):
    findings = rules.evaluate(SPEC, [cell], TABLE_RULES)
    assert {f["rule"] for f in findings} == expected
    for f in findings:
        assert f["status"] == TABLE_RULES["statuses"][f["rule"]]
        assert f["location"] == "row 3 (plant=P7), column sum_y"
        assert (f["row"], f["column"]) == (2, "sum_y")


def test_the_p_ratio_alone_under_a_lenient_k():
    lenient = TABLE_RULES | {"dominance": {"n": 2, "k": 0.99}}
    fails = a_cell(largest=(100.0, 100.0), total=205.0)  # the others: 5 < 10% of 100
    passes = a_cell(largest=(100.0, 100.0), total=215.0)  # the others: 15
    assert {f["rule"] for f in rules.evaluate(SPEC, [fails], lenient)} == {"p-ratio"}
    assert rules.evaluate(SPEC, [passes], lenient) == []


def test_messages_never_carry_an_organisations_figure():
    cell = a_cell(organisations=3, largest=(1234.5, 678.25), total=1999.75)
    findings = rules.evaluate(SPEC, [cell], TABLE_RULES)
    assert {f["rule"] for f in findings} == {"threshold", "nk-rule", "p-ratio"}
    for f in findings:
        for figure in ("1234", "678", "1999", "1,234"):
            assert figure not in f["message"], f["message"]
        assert f["message"].startswith(f["rule"] + ": ")


def test_statuses_come_from_the_policy_data():
    relaxed = TABLE_RULES | {"statuses": TABLE_RULES["statuses"] | {"threshold": "warn"}}
    (finding,) = rules.evaluate(SPEC, [a_cell(organisations=2)], relaxed)
    assert finding["status"] == "warn"
    assert rules.outcome([finding])[0] == "warn"


def test_outcome():
    assert rules.outcome([]) == ("pass", "every cell passes the disclosure rules")
    findings = rules.evaluate(
        SPEC,
        [a_cell(organisations=2, row=0), a_cell(organisations=0, largest=(0, 0), total=0, row=1)],
        TABLE_RULES,
    )
    status, message = rules.outcome(findings)
    assert status == "fail"
    assert message.startswith("1 cell(s) fails (")
    assert "threshold: 1" in message and "1 cell(s) needs a look (zeros: 1)" in message


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"min_organisations": None}, "fields missing: min_organisations"),
        ({"extra": 1}, "unknown fields: extra"),
        ({"min_organisations": 0}, "min_organisations must be"),
        ({"min_organisations": True}, "min_organisations must be"),
        ({"dominance": {"n": 3, "k": 0.9}}, "dominance n must be 1 or 2"),
        ({"dominance": {"n": 2}}, "dominance must be"),
        ({"dominance": {"n": 2, "k": 1.5}}, "dominance k must be"),
        ({"p_percent": 10}, "p_percent must be"),
        ({"dominance_aggregates": ["sum", "variance"]}, "dominance_aggregates must list"),
        ({"statuses": {"threshold": "fail"}}, "statuses must give a status to each rule"),
        ({"statuses": TABLE_RULES["statuses"] | {"zeros": "ignore"}}, "each status must be"),
    ],
)
def test_a_malformed_rules_document_is_refused(change, says):
    document = {k: v for k, v in (TABLE_RULES | change).items() if v is not None}
    with pytest.raises(rules.RulesError, match=says):
        rules.evaluate(SPEC, [a_cell()], document)
    assert rules.check_rules(TABLE_RULES) == TABLE_RULES  # control: the default is accepted
