"""Verified-tables benchmark (not a test): the airlock's recompute of a table in the sandbox,
against the same query run directly in DuckDB on the same Parquet, side by side.

A grant copy of ROWS rows (a contributor column ``plant`` of PLANTS plants of ORGANISATIONS
organisations, a column ``grp`` of GROUPS values, MEASURES double measures) is written once.
The table is the mean of each measure by ``grp`` (GROUPS rows x MEASURES values), made as the
researcher's helper makes it (``spec.long_query`` + ``spec.shape`` + ``spec.cell_text`` into a
CSV). Then, RUNS times each, interleaved:

- ``recompute_s``: the ``table-recompute`` job in a cold sandbox (``sandbox.run``), its own
  timing of the recompute (one scan of the grant per group and contributor, rolled up to the
  values and the per-organisation statistics of each cell);
- ``direct_s``: ``spec.long_query`` on a fresh DuckDB connection with the same threads;
- ``sandbox_start_s``: the cold ``probe`` job's wall time (a sandbox started, Python and the
  job's registry imported, one answer), and the recompute job's wall time minus its own timings
  (which also holds importing DuckDB and, as root, copying the grant into the sandbox).

Medians of RUNS. Goals: recompute_s / direct_s <= 1.2; a sandbox ready in under 1 s.

Usage: .venv/bin/python bench/tables.py   (needs bubblewrap; about a minute)
Last line: RESULT recompute_ratio=<x> sandbox_start_s=<x> recompute_s=<x> direct_s=<x>
"""

from __future__ import annotations

import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from cleanroom import sandbox
from cleanroom.tables import spec as tspec
from cleanroom.tables.recompute import RECOMPUTE_LIMITS

ROWS = 10_000_000
GROUPS = 20
MEASURES = 5
PLANTS = 60
ORGANISATIONS = 20
THREADS = 2
RUNS = 5


def make_grant(path: Path) -> None:
    measures = ", ".join(f"round(random() * {10 * (j + 1)}, 2) AS m{j}" for j in range(MEASURES))
    con = duckdb.connect()
    con.execute("SELECT setseed(0.14)")
    con.execute(
        f"COPY (SELECT 'P' || (i % {PLANTS}) AS plant, 'G' || (i // {PLANTS} % {GROUPS}) AS grp, "
        f"{measures} FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet)"
    )
    con.close()


def make_table(grant: Path, path: Path) -> dict:
    doc = {
        "format": tspec.FORMAT,
        "dataset": "bench",
        "grant": "0" * 64,
        "rows": ["grp"],
        "values": [{"aggregate": "mean", "measure": f"m{j}"} for j in range(MEASURES)],
    }
    spec = tspec.parse_spec(doc)
    con = duckdb.connect()
    long_rows = con.execute(tspec.long_query(spec, "read_parquet(?)"), [str(grant)]).fetchall()
    con.close()
    header, rows = tspec.shape(spec, long_rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([tspec.cell_text(v) for v in row] for row in rows)
    return doc


def direct(grant: Path, doc: dict) -> float:
    """The same table's query directly in DuckDB (a fresh connection, the same threads)."""
    spec = tspec.parse_spec(doc)
    con = duckdb.connect(config={"threads": THREADS})
    start = time.perf_counter()
    con.execute(tspec.long_query(spec, "read_parquet(?)"), [str(grant)]).fetchall()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        grant, table = work / "grant.parquet", work / "table.csv"
        start = time.perf_counter()
        make_grant(grant)
        doc = make_table(grant, table)
        print(
            f"grant: {ROWS:,} rows, {grant.stat().st_size / 1e6:.0f} MB, {PLANTS} plants of "
            f"{ORGANISATIONS} organisations; table {GROUPS} x {MEASURES} "
            f"(made in {time.perf_counter() - start:.1f} s)"
        )
        params = {
            "spec": doc,
            "where": None,
            "contributor_column": "plant",
            "organisations": {f"P{i}": f"org-{i % ORGANISATIONS}" for i in range(PLANTS)},
            "threads": THREADS,
        }
        recomputes, directs, probes, overheads = [], [], [], []
        for run in range(RUNS):
            started = time.perf_counter()
            probe = sandbox.run("probe", table, {"probe": "whoami"})
            probes.append(time.perf_counter() - started)
            assert probe.ok, probe.message
            started = time.perf_counter()
            result = sandbox.run("table-recompute", [table, grant], params, RECOMPUTE_LIMITS)
            wall = time.perf_counter() - started
            if not result.ok:
                print(f"the recompute failed: {result.message}")
                return 1
            answer = result.value
            if answer["mismatch_count"]:
                print(f"the recompute does not reproduce the table: {answer['mismatches'][:3]}")
                return 1
            timings = answer["timings"]
            recomputes.append(timings["recompute_s"])
            overheads.append(wall - timings["recompute_s"] - timings["compare_s"])
            directs.append(direct(grant, doc))
            print(
                f"run {run + 1}: sandbox recompute {recomputes[-1]:.3f} s (compare "
                f"{timings['compare_s'] * 1000:.1f} ms, job wall {wall:.3f} s), direct "
                f"{directs[-1]:.3f} s, probe {probes[-1]:.3f} s"
            )
        recompute_s, direct_s = statistics.median(recomputes), statistics.median(directs)
        start_s = statistics.median(probes)
        print(
            f"sandbox start: probe job {start_s:.3f} s; recompute job's wall minus its own "
            f"timings {statistics.median(overheads):.3f} s (DuckDB imported, the grant given)"
        )
        print(
            f"RESULT recompute_ratio={recompute_s / direct_s:.3f} sandbox_start_s={start_s:.3f} "
            f"recompute_s={recompute_s:.3f} direct_s={direct_s:.3f}"
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
