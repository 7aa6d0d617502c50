"""The disclosure rules of a verified table, on the recompute's cells (pure functions).

The rules count *organisations*, never rows or contributors (the recompute has already made
several plants of one organisation one). Their parameters are the release policy's data
document ``table_rules`` (``policies/release.rego``), never Python constants::

    {"min_organisations": 10, "dominance": {"n": 2, "k": 0.9}, "p_percent": 0.1,
     "dominance_aggregates": ["sum", "mean"],
     "single_value_aggregates": ["min", "max", "median"],
     "statuses": {"threshold": "fail", "nk-rule": "fail", "p-ratio": "fail",
                  "zeros": "warn", "single-value": "warn"}}

The rules and their names follow ACRO's (threshold, p-ratio, nk-rule):

- ``zeros``: the cell has no contributing organisation (a count of 0, or an empty cell); a
  zero can say that no organisation has rows there.
- ``threshold``: fewer than ``min_organisations`` organisations contribute to the cell.
- ``nk-rule``: the ``n`` largest organisations hold more than ``k`` of the cell's total
  (totals of absolute values), for the ``dominance_aggregates``.
- ``p-ratio``: what the other organisations contribute, beyond the two largest, is less than
  ``p_percent`` of the largest one: the second largest could estimate the largest one's figure
  to within p%.
- ``single-value``: a min, max or median shows one record's value, which belongs to one
  organisation, however many contribute to the cell.

A finding's message never gives an organisation's figures, only counts of organisations and
the rule's own parameters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .spec import AGGREGATES, TableSpec

RULES = ("threshold", "nk-rule", "p-ratio", "zeros", "single-value")
STATUSES = ("fail", "warn")
_FIELDS = {
    "min_organisations",
    "dominance",
    "p_percent",
    "dominance_aggregates",
    "single_value_aggregates",
    "statuses",
}


class RulesError(ValueError):
    """The release policy's ``table_rules`` document is not one these rules can apply."""


def check_rules(rules: Any) -> dict[str, Any]:
    """``rules`` checked strictly: every field present, nothing else, each in range."""

    def bad(what: str) -> RulesError:
        return RulesError(f"the release policy's table_rules: {what} (see policies/release.rego)")

    if not isinstance(rules, Mapping):
        raise bad("must be an object")
    if set(rules) != _FIELDS:
        missing, extra = _FIELDS - set(rules), set(rules) - _FIELDS
        raise bad(
            "fields missing: " + ", ".join(sorted(missing))
            if missing
            else "unknown fields: " + ", ".join(sorted(extra))
        )
    minimum = rules["min_organisations"]
    if not _whole(minimum) or minimum < 1:
        raise bad("min_organisations must be a whole number of at least 1")
    dominance = rules["dominance"]
    if not isinstance(dominance, Mapping) or set(dominance) != {"n", "k"}:
        raise bad('dominance must be {"n": 1 or 2, "k": a fraction}')
    if not _whole(dominance["n"]) or dominance["n"] not in (1, 2):
        raise bad("dominance n must be 1 or 2 (the recompute measures the two largest)")
    if not _fraction(dominance["k"]):
        raise bad("dominance k must be a number between 0 and 1")
    if not _fraction(rules["p_percent"]):
        raise bad("p_percent must be a number between 0 and 1 (0.1 for 10%)")
    for name in ("dominance_aggregates", "single_value_aggregates"):
        value = rules[name]
        if not isinstance(value, list) or not all(a in AGGREGATES for a in value):
            raise bad(f"{name} must list aggregates among {', '.join(AGGREGATES)}")
    statuses = rules["statuses"]
    if not isinstance(statuses, Mapping) or set(statuses) != set(RULES):
        raise bad(f"statuses must give a status to each rule: {', '.join(RULES)}")
    if not all(s in STATUSES for s in statuses.values()):
        raise bad(f"each status must be one of {', '.join(STATUSES)}")
    return dict(rules)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fraction(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1


def evaluate(
    spec: TableSpec, cells: Sequence[Mapping[str, Any]], rules: Any
) -> list[dict[str, Any]]:
    """The findings of the rules on the recompute's ``cells`` (see the module docstring), in
    the order of the cells. Raises :class:`RulesError` for a malformed ``rules`` document."""
    rules = check_rules(rules)
    minimum = rules["min_organisations"]
    n, k = rules["dominance"]["n"], rules["dominance"]["k"]
    p = rules["p_percent"]
    findings: list[dict[str, Any]] = []
    for cell in cells:
        aggregate = cell["aggregate"]
        organisations = int(cell["organisations"])
        largest = [float(x) for x in cell["largest"]][:2]
        total = float(cell["total"])

        def find(rule: str, message: str, cell: Mapping[str, Any] = cell) -> None:
            findings.append(
                {
                    "row": cell["row"],
                    "column": cell["column"],
                    "rule": rule,
                    "status": rules["statuses"][rule],
                    "message": message,
                    "location": location(spec, cell),
                }
            )

        if organisations == 0:
            find(
                "zeros",
                "zeros: no organisation contributes to this cell; a zero or empty "
                "cell can tell that no organisation has rows here",
            )
            continue
        if organisations < minimum:
            find(
                "threshold",
                f"threshold: {organisations} organisation(s) contribute to this cell; at least "
                f"{minimum} are needed (merge groups, or leave the cell out)",
            )
        if aggregate in rules["dominance_aggregates"] and total > 0:
            if sum(largest[:n]) > k * total:
                find(
                    "nk-rule",
                    f"nk-rule: the {n} largest organisation(s) account for more than "
                    f"{k:.0%} of this cell's total",
                )
            if total - largest[0] - largest[1] < p * largest[0]:
                find(
                    "p-ratio",
                    f"p-ratio: the organisations other than the two largest account for less "
                    f"than {p:.0%} of the largest one's contribution, so the second largest "
                    "could estimate it closely",
                )
        if aggregate in rules["single_value_aggregates"]:
            find(
                "single-value",
                f"single-value: a {aggregate} shows one record's value, which belongs to one "
                "organisation; check it does not identify it",
            )
    return findings


def location(spec: TableSpec, cell: Mapping[str, Any]) -> str:
    """Where a cell is, for a person: ``row 3 (plant=P7), column mean_die_yield_pct`` (rows
    counted from 1 below the header)."""
    keys = cell.get("keys") or {}
    where = f"row {int(cell['row']) + 1}"
    if keys:
        where += " (" + ", ".join(f"{k}={v}" for k, v in keys.items()) + ")"
    return f"{where}, column {cell['column']}"


def outcome(findings: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The check's status (``pass``, ``warn`` or ``fail``) and a one-line summary."""
    if not findings:
        return "pass", "every cell passes the disclosure rules"
    parts = []
    for status in STATUSES:
        chosen = [f for f in findings if f["status"] == status]
        if not chosen:
            continue
        cells = len({(f["row"], f["column"]) for f in chosen})
        by_rule = Counter(f["rule"] for f in chosen)
        rules = ", ".join(f"{rule}: {count}" for rule, count in sorted(by_rule.items()))
        verb = "fails" if status == "fail" else "needs a look"
        parts.append(f"{cells} cell(s) {verb} ({rules})")
    status = "fail" if any(f["status"] == "fail" for f in findings) else "warn"
    return status, "; ".join(parts)
