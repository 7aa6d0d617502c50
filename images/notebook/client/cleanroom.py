"""The clean room's datasets, in your notebook.

    import cleanroom
    cleanroom.datasets()       # the datasets granted to this server's project
    con = cleanroom.connect()  # a read-only DuckDB connection with one view per dataset
    con.sql("SELECT * FROM wafer_lots LIMIT 5").df()

The data is mounted read-only and holds only what your project was granted: ungranted columns
and rows are not in the container at all. Write results to your home directory; to take
anything out of the clean room, request its release.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NoDataMounted", "catalog_path", "connect", "datasets"]
__version__ = "0.1.0"

CATALOG_ENV = "CLEANROOM_CATALOG"
DEFAULT_CATALOG = "/data/catalog.duckdb"


class NoDataMounted(RuntimeError):
    """This server has no datasets mounted."""


def catalog_path() -> Path:
    """Where the read-only catalog is: ``$CLEANROOM_CATALOG``, else /data/catalog.duckdb."""
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


def _temp_directory() -> str:
    base = os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 - the container's private tmpfs
    return os.path.join(base, "duckdb")


def connect(path: str | os.PathLike[str] | None = None, **config):
    """A read-only DuckDB connection to the project's datasets (one view per dataset).

    Extra keyword arguments are DuckDB settings (e.g. ``threads=2``, ``memory_limit="4GB"``).
    Raises :class:`NoDataMounted` when this server has no data.
    """
    import duckdb

    target = Path(path) if path is not None else catalog_path()
    if not target.is_file():
        raise NoDataMounted(
            f"No datasets are mounted in this server ({target} does not exist). Datasets "
            "appear when the server is started for a project that has been granted data: "
            "stop your server (File > Hub Control Panel), start it again and choose the "
            "project. If the project should have data, ask its administrator for a grant."
        )
    settings = {
        # Large sorts and joins spill to the container's /tmp, not to the read-only /data.
        "temp_directory": _temp_directory(),
        # There is no network: never try to download extensions.
        "autoinstall_known_extensions": False,
    }
    settings.update(config)
    return duckdb.connect(str(target), read_only=True, config=settings)


def datasets(con=None) -> list[str]:
    """The names of the datasets (views) this server can query, sorted."""
    own = con is None
    con = connect() if own else con
    try:
        rows = con.execute(
            "SELECT view_name FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database() ORDER BY view_name"
        ).fetchall()
    finally:
        if own:
            con.close()
    return [r[0] for r in rows]
