"""File-checks benchmark (not a test): the copied-records scan of a 1-million-row export
against a 10-million-row grant, in the sandbox, as the airlock runs it.

The grant copy (ROWS rows: a unique ``batch`` id, the contributor ``plant``, ``line``,
``day``, three measures of 1 to 3 decimals, ``defects``) is written once; the export
(EXPORT_ROWS rows) holds COPIED rows of it with columns reordered and renamed, ``plant``
dropped, one measure rounded to fewer decimals, and made-up rows for the rest. The
``copied-records`` job runs in a cold sandbox (``sandbox.run``) with THREADS DuckDB threads,
RUNS times; ``scan_s`` is the job's own timing (reading the export, mapping its columns,
hashing and joining, counting verbatim values), median of RUNS.

Goal: at least 1 million export rows per second per core (rows / scan_s / threads).

Usage: .venv/bin/python bench/file_checks.py   (needs bubblewrap; a few minutes)
Last line: RESULT copied_scan_rows_per_s_per_core=<x> scan_s=<x>
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from cleanroom import sandbox
from cleanroom.tables.copied import COPIED_LIMITS

ROWS = 10_000_000
EXPORT_ROWS = 1_000_000
COPIED = 5_000
THREADS = 2
RUNS = 3
GRANTED = ["batch", "line", "day", "yield", "temp", "output", "defects"]


def make_grant(path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'B' || lpad(i::VARCHAR, 8, '0') AS batch, 'P' || (i % 60) AS plant,
                'L' || (i % 8) AS line, DATE '2020-01-01' + (i % 1800)::INTEGER AS day,
                round(80 + (hash(i) % 20000) / 1000.0, 3) AS yield,
                round(300 + (hash(i * 7) % 5000) / 100.0, 2) AS temp,
                round(1000 + (hash(i * 11) % 90000) / 10.0, 1) AS output,
                (hash(i * 3) % 50)::INTEGER AS defects
            FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    con.close()


def make_export(grant: Path, path: Path) -> None:
    """COPIED rows of the grant (renamed, reordered, plant dropped, yield at 2 decimals) among
    made-up rows, as a CSV."""
    con = duckdb.connect()
    step = ROWS // COPIED * 9 // 10  # a few more than COPIED match; LIMIT keeps COPIED
    con.execute(
        f"""COPY (SELECT * FROM ((
                SELECT temp AS t, batch AS lot, round("yield", 2) AS y, day AS d, line AS l,
                    defects AS n, output AS o
                FROM read_parquet('{grant}') WHERE hash(batch) % {step} = 0 LIMIT {COPIED})
                UNION ALL (
                SELECT round(250 + (hash(i) % 9000) / 100.0, 2), 'X' || lpad(i::VARCHAR, 8, '0'),
                    round(50 + (hash(i * 5) % 4000) / 100.0, 2),
                    DATE '2030-01-01' + (i % 900)::INTEGER, 'L' || (i % 8), i % 40,
                    round(500 + (hash(i * 13) % 90000) / 10.0, 1)
                FROM range({EXPORT_ROWS - COPIED}) t(i))) ORDER BY hash(lot))
            TO '{path}' (HEADER)"""
    )
    con.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-copied-") as tmp:
        grant, export = Path(tmp) / "grant.parquet", Path(tmp) / "export.csv"
        started = time.perf_counter()
        make_grant(grant)
        make_export(grant, export)
        print(
            f"data: {ROWS:,}-row grant, {EXPORT_ROWS:,}-row export "
            f"({time.perf_counter() - started:.1f} s to write)",
            flush=True,
        )
        params = {
            "media_type": "text/csv",
            "grants": [{"label": "lots", "columns": GRANTED}],
            "rare_at_most": 1,
            "min_evidence_bits": 8,
            "threads": THREADS,
        }
        scans = []
        for run in range(RUNS):
            started = time.perf_counter()
            result = sandbox.run("copied-records", [export, grant], params, COPIED_LIMITS)
            wall = time.perf_counter() - started
            if not result.ok:
                print(f"the job failed: {result.message}", file=sys.stderr)
                return 1
            answer = result.value
            scans.append(answer["scan_s"])
            print(
                f"run {run + 1}: scan {answer['scan_s']:.3f} s (job wall {wall:.3f} s), "
                f"{answer['threads']} threads; copied rows {answer['copied_rows']:,} "
                f"(whole {answer['whole_rows']:,}, rearranged {answer['rearranged_rows']:,}, "
                f"reformatted {answer['reformatted_rows']:,}), verbatim rare values "
                f"{answer['verbatim_rare_values']:,}; stages {answer['timings']} "
                f"{answer['grants'][0]['timings']}",
                flush=True,
            )
            if answer["copied_rows"] != COPIED:
                print(f"expected {COPIED:,} copied rows", file=sys.stderr)
                return 1
        scan_s = statistics.median(scans)
        rate = EXPORT_ROWS / scan_s / answer["threads"]
        print(f"RESULT copied_scan_rows_per_s_per_core={rate:.0f} scan_s={scan_s:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
