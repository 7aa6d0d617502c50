"""The sandbox job ``table-recompute``: recompute a submitted table from the grant's airlock
copy, compare it with the file, and measure each cell's contributing organisations.

Run only inside the sandbox (:data:`cleanroom.sandbox.jobs.JOBS`), on the inputs
``[submitted table, grant's airlock copy (Parquet)]``, with the parameters::

    {"spec": {...},                      # the table's specification (cleanroom.tables.spec)
     "where": "...",                     # the filter re-printed by the row-filter checker, or null
     "contributor_column": "plant",      # the grant's column naming who each row came from
     "organisations": {"P7": "org-3"},   # every contributor value (as text) -> its organisation
     "threads": 2}                       # optional

One scan of the grant computes partial aggregates per (group keys, contributor); they are
rolled up, on that small result, to the table's values and to each cell's statistics per
*organisation* (several plants of one organisation are one organisation). A median needs a
second scan, only when one is asked for. A contributor the catalog does not map is never
guessed: the answer is a mismatch and no cell is measured (fail closed).

Nothing from the specification is evaluated as SQL: column names are quoted identifiers, the
aggregates come from a fixed list, the files are bound parameters; the one piece of SQL text is
``where``, which the airlock re-printed from the checked filter.

The answer (JSON) is described in ``docs/explanation/verified-tables.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import decimal
import io
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cleanroom.sandbox.limits import Limits

from . import spec as tspec

RECOMPUTE_LIMITS = Limits(
    # DuckDB gets MEMORY_LIMIT of it; the rest is Python, DuckDB's threads' stacks and arenas.
    memory_bytes=6 * 1024**3,
    # CPU seconds of the job's process, all its threads together; the wall time bounds the wait.
    cpu_seconds=1200,
    wall_seconds=300.0,
    # DuckDB's threads count against the sandbox user's processes (RLIMIT_NPROC).
    processes=64,
    # The grant copy is read in place (bound), or copied into the sandbox when the caller is root.
    input_bytes=8 * 1024**3,
)
"""The bounds of a recompute: a grant of tens of millions of rows in a few minutes."""

MEMORY_LIMIT = "3GB"  # DuckDB's own limit, well under RECOMPUTE_LIMITS.memory_bytes
MAX_THREADS = 16
MAX_MISMATCHES = 50  # listed in the answer; all are counted
# Numeric comparison: parallel sums differ in the last bits, and may cross a rounding boundary.
RELATIVE_TOLERANCE = 1e-9
ROUNDING_NUDGE = 1e-12
UNMAPPED = (
    "the grant has contributors the catalog does not map to an organisation ({n} value(s)), "
    "so no cell can be counted: an admin must map every contributor of the dataset in the "
    "catalog, then the request can be resubmitted"
)
_NUMERIC_TYPE = re.compile(
    r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL\(\d+,\s*\d+\))"
)
# What each aggregate needs per (keys, contributor), per measure: non-null count, sum, sum of
# absolute values (the organisation totals of the dominance rules), min, max.
_PARTS = {
    "sum": ("count", "sum", "abs"),
    "mean": ("count", "sum", "abs"),
    "median": ("count", "abs"),
    "min": ("count", "min"),
    "max": ("count", "max"),
}
_PART_SQL = {
    "count": "count({m})",
    "sum": "sum({m})",
    "abs": "sum(abs({m}))",
    "min": "min({m})",
    "max": "max({m})",
}
_ROLLUP_SQL = {"count": "sum", "sum": "sum", "abs": "sum", "min": "min", "max": "max"}


class RecomputeError(ValueError):
    """The table cannot be recomputed at all (the message says why and what to do)."""


@dataclasses.dataclass(frozen=True)
class Params:
    spec: tspec.TableSpec
    where: str | None
    contributor: str
    organisations: dict[str, str]
    threads: int | None


def parse_params(params: Mapping[str, Any]) -> Params:
    """The job's parameters, checked (anything odd raises, with what is wrong)."""
    if not isinstance(params, Mapping):
        raise RecomputeError("the recompute's parameters must be a JSON object")
    spec = tspec.parse_spec(params.get("spec"))
    where = params.get("where")
    if where is not None and (not isinstance(where, str) or not where.strip()):
        raise RecomputeError('"where" must be the re-printed row filter or null')
    contributor = params.get("contributor_column")
    if not isinstance(contributor, str) or not contributor:
        raise RecomputeError('"contributor_column" must name the grant\'s contributor column')
    organisations = params.get("organisations")
    if not isinstance(organisations, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
        for k, v in organisations.items()
    ):
        raise RecomputeError('"organisations" must map each contributor value to an organisation')
    threads = params.get("threads")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64
    ):
        raise RecomputeError('"threads" must be a whole number from 1 to 64, or absent')
    return Params(
        spec=spec,
        where=where.strip() if where else None,
        contributor=contributor,
        organisations={k: str(v) for k, v in organisations.items()},
        threads=min(threads, MAX_THREADS) if threads else None,
    )


def recompute_table(table: Path, grant: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """The job: recompute ``table`` from ``grant`` per ``params`` (see the module docstring)."""
    import duckdb

    from cleanroom.core.duckdb_sandbox import connect, first_line

    p = parse_params(params)
    con = connect(
        [str(table), str(grant)],
        memory_limit=MEMORY_LIMIT,
        # Not one thread per core of a large host: threads count against RLIMIT_NPROC.
        threads=p.threads or min(os.cpu_count() or 1, MAX_THREADS),
        options={"preserve_insertion_order": True},
    )
    try:
        started = time.perf_counter()
        try:
            recomputed = _recompute(con, str(grant), p)
        except duckdb.Error as error:
            raise RecomputeError(
                f"the table could not be recomputed from the grant: {first_line(error)}"
            ) from None
        recompute_s = time.perf_counter() - started
        started = time.perf_counter()
        header, rows = _read_table(con, table, p.spec.file_format)
        if isinstance(recomputed, int):  # unmapped contributors: nothing is measured
            unmapped = _mismatch(None, None, UNMAPPED.format(n=recomputed))
            answer = _answer(header, rows, [unmapped], [])
        else:
            mismatches, cells = _compare(p.spec, recomputed, header, rows)
            answer = _answer(header, rows, mismatches, cells)
        answer["timings"] = {
            "recompute_s": round(recompute_s, 6),
            "compare_s": round(time.perf_counter() - started, 6),
        }
        return answer
    finally:
        con.close()


def _answer(header, rows, mismatches, cells) -> dict[str, Any]:
    return {
        "rows": len(rows),
        "header": header,
        "mismatch_count": len(mismatches),
        "mismatches": mismatches[:MAX_MISMATCHES],
        "cells": cells,
    }


def _mismatch(row: int | None, column: str | None, message: str) -> dict[str, Any]:
    return {"row": row, "column": column, "message": message}


# -- recomputing ----------------------------------------------------------------------------


@dataclasses.dataclass
class Recomputed:
    """The recomputed long result and, per long row, per value, the organisation statistics."""

    long_rows: list[list[Any]]
    # per long row: {value name: (organisations, [largest, second], total)}
    stats: list[dict[str, tuple[int, list[float], float]]]


def _recompute(con, grant: str, p: Params) -> Recomputed | int:
    """The recomputed table, or the number of contributor values the catalog does not map."""
    spec = p.spec
    q = tspec.quote_identifier
    columns = {
        name: kind
        for name, kind, *_ in con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)", [grant]
        ).fetchall()
    }
    missing = sorted((spec.used_columns() | {p.contributor}) - set(columns))
    if missing:
        raise RecomputeError(
            f"the grant has no column(s) {', '.join(missing)}: the specification does not match "
            "the grant it names"
        )
    numeric = {m for m in spec.measures if _NUMERIC_TYPE.fullmatch(columns[m])}
    # The partial aggregates each measure needs, by the aggregates asked of it.
    needs: dict[str, list[str]] = {m: [] for m in spec.measures}
    for v in spec.values:
        if v.measure is None:
            continue
        wanted = list(_PARTS[v.aggregate])
        if v.aggregate in ("min", "max") and v.measure in numeric:
            wanted.append("abs")
        for part in wanted:
            if part not in needs[v.measure]:
                needs[v.measure].append(part)
    keys = [f"k{i}" for i in range(len(spec.keys))]
    parts = [(f"{part}{j}", part, m) for j, m in enumerate(spec.measures) for part in needs[m]]
    no_nulls, non_negative = _column_facts(con, grant)
    select = [f"{q(k)} AS {a}" for k, a in zip(spec.keys, keys, strict=True)]
    select += [f"{q(p.contributor)} AS c", "count(*) AS n"]
    # Each part's column in the scan's result: work the statistics make needless is skipped
    # (no nulls: count(m) is count(*); never negative: sum(abs(m)) is sum(m)).
    source: dict[str, str] = {}
    computed: dict[str, str] = {}
    for alias, part, m in parts:
        if part == "count" and m in no_nulls:
            source[alias] = "n"
            continue
        if part == "abs" and m in non_negative:
            part = "sum"
        sql = _PART_SQL[part].format(m=q(m))
        source[alias] = computed.setdefault(sql, f"x{len(computed)}")
    select += [f"{sql} AS {alias}" for sql, alias in computed.items()]
    where = f" WHERE ({p.where})" if p.where else ""
    # The one scan of the grant. Names quoted; the path a parameter; ``where`` the airlock's.
    con.execute(
        f"CREATE TEMP TABLE part AS SELECT {', '.join(select)} "  # noqa: S608
        f"FROM read_parquet(?){where} GROUP BY ALL",
        [grant],
    )
    con.execute(
        "CREATE TEMP TABLE orgmap AS SELECT unnest(?::VARCHAR[]) AS contributor, "
        "unnest(?::VARCHAR[]) AS organisation",
        [list(p.organisations), list(p.organisations.values())],
    )
    (unmapped,) = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT c FROM part) p "
        "ANTI JOIN orgmap o ON CAST(p.c AS VARCHAR) = o.contributor"
    ).fetchone()
    if unmapped:
        return int(unmapped)
    k = ", ".join(keys)
    # Per (keys, organisation): the contributors of one organisation become one.
    by_org = [f"{_ROLLUP_SQL[part]}({source[alias]}) AS {alias}" for alias, part, _ in parts]
    con.execute(
        f"CREATE TEMP TABLE byorg AS SELECT {k + ', ' if k else ''}o.organisation, "  # noqa: S608
        f"sum(n) AS n{''.join(', ' + s for s in by_org)} "
        "FROM part JOIN orgmap o ON CAST(part.c AS VARCHAR) = o.contributor GROUP BY ALL"
    )
    # Per keys: the cell's values and its organisation statistics.
    final = ["sum(n) AS n", "count(*) AS orgs_n", "max(n, 2) AS top_n"]
    for alias, part, _ in parts:
        final.append(f"{_ROLLUP_SQL[part]}({alias}) AS {alias}")
        if part == "count":
            final.append(f"count(*) FILTER (WHERE {alias} > 0) AS orgs_{alias}")
        if part == "abs":
            final.append(f"max({alias}, 2) AS top_{alias}")
    order = ", ".join(f"{a} NULLS LAST" for a in keys)
    cursor = con.execute(
        f"SELECT {k}, {', '.join(final)} FROM byorg GROUP BY ALL ORDER BY {order}"  # noqa: S608
    )
    names = [d[0] for d in cursor.description]
    result = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    medians = (
        _medians(con, grant, p, keys) if any(v.aggregate == "median" for v in spec.values) else {}
    )
    long_rows, stats = [], []
    for r in result:
        key = tuple(r[a] for a in keys)
        values, cell_stats = [], {}
        for v in spec.values:
            if v.measure is None:
                values.append(int(r["n"]))
                cell_stats[v.name] = (r["orgs_n"], _top(r["top_n"]), _num(r["n"]))
                continue
            j = spec.measures.index(v.measure)
            count = r[f"count{j}"]
            if v.aggregate == "sum":
                value = r[f"sum{j}"]
            elif v.aggregate == "mean":
                value = _mean(r[f"sum{j}"], count)
            elif v.aggregate == "median":
                value = medians[key][j]
            else:
                value = r[f"{v.aggregate}{j}"]
            values.append(value)
            if f"abs{j}" in r:
                dominance = (_top(r[f"top_abs{j}"]), _num(r[f"abs{j}"]))
            else:
                dominance = ([0.0, 0.0], 0.0)
            cell_stats[v.name] = (r[f"orgs_count{j}"], *dominance)
        long_rows.append([*key, *values])
        stats.append(cell_stats)
    return Recomputed(long_rows, stats)


def _column_facts(con, grant: str) -> tuple[set[str], set[str]]:
    """The columns that have no null, and those never negative, by the Parquet statistics of
    every row group (the airlock wrote the copy; a column without statistics has neither)."""
    rows = con.execute(
        "SELECT path_in_schema, "
        "bool_and(coalesce(stats_null_count = 0, false)), "
        "bool_and(coalesce(TRY_CAST(stats_min_value AS DOUBLE) >= 0, false)) "
        "FROM parquet_metadata(?) GROUP BY ALL",
        [grant],
    ).fetchall()
    return {name for name, ok, _ in rows if ok}, {name for name, _, ok in rows if ok}


def _medians(con, grant: str, p: Params, keys: list[str]) -> dict[tuple, list[Any]]:
    """The medians, by keys (a second scan: a median cannot be rolled up from parts)."""
    q = tspec.quote_identifier
    spec = p.spec
    wanted = {v.measure for v in spec.values if v.aggregate == "median"}
    select = [f"{q(k)} AS {a}" for k, a in zip(spec.keys, keys, strict=True)]
    select += [
        f"median({q(m)})" if m in wanted else "NULL" for m in spec.measures
    ]  # one column per measure, by position
    where = f" WHERE ({p.where})" if p.where else ""
    rows = con.execute(
        f"SELECT {', '.join(select)} FROM read_parquet(?){where} GROUP BY ALL",  # noqa: S608
        [grant],
    ).fetchall()
    n = len(keys)
    return {tuple(r[:n]): list(r[n:]) for r in rows}


def _mean(total: Any, count: Any) -> float | None:
    if not count or total is None:
        return None
    if isinstance(total, decimal.Decimal):
        return float(total / count)
    return total / count  # int / int is correctly rounded in Python


def _num(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _top(values: Sequence[Any] | None) -> list[float]:
    top = [_num(v) for v in (values or [])][:2]
    return top + [0.0] * (2 - len(top))


# -- reading the submitted table ------------------------------------------------------------


def _read_table(con, table: Path, file_format: str) -> tuple[list[str], list[list[str]]]:
    """The submitted table as text cells (``spec.cell_text``): (header, rows). A table over
    the size of a verified table is refused before it is read whole."""
    limit = tspec.MAX_TABLE_ROWS + 1
    if file_format == "parquet":
        try:
            cursor = con.execute("SELECT * FROM read_parquet(?) LIMIT ?", [str(table), limit])
        except Exception as error:  # noqa: BLE001 - DuckDB's errors have no common base
            raise RecomputeError(f"the table is not a readable Parquet file: {error}") from None
        header = [d[0] for d in cursor.description]
        rows = [[tspec.cell_text(v) for v in r] for r in cursor.fetchall()]
    else:
        try:
            text = io.TextIOWrapper(open(table, "rb"), encoding="utf-8-sig", newline="")
            with text:
                reader = csv.reader(text)
                header = next(reader, [])
                rows = []
                for row in reader:
                    rows.append(row)
                    if len(rows) >= limit:
                        break
        except (UnicodeDecodeError, csv.Error) as error:
            raise RecomputeError(f"the table is not a UTF-8 CSV file: {error}") from None
    if not header:
        raise RecomputeError("the table is empty: it has no header row")
    tspec.check_size(header, rows)
    return header, rows


# -- comparing ------------------------------------------------------------------------------


def _compare(
    spec: tspec.TableSpec, recomputed: Recomputed, header: list[str], rows: list[list[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The mismatches between the submitted table and the recomputed one, and the cells (with
    their organisation statistics) of the submitted rows that match a recomputed row."""
    expected_header, expected = tspec.shape(spec, recomputed.long_rows)
    tspec.check_size(expected_header, expected)
    _, raw = tspec.shape(dataclasses.replace(spec, rounding=tspec.Rounding()), recomputed.long_rows)
    mismatches: list[dict[str, Any]] = []
    n_keys = len(spec.rows)
    if header != expected_header:
        for i in range(max(len(header), len(expected_header))):
            got = header[i] if i < len(header) else None
            want = expected_header[i] if i < len(expected_header) else None
            if got == want:
                continue
            if want is None:
                message = f"column {i + 1} ({got!r}) is not in the specification's table"
            elif got is None:
                message = f"column {i + 1} ({want!r}) is missing"
            else:
                message = f"column {i + 1} is named {got!r}; the specification makes {want!r}"
            mismatches.append(_mismatch(None, got if got is not None else want, message))
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        position.setdefault(name, i)
    stats = _cell_stats(spec, recomputed, expected_header)
    by_key = {}
    for i, row in enumerate(expected):
        by_key[tuple(tspec.cell_text(v) for v in row[:n_keys])] = i
    seen: set[tuple] = set()
    cells = []
    for r, row in enumerate(rows):
        key = tuple(_at(row, position.get(k)) for k in spec.rows)
        where = _where(r, spec.rows, key)
        if len(row) != len(header):
            mismatches.append(
                _mismatch(r, None, f"{where} has {len(row)} cells; the header has {len(header)}")
            )
        if key not in by_key:
            mismatches.append(_mismatch(r, None, f"{where} is not in the recomputed table"))
            continue
        if key in seen:
            mismatches.append(_mismatch(r, None, f"{where} appears more than once"))
            continue
        seen.add(key)
        e = by_key[key]
        for c, name in enumerate(expected_header[n_keys:], start=n_keys):
            at = position.get(name)
            if at is None:
                continue  # a header mismatch already says so
            got = _at(row, at)
            if not _same(expected[e][c], raw[e][c], got, spec.rounding):
                want = tspec.cell_text(expected[e][c]) or "empty"
                mismatches.append(
                    _mismatch(
                        r,
                        name,
                        f"{where}, column {name}: the table says {got or 'empty'}, "
                        f"recomputing the specification gives {want}",
                    )
                )
            aggregate, (organisations, largest, total) = stats[(e, name)]
            cells.append(
                {
                    "row": r,
                    "column": name,
                    "aggregate": aggregate,
                    "organisations": organisations,
                    "largest": largest,
                    "total": total,
                    "keys": dict(zip(spec.rows, key, strict=True)),
                }
            )
    for key in by_key:
        if key not in seen:
            text = ", ".join(f"{k}={v}" for k, v in zip(spec.rows, key, strict=True))
            mismatches.append(_mismatch(None, None, f"the row ({text}) is missing from the table"))
    return mismatches, cells


def _cell_stats(
    spec: tspec.TableSpec, recomputed: Recomputed, expected_header: list[str]
) -> dict[tuple[int, str], tuple[str, tuple[int, list[float], float]]]:
    """(row of the recomputed table, column name) -> (aggregate, organisation statistics), for
    every value cell, including a pivot's empty combinations (no organisation)."""
    n_rows = len(spec.rows)
    n_keys = len(spec.keys)
    empty = (0, [0.0, 0.0], 0.0)
    out: dict[tuple[int, str], tuple[str, tuple[int, list[float], float]]] = {}
    row_index: dict[tuple, int] = {}
    for long_row, stats in zip(recomputed.long_rows, recomputed.stats, strict=True):
        row_key = tuple(long_row[:n_rows])
        e = row_index.setdefault(row_key, len(row_index))
        if spec.columns:
            name = "_".join(tspec.cell_text(v) for v in long_row[n_rows:n_keys])
            value = spec.values[0]
            out[(e, name)] = (value.aggregate, stats[value.name])
        else:
            for value in spec.values:
                out[(e, value.name)] = (value.aggregate, stats[value.name])
    if spec.columns:
        for e in row_index.values():
            for name in expected_header[n_rows:]:
                out.setdefault((e, name), (spec.values[0].aggregate, empty))
    return out


def _at(row: Sequence[str], i: int | None) -> str:
    return row[i] if i is not None and i < len(row) else ""


def _where(r: int, names: Sequence[str], key: Sequence[str]) -> str:
    keys = ", ".join(f"{n}={v}" for n, v in zip(names, key, strict=False))
    return f"row {r + 1} ({keys})"


def _same(expected: Any, raw: Any, got: str, rounding: tspec.Rounding) -> bool:
    """Whether the submitted cell text ``got`` is the recomputed value: the same text, or
    numerically within the tolerance of the declared rounding of the value or of the value
    nudged by a relative 1e-12 either way (a parallel sum may cross a rounding boundary)."""
    want = tspec.cell_text(expected)
    if got == want:
        return True
    if not want or not got or not _is_number(expected):
        return False
    try:
        value = float(got)
    except ValueError:
        return False
    candidates = [expected]
    if _is_number(raw):
        nudged = float(raw)
        candidates += [rounding.apply(nudged * (1 + s * ROUNDING_NUDGE)) for s in (1, -1)]
    return any(
        abs(float(c) - value) <= RELATIVE_TOLERANCE * max(1.0, abs(float(c))) for c in candidates
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
