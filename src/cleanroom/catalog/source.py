"""Reading a dataset's source file once, at registration: SHA-256, schema, row count and the
rows per contributor value, with DuckDB (the same version the notebook image runs).

    summary = inspect_source("/data/wafers.parquet", contributor_column="plant",
                             progress=lambda fraction, message: ...)

CSV files are read strictly: comma-separated, ``"`` quotes, a header row of unique names, and
every row as wide as the header. Anything else is a :class:`SourceError` naming the line and
what to fix. The file must not change while it is read (size and modification time are
compared before and after).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cleanroom.core import hashing
from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.duckdb_sandbox import first_line, quote_identifier

from .errors import InvalidValue, SourceError, UnknownColumn

Progress = Callable[[float, str], None]

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
HASH_CHUNK = 4 * 1024 * 1024
MAX_CONTRIBUTOR_VALUES = 10_000
MAX_VALUE_LENGTH = 255
_GLOB_CHARACTERS = set("*?[]{}")

# Fractions of the whole job reported by each stage.
_HASH_SHARE = 0.5


@dataclass(frozen=True)
class SourceSummary:
    path: str
    format: str
    size_bytes: int
    sha256: str
    schema: dict[str, str] = field(hash=False)
    row_count: int
    contributor_rows: dict[str, int] = field(hash=False)


def _no_progress(_fraction: float, _message: str) -> None:
    pass


def resolve_format(path: Path, format: str | None) -> str:
    if format:
        format = format.lower()
        if format not in ("parquet", "csv"):
            raise InvalidValue(f"format {format!r} is not supported: use parquet or csv")
        return format
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InvalidValue(
            f"cannot tell the format of {path.name} from its name: name it .parquet or .csv, "
            "or give the format (parquet or csv)"
        ) from None


def check_source_path(source: str | os.PathLike[str]) -> Path:
    """The source as an absolute path to a readable regular file, else a SourceError."""
    text = os.fspath(source)
    if "://" in text:
        raise SourceError(
            f"{text} is a URL: the catalog registers local files only; copy it to the host first"
        )
    path = Path(text).expanduser().absolute()
    if _GLOB_CHARACTERS & set(str(path)):
        raise SourceError(
            f"{path} contains one of * ? [ ] {{ }}, which DuckDB reads as a pattern: "
            "rename the file"
        )
    if not path.exists():
        raise SourceError(f"{path} does not exist: check the path")
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file: give the path of a Parquet or CSV file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path} is not readable by this user: fix its permissions")
    return path


def sha256_file(path: Path, progress: Progress = _no_progress, share: float = 1.0) -> str:
    """The file's SHA-256, reporting progress (up to ``share``) at every whole percent."""
    size = path.stat().st_size or 1
    reported = -1

    def report(done: int) -> None:
        nonlocal reported
        percent = min(100, done * 100 // size)
        if percent != reported:
            reported = percent
            progress(share * done / size, f"hashing {path.name}")

    return hashing.sha256_file(path, chunk_bytes=HASH_CHUNK, on_read=report)


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f, strict=True), None)
    except UnicodeDecodeError:
        raise SourceError(
            f"{path} is not UTF-8 text: save it as UTF-8 CSV (or Parquet) and register it again"
        ) from None
    except csv.Error as error:
        raise SourceError(f"{path} line 1 (the header) is not valid CSV: {error}") from None
    if not header or header == [""]:
        raise SourceError(
            f"{path} is empty or starts with an empty line: a CSV needs a header row "
            "naming the columns"
        )
    if any(not name.strip() for name in header):
        position = next(i for i, name in enumerate(header, 1) if not name.strip())
        raise SourceError(f"{path}: column {position} of the header has no name: name it")
    seen: set[str] = set()
    duplicates: set[str] = set()
    for name in header:
        (duplicates if name.lower() in seen else seen).add(name.lower())
    if duplicates:
        raise SourceError(
            f"{path}: the header names {', '.join(map(repr, sorted(duplicates)))} more than once "
            "(names are compared ignoring case): give every column its own name"
        )
    return header


def _diagnose_csv(path: Path, width: int) -> str | None:
    """The first structural problem of a CSV, found with Python's strict reader (only run when
    DuckDB already refused the file, to name the line)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, strict=True)
            next(reader, None)
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    return (
                        f"line {reader.line_num} has {len(row)} fields where the header has {width}"
                    )
    except UnicodeDecodeError as error:
        return f"it is not UTF-8 text (byte {error.start} of a line cannot be decoded)"
    except csv.Error as error:
        return f"line {reader.line_num}: {error} (an unclosed or stray quote?)"
    return None


def _relation(format: str) -> str:
    if format == "parquet":
        return "read_parquet(?)"
    return (
        "read_csv(?, header = true, skip = 0, delim = ',', quote = '\"', escape = '\"', "
        "strict_mode = true, null_padding = false, ignore_errors = false)"
    )


def inspect_source(
    source: str | os.PathLike[str],
    *,
    contributor_column: str,
    format: str | None = None,
    progress: Progress | None = None,
) -> SourceSummary:
    """Hash and read ``source``; raise SourceError (or UnknownColumn for a missing
    contributor column) with a message that says what to fix."""
    progress = progress or _no_progress
    path = check_source_path(source)
    fmt = resolve_format(path, format)
    before = _stat_key(path)
    progress(0.0, f"hashing {path.name}")
    digest = sha256_file(path, progress, _HASH_SHARE)

    header = _csv_header(path) if fmt == "csv" else None
    progress(_HASH_SHARE + 0.05, f"reading the schema of {path.name}")
    relation = _relation(fmt)
    con = sandboxed_duckdb([path])
    try:
        try:
            # The relation is one of two constants; the path is a parameter.
            query = f"DESCRIBE SELECT * FROM {relation}"  # noqa: S608
            described = con.execute(query, [str(path)]).fetchall()
        except Exception as error:  # duckdb.Error and its subclasses
            raise _read_error(path, fmt, error, header) from None
        schema = {str(row[0]): str(row[1]) for row in described}
        if header is not None and list(schema) != header:
            raise SourceError(
                f"{path}: DuckDB read the columns {list(schema)} where the header names "
                f"{header}: check the file's delimiter (a comma) and quoting"
            )
        if contributor_column not in schema:
            hint = ""
            if header is not None and len(header) == 1 and any(c in header[0] for c in ";\t|"):
                hint = " (the header has one column: the catalog reads comma-separated files)"
            raise UnknownColumn(
                f"{path} has no column {contributor_column!r} for the contributor column; "
                f"its columns are: {', '.join(schema)}{hint}"
            )
        progress(_HASH_SHARE + 0.1, f"counting the rows of {path.name} per contributor")
        # A column of the file's own schema, quoted; the relation is a constant.
        column = quote_identifier(contributor_column)
        query = (
            f"SELECT CAST({column} AS VARCHAR) AS value, count(*) "  # noqa: S608
            f"FROM {relation} GROUP BY value ORDER BY value LIMIT ?"
        )
        try:
            rows = con.execute(query, [str(path), MAX_CONTRIBUTOR_VALUES + 1]).fetchall()
        except Exception as error:
            raise _read_error(path, fmt, error, header) from None
    finally:
        con.close()

    if _stat_key(path) != before:
        raise SourceError(
            f"{path} changed while it was being read: register it once it is complete "
            "and no longer written to"
        )
    if len(rows) > MAX_CONTRIBUTOR_VALUES:
        raise SourceError(
            f"column {contributor_column!r} of {path} has more than {MAX_CONTRIBUTOR_VALUES} "
            "distinct values: the contributor column names companies or plants; is it the "
            "right column?"
        )
    contributor_rows: dict[str, int] = {}
    for value, count in rows:
        if value is None:
            raise SourceError(
                f"{count} rows of {path} have no value in the contributor column "
                f"{contributor_column!r}: every row must say which company or plant it "
                "came from"
            )
        if not value.strip() or len(value) > MAX_VALUE_LENGTH:
            raise SourceError(
                f"the contributor value {value[:40]!r} in {path} is empty or longer than "
                f"{MAX_VALUE_LENGTH} characters: fix those rows"
            )
        contributor_rows[value] = int(count)
    row_count = sum(contributor_rows.values())
    if row_count == 0:
        raise SourceError(f"{path} has no rows: register a file that holds data")
    progress(1.0, f"read {row_count} rows of {path.name}")
    return SourceSummary(
        path=str(path),
        format=fmt,
        size_bytes=before[0],
        sha256=digest,
        schema=schema,
        row_count=row_count,
        contributor_rows=contributor_rows,
    )


def _read_error(path: Path, fmt: str, error: Exception, header: list[str] | None) -> SourceError:
    if fmt == "parquet":
        return SourceError(
            f"cannot read {path} as Parquet ({first_line(error)}): check that it is a "
            "complete Parquet file, or give the format csv"
        )
    problem = _diagnose_csv(path, len(header or []))
    if problem is None:
        problem = first_line(error)
    return SourceError(
        f"{path} is not a valid CSV file: {problem}. The catalog reads comma-separated UTF-8 "
        "with a header row and every row as wide as the header: fix the file and register "
        "it again"
    )
