"""Verified tables: the release policy's default rules, a specification document, and a
table's CSV written and read as the researcher's helper does (``tests/unit/tables``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb

from cleanroom.tables import spec as tspec

GRANT_KEY = "ab" * 32
TABLE_RULES = {
    "min_organisations": 10,
    "dominance": {"n": 2, "k": 0.9},
    "p_percent": 0.1,
    "dominance_aggregates": ["sum", "mean"],
    "single_value_aggregates": ["min", "max", "median"],
    "statuses": {
        "threshold": "fail",
        "nk-rule": "fail",
        "p-ratio": "fail",
        "zeros": "warn",
        "single-value": "warn",
    },
}


def spec_doc(**fields: Any) -> dict[str, Any]:
    return {"format": tspec.FORMAT, "dataset": "wafers", "grant": GRANT_KEY, **fields}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def long_rows(grant: Path, doc: dict[str, Any], where: str | None = None) -> list[tuple]:
    con = duckdb.connect()
    try:
        parsed = tspec.parse_spec(doc)
        return con.execute(
            tspec.long_query(parsed, "read_parquet(?)", where), [str(grant)]
        ).fetchall()
    finally:
        con.close()
