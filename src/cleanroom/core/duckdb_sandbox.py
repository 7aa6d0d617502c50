"""The one way this package opens DuckDB: a sandboxed connection.

    con = connect(readable=[source], writable_dir=scratch, memory_limit="4GB", threads=2)

The connection may open the files in ``readable`` and read and write below ``writable_dir``,
and nothing else: external access is off (no other file, no network, no extension install
or load), and the configuration is locked, so no statement run on it can widen that. Every
path is passed as a bound parameter or in DuckDB's configuration, never in SQL text.

``readable`` becomes DuckDB's ``allowed_paths``, which DuckDB lets a statement write as well as
read (``COPY ... TO`` a listed file with ``USE_TMP_FILE false``): only run this package's own
statements on the connection, never a user's SQL text.

DuckDB spills to ``<writable_dir>/spill``; without ``writable_dir`` it does not spill at all.
``database``: a DuckDB file to open (and write) instead of an in-memory database.

Two helpers for what goes around it: :func:`quote_identifier` (a column or view name in SQL
text) and :func:`first_line` (the first line of a DuckDB error, for a message).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

SPILL_DIR = "spill"
_OPTION_NAME = re.compile(r"[a-z_]+")


def connect(
    readable: Iterable[str | os.PathLike[str]] = (),
    writable_dir: str | os.PathLike[str] | None = None,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    database: str | os.PathLike[str] = ":memory:",
    options: Mapping[str, bool | int | str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A sandboxed DuckDB connection (see the module docstring). ``options``: further DuckDB
    settings that grant no access (e.g. ``preserve_insertion_order``), set before the lock."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = int(threads)
    if writable_dir is None:
        config["temp_directory"] = ""
    con = duckdb.connect(str(database), config=config)
    try:
        # A long query's progress bar is printed to stdout: in a sandbox job that is where the
        # job's JSON answer goes, so a slow recompute would answer garbage.
        con.execute("SET enable_progress_bar = false")
        for name, value in (options or {}).items():
            if not _OPTION_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a DuckDB setting name")
            con.execute(f"SET {name} = ?", [value])
        con.execute("SET allowed_paths = ?", [[str(p) for p in readable]])
        if writable_dir is not None:
            directory = Path(writable_dir)
            con.execute("SET allowed_directories = ?", [[str(directory) + os.sep]])
            con.execute("SET temp_directory = ?", [str(directory / SPILL_DIR)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier in double quotes (inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def first_line(error: BaseException) -> str:
    """The first non-blank line of ``error``'s text (DuckDB's errors go on for lines), else
    the error's type name."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
