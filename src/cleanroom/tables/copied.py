"""The sandbox job ``copied-records``: find rows of a researcher's table that were copied from
the project's granted data, however the columns were reordered, renamed or dropped and the
numbers re-written.

Run only inside the sandbox (:data:`cleanroom.sandbox.jobs.JOBS`), on the inputs
``[the export, grant copy 1, grant copy 2, ...]`` (the airlock's Parquet copies), with::

    {"media_type": "text/csv",            # CSV, TSV, Parquet or XLSX (the airlock found it)
     "grants": [{"label": "yield v1",     # one per grant copy, in the inputs' order
                 "columns": ["batch", "yield", ...]}],  # the granted columns only
     "rare_at_most": 1,                   # a grant value seen at most this often is "rare"
     "min_evidence_bits": 8,              # see below
     "threads": 2}                        # optional

Every export cell is read as text. A cell is *normalised* to a number when it is one after
trimming and dropping thousands separators (``1,234.5``, ``9.71e1``), else it stays its
trimmed text. Per export column, its decimals are the fewest that write all its numbers.

1. Column mapping, by value overlap, never by name: the distinct values of a sample of the
   export's rows are looked up in each granted column (numbers rounded to that export
   column's decimals, so ``97.1`` finds ``97.1034``); an export column maps to the granted
   column holding most of them (at least :data:`MIN_OVERLAP` and :data:`MIN_HITS`), one
   to one, best overlaps first.
2. Rows: every export row's mapped values are hashed, and so is every grant row's, on the
   mapped columns (rounded the same way); equal hashes are copied rows. A match counts only
   when it is evidence: two mapped columns or more (or all the export's columns), and
   ``sum(log2(distinct values of each mapped column)) - log2(grant rows)``, the bits by
   which a chance match is unlikely, at least ``min_evidence_bits`` (so a table of
   aggregates keyed by plant and month, which shares those keys with grant rows, is not a
   copy).
3. Each copied row is *whole* (the export's header is the granted columns in their order,
   values written as the grant writes them), *rearranged* (columns reordered, renamed,
   dropped or added, values verbatim) or *reformatted* (found only after normalising
   numbers).
4. Per mapped column of text or whole numbers whose sampled values are mostly distinct
   (identifiers: a measure's decimals are rare by nature, a category is not rare), the
   distinct export values found verbatim (same text) in the grant among values that are
   rare there (``rare_at_most``).

No value of the grant or of the export is in the answer: counts, column names, row numbers.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cleanroom.sandbox.limits import Limits

from . import spec as tspec

COPIED_LIMITS = Limits(
    memory_bytes=6 * 1024**3,
    cpu_seconds=1200,
    wall_seconds=300.0,
    processes=64,
    input_bytes=8 * 1024**3,
    tmp_bytes=1024**3,
    file_bytes=1024**3,
)
"""The bounds of a scan: an export of millions of rows against grants of tens of millions."""

MEMORY_LIMIT = "3GB"
MAX_THREADS = 16
# Export rows whose distinct values choose the column mapping.
SAMPLE_ROWS = 10_000
# Share of an export column's sampled distinct values found in a granted column to map them
# (low: copied rows may be a few among made-up ones), and how many at least.
MIN_OVERLAP = 0.001
MIN_HITS = 3
# Numbers are compared at most at this many decimals.
MAX_DECIMALS = 10
# Numeric columns whose two roundings are both hashed (2^n hashes per export row).
BAND_COLUMNS = 3
# Share of distinct values in the sample that makes a column identifier-like.
ID_DISTINCT = 0.5
# Export row numbers listed per grant (1-based, after the header); all are counted.
MAX_ROWS_LISTED = 20
# Largest XLSX read (cells), so a sheet of a billion empty cells is not walked.
MAX_XLSX_CELLS = 20_000_000

CSV = "text/csv"
TSV = "text/tab-separated-values"
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Thousands separators: "1,234" or "-1,234,567.5" (never "1,2": that is two values).
_THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"
_NUMERIC_TYPE = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")


class CopiedError(ValueError):
    """The export cannot be compared at all (the message says why and what to do)."""


def find_copied(export: Path, grants: Sequence[Path], params: Mapping[str, Any]) -> dict:
    """The job (see the module docstring)."""
    import duckdb

    from cleanroom.core.duckdb_sandbox import connect, first_line

    media_type, specs, rare_at_most, min_bits, threads = _parse(params, len(grants))
    threads = threads or min(os.cpu_count() or 1, MAX_THREADS)
    # The job's own scratch (the sandbox's private /tmp): spills, and a workbook's sheets.
    scratch = tempfile.TemporaryDirectory(prefix="copied-")
    con = connect(
        [str(export), *map(str, grants)],
        scratch.name,
        memory_limit=MEMORY_LIMIT,
        threads=threads,
    )
    try:
        started = time.perf_counter()
        try:
            tables = _load_export(con, export, media_type, Path(scratch.name))
            read_s = time.perf_counter() - started
            answer = _empty_answer()
            for name, header in tables:
                _scan_table(con, name, header, grants, specs, rare_at_most, min_bits, answer)
        except duckdb.Error as error:
            raise CopiedError(f"the table could not be compared: {first_line(error)}") from None
        answer["tables"] = len(tables)
        answer["threads"] = threads
        answer["scan_s"] = round(time.perf_counter() - started, 6)
        answer["timings"]["read_s"] = round(read_s, 6)
        return answer
    finally:
        con.close()
        scratch.cleanup()


def _parse(params: Mapping[str, Any], n_grants: int):
    if not isinstance(params, Mapping):
        raise CopiedError("the scan's parameters must be a JSON object")
    media_type = params.get("media_type")
    if media_type not in (CSV, TSV, XLSX, *PARQUET):
        raise CopiedError(f"{media_type!r} is not a table this check reads")
    specs = params.get("grants")
    if not isinstance(specs, list) or len(specs) != n_grants:
        raise CopiedError('"grants" must describe each grant copy, in the inputs\' order')
    for g in specs:
        cols = g.get("columns") if isinstance(g, Mapping) else None
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            raise CopiedError("each grant must list its granted columns")
    rare = params.get("rare_at_most", 1)
    bits = params.get("min_evidence_bits", 8)
    threads = params.get("threads")
    if isinstance(rare, bool) or not isinstance(rare, int) or rare < 1:
        raise CopiedError('"rare_at_most" must be a whole number of 1 or more')
    if isinstance(bits, bool) or not isinstance(bits, int | float):
        raise CopiedError('"min_evidence_bits" must be a number')
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise CopiedError('"threads" must be a whole number or absent')
    return media_type, specs, rare, float(bits), min(threads, MAX_THREADS) if threads else None


def _empty_answer() -> dict[str, Any]:
    return {
        "rows": 0,
        "copied_rows": 0,
        "whole_rows": 0,
        "rearranged_rows": 0,
        "reformatted_rows": 0,
        "verbatim_rare_values": 0,
        "grants": [],
        "timings": {},
    }


# -- reading the export as text -------------------------------------------------------------


def _load_export(con, export: Path, media_type: str, scratch: Path) -> list[tuple[str, list[str]]]:
    """The export as tables ``e0``, ``e1``... of text columns ``c0``.. with a row number
    ``rid`` (1-based): [(table, header)]. Each sheet of a workbook is a table."""
    if media_type in (CSV, TSV):
        con.execute(
            "CREATE TEMP TABLE raw AS SELECT * FROM read_csv(?, all_varchar = true, "
            "header = true, delim = ?, quote = '\"', escape = '\"', "
            "null_padding = true, strict_mode = false)",
            [str(export), "," if media_type == CSV else "\t"],
        )
        return [_number(con, "raw", "e0")]
    if media_type in PARQUET:
        con.execute("CREATE TEMP TABLE raw AS SELECT * FROM read_parquet(?)", [str(export)])
        return [_number(con, "raw", "e0")]
    return _load_xlsx(con, export, scratch)


def _number(con, raw: str, name: str) -> tuple[str, list[str]]:
    header = [d[0] for d in con.execute(f"SELECT * FROM {raw} LIMIT 0").description]  # noqa: S608
    q = tspec.quote_identifier
    cols = ", ".join(f"NULLIF(CAST({q(h)} AS VARCHAR), '') AS c{i}" for i, h in enumerate(header))
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT row_number() OVER () AS rid, {cols} "  # noqa: S608
        f"FROM {raw}"
    )
    con.execute(f"DROP TABLE {raw}")
    return name, header


def _load_xlsx(con, export: Path, scratch: Path) -> list[tuple[str, list[str]]]:
    """Each sheet written as a CSV of text in the scratch directory, then read like one."""
    import openpyxl

    try:
        # A file object: openpyxl judges a path by its suffix, and the input has none.
        book = openpyxl.load_workbook(open(export, "rb"), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds
        raise CopiedError(f"the workbook could not be read: {error}") from None
    tables = []
    cells = 0
    try:
        for n, sheet in enumerate(book.worksheets):
            rows = sheet.iter_rows(values_only=True)
            header = [_xlsx_text(v) or f"column {i + 1}" for i, v in enumerate(next(rows, ()))]
            if not header:
                continue
            path = scratch / f"sheet{n}.csv"
            with open(path, "w", newline="", encoding="utf-8") as f:
                out = csv.writer(f)
                out.writerow([f"x{i}" for i in range(len(header))])
                for row in rows:
                    cells += len(header)
                    if cells > MAX_XLSX_CELLS:
                        raise CopiedError(f"the workbook has over {MAX_XLSX_CELLS:,} cells")
                    out.writerow(
                        [_xlsx_text(row[i]) if i < len(row) else None for i in range(len(header))]
                    )
            con.execute(
                "CREATE TEMP TABLE raw AS SELECT * FROM read_csv(?, all_varchar = true, "
                "header = true, delim = ',', quote = '\"', escape = '\"')",
                [str(path)],
            )
            name, _ = _number(con, "raw", f"e{n}")
            path.unlink()
            tables.append((name, header))
    finally:
        book.close()
    return tables


def _xlsx_text(value: Any) -> str | None:
    """A cell as the text a CSV of it would hold."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


# -- one export table against every grant ---------------------------------------------------


def _num_sql(col: str) -> str:
    """An export text cell as a number (NULL when it is not one); the thousands pattern is
    only tried on cells with a comma."""
    return (
        f"coalesce(TRY_CAST({col} AS DOUBLE), CASE WHEN contains({col}, ',') AND "
        f"regexp_matches({col}, '{_THOUSANDS}') THEN TRY_CAST(replace({col}, ',', '') "
        "AS DOUBLE) END)"
    )


def _export_columns(con, n: int) -> list[int | None]:
    """Per export column, from the sample: its decimals when every value is a number, else
    None (text). A row of the whole export whose cell is not a number then matches nothing
    in that column."""
    parts = []
    for i in range(n):
        x = _num_sql(f"c{i}")
        parts.append(f"count(c{i}) = count({x}) AND count(c{i}) > 0")
        parts += [
            f"bool_and({x} IS NULL OR abs({x} * {10**d} - round({x} * {10**d})) < 1e-6)"
            for d in range(MAX_DECIMALS + 1)
        ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM sample").fetchone()  # noqa: S608
    out: list[int | None] = []
    step = MAX_DECIMALS + 2
    for i in range(n):
        flags = row[i * step : (i + 1) * step]
        if not flags[0]:
            out.append(None)
        else:
            out.append(next((d for d, ok in enumerate(flags[1:]) if ok), MAX_DECIMALS))
    return out


def _export_key(i: int, decimals: int | None) -> str:
    """An export cell's key: its text, or its number times 10^decimals, rounded."""
    if decimals is None:
        return f"c{i}"
    return f"round({_num_sql(f'c{i}')} * {10**decimals})"


def _grant_text(column: str) -> str:
    return f"CAST({tspec.quote_identifier(column)} AS VARCHAR)"


def _grant_scaled(column: str, decimals: int) -> str:
    """A numeric granted column's value times 10^decimals (not rounded)."""
    return f"(CAST({tspec.quote_identifier(column)} AS DOUBLE) * {10**decimals})"


def _scan_table(con, table, header, grants, specs, rare_at_most, min_bits, answer) -> None:
    n = len(header)
    (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    answer["rows"] += rows
    if not rows or not n:
        return
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE sample AS SELECT * FROM {table} "  # noqa: S608
        f"USING SAMPLE {SAMPLE_ROWS} ROWS (reservoir, 7)"
    )
    decimals = _export_columns(con, n)
    # The sample's distinct keys: every column's text, and each number column's numbers.
    texts = " UNION ALL ".join(
        f"SELECT DISTINCT {i} AS i, c{i} AS k FROM sample WHERE c{i} IS NOT NULL"  # noqa: S608
        for i in range(n)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE stext AS {texts}")
    numbers = [
        f"SELECT DISTINCT {i} AS i, {d} AS d, {_export_key(i, d)} AS k FROM sample "  # noqa: S608
        f"WHERE {_export_key(i, d)} IS NOT NULL"
        for i, d in enumerate(decimals)
        if d is not None
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE snum AS "
        + (" UNION ALL ".join(numbers) or "SELECT 0 AS i, 0 AS d, 0.0::DOUBLE AS k LIMIT 0")
    )
    for path, spec in zip(grants, specs, strict=True):
        found = _scan_grant(
            con, table, header, decimals, str(path), spec, rare_at_most, min_bits, rows
        )
        answer["grants"].append(found)
        for key in ("copied_rows", "whole_rows", "rearranged_rows", "reformatted_rows"):
            answer[key] += found[key]
        answer["verbatim_rare_values"] += sum(found["verbatim_rare_values"].values())


def _grant_types(con, grant: str, columns: list[str]) -> dict[str, bool]:
    """Granted column -> numeric, for the granted columns the copy has."""
    described = dict(
        (r[0], r[1])
        for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [grant]).fetchall()
    )
    return {
        c: described[c].upper().startswith(_NUMERIC_TYPE) or described[c].startswith("DECIMAL")
        for c in columns
        if c in described
    }


def _mapping(con, grant, decimals, types) -> dict[int, tuple[str, int | None]]:
    """Export column -> (granted column, decimals or None for text), by the overlap of the
    sample's distinct values with each granted column: one pass per granted column, its
    values looked up in the sample's keys (a number column at each export decimals)."""
    totals = dict(con.execute("SELECT i, count(*) FROM stext GROUP BY i").fetchall())
    places = sorted({d for d in decimals if d is not None})
    scores: list[tuple[float, int, str, int | None]] = []
    for column, numeric in types.items():
        if numeric and places:
            branches = " UNION ALL ".join(
                f"SELECT DISTINCT {d} AS d, round({_grant_scaled(column, d)}) AS k "  # noqa: S608
                f"FROM read_parquet($1) WHERE round({_grant_scaled(column, d)}) IN "
                f"(SELECT k FROM snum WHERE d = {d})"
                for d in places
            )
            hits = con.execute(
                f"SELECT s.i, s.d, count(*) FROM ({branches}) g "  # noqa: S608
                "JOIN snum s ON s.d = g.d AND s.k = g.k GROUP BY ALL",
                [grant],
            ).fetchall()
        elif numeric:
            continue
        else:
            text = _grant_text(column)
            hits = con.execute(
                f"SELECT s.i, NULL, count(*) FROM (SELECT DISTINCT {text} AS k FROM "  # noqa: S608
                f"read_parquet(?) WHERE {text} IN (SELECT k FROM stext)) g "
                "JOIN stext s ON s.k = g.k GROUP BY ALL",
                [grant],
            ).fetchall()
        for i, d, count in hits:
            if count >= MIN_HITS and count / totals[i] >= MIN_OVERLAP:
                scores.append((count / totals[i], i, column, d))
    mapping: dict[int, tuple[str, int | None]] = {}
    taken: set[str] = set()
    for _, i, column, d in sorted(scores, key=lambda s: (-s[0], s[1], s[2])):
        if i not in mapping and column not in taken:
            mapping[i] = (column, d)
            taken.add(column)
    return mapping


def _scan_grant(con, table, header, decimals, grant, spec, rare_at_most, min_bits, rows):
    columns = list(spec["columns"])
    found: dict[str, Any] = {
        "label": str(spec.get("label") or ""),
        "mapping": {},
        "copied_rows": 0,
        "whole_rows": 0,
        "rearranged_rows": 0,
        "reformatted_rows": 0,
        "evidence_bits": None,
        "first_rows": [],
        "verbatim_rare_values": {},
        "timings": {},
    }
    timings = found["timings"]
    started = time.perf_counter()
    types = _grant_types(con, grant, columns)
    mapping = _mapping(con, grant, decimals, types)
    timings["mapping_s"] = round(time.perf_counter() - started, 6)
    found["mapping"] = {header[i]: c for i, (c, _) in sorted(mapping.items())}
    if not mapping:
        return found
    started = time.perf_counter()
    # Identifiers are text or whole numbers, and mostly distinct (in the sample); a
    # measure's decimals are rare by nature.
    distinct = dict(con.execute("SELECT i, count(*) FROM stext GROUP BY i").fetchall())
    (sampled,) = con.execute("SELECT count(*) FROM sample").fetchone()
    ids = {
        i: c
        for i, (c, d) in mapping.items()
        if d in (None, 0) and distinct.get(i, 0) >= ID_DISTINCT * sampled
    }
    _verbatim(con, table, header, grant, ids, rare_at_most, found)
    timings["verbatim_s"] = round(time.perf_counter() - started, 6)
    if len(mapping) < 2 and len(mapping) < len(header):
        return found
    started = time.perf_counter()
    order = sorted(mapping)
    numeric = [i for i in order if mapping[i][1] is not None]
    exact = [i for i in order if mapping[i][1] is None]
    scaled = {i: _grant_scaled(mapping[i][0], int(mapping[i][1] or 0)) for i in numeric}
    text = {i: _grant_text(mapping[i][0]) for i in exact}
    # How unlikely a chance match is (distinct values per mapped column against grant rows),
    # and which number columns the grant writes at the export's decimals already.
    keys = [f"round({scaled[i]})" if i in scaled else text[i] for i in order]
    whole = [f"bool_and(abs({scaled[i]} - round({scaled[i]})) < 1e-6)" for i in numeric]
    stats = con.execute(
        f"SELECT count(*), {', '.join(f'approx_count_distinct({k})' for k in keys)}"  # noqa: S608
        f"{''.join(', ' + w for w in whole)} FROM read_parquet(?)",
        [grant],
    ).fetchone()
    n_grant, distinct = stats[0], stats[1 : 1 + len(order)]
    at_decimals = dict(zip(numeric, stats[1 + len(order) :], strict=True))
    bits = sum(math.log2(max(d, 1)) for d in distinct) - math.log2(max(n_grant, 1))
    found["evidence_bits"] = round(bits, 1)
    timings["evidence_s"] = round(time.perf_counter() - started, 6)
    if bits < min_bits:
        return found
    started = time.perf_counter()
    _match_rows(con, table, mapping, order, numeric, exact, scaled, text, at_decimals, grant)
    timings["rows_s"] = round(time.perf_counter() - started, 6)
    same_layout = header == columns and all(
        mapping.get(i, ("",))[0] == c for i, c in enumerate(columns)
    )
    copied, verbatim = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE verbatim) FROM matched"
    ).fetchone()
    found["copied_rows"] = copied
    found["reformatted_rows"] = copied - verbatim
    found["whole_rows" if same_layout else "rearranged_rows"] = verbatim
    found["first_rows"] = [
        r[0]
        for r in con.execute(
            "SELECT rid FROM matched ORDER BY rid LIMIT ?", [MAX_ROWS_LISTED]
        ).fetchall()
    ]
    return found


def _match_rows(con, table, mapping, order, numeric, exact, scaled, text, at_decimals, grant):
    """The export rows equal to a grant row on every mapped column, into ``matched``
    (rid, verbatim).

    Numbers: the export's v = round(x * 10^d) is the grant's g * 10^d rounded by whoever
    wrote it (half up, half even, ...). Where the grant writes the column at d decimals
    already, round(g * 10^d) is v; elsewhere floor(g * 10^d) is v or v - 1, so the export's
    rows are hashed with both (the first BAND_COLUMNS such columns; the others are only
    compared after the join). Every number is then checked to be within half a unit.
    """
    band = [i for i in numeric if not at_decimals[i]][:BAND_COLUMNS]
    e_hash = [f"c{i}" for i in exact]
    e_hash += [f"v{i} + o{i}.o" if i in band else f"v{i}" for i in numeric]
    g_hash = [text[i] for i in exact]
    g_hash += [f"floor({scaled[i]})" if i in band else f"round({scaled[i]})" for i in numeric]
    offsets = "".join(f", (VALUES (0), (-1)) o{i}(o)" for i in band)
    values = "".join(f", c{i}" for i in exact)
    values += "".join(f", {_export_key(i, mapping[i][1])} AS v{i}" for i in numeric)
    carried = ", ".join(["rid", "t", *(f"v{i}" for i in numeric)])
    not_null = " AND ".join(f"{_export_key(i, mapping[i][1])} IS NOT NULL" for i in order)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE ehash AS SELECT {carried}, "  # noqa: S608
        f"hash({', '.join(e_hash)}) AS h FROM (SELECT rid, "
        f"hash({', '.join(f'c{i}' for i in order)}) AS t{values} FROM {table} "
        f"WHERE {not_null}) e{offsets}"
    )
    near = " AND ".join(f"abs(g.s{i} - e.v{i}) <= 0.500001" for i in numeric) or "true"
    g_cols = "".join(f", {scaled[i]} AS s{i}" for i in numeric)
    g_cols += "".join(f", {tspec.quote_identifier(mapping[i][0])} AS r{i}" for i in order)
    # The text of the grant's values only for the rows that matched (it is costly).
    raw = ", ".join(f"CAST(g.r{i} AS VARCHAR)" for i in order)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE matched AS SELECT e.rid, "  # noqa: S608
        f"bool_or(e.t = hash({raw})) AS verbatim FROM ehash e JOIN "
        f"(SELECT hash({', '.join(g_hash)}) AS h{g_cols} FROM read_parquet(?)) g "
        f"ON e.h = g.h WHERE {near} GROUP BY e.rid",
        [grant],
    )


def _verbatim(con, table, header, grant, mapping, rare_at_most, found) -> None:
    """Per mapped column, the distinct export values found, as written, among the values the
    grant holds at most ``rare_at_most`` times."""
    for i, column in sorted(mapping.items()):
        text = _grant_text(column)
        (count,) = con.execute(
            f"SELECT count(*) FROM (SELECT {text} AS g, count(*) AS n FROM "  # noqa: S608
            f"read_parquet(?) WHERE {text} IN (SELECT DISTINCT c{i} FROM {table}) "
            f"GROUP BY g) WHERE n <= ?",
            [grant, rare_at_most],
        ).fetchone()
        if count:
            found["verbatim_rare_values"][header[i]] = count
