"""The container's side of the grants: a DuckDB view catalog and the bind mounts.

:func:`build_view_catalog` writes a DuckDB database holding one view per dataset over
``<data_dir_in_container>/<key>/data.parquet``; the notebook image's ``cleanroom.connect()``
opens it read-only. :func:`container_mounts` lists the bind mounts that put the researcher's
copies (:func:`cleanroom.grants.cache.researcher_dir`) and the catalog at those paths.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.duckdb_sandbox import quote_identifier
from cleanroom.grants.cache import (
    DATA_FILE,
    GLOB_CHARACTERS,
    MaterialiseError,
    check_key,
    researcher_dir,
    sql_string,
)

DEFAULT_DATA_DIR = "/data"
CATALOG_FILE = "catalog.duckdb"
_RESERVED_VIEW_PREFIXES = ("duckdb_", "sqlite_", "pg_", "information_schema")


def _check_view_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 63:
        raise MaterialiseError(f"view name {name!r} must be 1 to 63 characters")
    if not name.isprintable() or name != name.strip():
        raise MaterialiseError(f"view name {name!r} holds control characters or spaces at its ends")
    if name.lower().startswith(_RESERVED_VIEW_PREFIXES):
        raise MaterialiseError(f"view name {name!r} starts with a prefix DuckDB reserves")
    return name


def _check_container_dir(data_dir: str) -> PurePosixPath:
    path = PurePosixPath(data_dir)
    if (
        not path.is_absolute()
        or ".." in path.parts
        or (set("'\"") | GLOB_CHARACTERS) & set(data_dir)
    ):
        raise MaterialiseError(
            f"data_dir_in_container {data_dir!r} must be an absolute path without '..', quotes "
            "or * ? [ ] { }"
        )
    sql_string(data_dir)  # no control characters
    return path


def build_view_catalog(
    views: Mapping[str, str],
    out_path: str | os.PathLike[str],
    data_dir_in_container: str = DEFAULT_DATA_DIR,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a DuckDB database at ``out_path`` with one view per entry of ``views``.

    ``views`` maps a view name (the dataset's name, as researchers will query it) to a grant
    key; each view reads ``<data_dir_in_container>/<key>/data.parquet``, the path at which the
    spawner mounts ``researcher_dir(cache_dir, key)``. Views are stored unbound (those paths
    exist only inside the container). With ``cache_dir``, every key must be materialised
    there. The file is written beside ``out_path`` and renamed into place, read-only.
    """
    data_dir = _check_container_dir(data_dir_in_container)
    folded: dict[str, str] = {}
    statements = []
    for name, key in sorted(views.items()):
        _check_view_name(name)
        check_key(key)
        if name.casefold() in folded:
            raise MaterialiseError(
                f"views {folded[name.casefold()]!r} and {name!r} differ only in case; DuckDB "
                "names ignore case: rename one dataset"
            )
        folded[name.casefold()] = name
        if cache_dir is not None:
            on_host = researcher_dir(cache_dir, key) / DATA_FILE
            if not on_host.is_file():
                raise MaterialiseError(
                    f"the grant behind view {name!r} is not materialised ({on_host} is "
                    "missing): materialise the grant again"
                )
        target = sql_string(str(data_dir / key / DATA_FILE))
        statements.append(
            f"CREATE VIEW {quote_identifier(name)} WITH (DEFER_BINDING) AS "  # noqa: S608
            f"SELECT * FROM read_parquet({target})"
        )
    out = Path(out_path).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        con = sandboxed_duckdb(database=tmp)
        try:
            for statement in statements:
                con.execute(statement)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.chmod(tmp, 0o444)
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return out


def container_mounts(
    views: Mapping[str, str],
    cache_dir: str | os.PathLike[str],
    catalog_path: str | os.PathLike[str],
    data_dir_in_container: str = DEFAULT_DATA_DIR,
) -> dict[str, dict[str, str]]:
    """The read-only bind mounts (docker-py / DockerSpawner ``volumes`` form) that expose a
    catalog built by :func:`build_view_catalog` and its grants in a container::

        {"<cache>/researcher/<key>": {"bind": "/data/<key>", "mode": "ro"}, ...,
         "<catalog>": {"bind": "/data/catalog.duckdb", "mode": "ro"}}
    """
    data_dir = _check_container_dir(data_dir_in_container)
    mounts = {
        str(researcher_dir(cache_dir, key).absolute()): {"bind": str(data_dir / key), "mode": "ro"}
        for key in sorted(set(views.values()))
    }
    mounts[str(Path(catalog_path).absolute())] = {
        "bind": str(data_dir / CATALOG_FILE),
        "mode": "ro",
    }
    return mounts
