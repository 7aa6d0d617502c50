"""Verified tables: the specification of how a statistical table was made, and the one way
to compute, shape, round and write it from that specification.

The researcher's ``cleanroom.sdc`` helpers (in the notebook image) and the airlock's recompute
(in the sandbox) both use this module, so a table made by the helper and the airlock's own
result are made by the same code. It must stay importable on its own: **standard library
only** (the notebook image carries an exact copy, ``images/notebook/client/cleanroom/
tablespec.py``, and ``make check`` compares the two).

A specification is a small JSON document, never SQL::

    {
      "format": "cleanroom-table/1",
      "dataset": "wafer_lots",          # the view the researcher queried
      "grant": "<64 hex>",              # the grant key behind that view (/data/<key>/...)
      "rows": ["plant"],                # group-by columns: one table row per combination
      "columns": ["quarter"],           # optional: a pivot, one table column per combination
      "values": [{"aggregate": "mean", "measure": "die_yield_pct"}],
      "filter": "process_step = 'etch'",   # optional; a grant row filter's grammar
      "rounding": {"decimals": 1},      # or {"base": 5}, or null
      "file_format": "csv"              # or "parquet"
    }

The long result (one row per group: the group's keys, then one value per entry of
``values``) is computed by :func:`long_query`; :func:`shape` turns it into the table that is
written (rounded, and pivoted when ``columns`` is given); :func:`cell_text` is how a cell is
written in a CSV and compared.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT = "cleanroom-table/1"
SPEC_SUFFIX = ".table.json"
"""The specification is written beside its table: ``yield.csv`` -> ``yield.csv.table.json``."""

# What each aggregate computes, as DuckDB SQL over one measure column ({m}); "count" counts
# rows and takes no measure. Nothing else is accepted: a callable, a name not listed here or
# free SQL is refused, never computed some other way or let through unchecked.
AGGREGATES: dict[str, str] = {
    "count": "count(*)",
    "sum": "sum({m})",
    "mean": "avg({m})",
    "median": "median({m})",
    "min": "min({m})",
    "max": "max({m})",
}
FILE_FORMATS = ("csv", "parquet")
MAX_KEYS = 4  # group-by columns, rows and columns together
MAX_VALUES = 20
MAX_FILTER = 2000
MAX_SPEC_BYTES = 8192
MAX_DECIMALS = 10
MAX_TABLE_ROWS = 10_000
MAX_TABLE_CELLS = 100_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,127}")
_KEY = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"format", "dataset", "grant", "rows", "columns", "values", "filter", "rounding"}
_FIELDS |= {"file_format"}


class SpecError(ValueError):
    """A specification that is not one this module makes (the message says what to fix)."""


@dataclass(frozen=True)
class Value:
    """One aggregate of one measure column (``measure`` is None for ``count``)."""

    aggregate: str
    measure: str | None = None

    @property
    def name(self) -> str:
        """The value's column name in a table without pivot: ``count``, ``mean_<measure>``."""
        return self.aggregate if self.measure is None else f"{self.aggregate}_{self.measure}"

    def sql(self) -> str:
        measure = "" if self.measure is None else quote_identifier(self.measure)
        return AGGREGATES[self.aggregate].format(m=measure)


@dataclass(frozen=True)
class Rounding:
    """Every value is rounded to ``decimals`` places, or to a multiple of ``base``."""

    decimals: int | None = None
    base: int | None = None

    def apply(self, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return value
        if self.base is not None:
            return int(_half_up(decimal.Decimal(str(value)) / self.base, 0)) * self.base
        if self.decimals is not None:
            rounded = _half_up(decimal.Decimal(str(value)), self.decimals)
            return int(rounded) if self.decimals == 0 else float(rounded)
        return value

    def describe(self) -> str:
        if self.base is not None:
            return f"rounded to a multiple of {self.base}"
        if self.decimals is not None:
            return f"rounded to {self.decimals} decimal place(s)"
        return "not rounded"

    def as_json(self) -> dict[str, int] | None:
        if self.base is not None:
            return {"base": self.base}
        if self.decimals is not None:
            return {"decimals": self.decimals}
        return None


@dataclass(frozen=True)
class TableSpec:
    dataset: str
    grant: str
    rows: tuple[str, ...]
    values: tuple[Value, ...]
    columns: tuple[str, ...] = ()
    filter: str | None = None
    rounding: Rounding = field(default_factory=Rounding)
    file_format: str = "csv"

    @property
    def keys(self) -> tuple[str, ...]:
        """The group-by columns: rows, then columns."""
        return self.rows + self.columns

    @property
    def measures(self) -> tuple[str, ...]:
        """The measure columns, each once, in order."""
        return tuple(dict.fromkeys(v.measure for v in self.values if v.measure is not None))

    def used_columns(self) -> frozenset[str]:
        """Every dataset column the specification names (the filter's are found by the
        filter checker)."""
        return frozenset(self.keys) | frozenset(self.measures)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "dataset": self.dataset,
            "grant": self.grant,
            "rows": list(self.rows),
            "columns": list(self.columns),
            "values": [
                {"aggregate": v.aggregate, "measure": v.measure}
                if v.measure is not None
                else {"aggregate": v.aggregate}
                for v in self.values
            ],
            "filter": self.filter,
            "rounding": self.rounding.as_json(),
            "file_format": self.file_format,
        }

    def describe(self) -> str:
        """One sentence for a reviewer: what the table is."""
        values = ", ".join(
            v.aggregate if v.measure is None else f"{v.aggregate} of {v.measure}"
            for v in self.values
        )
        text = f"{values} of {self.dataset} by {', '.join(self.rows)}"
        if self.columns:
            text += f" (columns: {', '.join(self.columns)})"
        if self.filter:
            text += f", where {self.filter}"
        return f"{text}; {self.rounding.describe()}"


def _half_up(value: decimal.Decimal, places: int) -> decimal.Decimal:
    return value.quantize(decimal.Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- reading a specification ------------------------------------------------------------------


def parse_spec(doc: Any) -> TableSpec:
    """A specification from its JSON document (text, bytes or an already parsed object).
    Anything unexpected raises :class:`SpecError` with what to fix."""
    if isinstance(doc, bytes | str):
        if len(doc) > MAX_SPEC_BYTES:
            raise SpecError(f"the table specification is over {MAX_SPEC_BYTES} bytes")
        try:
            doc = json.loads(doc)
        except ValueError as error:
            raise SpecError(f"the table specification is not JSON: {error}") from None
    if not isinstance(doc, Mapping):
        raise SpecError("the table specification must be a JSON object")
    unknown = set(doc) - _FIELDS
    if unknown:
        names = ", ".join(sorted(unknown))
        raise SpecError(f"unknown field(s) in the table specification: {names}")
    if doc.get("format") != FORMAT:
        raise SpecError(f'the table specification\'s "format" must be "{FORMAT}"')
    dataset = _name(doc.get("dataset"), "dataset")
    grant = doc.get("grant")
    if not isinstance(grant, str) or not _KEY.fullmatch(grant):
        raise SpecError('"grant" must be the 64-character key of the grant the table was made from')
    rows = _names(doc.get("rows"), "rows", at_least=1)
    columns = _names(doc.get("columns", []) or [], "columns", at_least=0)
    keys = rows + columns
    if len(keys) > MAX_KEYS:
        raise SpecError(f"group by at most {MAX_KEYS} columns (rows and columns together)")
    if len(set(keys)) != len(keys):
        raise SpecError("a column may appear only once in rows and columns")
    values = _values(doc.get("values"))
    if columns and len(values) != 1:
        raise SpecError("a pivot (with columns) shows exactly one value")
    if set(v.measure for v in values) & set(keys):
        raise SpecError("a measure cannot also be a group-by column")
    flt = doc.get("filter")
    if flt is not None and (not isinstance(flt, str) or not flt.strip()):
        raise SpecError('"filter" must be a non-empty row filter or null')
    if flt is not None and len(flt) > MAX_FILTER:
        raise SpecError(f'"filter" is longer than {MAX_FILTER} characters')
    file_format = doc.get("file_format", "csv")
    if file_format not in FILE_FORMATS:
        raise SpecError(f'"file_format" must be one of {", ".join(FILE_FORMATS)}')
    return TableSpec(
        dataset=dataset,
        grant=grant,
        rows=rows,
        columns=columns,
        values=values,
        filter=flt.strip() if flt else None,
        rounding=_rounding(doc.get("rounding")),
        file_format=file_format,
    )


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SpecError(
            f"{what} {value!r} is not a column or dataset name (letters, digits, _ . - and "
            "spaces, starting with a letter or _, at most 128 characters)"
        )
    return value


def _names(value: Any, what: str, at_least: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) < at_least:
        raise SpecError(f'"{what}" must be a list of at least {at_least} column name(s)')
    return tuple(_name(v, f"a {what} column") for v in value)


def _values(value: Any) -> tuple[Value, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError('"values" must list at least one {"aggregate": ..., "measure": ...}')
    if len(value) > MAX_VALUES:
        raise SpecError(f"at most {MAX_VALUES} values per table")
    out = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"aggregate", "measure"}:
            raise SpecError('each value is {"aggregate": ..., "measure": ...} and nothing else')
        out.append(make_value(item.get("aggregate"), item.get("measure")))
    if len({v.name for v in out}) != len(out):
        raise SpecError("the same value is asked for twice")
    return tuple(out)


def make_value(aggregate: Any, measure: Any = None) -> Value:
    """A value from an aggregate's name and a measure column; only :data:`AGGREGATES`."""
    if not isinstance(aggregate, str) or aggregate not in AGGREGATES:
        raise SpecError(
            f"{aggregate!r} is not an aggregate the airlock can recompute; use one of: "
            f"{', '.join(AGGREGATES)} (a function or free SQL is never accepted)"
        )
    if aggregate == "count":
        if measure is not None:
            raise SpecError('"count" counts rows and takes no measure column')
        return Value("count")
    return Value(aggregate, _name(measure, f"the measure of {aggregate}"))


def _rounding(value: Any) -> Rounding:
    if value is None:
        return Rounding()
    if not isinstance(value, Mapping) or len(value) != 1:
        raise SpecError('"rounding" is null, {"decimals": n} or {"base": n}')
    ((kind, n),) = value.items()
    if isinstance(n, bool) or not isinstance(n, int):
        raise SpecError(f"rounding {kind} must be a whole number")
    if kind == "decimals" and 0 <= n <= MAX_DECIMALS:
        return Rounding(decimals=n)
    if kind == "base" and 1 <= n <= 1_000_000:
        return Rounding(base=n)
    raise SpecError(
        f'"rounding" is {{"decimals": 0..{MAX_DECIMALS}}} or {{"base": 1..1000000}}, '
        f"not {dict(value)!r}"
    )


# -- computing and shaping ------------------------------------------------------------------


def long_query(spec: TableSpec, source: str, where: str | None = None) -> str:
    """The SQL of the long result over ``source`` (a view name or ``read_parquet(...)``):
    the keys, then one column per value, one row per group, ordered by the keys.
    ``where``: the row filter as SQL (the caller's; the airlock passes it re-printed by the
    filter checker)."""
    keys = ", ".join(quote_identifier(k) for k in spec.keys)
    values = ", ".join(f"{v.sql()} AS {quote_identifier(v.name)}" for v in spec.values)
    sql = f"SELECT {keys}, {values} FROM {source}"  # noqa: S608 - names quoted, no input SQL
    if where:
        sql += f" WHERE ({where})"
    order = ", ".join(f"{quote_identifier(k)} NULLS LAST" for k in spec.keys)
    return f"{sql} GROUP BY {keys} ORDER BY {order}"


def shape(spec: TableSpec, long_rows: Iterable[Sequence[Any]]) -> tuple[list[str], list[list]]:
    """The table as written: (header, rows). Values rounded as the specification says; with
    ``columns``, one row per combination of ``rows`` and one column per combination of
    ``columns`` (named by their values joined with ``_``, in sorted order), a missing
    combination being 0 for a count and empty otherwise."""
    long_rows = [list(r) for r in long_rows]
    n_keys = len(spec.keys)
    for r in long_rows:
        for i in range(len(spec.values)):
            r[n_keys + i] = spec.rounding.apply(r[n_keys + i])
    if not spec.columns:
        return [*spec.keys, *(v.name for v in spec.values)], long_rows
    n_rows = len(spec.rows)
    by_row: dict[tuple, dict[tuple, Any]] = {}
    column_keys: dict[tuple, None] = {}
    for r in long_rows:
        row_key, column_key = tuple(r[:n_rows]), tuple(r[n_rows:n_keys])
        by_row.setdefault(row_key, {})[column_key] = r[n_keys]
        column_keys[column_key] = None
    ordered = sorted(column_keys, key=_sort_key)
    empty = 0 if spec.values[0].aggregate == "count" else None
    header = [*spec.rows, *("_".join(cell_text(v) for v in ck) for ck in ordered)]
    table = [
        [*row_key, *(cells.get(ck, empty) for ck in ordered)] for row_key, cells in by_row.items()
    ]
    return header, table


def _sort_key(values: tuple) -> tuple:
    return tuple((v is None, cell_text(v)) for v in values)


def cell_text(value: Any) -> str:
    """How a cell is written in a CSV (and compared): empty for null, ISO dates, Python's
    shortest round-trip form of a float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    return str(value)


def check_size(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Refuses tables too large to be a statistical output (and to be checked cell by cell)."""
    if len(rows) > MAX_TABLE_ROWS:
        raise SpecError(
            f"the table has {len(rows):,} rows; a verified table has at most {MAX_TABLE_ROWS:,} "
            "(group by fewer or coarser columns)"
        )
    if len(rows) * len(header) > MAX_TABLE_CELLS:
        raise SpecError(f"the table has over {MAX_TABLE_CELLS:,} cells")
