"""The grants' cache on disk: keys, paths, the key lock and manifests.

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
is materialised once and a changed grant gets a new directory.

:func:`materialisation_state` says how far a key is; the airlock reads its copy through
:func:`airlock_copy`, which waits while it is being written (the writer holds the key's
:class:`KeyLock`) and refuses a copy that is not complete. Writing the copies is
:mod:`cleanroom.grants.materialise`; the container's view of them is
:mod:`cleanroom.grants.views`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanroom.errors import CleanRoomError

FORMAT_VERSION = 1
"""Part of every cache key: bump it when the materialised files change meaning or layout."""

DATA_FILE = "data.parquet"
MANIFEST = "grant.json"
RESEARCHER = "researcher"
AIRLOCK = "airlock"
SOURCE_FORMATS = ("parquet", "csv")

# A grant's materialisation_state(): nothing usable; the researcher's copy in place and the
# airlock's not finished; both in place.
MISSING, PENDING, COMPLETE = "missing", "pending", "complete"

_KEY = re.compile(r"[0-9a-f]{64}")
_LOCK_POLL_SECONDS = 0.05


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

    @property
    def contributors(self) -> tuple[str, ...] | None:
        """The distinct contributor values of the granted rows (after the row filter), as
        the manifest records them; None when it does not (made before they were recorded)."""
        values = self.manifest.get("contributors")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return None
        return tuple(values)

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
    return Path(cache_dir) / RESEARCHER / check_key(key)


def airlock_dir(cache_dir: str | os.PathLike[str], key: str) -> Path:
    return Path(cache_dir) / AIRLOCK / check_key(key)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise MaterialiseError(f"{key!r} is not a grant key (64 lowercase hex digits)")
    return key


GLOB_CHARACTERS = set("*?[]{}")


def check_no_glob(path: str | os.PathLike[str], what: str) -> None:
    text = os.fspath(path)
    if GLOB_CHARACTERS & set(text):
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


# --- the key lock and the manifests ----------------------------------------------------------


class KeyLock:
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


def make_dir(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # Left alone when right: it may be another account's (root's command, the admin pages').
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)


def read_manifest(key: str, paths: GrantPaths) -> dict[str, Any] | None:
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


def _airlock_complete(manifest: Mapping[str, Any], paths: GrantPaths) -> bool:
    # Manifests written before the airlock state existed described both copies complete.
    if manifest.get("airlock", COMPLETE) != COMPLETE:
        return False
    try:
        return paths.airlock.stat().st_size == manifest["airlock_bytes"]
    except (OSError, KeyError, TypeError):
        return False


def load_cached(key: str, paths: GrantPaths) -> MaterialisedGrant | None:
    """The grant as the cache has it, when its researcher's copy is in place (the airlock's
    may still be pending: see ``airlock_ready``)."""
    manifest = read_manifest(key, paths)
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
    paths = GrantPaths.of(Path(cache_dir).absolute(), key)
    manifest = read_manifest(key, paths)
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
    paths = GrantPaths.of(cache, key)
    state = materialisation_state(cache, key)
    if state == COMPLETE:
        return paths.airlock
    lock = KeyLock(cache / "locks" / f"{key}.lock")
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


def wait_for_airlock_copy(
    cache_dir: str | os.PathLike[str], key: str, *, timeout: float, poll: float = 0.2
) -> Path:
    """The airlock's copy of grant ``key`` once its manifest says it is complete, waiting up
    to ``timeout`` seconds. This is how the airlock's own account reads it: only what that
    account may open is read (the manifest and the copy beside it in ``airlock/<key>/``; not
    ``locks/`` nor the researcher's copy, which are the writers'). Raises
    :class:`AirlockCopyPending` when it is not complete by then."""
    paths = GrantPaths.of(Path(cache_dir).absolute(), check_key(key))
    deadline = time.monotonic() + timeout
    while True:
        try:
            manifest = json.loads(paths.manifest.read_text())
            if manifest.get("key") == key and _airlock_complete(manifest, paths):
                return paths.airlock
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        if time.monotonic() >= deadline:
            raise AirlockCopyPending(
                f"the airlock's copy of grant {key} is not complete (waited {timeout:g} s): "
                "it is still being written, or an admin must materialise the grant again"
            )
        time.sleep(poll)


@dataclass(frozen=True)
class GrantPaths:
    researcher: Path
    airlock: Path
    manifest: Path

    @classmethod
    def of(cls, cache: Path, key: str) -> GrantPaths:
        airlock = airlock_dir(cache, key) / DATA_FILE
        return cls(researcher_dir(cache, key) / DATA_FILE, airlock, airlock.with_name(MANIFEST))


def build_manifest(
    spec, key, plan, rows, paths, airlock_state, airlock_how=None, contributors=None
) -> dict[str, Any]:
    """The manifest of a grant whose researcher's copy is in ``paths`` (``plan``: its columns
    and the source's identity, from :mod:`cleanroom.grants.materialise`; ``contributors``: the
    distinct contributor values of its rows)."""
    manifest = {
        "key": key,
        "definition": grant_definition(spec),
        "rows": rows,
        "contributors": None if contributors is None else sorted(contributors),
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
