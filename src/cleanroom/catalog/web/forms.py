"""Form input to service arguments: plain functions, no server (unit-tested on their own).

Each raises :class:`cleanroom.catalog.errors.InvalidValue` (or ``SourceError``) with a message
that says what to fix; the pages show it above the form, with the input kept.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from cleanroom.catalog.errors import InvalidValue, SourceError

SOURCE_SUFFIXES = (".parquet", ".csv")
MAX_LISTED_FILES = 1000
MAX_MAPPING_LINES = 10_000


def parse_mapping(text: str) -> dict[str, str]:
    """``VALUE=ORGANISATION`` per line (blank lines and ``#`` comments ignored) -> a dict.

    The organisation id is what follows the last ``=`` (ids never contain one), so a value
    may itself contain ``=``. Spaces around the organisation id are dropped; the value is
    kept exactly, apart from the line's leading and trailing spaces."""
    mapping: dict[str, str] = {}
    lines = (text or "").splitlines()
    if len(lines) > MAX_MAPPING_LINES:
        raise InvalidValue(
            f"the mapping has {len(lines)} lines, more than {MAX_MAPPING_LINES}: register "
            "with the command line and a mapping file instead"
        )
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        value, sep, org = line.rpartition("=")
        value, org = value.strip(), org.strip()
        if not sep or not value or not org:
            raise InvalidValue(
                f"mapping line {number} ({line!r}) is not VALUE=ORGANISATION, "
                "e.g. HBS-ICN1=hanbit-semiconductor"
            )
        if value in mapping and mapping[value] != org:
            raise InvalidValue(
                f"mapping line {number} maps {value!r} to {org!r}, but an earlier line maps it "
                f"to {mapping[value]!r}: keep one"
            )
        mapping[value] = org
    return mapping


def import_file(import_dir: str | os.PathLike[str], relative: str) -> Path:
    """The file ``relative`` names under ``import_dir``, resolved (symbolic links followed);
    refused unless it stays under the import directory and is a .parquet or .csv file."""
    base = Path(import_dir).resolve()
    relative = (relative or "").strip()
    if not relative:
        raise InvalidValue(f"choose a file: put it under {base} on the server, then reload")
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise SourceError(
            f"{relative!r} is not a path inside the import directory {base}: give it "
            "relative to that directory, without '..'"
        )
    path = (base / candidate).resolve()
    if not path.is_relative_to(base):
        raise SourceError(
            f"{relative!r} leads outside the import directory {base} (a symbolic link?): "
            "copy the file into it"
        )
    if path.suffix.lower() not in SOURCE_SUFFIXES:
        raise InvalidValue(f"{relative!r} is not a .parquet or .csv file")
    if not path.is_file():
        raise SourceError(f"there is no file {relative!r} under {base}: check the name")
    return path


def list_import_files(import_dir: str | os.PathLike[str]) -> list[str]:
    """The .parquet and .csv files under ``import_dir`` (relative paths, sorted), skipping
    hidden files and directories and anything that resolves outside it."""
    base = Path(import_dir).resolve()
    if not base.is_dir():
        return []
    found: list[str] = []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(SOURCE_SUFFIXES):
                continue
            path = Path(root) / name
            if not path.resolve().is_relative_to(base):
                continue
            found.append(str(path.relative_to(base)))
            if len(found) >= MAX_LISTED_FILES:
                return sorted(found)
    return sorted(found)


def parse_date(text: str, what: str) -> datetime | None:
    """``YYYY-MM-DD`` (00:00 UTC that day) or an ISO date-time; empty -> None."""
    from cleanroom.cli.catalog import parse_moment

    text = (text or "").strip()
    if not text:
        return None
    try:
        return parse_moment(text)
    except InvalidValue as error:
        raise InvalidValue(f"the {what}: {error}") from None


def parse_columns(scope: str, columns: list[str]) -> list[str] | None:
    """The column allow-list: None for every column (``scope`` "all"), else the ticked ones
    (an empty list, which the service refuses with its own message)."""
    if scope == "all":
        return None
    if scope != "some":
        raise InvalidValue("say whether the grant is of all columns or only some")
    return [c for c in columns if c]


def clean(value: str | None) -> str:
    return (value or "").strip()
