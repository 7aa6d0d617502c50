"""The verified-table check's findings as the pages show them: which file version's ``table``
check to read, its findings in the order a reviewer reads them, the specification's summary,
and the cells a preview or a full-view page marks (``highlight``, see
:mod:`cleanroom.airlock.inspect.previews.marks`). Pure functions over check records.

A finding (``cleanroom.tables.rules``) is ``{"row", "column", "rule", "status", "message",
"location"}``; its message names counts of organisations, never another organisation's
figures, so the requester sees findings as reviewers do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cleanroom.airlock.inspect.sandboxed import MARK_STATUSES
from cleanroom.tables import spec as table_spec

TABLE_CHECK = "table"
"""The name of the verified-table check (its findings are per cell)."""

# Statuses a finding may have, worst first; cells are marked for those the previews mark
# (fail, warn); and what a reader calls each rule.
STATUSES = ("error", "fail", "warn", "pass")
MARKED = MARK_STATUSES
RULES: dict[str, str] = {
    "threshold": "minimum organisations",
    "nk-rule": "(n, k) dominance",
    "p-ratio": "p% rule",
    "zeros": "zeros",
    "single-value": "single value",
    "recompute": "recomputed from the specification",
}
# The marks one sandbox job is given, as JSON (its parameters are capped at 64 KiB); past
# this, the findings list still names every cell.
HIGHLIGHT_BYTES = 32 * 1024
MAX_TEXT = 500  # characters of a finding's message or location shown


@dataclass(frozen=True)
class Finding:
    row: int | None
    column: str | None
    rule: str
    status: str
    message: str
    location: str

    @property
    def label(self) -> str:
        return RULES.get(self.rule, self.rule)

    @property
    def title(self) -> str:
        """The cell's tooltip: the rule and why."""
        return f"{self.label}: {self.message}"

    @property
    def full_row(self) -> int | None:
        """The row's number in the full view (its data rows count from 1)."""
        return None if self.row is None else self.row + 1

    def highlight(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "status": self.status, "title": self.title}

    @property
    def markable(self) -> bool:
        return self.row is not None and self.column is not None and self.status in MARKED


@dataclass(frozen=True)
class TableReview:
    """What the request page shows beside a verified table's preview."""

    status: str
    message: str
    findings: list[Finding]
    described: str
    spec: list[tuple[str, str]] = field(default_factory=list)

    def beyond(self, rows: int) -> int:
        """How many findings are on data rows past the first ``rows`` (a preview's)."""
        return sum(f.row is not None and f.row >= rows for f in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        return {s: n for s in STATUSES if (n := sum(f.status == s for f in self.findings))}


def table_check(checks: Iterable[Any], file_id: int) -> Any | None:
    """The newest ``table`` check record of a file version, or None."""
    mine = [c for c in checks if c.check == TABLE_CHECK and c.file_id == file_id]
    return max(mine, key=lambda c: (c.round, c.id or 0)) if mine else None


def findings_of(raw: Any) -> list[Finding]:
    """The findings of a check (its ``findings`` column), fails first, then by row and column.
    An item of another shape is kept as a finding without a cell, never dropped."""
    found = []
    for item in raw if isinstance(raw, list) else []:
        item = item if isinstance(item, Mapping) else {"message": str(item)}
        row = item.get("row")
        row = row if isinstance(row, int) and not isinstance(row, bool) and row >= 0 else None
        column = item.get("column")
        status = str(item.get("status") or "fail")
        found.append(
            Finding(
                row=row,
                column=column if isinstance(column, str) else None,
                rule=str(item.get("rule") or "?"),
                status=status if status in STATUSES else "fail",
                message=str(item.get("message") or "")[:MAX_TEXT],
                location=str(item.get("location") or "")[:MAX_TEXT]
                or (f"row {row + 1}, column {column}" if row is not None else "the table"),
            )
        )
    return sorted(
        found, key=lambda f: (STATUSES.index(f.status), f.row is None, f.row or 0, f.column or "")
    )


def table_review(check: Any, uploaded_spec: Any = None) -> TableReview:
    """A ``table`` check record as the request page shows it; the specification is the one
    the check recomputed (its metrics' ``spec``), else the one uploaded with the file."""
    metrics = getattr(check, "metrics", None) or {}
    metrics = metrics if isinstance(metrics, Mapping) else {}
    summary, described = spec_summary(metrics.get("spec") or uploaded_spec)
    return TableReview(
        status=check.status,
        message=check.message or "",
        findings=findings_of(getattr(check, "findings", None)),
        described=str(metrics.get("described") or described),
        spec=summary,
    )


def spec_summary(doc: Any) -> tuple[list[tuple[str, str]], str]:
    """The specification as (label, value) lines and a sentence (``describe``), read by the
    one specification module; one that does not read says so."""
    if doc is None:
        return [], ""
    try:
        spec = table_spec.parse_spec(doc)
    except table_spec.SpecError as error:
        return [("Specification", f"not readable: {error}")], ""
    values = ", ".join(
        v.aggregate if v.measure is None else f"{v.aggregate} of {v.measure}" for v in spec.values
    )
    lines = [
        ("Dataset", spec.dataset),
        ("Grant", spec.grant[:12] + "…"),
        ("Rows by", ", ".join(spec.rows)),
        ("Columns by", ", ".join(spec.columns) or "none (no pivot)"),
        ("Values", values),
        ("Filter", spec.filter or "none"),
        ("Rounding", spec.rounding.describe()),
        ("File format", spec.file_format),
    ]
    return lines, spec.describe()


def highlight(
    findings: Iterable[Finding], rows: range | None = None, *, from_end: bool = False
) -> list[dict[str, Any]]:
    """The marks for one sandbox job: the findings on data rows ``rows`` (0-based; None: any),
    fails first (or, ``from_end``, the last rows first: the full view's last page), as many
    as fit in :data:`HIGHLIGHT_BYTES`."""
    chosen = [f for f in findings if f.markable and (rows is None or f.row in rows)]
    if from_end:
        chosen.sort(key=lambda f: -(f.row or 0))
    marks, size = [], 2
    for f in chosen:
        mark = f.highlight()
        size += len(json.dumps(mark)) + 2
        if size > HIGHLIGHT_BYTES:
            break
        marks.append(mark)
    return marks
