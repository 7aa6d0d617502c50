"""Fixtures of the verified-table tests: real DuckDB, the real sandbox, synthetic grants whose
truth is known.

- ``make_grant(rows)``: a grant copy (Parquet, with the contributor column ``plant``) from
  dicts with ``plant``, ``grp``, ``q``, ``y`` (a double) and ``n`` (an integer).
- ``make_table(grant, **spec)``: the table as the researcher's helper writes it
  (``spec.long_query`` + ``spec.shape`` + ``spec.cell_text`` into a CSV, or Parquet), and
  its specification document.
- ``recompute(table, grant, doc, organisations, ...)``: the ``table-recompute`` job run
  through ``cleanroom.sandbox.run`` with ``RECOMPUTE_LIMITS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from factories.tables import long_rows, spec_doc, write_csv

from cleanroom import sandbox
from cleanroom.tables import spec as tspec
from cleanroom.tables.recompute import RECOMPUTE_LIMITS


@pytest.fixture
def make_grant(tmp_path):
    counter = iter(range(1000))

    def make(rows: list[dict[str, Any]]) -> Path:
        path = tmp_path / f"grant{next(counter)}.parquet"
        con = duckdb.connect()
        con.execute("CREATE TABLE g (plant VARCHAR, grp VARCHAR, q VARCHAR, y DOUBLE, n BIGINT)")
        con.executemany(
            "INSERT INTO g VALUES (?, ?, ?, ?, ?)",
            [[r["plant"], r["grp"], r.get("q", "Q1"), r.get("y"), r.get("n", 1)] for r in rows],
        )
        con.execute(f"COPY g TO '{path}' (FORMAT parquet)")
        con.close()
        return path

    return make


@pytest.fixture
def make_table(tmp_path):
    counter = iter(range(1000))

    def make(grant: Path, where: str | None = None, **fields: Any) -> tuple[Path, dict[str, Any]]:
        doc = spec_doc(**fields)
        parsed = tspec.parse_spec(doc)
        header, rows = tspec.shape(parsed, long_rows(grant, doc, where))
        path = tmp_path / f"table{next(counter)}.csv"
        write_csv(path, header, [[tspec.cell_text(v) for v in row] for row in rows])
        if parsed.file_format == "parquet":
            parquet = path.with_suffix(".parquet")
            con = duckdb.connect()
            con.execute(
                f"COPY (SELECT * FROM read_csv('{path}', all_varchar = false)) "
                f"TO '{parquet}' (FORMAT parquet)"
            )
            con.close()
            path = parquet
        return path, doc

    return make


@pytest.fixture
def recompute():
    def run(
        table: Path,
        grant: Path,
        doc: dict[str, Any],
        organisations: dict[str, str],
        where: str | None = None,
        limits: sandbox.Limits = RECOMPUTE_LIMITS,
    ) -> sandbox.SandboxResult:
        params = {
            "spec": doc,
            "where": where,
            "contributor_column": "plant",
            "organisations": organisations,
            "threads": 2,
        }
        return sandbox.run("table-recompute", [table, grant], params, limits)

    return run
