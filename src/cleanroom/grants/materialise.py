"""Grants made physical: the granted columns and rows copied into read-only Parquet, once.

::

    spec = GrantSpec(dataset_version_id="7", source_path="/srv/sources/wafers.parquet",
                     source_format="parquet", columns=("lot_id", "die_yield_pct"),
                     row_filter="plant IN ('HBS-ICN1')", contributor_column="plant",
                     source_sha256="9f2c...")
    grant = materialise_grant(spec, "/srv/cleanroom/grants", progress=print)
    build_view_catalog({"wafer_lots": grant.key}, "/srv/cleanroom/catalogs/p1.duckdb")

Layout under ``cache_dir`` (one directory per grant key, so that a spawner can mount exactly
the researcher's copies and nothing else)::

    researcher/<key>/data.parquet   the granted columns of the granted rows: this directory is
                                    what the container sees, read-only, at /data/<key>
    airlock/<key>/data.parquet      the same rows, plus the contributor column (for the
                                    airlock's disclosure checks); never mounted in a container
    airlock/<key>/grant.json        the manifest: ``"airlock": "pending"`` once the researcher's
                                    copy is in place, ``"complete"`` once both are
    tmp/                            work files, renamed into place when complete
    locks/<key>.lock                one writer of a key at a time (across processes)

The key (:func:`grant_cache_key`) is a SHA-256 of the dataset version, the source's content
hash and the grant's definition (columns, row filter, contributor column), so the same grant
is materialised once and a changed grant gets a new directory. Every file is written to
``tmp/``, checked (columns, row count, the source unchanged meanwhile), synced (DuckDB's COPY
does not sync), made read-only and renamed into place, and its directory synced: a failure
leaves nothing half-written under a final name.

The researcher's copy is DuckDB's own COPY of the granted columns of the granted rows, the
same statement as a plain ``COPY (SELECT ...) TO`` and nothing more, so materialising costs
what copying the data costs. The airlock's copy is a second COPY with the contributor column,
or, when that column is granted, the researcher's file itself (a second link). With
``airlock="wait"`` both are written, then put in place, the manifest last. With
``airlock="background"`` (what the catalog uses) the researcher's copy is put in place with a
``pending`` manifest and the grant is usable; a thread then writes the airlock's copy and
marks the manifest ``complete``. The airlock reads its copy through :func:`airlock_copy`,
which waits while it is being written and refuses a copy that is not complete; a pending copy
that nobody finishes (the process died) is finished by the next ``materialise_grant``.

The DuckDB connection that does the work is sandboxed: it may read the source file and write
in ``tmp/`` and nothing else (``allowed_paths``, ``allowed_directories``,
``enable_external_access = false``, configuration locked), extensions are never installed or
loaded, and the row filter is checked again (:func:`cleanroom.grants.rowfilter.check_row_filter`)
against the source's own schema before it is used. Everything here is blocking and uses no
event loop: call it from a worker thread (``loop.run_in_executor``).

The container side: :func:`build_view_catalog` writes a DuckDB database holding one view per
dataset over ``<data_dir_in_container>/<key>/data.parquet``; the notebook image's
``cleanroom.connect()`` opens it read-only. :func:`container_mounts` lists the bind mounts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.duckdb_sandbox import first_line, quote_identifier
from cleanroom.errors import CleanRoomError
from cleanroom.grants.rowfilter import check_row_filter

Progress = Callable[[float, str], None]

FORMAT_VERSION = 1
"""Part of every cache key: bump it when the materialised files change meaning or layout."""

DATA_FILE = "data.parquet"
MANIFEST = "grant.json"
RESEARCHER = "researcher"
AIRLOCK = "airlock"
DEFAULT_DATA_DIR = "/data"
CATALOG_FILE = "catalog.duckdb"
SOURCE_FORMATS = ("parquet", "csv")

# How the catalog (cleanroom.catalog.source) reads CSV sources: keep the two the same, so that
# the schema recorded at registration is the schema materialised here.
CSV_OPTIONS = (
    "header = true, skip = 0, delim = ',', quote = '\"', escape = '\"', "
    "strict_mode = true, null_padding = false, ignore_errors = false"
)

# How every copy is written: DuckDB's defaults, spelled out (bench/views.py's raw COPY, the
# baseline materialising is measured against, uses the same).
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880"

# materialise_grant(airlock=...): return when both copies are complete, or when the
# researcher's is (the airlock's is finished by a thread).
WAIT, BACKGROUND = "wait", "background"
AIRLOCK_MODES = (WAIT, BACKGROUND)

# A grant's materialisation_state(): nothing usable; the researcher's copy in place and the
# airlock's not finished; both in place.
MISSING, PENDING, COMPLETE = "missing", "pending", "complete"

_KEY = re.compile(r"[0-9a-f]{64}")
_POLL_SECONDS = 0.25
_LOCK_POLL_SECONDS = 0.05

log = logging.getLogger(__name__)


class MaterialiseError(CleanRoomError):
    """A grant could not be materialised; nothing was left under a final name."""


class AirlockCopyPending(MaterialiseError):
    """The airlock's copy of a grant is not complete (yet)."""


@dataclass(frozen=True)
class GrantSpec:
    """What a grant gives, as far as the data is concerned.

    ``columns`` None grants every column (the contributor column too); otherwise exactly these,
    in this order. ``row_filter`` None grants every row; otherwise a filter that
    :func:`~cleanroom.grants.rowfilter.check_row_filter` accepts (it is checked again here).
    ``source_sha256`` is the version's content hash: pass it (the catalog has it) so that the
    cache key follows the content; without it the key uses the file's path, size and mtime.
    """

    dataset_version_id: str | int
    source_path: str | os.PathLike[str]
    source_format: str
    columns: tuple[str, ...] | None
    row_filter: str | None
    contributor_column: str
    source_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.source_format not in SOURCE_FORMATS:
            raise MaterialiseError(
                f"source format {self.source_format!r} is not supported: use parquet or csv"
            )
        if self.columns is not None:
            columns = tuple(self.columns)
            object.__setattr__(self, "columns", columns)
            if not columns:
                raise MaterialiseError(
                    "a grant of no columns grants nothing: name at least one column, or give "
                    "None for all columns"
                )
            duplicates = sorted({c for c in columns if columns.count(c) > 1})
            if duplicates:
                raise MaterialiseError(f"columns named more than once: {', '.join(duplicates)}")
        if self.row_filter is not None and not self.row_filter.strip():
            object.__setattr__(self, "row_filter", None)


@dataclass(frozen=True)
class MaterialisedGrant:
    key: str
    researcher_path: Path
    airlock_path: Path
    rows: int
    columns: tuple[str, ...] = ()  # the researcher copy's columns, in order
    cached: bool = False  # True when this call found it already materialised
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    airlock_ready: bool = True  # False while the airlock's copy is being finished

    def wait_for_airlock(self, timeout: float | None = None) -> Path:
        """The airlock's copy once it is complete (see :func:`airlock_copy`)."""
        return airlock_copy(self.airlock_path.parents[2], self.key, timeout=timeout)


# --- keys and paths ----------------------------------------------------------------------------


def _source_identity(spec: GrantSpec) -> str:
    if spec.source_sha256:
        return f"sha256:{spec.source_sha256.lower()}"
    path = Path(spec.source_path).resolve()
    try:
        st = path.stat()
    except OSError as error:
        raise MaterialiseError(f"the source {path} cannot be read ({error.strerror})") from None
    return f"file:{path}:{st.st_size}:{st.st_mtime_ns}"


def grant_definition(spec: GrantSpec) -> dict[str, Any]:
    """The canonical definition that :func:`grant_cache_key` hashes."""
    return {
        "format_version": FORMAT_VERSION,
        "dataset_version_id": str(spec.dataset_version_id),
        "source": _source_identity(spec),
        "source_format": spec.source_format,
        "columns": list(spec.columns) if spec.columns is not None else None,
        "row_filter": spec.row_filter.strip() if spec.row_filter else None,
        "contributor_column": spec.contributor_column,
    }


def grant_cache_key(spec: GrantSpec) -> str:
    """64 hex digits naming the materialised grant: same version, content and definition,
    same key."""
    canonical = json.dumps(grant_definition(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def researcher_dir(cache_dir: str | os.PathLike[str], key: str) -> Path:
    """The directory to mount read-only at ``<data dir>/<key>`` in the researcher's container."""
    return Path(cache_dir) / RESEARCHER / _check_key(key)


def airlock_dir(cache_dir: str | os.PathLike[str], key: str) -> Path:
    return Path(cache_dir) / AIRLOCK / _check_key(key)


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise MaterialiseError(f"{key!r} is not a grant key (64 lowercase hex digits)")
    return key


_GLOB = set("*?[]{}")


def _check_no_glob(path: str | os.PathLike[str], what: str) -> None:
    text = os.fspath(path)
    if _GLOB & set(text):
        raise MaterialiseError(
            f"{what} {text} contains one of * ? [ ] {{ }}, which DuckDB reads as a file "
            "pattern: use a path without them"
        )


def sql_string(text: str) -> str:
    """A SQL string literal of ``text`` (for paths: DuckDB cannot take COPY targets as
    parameters)."""
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        raise MaterialiseError(f"refusing a path with control characters: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def source_relation(path: str | os.PathLike[str], source_format: str) -> str:
    """The DuckDB table function reading a source file, with the path quoted."""
    _check_no_glob(path, "the source path")
    literal = sql_string(os.fspath(path))
    if source_format == "parquet":
        return f"read_parquet({literal})"
    if source_format == "csv":
        return f"read_csv({literal}, {CSV_OPTIONS})"
    raise MaterialiseError(f"source format {source_format!r} is not supported")


# --- DuckDB, sandboxed -----------------------------------------------------------------------


# Kept in the output's row order, and with progress that _run can poll (not printed).
_DUCKDB_OPTIONS = {
    "preserve_insertion_order": True,
    "enable_progress_bar": True,
    "enable_progress_bar_print": False,
}


def _connect(
    readable: Sequence[Path],
    writable_dir: Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
):
    """A DuckDB connection that may read ``readable`` and write in ``writable_dir`` only."""
    return sandboxed_duckdb(
        readable,
        writable_dir,
        threads=threads,
        memory_limit=memory_limit,
        options=_DUCKDB_OPTIONS,
    )


def _run(con, sql: str, progress: Progress, start: float, end: float, message: str) -> int:
    """Run a COPY in a helper thread while this thread reports DuckDB's progress; return the
    number of rows it wrote."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["rows"] = con.execute(sql).fetchall()
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="cleanroom-materialise", daemon=True)
    worker.start()
    try:
        progress(start, message)
        while True:
            worker.join(_POLL_SECONDS)
            if not worker.is_alive():
                break
            percent = con.query_progress()
            if percent is not None and percent >= 0:
                progress(start + (end - start) * min(percent, 100.0) / 100.0, message)
    except BaseException:
        # The progress callback raised (e.g. to cancel): stop DuckDB before going on.
        con.interrupt()
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome["rows"][0][0])


def describe_source(source_path: str | os.PathLike[str], source_format: str) -> dict[str, str]:
    """The source's columns and their DuckDB types, read the way grants are materialised."""
    path = Path(source_path).resolve()
    con = sandboxed_duckdb([path])
    try:
        return _describe(con, path, source_format)
    finally:
        con.close()


def _describe(con, path: Path, source_format: str) -> dict[str, str]:
    try:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM {source_relation(path, source_format)}"  # noqa: S608
        ).fetchall()
    except MaterialiseError:
        raise
    except Exception as error:
        raise MaterialiseError(
            f"cannot read the source {path} as {source_format} ({first_line(error)}): check "
            "that the dataset version's file is still in place and complete"
        ) from None
    return {str(r[0]): str(r[1]) for r in rows}


def describe_researcher_copy(
    cache_dir: str | os.PathLike[str], key: str, scratch_dir: Path
) -> tuple[dict[str, str], int]:
    """The researcher's copy of a grant as the researcher sees it: its columns with their
    DuckDB types, and its number of rows (read from the Parquet footer)."""
    path = researcher_dir(cache_dir, key) / DATA_FILE
    con = _connect([path], scratch_dir)
    try:
        relation = source_relation(path, "parquet")
        columns = _describe(con, path, "parquet")
        [(rows,)] = con.execute(f"SELECT count(*) FROM {relation}").fetchall()  # noqa: S608
    finally:
        con.close()
    return columns, int(rows)


# --- materialising -----------------------------------------------------------------------------


class _KeyLock:
    """One builder of a key at a time, across threads and processes (``flock`` on a file per
    key). The holder may hand it to another thread: whoever calls :meth:`release` ends it."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, blocking: bool = True, timeout: float | None = None) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                try:
                    wait = blocking and deadline is None
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                    break
                except BlockingIOError:
                    if not blocking or deadline is None or time.monotonic() >= deadline:
                        os.close(fd)
                        return False
                    time.sleep(_LOCK_POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor of the lock releases it


def _make_dir(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)


def _read_manifest(key: str, paths: _Paths) -> dict[str, Any] | None:
    """The manifest, if it is this key's and the researcher's copy is the one it describes."""
    try:
        manifest = json.loads(paths.manifest.read_text())
        if (
            isinstance(manifest, dict)
            and manifest.get("key") == key
            and manifest.get("airlock", COMPLETE) in (PENDING, COMPLETE)
            and paths.researcher.stat().st_size == manifest["researcher_bytes"]
        ):
            return manifest
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _airlock_complete(manifest: Mapping[str, Any], paths: _Paths) -> bool:
    # Manifests written before the airlock state existed described both copies complete.
    if manifest.get("airlock", COMPLETE) != COMPLETE:
        return False
    try:
        return paths.airlock.stat().st_size == manifest["airlock_bytes"]
    except (OSError, KeyError, TypeError):
        return False


def _load_cached(key: str, paths: _Paths) -> MaterialisedGrant | None:
    """The grant as the cache has it, when its researcher's copy is in place (the airlock's
    may still be pending: see ``airlock_ready``)."""
    manifest = _read_manifest(key, paths)
    if manifest is None:
        return None
    try:
        columns = tuple(manifest["researcher_columns"])
        rows = int(manifest["rows"])
    except (KeyError, TypeError, ValueError):
        return None
    ready = _airlock_complete(manifest, paths)
    return MaterialisedGrant(
        key, paths.researcher, paths.airlock, rows, columns, True, manifest, ready
    )


def materialisation_state(cache_dir: str | os.PathLike[str], key: str) -> str:
    """``"missing"``, ``"pending"`` (the researcher's copy is in place and durable, the
    airlock's is not finished) or ``"complete"`` (both)."""
    paths = _Paths.of(Path(cache_dir).absolute(), key)
    manifest = _read_manifest(key, paths)
    if manifest is None:
        return MISSING
    return COMPLETE if _airlock_complete(manifest, paths) else PENDING


def airlock_copy(cache_dir: str | os.PathLike[str], key: str, *, timeout: float | None = None):
    """The airlock's copy of grant ``key`` (a :class:`~pathlib.Path`), complete and synced.

    This is how the airlock reads it. While the copy is being finished (the builder holds the
    key's lock), wait for it, up to ``timeout`` seconds (None: as long as it takes). Raises
    :class:`AirlockCopyPending` when it is not complete and nobody is finishing it (or the
    wait timed out): ``materialise_grant`` with the grant's spec finishes it.
    """
    cache = Path(cache_dir).absolute()
    paths = _Paths.of(cache, key)
    state = materialisation_state(cache, key)
    if state == COMPLETE:
        return paths.airlock
    lock = _KeyLock(cache / "locks" / f"{key}.lock")
    if not lock.path.parent.is_dir():  # nothing was ever materialised here
        raise AirlockCopyPending(f"grant {key} is not materialised in {cache}")
    if not lock.acquire(timeout=timeout):
        raise AirlockCopyPending(
            f"the airlock's copy of grant {key} is still being written (waited {timeout} s): "
            "try again later"
        )
    try:
        state = materialisation_state(cache, key)
    finally:
        lock.release()
    if state == COMPLETE:
        return paths.airlock
    raise AirlockCopyPending(
        f"the airlock's copy of grant {key} is {state} and nobody is writing it: "
        "materialise the grant again (materialise_grant finishes it)"
    )


def _no_progress(_fraction: float, _message: str) -> None:
    pass


def materialise_grant(
    spec: GrantSpec,
    cache_dir: str | os.PathLike[str],
    progress: Progress | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    airlock: str = WAIT,
) -> MaterialisedGrant:
    """Materialise ``spec`` under ``cache_dir`` (or find it there) and return where it is.

    ``airlock``: ``"wait"`` returns when both copies are complete (all or nothing: a failure
    leaves no file under a final name). ``"background"`` returns as soon as the researcher's
    copy is complete, synced and in place (the grant is usable): the airlock's copy is then
    finished by a (non-daemon) thread of this process, and the manifest says ``pending`` until
    it is; the airlock reads it through :func:`airlock_copy`, which waits for it.

    ``progress(fraction, message)`` is called from this thread with fractions from 0 to 1.
    Raises :class:`MaterialiseError` (or :class:`~cleanroom.grants.rowfilter.RowFilterError`) with a
    message that says what to fix.
    """
    if airlock not in AIRLOCK_MODES:
        raise MaterialiseError(f"airlock={airlock!r}: use one of {', '.join(AIRLOCK_MODES)}")
    report = progress or _no_progress
    cache = Path(cache_dir).absolute()
    _check_no_glob(cache, "the cache directory")
    key = grant_cache_key(spec)
    paths = _Paths.of(cache, key)
    settings = {"threads": threads, "memory_limit": memory_limit}
    found = _load_cached(key, paths)
    if found is not None and (found.airlock_ready or airlock == BACKGROUND):
        if not found.airlock_ready:
            _resume_in_background(spec, key, paths, cache, settings)
        report(1.0, "already materialised")
        return found

    for sub, mode in ((RESEARCHER, 0o755), (AIRLOCK, 0o700), ("tmp", 0o700), ("locks", 0o700)):
        _make_dir(cache / sub, mode)
    lock = _KeyLock(cache / "locks" / f"{key}.lock")
    lock.acquire()
    handed_over = False
    try:
        found = _load_cached(key, paths)
        if found is not None and (found.airlock_ready or airlock == BACKGROUND):
            if not found.airlock_ready:  # pending, and we hold the lock: nobody is writing it
                handed_over = _finish_in_background(spec, found, paths, cache, lock, settings)
            report(1.0, "already materialised")  # another thread or process finished it
            return found
        if found is not None:  # the researcher's copy is there, the airlock's is not
            return _finish_airlock(spec, found, paths, cache, report, settings, (0.02, 0.98))
        if airlock == WAIT:
            return _materialise_both(spec, key, paths, cache, report, settings)
        grant = _publish_researcher_copy(spec, key, paths, cache, report, settings)
        handed_over = _finish_in_background(spec, grant, paths, cache, lock, settings, True)
        report(1.0, f"materialised {grant.rows} rows (the airlock's copy follows)")
        return grant
    finally:
        if not handed_over:
            lock.release()


@dataclass(frozen=True)
class _Paths:
    researcher: Path
    airlock: Path
    manifest: Path

    @classmethod
    def of(cls, cache: Path, key: str) -> _Paths:
        airlock = airlock_dir(cache, key) / DATA_FILE
        return cls(researcher_dir(cache, key) / DATA_FILE, airlock, airlock.with_name(MANIFEST))


@dataclass(frozen=True)
class _Plan:
    source: Path
    identity: list[int]  # the source file's device, inode, size and mtime when it was read
    columns: tuple[str, ...]  # the researcher's copy
    airlock_columns: tuple[str, ...]  # the same, then the contributor column if not granted
    where: str  # "" or " WHERE (<the checked row filter>)"

    def copy_sql(self, spec: GrantSpec, columns: tuple[str, ...], target: Path) -> str:
        # Every piece is quoted here or rebuilt by the row filter's checker: no user text.
        return (
            f"COPY (SELECT {', '.join(map(quote_identifier, columns))} "  # noqa: S608
            f"FROM {source_relation(self.source, spec.source_format)}{self.where}) "
            f"TO {sql_string(str(target))} ({PARQUET_OPTIONS})"
        )


def _source_file(spec: GrantSpec) -> Path:
    source = Path(spec.source_path).absolute()
    _check_no_glob(source, "the source path")
    if not source.is_file():
        raise MaterialiseError(
            f"the source {source} of dataset version {spec.dataset_version_id} is missing or "
            "not a file: restore it, or register the dataset again"
        )
    return source.resolve()


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _plan(con, spec: GrantSpec, source: Path) -> _Plan:
    identity = _identity(source)
    schema = _describe(con, source, spec.source_format)
    columns = _granted_columns(spec, schema)
    if spec.contributor_column not in schema:
        raise MaterialiseError(
            f"the contributor column {spec.contributor_column!r} is not in the source; "
            f"its columns are: {', '.join(schema)}"
        )
    where = ""
    if spec.row_filter is not None:
        where = f" WHERE ({check_row_filter(spec.row_filter, schema)})"
    airlock_columns = columns + (
        () if spec.contributor_column in columns else (spec.contributor_column,)
    )
    return _Plan(source, identity, columns, airlock_columns, where)


def _work_dir(cache: Path, key: str) -> Path:
    work = cache / "tmp" / f"{key}.{secrets.token_hex(6)}"
    _make_dir(work, 0o700)
    return work


def _write_copy(
    con,
    spec: GrantSpec,
    plan: _Plan,
    columns: tuple[str, ...],
    target: Path,
    report: Progress,
    span: tuple[float, float],
    message: str,
) -> int:
    """One DuckDB pass from the source into ``target``: checked (columns, row count, the
    source unchanged meanwhile), synced, read-only. Returns the number of rows."""
    try:
        rows = _run(con, plan.copy_sql(spec, columns, target), report, *span, message)
        written = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(target)]).fetchall()
        again = con.execute("SELECT count(*) FROM read_parquet(?)", [str(target)]).fetchall()
    except Exception as error:
        raise MaterialiseError(
            f"materialising the grant of dataset version {spec.dataset_version_id} failed "
            f"({first_line(error)}); nothing was kept. Check the source file and the row "
            "filter, then grant again"
        ) from None
    if rows != again[0][0] or tuple(r[0] for r in written) != columns:  # pragma: no cover
        raise MaterialiseError(
            "a materialised copy does not match the grant (rows or columns differ); nothing "
            "was kept: report this"
        )
    _check_unchanged(spec, plan)
    _fsync(target)  # DuckDB's COPY does not sync what it writes
    os.chmod(target, 0o444)
    return rows


def _check_unchanged(spec: GrantSpec, plan: _Plan) -> None:
    try:
        same = _identity(plan.source) == list(plan.identity)
    except OSError:
        same = False
    if not same:
        raise MaterialiseError(
            f"the source {plan.source} of dataset version {spec.dataset_version_id} changed "
            "while it was being materialised; nothing was kept: restore the registered file, "
            "then grant again"
        )


def _write_researcher_copy(spec, work, report, settings, span) -> tuple[_Plan, Path, int]:
    source = _source_file(spec)
    report(0.0, "reading the source's schema")
    con = _connect([source], work, **settings)
    try:
        plan = _plan(con, spec, source)
        target = work / "researcher.parquet"
        rows = _write_copy(
            con, spec, plan, plan.columns, target, report, span, "copying the granted rows"
        )
    finally:
        con.close()
    return plan, target, rows


def _write_airlock_copy(spec, plan, researcher, rows, work, report, settings, span) -> tuple:
    """The airlock's copy in ``work``: the researcher's file itself (a second link to it) when
    the contributor column is granted, else its columns and the contributor's by DuckDB."""
    target = work / "airlock.parquet"
    if plan.airlock_columns == plan.columns:
        try:
            os.link(researcher, target)  # same bytes, already synced and read-only
            return target, "linked"
        except OSError:
            shutil.copyfile(researcher, target)
            _fsync(target)
            os.chmod(target, 0o444)
            return target, "copied"
    con = _connect([plan.source], work, **settings)
    try:
        again = _write_copy(
            con,
            spec,
            plan,
            plan.airlock_columns,
            target,
            report,
            span,
            "copying the granted rows with their contributors for the airlock",
        )
    finally:
        con.close()
    if again != rows:  # pragma: no cover - the same query over the same (unchanged) file
        raise MaterialiseError(
            "the airlock's copy does not have the researcher's rows; nothing was kept: report this"
        )
    return target, "written"


def _manifest(spec, key, plan, rows, paths, airlock_state, airlock_how=None) -> dict[str, Any]:
    manifest = {
        "key": key,
        "definition": grant_definition(spec),
        "rows": rows,
        "researcher_copy": "written",
        "researcher_columns": list(plan.columns),
        "airlock_columns": list(plan.airlock_columns),
        "researcher_bytes": paths.researcher.stat().st_size,
        "source_identity": list(plan.identity),
        "airlock": airlock_state,
    }
    if airlock_state == COMPLETE:
        manifest["airlock_copy"] = airlock_how
        manifest["airlock_bytes"] = paths.airlock.stat().st_size
    return manifest


def _write_manifest(manifest: dict[str, Any], paths: _Paths, work: Path) -> None:
    tmp = work / MANIFEST
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o444)
    _fsync(tmp)
    os.replace(tmp, paths.manifest)
    _fsync(paths.manifest.parent)


def _publish(tmp: Path, final: Path, mode: int) -> None:
    _make_dir(final.parent, mode)
    os.replace(tmp, final)
    _fsync(final.parent)


def _materialise_both(spec, key, paths, cache, report, settings) -> MaterialisedGrant:
    """Both copies in a work directory, then renamed into place and the manifest last."""
    work = _work_dir(cache, key)
    try:
        plan, researcher, rows = _write_researcher_copy(spec, work, report, settings, (0.02, 0.5))
        airlock, how = _write_airlock_copy(
            spec, plan, researcher, rows, work, report, settings, (0.5, 0.95)
        )
        report(0.96, "putting the copies in place")
        _publish(airlock, paths.airlock, 0o700)
        _publish(researcher, paths.researcher, 0o755)
        manifest = _manifest(spec, key, plan, rows, paths, COMPLETE, how)
        _write_manifest(manifest, paths, work)  # last: its presence means "complete"
    finally:
        _remove_tree(work)
    report(1.0, f"materialised {rows} rows")
    return MaterialisedGrant(
        key, paths.researcher, paths.airlock, rows, plan.columns, False, manifest, True
    )


def _publish_researcher_copy(spec, key, paths, cache, report, settings) -> MaterialisedGrant:
    """The researcher's copy in place (synced) and a manifest saying the airlock's is pending."""
    work = _work_dir(cache, key)
    try:
        plan, researcher, rows = _write_researcher_copy(spec, work, report, settings, (0.02, 0.96))
        report(0.96, "putting the researcher's copy in place")
        _publish(researcher, paths.researcher, 0o755)
        _make_dir(paths.manifest.parent, 0o700)
        manifest = _manifest(spec, key, plan, rows, paths, PENDING)
        _write_manifest(manifest, paths, work)
    finally:
        _remove_tree(work)
    return MaterialisedGrant(
        key, paths.researcher, paths.airlock, rows, plan.columns, False, manifest, False
    )


def _finish_airlock(
    spec, grant, paths, cache, report, settings, span, same_file=False
) -> MaterialisedGrant:
    """Write the airlock's copy of a grant whose researcher's copy is in place (hold the
    key's lock). ``same_file``: the source must be the very file (device, inode, size,
    mtime) the researcher's copy was just made from; otherwise the key (the content's hash,
    which the catalog checks first) says it is the same content."""
    work = _work_dir(cache, grant.key)
    try:
        source = _source_file(spec)
        con = _connect([source], work, **settings)
        try:
            plan = _plan(con, spec, source)
        finally:
            con.close()
        if same_file and plan.identity != grant.manifest.get("source_identity"):
            raise MaterialiseError(
                f"the source {source} of dataset version {spec.dataset_version_id} changed "
                "after the researcher's copy was made: restore the registered file, then "
                "materialise the grant again"
            )
        if plan.columns != grant.columns:  # pragma: no cover - part of the key
            raise MaterialiseError("the grant's columns changed: report this")
        airlock, how = _write_airlock_copy(
            spec, plan, paths.researcher, grant.rows, work, report, settings, span
        )
        _publish(airlock, paths.airlock, 0o700)
        manifest = dict(grant.manifest, airlock=COMPLETE, airlock_copy=how)
        manifest["airlock_bytes"] = paths.airlock.stat().st_size
        _write_manifest(manifest, paths, work)
    finally:
        _remove_tree(work)
    report(1.0, f"materialised {grant.rows} rows")
    return MaterialisedGrant(
        grant.key,
        paths.researcher,
        paths.airlock,
        grant.rows,
        grant.columns,
        grant.cached,
        manifest,
        True,
    )


def _finish_in_background(
    spec, grant, paths, cache, lock: _KeyLock, settings, same_file=False
) -> bool:
    """Hand ``lock`` to a thread that finishes the airlock's copy, then releases it.

    Not a daemon: a command-line process waits for it before it exits. If it fails (or the
    process dies), the manifest stays ``pending`` and the next ``materialise_grant`` of the
    grant finishes it."""

    def work() -> None:
        try:
            _finish_airlock(
                spec, grant, paths, cache, _no_progress, settings, (0.0, 1.0), same_file
            )
        except BaseException:  # noqa: BLE001 - a thread's end: logged, the state stays pending
            log.exception("the airlock's copy of grant %s failed; it stays pending", grant.key)
        finally:
            lock.release()

    thread = threading.Thread(target=work, name=f"cleanroom-airlock-{grant.key[:12]}")
    thread.start()
    return True


def _resume_in_background(spec, key, paths, cache, settings) -> None:
    """A pending airlock copy that nobody is writing (its builder died): finish it."""
    lock = _KeyLock(cache / "locks" / f"{key}.lock")
    if not lock.acquire(blocking=False):
        return  # someone is writing it
    handed_over = False
    try:
        found = _load_cached(key, paths)
        if found is not None and not found.airlock_ready:
            handed_over = _finish_in_background(spec, found, paths, cache, lock, settings)
    finally:
        if not handed_over:
            lock.release()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _granted_columns(spec: GrantSpec, schema: Mapping[str, str]) -> tuple[str, ...]:
    if spec.columns is None:
        return tuple(schema)
    unknown = [c for c in spec.columns if c not in schema]
    if unknown:
        raise MaterialiseError(
            f"the grant names {', '.join(map(repr, unknown))}, which the dataset does not have; "
            f"its columns are: {', '.join(schema)}"
        )
    return tuple(spec.columns)


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for child in sorted(path.rglob("*"), reverse=True):
        with contextlib.suppress(OSError):
            if child.is_dir() and not child.is_symlink():
                child.rmdir()
            else:
                child.unlink()
    with contextlib.suppress(OSError):
        path.rmdir()


# --- the container's view catalog -------------------------------------------------------------

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
    if not path.is_absolute() or ".." in path.parts or (set("'\"") | _GLOB) & set(data_dir):
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
        _check_key(key)
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
