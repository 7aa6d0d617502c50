"""Grants made physical: the granted columns and rows copied into read-only Parquet, once.

::

    spec = GrantSpec(dataset_version_id="7", source_path="/srv/sources/wafers.parquet",
                     source_format="parquet", columns=("lot_id", "die_yield_pct"),
                     row_filter="plant IN ('HBS-ICN1')", contributor_column="plant",
                     source_sha256="9f2c...")
    grant = materialise_grant(spec, "/srv/cleanroom/grants", progress=print)
    build_view_catalog({"wafer_lots": grant.key}, "/srv/cleanroom/catalogs/p1.duckdb")  # views

Where the copies go, their key and their manifest are :mod:`cleanroom.grants.cache`; the
container's view of them is :mod:`cleanroom.grants.views`. Every file is written to
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

"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.duckdb_sandbox import first_line, quote_identifier
from cleanroom.grants.cache import (
    AIRLOCK,
    COMPLETE,
    DATA_FILE,
    MANIFEST,
    PENDING,
    RESEARCHER,
    AirlockCopyPending,
    GrantPaths,
    GrantSpec,
    KeyLock,
    MaterialisedGrant,
    MaterialiseError,
    airlock_copy,
    airlock_dir,
    build_manifest,
    check_no_glob,
    grant_cache_key,
    load_cached,
    make_dir,
    materialisation_state,
    researcher_dir,
    sql_string,
)
from cleanroom.grants.rowfilter import check_row_filter
from cleanroom.grants.views import build_view_catalog, container_mounts

# Names that tests and bench/ import from here, defined in cache.py and views.py.
__all__ = [
    "DATA_FILE",
    "MANIFEST",
    "RESEARCHER",
    "AirlockCopyPending",
    "GrantSpec",
    "MaterialiseError",
    "MaterialisedGrant",
    "airlock_copy",
    "airlock_dir",
    "build_view_catalog",
    "container_mounts",
    "describe_researcher_copy",
    "describe_source",
    "grant_cache_key",
    "materialisation_state",
    "materialise_grant",
    "quote_identifier",
    "researcher_dir",
]

Progress = Callable[[float, str], None]

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

_POLL_SECONDS = 0.25

log = logging.getLogger(__name__)


def source_relation(path: str | os.PathLike[str], source_format: str) -> str:
    """The DuckDB table function reading a source file, with the path quoted."""
    check_no_glob(path, "the source path")
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
    check_no_glob(cache, "the cache directory")
    key = grant_cache_key(spec)
    paths = GrantPaths.of(cache, key)
    settings = {"threads": threads, "memory_limit": memory_limit}
    found = load_cached(key, paths)
    if found is not None and (found.airlock_ready or airlock == BACKGROUND):
        if not found.airlock_ready:
            _resume_in_background(spec, key, paths, cache, settings)
        report(1.0, "already materialised")
        return found

    # Only the hub (root) opens researcher/ (to mount one key's folder into a container); the
    # airlock's account may read airlock/ (setgid: its group, given by the host's preparation,
    # passes on to each key's folder), nothing else (cleanroom.host.accounts).
    for sub, mode in ((RESEARCHER, 0o700), (AIRLOCK, 0o2750), ("tmp", 0o700), ("locks", 0o700)):
        make_dir(cache / sub, mode)
    lock = KeyLock(cache / "locks" / f"{key}.lock")
    lock.acquire()
    handed_over = False
    try:
        found = load_cached(key, paths)
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
    check_no_glob(source, "the source path")
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
    make_dir(work, 0o700)
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


def _write_researcher_copy(
    spec, work, report, settings, span
) -> tuple[_Plan, Path, int, list[str]]:
    source = _source_file(spec)
    report(0.0, "reading the source's schema")
    con = _connect([source], work, **settings)
    try:
        plan = _plan(con, spec, source)
        target = work / "researcher.parquet"
        rows = _write_copy(
            con, spec, plan, plan.columns, target, report, span, "copying the granted rows"
        )
        contributors = _contributors(con, spec, plan)
    finally:
        con.close()
    return plan, target, rows, contributors


def _contributors(con, spec: GrantSpec, plan: _Plan) -> list[str]:
    """The distinct contributor values of the granted rows (after the row filter): whose data
    is in the researcher's copy. The catalog maps them to organisations, and the airlock asks
    only those organisations' data owners about outputs made from this grant."""
    # As the catalog counts them at registration (cleanroom.catalog.source): cast to text.
    sql = (
        f"SELECT DISTINCT CAST({quote_identifier(spec.contributor_column)} AS VARCHAR) "  # noqa: S608
        f"FROM {source_relation(plan.source, spec.source_format)}{plan.where}"
    )
    try:
        values = [row[0] for row in con.execute(sql).fetchall()]
    except Exception as error:
        raise MaterialiseError(
            f"reading the contributors of the granted rows of dataset version "
            f"{spec.dataset_version_id} failed ({first_line(error)}); nothing was kept. Check "
            "the source file, then grant again"
        ) from None
    _check_unchanged(spec, plan)
    if any(v is None for v in values):
        raise MaterialiseError(
            f"some granted rows of dataset version {spec.dataset_version_id} have no value in "
            f"the contributor column {spec.contributor_column!r}; nothing was kept: every row "
            "must say which company or plant it came from (register a corrected version)"
        )
    return sorted(values)


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


def _write_manifest(manifest: dict[str, Any], paths: GrantPaths, work: Path) -> None:
    tmp = work / MANIFEST
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o444)
    _fsync(tmp)
    os.replace(tmp, paths.manifest)
    _fsync(paths.manifest.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, final: Path, mode: int) -> None:
    make_dir(final.parent, mode)
    os.replace(tmp, final)
    _fsync(final.parent)


def _materialise_both(spec, key, paths, cache, report, settings) -> MaterialisedGrant:
    """Both copies in a work directory, then renamed into place and the manifest last."""
    work = _work_dir(cache, key)
    try:
        plan, researcher, rows, contributors = _write_researcher_copy(
            spec, work, report, settings, (0.02, 0.5)
        )
        airlock, how = _write_airlock_copy(
            spec, plan, researcher, rows, work, report, settings, (0.5, 0.95)
        )
        report(0.96, "putting the copies in place")
        _publish(airlock, paths.airlock, 0o750)
        _publish(researcher, paths.researcher, 0o755)
        manifest = build_manifest(spec, key, plan, rows, paths, COMPLETE, how, contributors)
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
        plan, researcher, rows, contributors = _write_researcher_copy(
            spec, work, report, settings, (0.02, 0.96)
        )
        report(0.96, "putting the researcher's copy in place")
        _publish(researcher, paths.researcher, 0o755)
        make_dir(paths.manifest.parent, 0o750)
        manifest = build_manifest(spec, key, plan, rows, paths, PENDING, None, contributors)
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
        _publish(airlock, paths.airlock, 0o750)
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
    spec, grant, paths, cache, lock: KeyLock, settings, same_file=False
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
    lock = KeyLock(cache / "locks" / f"{key}.lock")
    if not lock.acquire(blocking=False):
        return  # someone is writing it
    handed_over = False
    try:
        found = load_cached(key, paths)
        if found is not None and not found.airlock_ready:
            handed_over = _finish_in_background(spec, found, paths, cache, lock, settings)
    finally:
        if not handed_over:
            lock.release()


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
