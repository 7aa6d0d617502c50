"""Verified tables for tests: the release policy's default rules, a specification document,
a table's CSV written and read as the researcher's helper does, and a whole table as
``cleanroom.sdc`` makes it in a researcher's container (``spec.long_query`` over the grant,
``spec.shape``, cells written with ``spec.cell_text``) with its specification as the lab server
sends it."""

from __future__ import annotations

import base64
import csv
import io
import json
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


def make_table(data: Path, doc: dict) -> bytes:
    """The CSV bytes of the table ``doc`` specifies, over the Parquet file ``data`` (the view
    the researcher queried is named as the specification's dataset)."""
    spec = tspec.parse_spec(doc)
    con = duckdb.connect()
    try:
        con.read_parquet(str(data)).create_view(spec.dataset)
        long_rows = con.execute(
            tspec.long_query(spec, tspec.quote_identifier(spec.dataset), spec.filter)
        ).fetchall()
    finally:
        con.close()
    header, rows = tspec.shape(spec, long_rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([tspec.cell_text(v) for v in row] for row in rows)
    return out.getvalue().encode()


def spec_header(doc: dict) -> str:
    """The ``X-Cleanroom-Table-Spec`` header's value for ``doc``."""
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
