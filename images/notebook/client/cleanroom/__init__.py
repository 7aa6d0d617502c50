"""The clean room's datasets, in your notebook.

    import cleanroom
    cleanroom.datasets()       # the datasets granted to this server's project
    con = cleanroom.connect()  # a read-only DuckDB connection with one view per dataset
    con.sql("SELECT * FROM wafer_lots LIMIT 5").df()
    cleanroom.request_release(["outputs/table.csv"], justification="...")  # asks, in JupyterLab

    from cleanroom import sdc  # verified tables: the airlock recomputes and checks them
    sdc.frequency("wafer_lots", ["plant"]).save("outputs/lots_by_plant.csv")

The data is mounted read-only and holds only what your project was granted: ungranted columns
and rows are not in the container at all. Write results to your home directory; to take
anything out of the clean room, request its release.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "NoDataMounted",
    "ReleaseProposal",
    "catalog_path",
    "connect",
    "datasets",
    "request_release",
    "sdc",
]
__version__ = "0.1.0"

CATALOG_ENV = "CLEANROOM_CATALOG"
DEFAULT_CATALOG = "/data/catalog.duckdb"
RELEASE_MIME = "application/vnd.cleanroom.release-request+json"
MAX_RELEASE_FILES = 50


def __getattr__(name: str):
    # `cleanroom.sdc` is imported on first use: a plain `import cleanroom` stays light.
    if name == "sdc":
        import importlib

        return importlib.import_module(f"{__name__}.sdc")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class ReleaseProposal:
    """What :func:`request_release` returns: shown in JupyterLab as a "Request release…"
    button that opens the release dialog with these files, title and justification."""

    def __init__(self, paths: list[str], title: str, justification: str):
        self.paths, self.title, self.justification = paths, title, justification

    def _repr_mimebundle_(self, include=None, exclude=None):
        proposal = {"paths": self.paths, "title": self.title, "justification": self.justification}
        text = (
            f"Release request for {', '.join(self.paths)}: open this notebook in JupyterLab "
            'and press its "Request release…" button (nothing is sent until you do).'
        )
        return {RELEASE_MIME: proposal, "text/plain": text}

    def __repr__(self) -> str:
        return f"ReleaseProposal(paths={self.paths!r})"


def request_release(paths, *, title: str = "", justification: str = "") -> ReleaseProposal:
    """Offer files in your home for release: display the result (last line of a cell) and
    press its "Request release…" button. This kernel cannot send anything out itself: the
    button opens JupyterLab's release dialog, which shows exactly what goes, and a reviewer
    decides. ``paths`` are relative to this notebook's folder or absolute, inside your home.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("Name at least one file to release.")
    if len(paths) > MAX_RELEASE_FILES:
        raise ValueError(f"One release request holds at most {MAX_RELEASE_FILES} files.")
    home = Path(os.environ.get("HOME") or Path.home()).resolve()
    relative = []
    for path in paths:
        full = Path(path).absolute()
        if not full.is_file():
            raise FileNotFoundError(f"{path} is not a file: write it first, then ask again.")
        try:
            relative.append(full.resolve().relative_to(home).as_posix())
        except ValueError:
            raise ValueError(
                f"{path} is not in your home ({home}): only files there can be released."
            ) from None
    return ReleaseProposal(relative, str(title)[:200], str(justification)[:5000])
