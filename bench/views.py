"""Benchmark: a researcher's views against DuckDB on the source, and materialising a grant
against a raw DuckDB COPY, side by side in one run (issue 4's benchmark).

1. Generates the demo ``wafer_lots`` dataset (10,000,000 rows, 17 columns, by default) into a
   temporary directory with cleanroom.demo.data.

2. Queries. A whole-dataset grant is materialised (cleanroom.grants.materialise) and a view catalog
   built over it, exactly as a container gets it, except that the catalog's data directory is
   the host's copy of the researcher tree instead of /data. Seven typical queries (group-bys,
   filters, a time window, a top-N, a point lookup) run two ways in alternating order, for
   ``--rounds`` rounds after a warm-up: through the view, on
   ``duckdb.connect(catalog, read_only=True)``, and with DuckDB directly on the source Parquet
   (``read_parquet('<source>')``) on an in-memory connection. Per query the median;
   ``query_ratio`` = sum of the view medians / sum of the direct medians. Goal: <= 1.05.

3. Materialising. A restricted grant (9 of the 17 columns, the contributor column not among
   them, a row filter keeping ~80 % of the rows) is materialised into a fresh cache each round
   by ``materialise_grant`` as the catalog does it (``airlock="background"``): DuckDB's COPY
   of the granted columns and rows, checked, synced, read-only, renamed into place, and the
   manifest; the grant is usable then (time "usable"). The airlock's copy (the same rows with
   the contributor column, synced too) is finished by a thread after that; the round waits
   for it (time "both copies") before the next step, so nothing overlaps the baseline.
   Against it, a raw DuckDB ``COPY (SELECT <same columns> FROM read_parquet(source) WHERE
   <same filter>) TO ... (<the same Parquet options>)`` on a plain connection with the same
   threads: the researcher's data, written once, nothing else. DuckDB's COPY does not fsync
   its output; materialising does, so the baseline is timed both without and with an fsync of
   its file. Each round times the raw COPY right before and right after "usable"; their mean
   is the round's baseline, and ``materialize_ratio`` is the median over rounds of (baseline
   raw COPY + fsync time / "usable" time), the throughput ratio (goal >= 0.9): other work on
   the machine (it is shared) weighs on both sides of a round alike. Printed besides, not in
   RESULT: the ratio of the medians, the ratio against the unsynced COPY, the ratio of CPU
   seconds (this process's, all threads), "both copies" and ``airlock="wait"`` (both copies
   before returning) against the raw COPY + fsync, and a raw COPY of the whole source.

4. Spawning. A real clean-room hub (the test suite's, on free ports) with a project granted
   three datasets, materialised beforehand: a researcher of that project and a researcher with
   no project start their servers alternately, ``--rounds`` times each (fresh users, so
   both also create a home). ``spawn_added_s`` = median with three grants - median without.
   Goal: < 0.5 s. Needs root, the Docker engine and the built image.

Usage: .venv/bin/python bench/views.py [--rows 10000000] [--rounds 5] [--data DIR]
                                      [--only queries|materialise|spawn ...]
(--data keeps the generated source in DIR and reuses it on the next run; --only runs some
parts, for a quick look: RESULT then shows "nan" for the others.)

Last line: RESULT query_ratio=<x> materialize_ratio=<x> spawn_added_s=<x>
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from cleanroom.core.duckdb_sandbox import quote_identifier
from cleanroom.demo import data as demo_data
from cleanroom.grants import materialise
from cleanroom.grants.cache import GrantSpec
from cleanroom.grants.materialise import describe_source, materialise_grant
from cleanroom.grants.rowfilter import check_row_filter
from cleanroom.grants.views import build_view_catalog

QUERIES = {
    "yield by plant": (
        "SELECT plant, count(*), avg(die_yield_pct) FROM {t} GROUP BY plant ORDER BY plant"
    ),
    "step and tool stats": (
        "SELECT process_step, tool_id, avg(chamber_temp_c), stddev_samp(chamber_pressure_torr), "
        "avg(defect_density_cm2) FROM {t} GROUP BY ALL ORDER BY ALL"
    ),
    "filtered count": "SELECT count(*) FROM {t} WHERE die_yield_pct < 60 AND scrapped",
    "time window": (
        "SELECT date_trunc('month', start_time) AS m, product, avg(die_yield_pct) FROM {t} "
        "WHERE start_time BETWEEN TIMESTAMP '2024-03-01' AND TIMESTAMP '2024-06-30' "
        "GROUP BY ALL ORDER BY ALL"
    ),
    "top 100 defect density": (
        "SELECT lot_id, die_yield_pct, defect_density_cm2 FROM {t} "
        "ORDER BY defect_density_cm2 DESC, lot_id LIMIT 100"
    ),
    "point lookup": "SELECT * FROM {t} WHERE lot_id = 'MER-HSC1-{lot:08d}'",
    "one plant, all columns": (
        "SELECT count(*), sum(hash(lot_id)), avg(rf_power_w), max(start_time) FROM {t} "
        "WHERE plant = 'HBS-ICN1'"
    ),
}

RESTRICTED_COLUMNS = (
    "lot_id",
    "product",
    "process_step",
    "tool_id",
    "start_time",
    "chamber_temp_c",
    "chamber_pressure_torr",
    "defect_density_cm2",
    "die_yield_pct",
)
RESTRICTED_FILTER = "die_yield_pct >= 70 AND company <> 'Nordwafer'"
PARTS = ("queries", "materialise", "spawn")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _same(a: list, b: list) -> bool:
    """Equal results, floats up to summation order (parallel aggregates add in any order)."""
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def source_data(rows: int, data_dir: Path | None, work: Path) -> Path:
    where = data_dir or work / "source"
    path = where / "wafer_lots.parquet"
    marker = where / f".rows-{rows}"
    if path.exists() and marker.exists():
        print(f"reusing {path} ({rows:,} rows)")
        return path
    elapsed = timed(
        lambda: demo_data.generate(where, rows, formats=["parquet"], datasets=["wafer_lots"])
    )
    marker.touch()
    print(f"generated {path}: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB in {elapsed:.1f} s")
    return path


def bench_queries(source: Path, work: Path, rounds: int) -> float:
    section("queries: through the view catalog vs DuckDB directly on the source Parquet")
    cache = work / "cache-whole"
    spec = GrantSpec("wafer_lots@bench", source, "parquet", None, None, "plant")
    elapsed = timed(lambda: materialise_grant(spec, cache))
    grant = materialise_grant(spec, cache)
    print(f"whole-dataset grant materialised in {elapsed:.1f} s ({grant.rows:,} rows)")
    catalog = build_view_catalog(
        {"wafer_lots": grant.key}, work / "catalog.duckdb", str(cache / "researcher")
    )
    lot = grant.rows // 2
    view_sql = {n: q.format(t="wafer_lots", lot=lot) for n, q in QUERIES.items()}
    direct_sql = {n: q.format(t=f"read_parquet('{source}')", lot=lot) for n, q in QUERIES.items()}
    view_con = duckdb.connect(str(catalog), read_only=True)
    direct_con = duckdb.connect()
    times: dict[str, dict[str, list[float]]] = {n: {"view": [], "direct": []} for n in QUERIES}
    try:
        for name in QUERIES:  # same answers both ways, and a warm-up
            a = view_con.execute(view_sql[name]).fetchall()
            b = direct_con.execute(direct_sql[name]).fetchall()
            assert _same(a, b), name
        for r in range(rounds):
            for name in QUERIES:
                order = [("view", view_con, view_sql), ("direct", direct_con, direct_sql)]
                for side, con, sql in order if r % 2 == 0 else order[::-1]:
                    times[name][side].append(
                        timed(lambda con=con, sql=sql, name=name: con.execute(sql[name]).fetchall())
                    )
    finally:
        view_con.close()
        direct_con.close()
    print(f"{'query':<26}{'view ms':>10}{'direct ms':>11}{'ratio':>8}   (medians of {rounds})")
    view_total = direct_total = 0.0
    for name in QUERIES:
        v = statistics.median(times[name]["view"])
        d = statistics.median(times[name]["direct"])
        view_total += v
        direct_total += d
        print(f"{name:<26}{v * 1000:>10.1f}{d * 1000:>11.1f}{v / d:>8.3f}")
    ratio = view_total / direct_total
    print(
        f"{'all (sum of medians)':<26}{view_total * 1000:>10.1f}{direct_total * 1000:>11.1f}"
        f"{ratio:>8.3f}   goal <= 1.05"
    )
    shutil.rmtree(cache, ignore_errors=True)
    return ratio


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_materialise(source: Path, work: Path, rounds: int) -> float:
    section("materialising a restricted grant vs a raw DuckDB COPY of the same data")
    schema = describe_source(source, "parquet")
    where = check_row_filter(RESTRICTED_FILTER, schema)
    select = ", ".join(map(quote_identifier, RESTRICTED_COLUMNS))
    raw_out = work / "raw.parquet"
    options = materialise.PARQUET_OPTIONS
    raw_same_sql = (
        f"COPY (SELECT {select} FROM read_parquet('{source}') WHERE ({where})) "
        f"TO '{raw_out}' ({options})"
    )
    raw_full_sql = f"COPY (SELECT * FROM read_parquet('{source}')) TO '{raw_out}' ({options})"
    spec = GrantSpec(
        "wafer_lots@bench", source, "parquet", RESTRICTED_COLUMNS, RESTRICTED_FILTER, "plant"
    )
    cache = work / "cache-restricted"
    con = duckdb.connect()
    sandboxed = materialise._connect([source], work)
    setting = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    both = {
        "raw COPY": con.execute(setting).fetchall()[0],
        "materialise_grant": sandboxed.execute(setting).fetchall()[0],
    }
    sandboxed.close()
    for side, (threads, order) in both.items():
        print(f"{side}: threads={threads} preserve_insertion_order={order} ({options})")
    assert len(set(both.values())) == 1, both
    print(
        "DuckDB's COPY does not fsync its output; materialise_grant syncs every file it "
        "writes: the raw COPY is timed without and with an fsync of its file"
    )

    def raw(sql: str) -> tuple[float, float, float]:
        """(COPY time, COPY + fsync time, CPU seconds of both)."""
        raw_out.unlink(missing_ok=True)
        start, cpu = time.perf_counter(), time.process_time()
        con.execute(sql).fetchall()
        copied = time.perf_counter() - start
        _fsync(raw_out)
        return copied, time.perf_counter() - start, time.process_time() - cpu

    def grant(mode: str) -> tuple[float, float, float]:
        """(time until usable, until both copies are complete, CPU seconds until usable)."""
        shutil.rmtree(cache, ignore_errors=True)
        start, cpu = time.perf_counter(), time.process_time()
        made = materialise_grant(spec, cache, airlock=mode)
        usable, used = time.perf_counter() - start, time.process_time() - cpu
        made.wait_for_airlock()
        return usable, time.perf_counter() - start, used

    rows = con.execute(f"SELECT count(*) FROM read_parquet('{source}') WHERE ({where})").fetchall()[
        0
    ][0]
    total = con.execute(f"SELECT count(*) FROM read_parquet('{source}')").fetchall()[0][0]
    raw(raw_same_sql)  # warm-up
    grant("background")
    keys = ("usable", "complete", "usable_cpu", "wait", "raw", "raw_synced", "raw_cpu", "raw_full")
    results: dict[str, list[float]] = {k: [] for k in keys}
    baseline: dict[str, list[float]] = {"raw": [], "raw_synced": [], "raw_cpu": []}

    def step_raw() -> None:
        for key, value in zip(("raw", "raw_synced", "raw_cpu"), raw(raw_same_sql), strict=True):
            results[key].append(value)

    others = [
        lambda: results["wait"].append(grant("wait")[0]),
        lambda: results["raw_full"].append(raw(raw_full_sql)[1]),
    ]
    for r in range(rounds):
        # The raw COPY right before and right after materialising: their mean is the round's
        # baseline, so a load that rises or falls during the round weighs on both sides.
        step_raw()
        usable, complete, used = grant("background")
        step_raw()
        for key in baseline:
            baseline[key].append(statistics.mean(results[key][-2:]))
        results["usable"].append(usable)
        results["complete"].append(complete)
        results["usable_cpu"].append(used)
        for step in others if r % 2 == 0 else others[::-1]:
            step()
        print(
            f"round {r}: usable {usable:.2f} s ({used:.2f} CPU s), both copies {complete:.2f} s; "
            f"raw COPY before/after {results['raw'][-2]:.2f}/{results['raw'][-1]:.2f} s, "
            f"+ fsync {results['raw_synced'][-2]:.2f}/{results['raw_synced'][-1]:.2f} s "
            f"({baseline['raw_cpu'][-1]:.2f} CPU s); ratio "
            f"{baseline['raw_synced'][-1] / usable:.3f}",
            flush=True,
        )
    con.close()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"restricted grant: {len(RESTRICTED_COLUMNS)} of {len(schema)} columns, "
        f"{rows:,} of {total:,} rows ({RESTRICTED_FILTER})"
    )
    print(f"{'':<58}{'median s':>9}{'rows/s':>14}   (medians of {rounds})")
    lines = [
        ("materialise_grant: usable (researcher's copy durable)", "usable", rows),
        ("materialise_grant: both copies durable", "complete", rows),
        ('materialise_grant(airlock="wait")', "wait", rows),
        ("raw COPY of the same data, with fsync", "raw_synced", rows),
        ("raw COPY of the same data, no fsync", "raw", rows),
        ("CPU seconds: materialise_grant until usable", "usable_cpu", rows),
        ("CPU seconds: raw COPY + fsync", "raw_cpu", rows),
        ("raw COPY of the whole source, with fsync", "raw_full", total),
    ]
    for label, key, n in lines:
        print(f"{label:<58}{med[key]:>9.2f}{n / med[key]:>14,.0f}")

    def paired(base: str, ours: str) -> float:
        return statistics.median(b / o for b, o in zip(baseline[base], results[ours], strict=True))

    ratio = paired("raw_synced", "usable")
    print(
        f"throughput ratio, usable vs the raw COPY + fsync (median of the rounds' ratios): "
        f"{ratio:.3f}   goal >= 0.9"
    )
    print(
        f"(ratio of the medians: {med['raw_synced'] / med['usable']:.3f}; usable vs the raw "
        f"COPY without fsync: {paired('raw', 'usable'):.3f}; CPU seconds, raw COPY + fsync "
        f"vs usable: {paired('raw_cpu', 'usable_cpu'):.3f}; both copies vs the raw COPY + "
        f"fsync: {med['raw_synced'] / med['complete']:.3f}; "
        f'airlock="wait": {med["raw_synced"] / med["wait"]:.3f})'
    )
    raw_out.unlink(missing_ok=True)
    shutil.rmtree(cache, ignore_errors=True)
    return ratio


def bench_spawn_added(work: Path, rounds: int) -> float:
    """Median start time of a server with three cached grants minus one with none."""
    import statistics
    import sys

    import docker

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "tests"))
    from spawn import stop_all, timed_spawn
    from support.testhub import start_test_hub, stop_test_hub

    from cleanroom.audit import AuditLog
    from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
    from cleanroom.catalog.service import CatalogService
    from cleanroom.demo import data as demo_data

    section("spawn: three cached grants against none")
    hub = start_test_hub(docker.from_env())
    try:
        state = hub.settings.state_dir
        catalog = CatalogService.open(
            hub.settings.catalog_database_url,
            AuditLog.from_state_dir(state),
            materialiser=grant_materialiser(grants_dir(state)),
        )
        data = demo_data.generate(work / "spawn-data", 20_000, formats=("parquet",))
        catalog.add_organisation("bench-uni", "Bench University", "other", actor="bench")
        companies = {c for d in data.datasets.values() for c in d.contributors.values()}
        ids = {c: f"org{i}" for i, c in enumerate(sorted(companies))}
        for company, ident in ids.items():
            catalog.add_organisation(ident, company, actor="bench")
        catalog.create_project("bench", actor="bench")
        sources = [
            ("wafer_lots", "wafer_lots"),
            ("weld_inspections", "weld_inspections"),
            ("wafer_lots_b", "wafer_lots"),
        ]
        for name, base in sources:
            d = data.datasets[base]
            catalog.register_dataset(
                name,
                d.paths["parquet"],
                contributor_column=d.contributor_column,
                mapping={v: ids[c] for v, c in d.contributors.items()},
                actor="bench",
            )
            catalog.grant("bench", name, reason="benchmark", actor="bench")
        with_grants, without = [], []
        for i in range(rounds):
            for name, project, times in ((f"g{i}", "bench", with_grants), (f"n{i}", None, without)):
                hub.api.ensure_user(name, ("researcher",))
                catalog.set_user_organisation(name, "bench-uni", actor="bench")
                if project:
                    catalog.add_member(project, name, "researcher", actor="bench")
                times.append(timed_spawn(hub.api, name, options={"project": project}))
                stop_all(hub.api, [name])
            print(
                f"round {i}: three grants {with_grants[-1]:.2f} s, none {without[-1]:.2f} s",
                flush=True,
            )
        return statistics.median(with_grants) - statistics.median(without)
    finally:
        stop_test_hub(hub)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", type=Path, help="keep (and reuse) the generated source here")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    args = parser.parse_args()
    parts = args.only or PARTS
    nan = float("nan")
    start = time.monotonic()
    print(f"DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="cleanroom-bench-views-") as tmp:
        work = Path(tmp)
        source = source_data(args.rows, args.data, work)
        query_ratio = bench_queries(source, work, args.rounds) if "queries" in parts else nan
        materialize_ratio = (
            bench_materialise(source, work, args.rounds) if "materialise" in parts else nan
        )
        spawn_added = bench_spawn_added(work, args.rounds) if "spawn" in parts else nan
    print(f"\ntotal {time.monotonic() - start:.0f} s")
    print(
        f"RESULT query_ratio={query_ratio:.3f} materialize_ratio={materialize_ratio:.3f} "
        f"spawn_added_s={spawn_added:.3f}"
    )


if __name__ == "__main__":
    main()
