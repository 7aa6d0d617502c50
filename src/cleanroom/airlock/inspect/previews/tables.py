"""CSV and TSV (the first rows, the shape counted over bounded files) and Parquet (schema and
row count from the footer; rows only from a small first row group, read by a sandboxed
DuckDB). Each marks the cells it is given (``src.marks``: the verified-table check's
findings) and says how many marked cells lie outside the rows and columns it shows."""

from __future__ import annotations

import csv
import io

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _human, _read_text, _Source
from cleanroom.airlock.inspect.previews.html import _cut_note, _meta, _note, _reveal_note, _table
from cleanroom.airlock.inspect.previews.models import _binary
from cleanroom.airlock.inspect.previews.text import _text
from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb

# Where the preview's marked cells are, and where the others are (the full view's pages).
_HERE = "in these first rows"
_ELSEWHERE = "beyond the rows and columns shown here (see the findings and the whole file)"


def _csv(src: _Source) -> str:
    return _delimited(src, ",")


def _tsv(src: _Source) -> str:
    return _delimited(src, "\t")


def _delimited(src: _Source, delimiter: str) -> str:
    text, cut = _read_text(src.f, common.LIMITS.csv_read_bytes)
    lines = text.splitlines(keepends=True)
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut at the read bound
    rows: list[list[str]] = []
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        for row in csv.reader(lines, delimiter=delimiter):
            if row:
                rows.append(row)
            if len(rows) > common.LIMITS.table_rows:
                break
    except csv.Error as error:
        return _note(f"Not shown as a table: the {kind} does not parse ({error}).") + _text(src)
    if not rows:
        return _note(f"An empty {kind} file.") + _binary(src, note=False)
    header, body = rows[0], rows[1 : common.LIMITS.table_rows + 1]
    shape = _csv_shape(src, len(header), delimiter)
    columns = min(len(header), common.LIMITS.table_columns)
    parts = [_meta(f"{shape} · {_human(src.size)}")]
    parts.append(_reveal_note("".join(lines[: common.LIMITS.table_rows + 1])))
    parts.append(_table(header[:columns], [r[:columns] for r in body], marks=src.marks))
    parts.append(src.marks.note(_HERE, _ELSEWHERE) if src.marks else "")
    shown = f"the first {len(body):,} rows and {columns} of {len(header):,} columns"
    parts.append(
        _cut_note(
            f"Showing {shown}; cells are cut at {common.LIMITS.cell_chars} characters.",
            src.full_url,
        )
    )
    return "".join(parts)


def _csv_shape(src: _Source, columns: int, delimiter: str = ",") -> str:
    """'rows × columns' counted over the whole file when it is small enough to count."""
    if src.size > common.LIMITS.csv_count_bytes:
        return f"shape not counted (file larger than {_human(common.LIMITS.csv_count_bytes)})"
    lines = _plain_line_count(src)
    if lines is not None:
        return f"{max(lines - 1, 0):,} rows × {columns:,} columns (plus a header row)"
    src.f.seek(0)
    wrapper = io.TextIOWrapper(src.f, encoding="utf-8-sig", errors="replace", newline="")
    try:
        count = sum(1 for row in csv.reader(wrapper, delimiter=delimiter) if row)
    except csv.Error as error:
        return f"shape not counted ({error})"
    finally:
        wrapper.detach()
    return f"{max(count - 1, 0):,} rows × {columns:,} columns (plus a header row)"


def _plain_line_count(src: _Source) -> int | None:
    """The number of rows when every row is one line: no quote, no CR, no empty line (then
    counting newlines gives what the csv module would count, some 40 times faster); else None."""
    src.f.seek(0)
    data = src.f.read(common.LIMITS.csv_count_bytes + 1)
    if not data or b'"' in data or b"\r" in data or b"\n\n" in data or data.startswith(b"\n"):
        return None
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def _parquet(src: _Source) -> str:
    prefix = src.f.read(4)
    tail = mt.read_tail(src.f, src.size, 8)
    if not mt.is_parquet(src.f, src.size, prefix, tail):
        return _note("Not a readable Parquet file.") + _binary(src, note=False)
    path = str(src.path.resolve())
    if any(c in path for c in "*?[]{}'\\\n"):  # DuckDB would read the path as a glob
        return _note("No preview: the stored path has unusual characters.") + _binary(src, False)
    # An in-memory DuckDB that may read this one file and nothing else, in bounded memory.
    con = sandboxed_duckdb([path], memory_limit=common.LIMITS.parquet_memory, threads=1)
    try:
        ((rows,),) = con.execute("SELECT num_rows FROM parquet_file_metadata(?)", [path]).fetchall()
        schema = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        ((first_group,),) = con.execute(
            "SELECT coalesce(sum(total_uncompressed_size), 0) FROM parquet_metadata(?) "
            "WHERE row_group_id = 0",
            [path],
        ).fetchall()
        names = [str(c[0]) for c in schema]
        shown = names[: common.LIMITS.table_columns]
        types = [str(c[1]) for c in schema[: common.LIMITS.table_columns]]
        parts = [_meta(f"{rows:,} rows × {len(names):,} columns · {_human(src.size)}")]
        if first_group > common.LIMITS.parquet_row_group_bytes:
            parts.append(
                _cut_note(
                    "Rows not shown: the first row group is too large to read here.", src.full_url
                )
            )
            parts.append(_table(shown, [], types))
            parts.append(src.marks.note(_HERE, _ELSEWHERE) if src.marks else "")
            return "".join(parts)
        width = common.LIMITS.cell_chars + 1
        select = ", ".join(
            f'left(CAST("{n.replace(chr(34), chr(34) * 2)}" AS VARCHAR), {width})' for n in shown
        )
        data = con.execute(
            f"SELECT {select} FROM read_parquet(?) LIMIT {common.LIMITS.table_rows}",  # noqa: S608
            [path],
        ).fetchall()
    finally:
        con.close()
    parts.append(_table(shown, [list(r) for r in data], types, marks=src.marks))
    parts.append(src.marks.note(_HERE, _ELSEWHERE) if src.marks else "")
    parts.append(
        _cut_note(
            f"Showing the first {len(data):,} rows and {len(shown)} of {len(names):,} columns; "
            f"cells are cut at {common.LIMITS.cell_chars} characters.",
            src.full_url,
        )
    )
    return "".join(parts)
