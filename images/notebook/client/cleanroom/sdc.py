"""Verified tables: the usual statistical outputs, made so that the airlock can check them.

    from cleanroom import sdc
    t = sdc.frequency("wafer_lots", ["plant"])                        # counts
    t = sdc.pivot("wafer_lots", ["plant"], ["quarter"], "mean", "die_yield_pct",
                  rounding={"decimals": 1})
    t = sdc.summary("wafer_lots", ["process_step"], "die_yield_pct")  # count, mean, median, ...
    t = sdc.table("wafer_lots", ["plant"], [("count", None), ("sum", "wafers")],
                  filter="process_step = 'etch'")
    t                                  # shows the table
    path = t.save("outputs/yield.csv")  # also writes outputs/yield.csv.table.json
    cleanroom.request_release([path], justification="...")

Each helper queries a granted view (through :func:`cleanroom.connect`) and returns a
:class:`Table`. ``Table.save`` writes the table and, beside it, its *specification*: which
dataset and grant, which group-by columns, aggregates and measures, which row filter and which
rounding. The specification is data, never SQL. When the table is released, the lab server sends
the specification with it and the airlock recomputes the table from the vault's own copy of the
data, outside this server, compares it with the file cell by cell, and checks every cell by the
number of organisations behind it (not rows) and whether one of them dominates it. A table
edited after it was made, or made some other way, does not match its specification and fails.

Rounding is your choice and is declared in the specification: nothing is rounded unless you
say so (``rounding={"decimals": n}`` rounds to n places, ``rounding={"base": n}`` to a
multiple of n; every value of the table, half away from zero). The airlock rounds its own
result the same way before comparing.

Only the aggregates in :data:`AGGREGATES` exist (count, sum, mean, median, min, max): a Python
function or free SQL is refused, because the airlock could not recompute it. The computing,
shaping, rounding and writing of cells is ``cleanroom.tablespec``, an exact copy of the code the
airlock runs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import html
import json
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from . import connect as _connect
from . import tablespec
from .tablespec import AGGREGATES, SPEC_SUFFIX, SpecError, TableSpec, Value

__all__ = [
    "AGGREGATES",
    "SPEC_SUFFIX",
    "SpecError",
    "Table",
    "frequency",
    "pivot",
    "summary",
    "table",
]

# The catalog's views read /data/<grant key>/data.parquet (cleanroom.grants.views on the hub).
_VIEW_SOURCE = re.compile(r"read_parquet\('(?:[^']|'')*/([0-9a-f]{64})/data\.parquet'\)")
_NUMERIC = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
}
# Aggregates that only make sense over numbers (DuckDB's own error would say less).
_NUMBERS_ONLY = {"sum", "mean"}
FILE_SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
HTML_ROWS = 50  # rows shown in a notebook; the file holds them all


def _numeric(duckdb_type: str) -> bool:
    return duckdb_type.split("(", 1)[0].strip().upper() in _NUMERIC


# -- the helpers ----------------------------------------------------------------------------


def frequency(
    dataset: str,
    rows: str | Sequence[str],
    columns: str | Sequence[str] = (),
    *,
    filter: str | None = None,
    rounding: dict | None = None,
) -> Table:
    """Counts of rows per combination of ``rows`` (and, as a pivot, of ``columns``); a
    combination with no rows is 0 in a pivot."""
    return table(dataset, rows, [("count", None)], columns, filter=filter, rounding=rounding)


def pivot(
    dataset: str,
    rows: str | Sequence[str],
    columns: str | Sequence[str],
    aggregate: str,
    measure: str | None = None,
    *,
    filter: str | None = None,
    rounding: dict | None = None,
) -> Table:
    """One ``aggregate`` of ``measure`` (none for "count") per combination of ``rows`` (a table
    row) and ``columns`` (a table column, named by its values joined with ``_``)."""
    if not columns:
        raise SpecError("a pivot needs columns: name the column(s) whose values become columns")
    return table(dataset, rows, [(aggregate, measure)], columns, filter=filter, rounding=rounding)


def summary(
    dataset: str,
    by: str | Sequence[str],
    measure: str,
    aggregates: Sequence[str] = ("count", "mean", "median", "min", "max"),
    *,
    filter: str | None = None,
    rounding: dict | None = None,
) -> Table:
    """Per group of ``by``: each of ``aggregates`` of ``measure`` ("count" counts rows)."""
    if isinstance(aggregates, str):
        aggregates = [aggregates]
    values = [(a, None if a == "count" else measure) for a in aggregates]
    return table(dataset, by, values, filter=filter, rounding=rounding)


def table(
    dataset: str,
    rows: str | Sequence[str],
    values: Sequence[Any],
    columns: str | Sequence[str] = (),
    filter: str | None = None,
    rounding: dict | None = None,
) -> Table:
    """The general helper: one row per combination of ``rows``; ``values`` lists
    ``(aggregate, measure)`` pairs (``("count", None)`` or just ``"count"`` counts rows);
    with ``columns``, a pivot of exactly one value. ``filter`` keeps rows as a grant's row
    filter would (e.g. ``"process_step = 'etch' AND wafers > 10"``)."""
    wanted = [_value(v) for v in _list(values, "values")]
    row_names, column_names = _list(rows, "rows"), _list(columns, "columns")
    if rounding is not None and not isinstance(rounding, dict):
        raise SpecError(
            f"rounding is None (not rounded), {{'decimals': n}} (n decimal places) or "
            f"{{'base': n}} (a multiple of n), not {rounding!r}"
        )
    con = _connect()
    try:
        grant, types = _view(con, dataset)
        measures = [v.measure for v in wanted if v.measure is not None]
        for name in [*row_names, *column_names, *measures]:
            if name not in types:
                raise SpecError(
                    f"{dataset} has no column {name!r}; its columns are: {', '.join(types)}"
                )
        for v in wanted:
            if v.measure is None:
                continue
            if v.aggregate in _NUMBERS_ONLY and not _numeric(types[v.measure]):
                raise SpecError(
                    f"{v.aggregate} needs a numeric measure; {v.measure} is {types[v.measure]}"
                )
            if rounding is not None and v.aggregate != "count" and not _numeric(types[v.measure]):
                raise SpecError(
                    f"rounding applies to numbers, and {v.aggregate} of {v.measure} is "
                    f"{types[v.measure]}: leave rounding out or choose numeric measures"
                )
        spec = tablespec.parse_spec(
            {
                "format": tablespec.FORMAT,
                "dataset": dataset,
                "grant": grant,
                "rows": row_names,
                "columns": column_names,
                "values": [
                    {"aggregate": v.aggregate}
                    if v.measure is None
                    else {"aggregate": v.aggregate, "measure": v.measure}
                    for v in wanted
                ],
                "filter": filter,
                "rounding": rounding,
                "file_format": "csv",
            }
        )
        # The same SQL as the airlock's recompute, over the view instead of its copy.
        sql = tablespec.long_query(spec, tablespec.quote_identifier(dataset), spec.filter)
        try:
            result = con.sql(sql)
            long_types = [str(t) for t in result.types]
            # Never more groups than a table may have cells (a pivot's groups are its cells).
            long_rows = result.limit(tablespec.MAX_TABLE_CELLS + 1).fetchall()
        except duckdb.Error as error:
            what = f" (is the filter {spec.filter!r} right?)" if spec.filter else ""
            message = str(error).splitlines()[0]
            raise SpecError(f"the table could not be computed{what}: {message}") from None
    finally:
        con.close()
    if len(long_rows) > tablespec.MAX_TABLE_CELLS:
        raise SpecError(
            f"the table has over {tablespec.MAX_TABLE_CELLS:,} groups; group by fewer or "
            "coarser columns"
        )
    header, shaped = tablespec.shape(spec, long_rows)
    tablespec.check_size(header, shaped)
    return Table(spec, header, shaped, _written_types(spec, header, long_types))


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        kind = "(aggregate, measure) pairs" if what == "values" else "column names"
        raise SpecError(f"{what} must be a list of {kind}, not {value!r}")
    return list(value)


def _value(item: Any) -> Value:
    """One value from ``"count"``, ``(aggregate, measure)`` or ``{"aggregate":, "measure":}``."""
    if isinstance(item, Value):
        aggregate, measure = item.aggregate, item.measure
    elif isinstance(item, dict):
        aggregate, measure = item.get("aggregate"), item.get("measure")
    elif isinstance(item, tuple | list) and len(item) == 2:
        aggregate, measure = item
    elif isinstance(item, tuple | list) and len(item) == 1:
        aggregate, measure = item[0], None
    else:
        aggregate, measure = item, None
    if callable(aggregate):
        name = getattr(aggregate, "__name__", repr(aggregate))
        raise SpecError(
            f"the aggregate {name} is a Python function: refused, because the airlock "
            "recomputes every table from its specification, outside this server, and could "
            f"not run your function. Use one of: {', '.join(AGGREGATES)}."
        )
    if isinstance(aggregate, str) and aggregate in AGGREGATES and aggregate != "count":
        if measure is None:
            raise SpecError(f'{aggregate} needs a measure column: ("{aggregate}", "<column>")')
    return tablespec.make_value(aggregate, measure)


def _view(con, dataset: Any) -> tuple[str, dict[str, str]]:
    """The grant key behind a catalog view, and the view's columns and their types."""
    views = dict(
        con.execute(
            "SELECT view_name, sql FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database()"
        ).fetchall()
    )
    if not isinstance(dataset, str) or dataset not in views:
        there = ", ".join(sorted(views)) or "none"
        raise SpecError(f"there is no dataset {dataset!r} here; the project's datasets: {there}")
    sources = _VIEW_SOURCE.findall(views[dataset])
    if len(set(sources)) != 1:
        raise SpecError(
            f"the view {dataset} does not read one granted dataset: verified tables are made "
            "from the catalog's own views"
        )
    described = con.execute(f"DESCRIBE {tablespec.quote_identifier(dataset)}").fetchall()
    return sources[0], {r[0]: str(r[1]) for r in described}


def _written_types(spec: TableSpec, header: Sequence[str], long_types: list[str]) -> list[str]:
    """The DuckDB type of each column of the table as written (a Parquet file's schema)."""
    n_keys = len(spec.keys)
    value_types = []
    for original in long_types[n_keys:]:
        rounding = spec.rounding
        if rounding.base is not None or rounding.decimals == 0:
            value_types.append("HUGEINT" if original.startswith("HUGEINT") else "BIGINT")
        elif rounding.decimals is not None:
            value_types.append("DOUBLE")
        else:
            value_types.append(original)
    if not spec.columns:
        return long_types[:n_keys] + value_types
    n_rows = len(spec.rows)
    return long_types[:n_rows] + value_types[:1] * (len(header) - n_rows)


# -- the table ------------------------------------------------------------------------------


class Table:
    """A verified table: ``header``, ``rows`` (both read-only: a table edited after it was
    made would not match its specification), ``spec`` and ``df`` (a pandas copy)."""

    def __init__(self, spec: TableSpec, header, rows, types: list[str]):
        self.spec = spec
        self.header: tuple[str, ...] = tuple(header)
        self.rows: tuple[tuple, ...] = tuple(tuple(r) for r in rows)
        self._types = types
        self._df = None

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<Table: {self.spec.describe()}; {len(self.rows)} row(s)>"

    @property
    def df(self):
        """The table as a pandas DataFrame (a copy: saving writes ``rows``, never this)."""
        if self._df is None:
            import pandas

            self._df = pandas.DataFrame([list(r) for r in self.rows], columns=list(self.header))
        return self._df

    def _repr_html_(self) -> str:
        cell = tablespec.cell_text
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>"
            for row in self.rows[:HTML_ROWS]
        )
        more = len(self.rows) - HTML_ROWS
        note = f"<p>… and {more:,} more row(s) in the file.</p>" if more > 0 else ""
        caption = html.escape(f"Verified table: {self.spec.describe()}")
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{note}"
            '<p>Save it with <code>.save("name.csv")</code>, then ask for its release.</p>'
        )

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the table at ``path`` (``.csv`` or ``.parquet``, inside your home) and its
        specification beside it (``path`` + ``.table.json``); each written whole, then put in
        place. Returns the table's full path, for :func:`cleanroom.request_release`."""
        given = Path(path).expanduser()
        file_format = FILE_SUFFIXES.get(given.suffix.lower())
        if file_format is None:
            raise ValueError(
                f"{path}: name a verified table .csv or .parquet (the airlock reads those two)."
            )
        target = _in_home(given, path)
        spec = dataclasses.replace(self.spec, file_format=file_format)
        spec_bytes = (json.dumps(spec.as_json(), indent=2) + "\n").encode()
        if len(spec_bytes) > tablespec.MAX_SPEC_BYTES:
            raise SpecError(f"the table's specification is over {tablespec.MAX_SPEC_BYTES} bytes")
        spec_path = target.with_name(target.name + SPEC_SUFFIX)
        if file_format == "parquet":
            _check_parquet_header(self.header)
        temps: list[Path] = []
        try:
            table_tmp = _temp_beside(target, temps)
            if file_format == "csv":
                self._write_csv(table_tmp)
            else:
                self._write_parquet(table_tmp)
            spec_tmp = _temp_beside(spec_path, temps)
            _write_bytes(spec_tmp, spec_bytes)
            # Both files are complete before either is put in place.
            os.replace(spec_tmp, spec_path)
            os.replace(table_tmp, target)
        finally:
            for leftover in temps:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        return str(target)

    def _write_csv(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(self.header)
            for row in self.rows:
                writer.writerow([tablespec.cell_text(v) for v in row])
            handle.flush()
            os.fsync(handle.fileno())

    def _write_parquet(self, path: Path) -> None:
        quote = tablespec.quote_identifier
        con = duckdb.connect(config={"autoinstall_known_extensions": False})
        try:
            columns = ", ".join(
                f"{quote(name)} {kind}" for name, kind in zip(self.header, self._types, strict=True)
            )
            con.execute(f"CREATE TABLE t ({columns})")
            if self.rows:
                marks = ", ".join("?" * len(self.header))
                insert = f"INSERT INTO t VALUES ({marks})"  # noqa: S608 - placeholders only
                con.executemany(insert, [list(r) for r in self.rows])
            target = "'" + str(path).replace("'", "''") + "'"
            con.execute(f"COPY t TO {target} (FORMAT parquet)")
        finally:
            con.close()


def _check_parquet_header(header: Sequence[str]) -> None:
    folded: dict[str, str] = {}
    for name in header:
        if not name:
            raise SpecError(
                "a column of this table has an empty name (a pivot over a missing value): "
                "save it as .csv, or filter the missing values out"
            )
        if name.casefold() in folded:
            raise SpecError(
                f"columns {folded[name.casefold()]!r} and {name!r} differ only in case, which "
                "a Parquet file's reader cannot tell apart: save the table as .csv"
            )
        folded[name.casefold()] = name


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _in_home(given: Path, shown: Any) -> Path:
    """The absolute place to write ``given``: in the home, through no link out of it."""
    home = Path(os.environ.get("HOME") or Path.home()).resolve()
    full = Path(os.path.normpath(given.absolute()))
    existing = full.parent
    while not existing.exists():
        existing = existing.parent
    if not _within(full, home) or not _within(existing.resolve(), home):
        raise ValueError(
            f"{shown} is not in your home ({home}): save tables there, then ask for release."
        )
    full.parent.mkdir(parents=True, exist_ok=True)
    folder = full.parent.resolve()
    if not _within(folder, home):
        raise ValueError(
            f"{shown} is not in your home ({home}): save tables there, then ask for release."
        )
    target = folder / full.name
    if target.is_dir():
        raise ValueError(f"{shown} is a folder: name the table's file.")
    return target


def _temp_beside(path: Path, temps: list[Path]) -> Path:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    temps.append(temp)
    return temp


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
