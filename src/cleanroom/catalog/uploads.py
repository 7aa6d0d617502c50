"""Dataset files uploaded in chunks through the admin pages, staged out of sight until checked.

    store = UploadStore(import_dir, max_bytes=20 * 1024**3)
    upload = store.start("wafers.csv", size, sha256, actor="adam", check={...})
    store.write(upload.id, offset, chunk, actor="adam")   # -> the new offset; 409 if not it
    store.check(upload.id, checker)                        # -> the file's name in import_dir

A partial upload is ``<import_dir>/.uploads/<id>.part`` beside ``<id>.json`` (what was declared
at the start: name, size, SHA-256, the contributor column and mapping, and its state). The
import directory's list skips hidden directories, so nothing here can be registered. Only a
complete file whose size and SHA-256 are the declared ones, whose content is Parquet (by its
magic bytes) or CSV that DuckDB reads, and that passes the catalog's own checks
(:meth:`CatalogService.check_source`: the contributor column, every value mapped to an
organisation) is moved (a hard link, then the part removed: atomic, never over another file)
into the import directory. A refused upload's part is removed at once; uploads untouched for
:data:`STALE_AFTER_S` (a day) are removed by :meth:`UploadStore.clean`, which the service runs
at its start, every hour and at each new upload; checks cut short by a restart are made again
(:meth:`UploadStore.recover`, at the start).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import CatalogError, InvalidValue, SourceError
from .source import sha256_file

STAGING = ".uploads"
CHUNK_BYTES = 8 * 1024 * 1024
"""What the page sends per request (the public host's entry point takes at most 64 MiB)."""
MAX_CHUNK_BYTES = 32 * 1024 * 1024
STALE_AFTER_S = 24 * 3600
PARQUET_MAGIC = b"PAR1"
SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(CatalogError):
    """A refused upload step; ``status`` is the HTTP status the pages answer with."""

    def __init__(self, message: str, status: int = 400, offset: int | None = None):
        super().__init__(message)
        self.status = status
        self.offset = offset


@dataclass
class Upload:
    id: str
    actor: str
    filename: str
    size: int
    sha256: str
    check: dict[str, Any]
    started: float
    state: str = "receiving"  # receiving | checking | done | refused
    message: str = ""
    file: str = ""  # the name under the import directory, once done
    offset: int = field(default=0, compare=False)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "size": self.size,
            "offset": self.offset,
            "state": self.state,
            "message": self.message,
            "file": self.file,
            "chunk": CHUNK_BYTES,
        }


def safe_filename(name: str) -> str:
    """The browser's file name made into a plain name under the import directory."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    suffix = "." + suffix.lower() if dot else ""
    if suffix not in SUFFIXES:
        raise UploadError(f"{base or 'the file'!r} is not a .csv or .parquet file: choose one")
    stem = _UNSAFE.sub("_", stem).strip("._-")[:100] or "upload"
    return stem + suffix


def content_format(path: Path) -> str:
    """parquet when the file starts and ends with Parquet's magic bytes, else csv (which the
    catalog then reads strictly)."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(max(0, path.stat().st_size - 4))
        tail = f.read(4)
    return "parquet" if head == tail == PARQUET_MAGIC else "csv"


class UploadStore:
    """The staging directory of one import directory (see the module docstring)."""

    def __init__(
        self,
        import_dir: str | os.PathLike[str],
        *,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ):
        self.import_dir = Path(import_dir).resolve()
        self.staging = self.import_dir / STAGING
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()

    # -- files ---------------------------------------------------------------------------------

    def _part(self, upload_id: str) -> Path:
        return self.staging / f"{upload_id}.part"

    def _meta(self, upload_id: str) -> Path:
        return self.staging / f"{upload_id}.json"

    def _save(self, upload: Upload) -> None:
        data = asdict(upload)
        data.pop("offset")
        tmp = self._meta(upload.id).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._meta(upload.id))

    def get(self, upload_id: str, actor: str) -> Upload:
        """The upload ``upload_id`` that ``actor`` started, with the offset the server has."""
        if not _ID.fullmatch(upload_id or ""):
            raise UploadError("there is no such upload: start again", 404)
        try:
            data = json.loads(self._meta(upload_id).read_text())
        except (OSError, ValueError):
            raise UploadError(
                "there is no such upload (abandoned uploads are removed after a day): start again",
                404,
            ) from None
        upload = Upload(**data)
        if upload.actor != actor:
            raise UploadError(f"this upload was started by {upload.actor}, not by you", 403)
        part = self._part(upload_id)
        upload.offset = part.stat().st_size if part.exists() else 0
        return upload

    # -- steps ---------------------------------------------------------------------------------

    def start(
        self, filename: str, size: Any, sha256: Any, *, actor: str, check: dict[str, Any]
    ) -> Upload:
        """Declare an upload; refuse a wrong name, size or SHA-256 before any byte comes."""
        name = safe_filename(filename)
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise UploadError(f"{name} is empty: choose a file that holds data")
        if size > self.max_bytes:
            raise UploadError(
                f"{name} is {size:,} bytes, more than the {self.max_bytes:,} bytes an upload may "
                "have (the setting upload_max_bytes): copy it to the server and register it "
                "with the command line, or ask the operator to raise the cap",
                413,
            )
        sha256 = (sha256 or "").lower() if isinstance(sha256, str) else ""
        if not _SHA256.fullmatch(sha256):
            raise UploadError("the upload must declare the file's SHA-256 (64 hex digits)")
        self.staging.mkdir(mode=0o700, exist_ok=True)
        self.clean()
        upload = Upload(
            secrets.token_urlsafe(18), actor, name, size, sha256, dict(check), self.clock()
        )
        self._part(upload.id).touch(mode=0o600)
        self._save(upload)
        return upload

    def write(self, upload_id: str, offset: int, data: bytes, *, actor: str) -> int:
        """Append ``data`` at ``offset`` (which must be what the server has: 409 with that
        offset otherwise, so that the page resumes from there); the new offset."""
        if len(data) > MAX_CHUNK_BYTES:
            raise UploadError(f"a chunk may have at most {MAX_CHUNK_BYTES:,} bytes", 413)
        with self._lock:
            upload = self.get(upload_id, actor)
            if upload.state != "receiving":
                raise UploadError(f"this upload is {upload.state} and takes no more bytes", 409)
            if offset != upload.offset:
                raise UploadError(
                    f"the server has {upload.offset:,} bytes of this upload, not {offset:,}: "
                    "resume from there",
                    409,
                    upload.offset,
                )
            if offset + len(data) > upload.size:
                raise UploadError(
                    f"{upload.filename} was declared with {upload.size:,} bytes; this chunk "
                    "goes beyond that: start again",
                    400,
                    upload.offset,
                )
            with open(self._part(upload_id), "r+b") as f:
                f.seek(offset)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            return offset + len(data)

    def begin_check(self, upload_id: str, *, actor: str) -> Upload:
        """Mark a complete upload as being checked (refused unless every byte is here)."""
        with self._lock:
            upload = self.get(upload_id, actor)
            if upload.state != "receiving":
                raise UploadError(f"this upload is {upload.state} already", 409)
            if upload.offset != upload.size:
                raise UploadError(
                    f"the server has {upload.offset:,} of {upload.size:,} bytes: send the rest "
                    "first",
                    409,
                    upload.offset,
                )
            upload.state = "checking"
            self._save(upload)
            return upload

    def check(self, upload: Upload, checker: Callable[[Path, str], Any]) -> Upload:
        """Check a complete upload (size, SHA-256, content type, then ``checker(path,
        format)``, the catalog's checks) and move it into the import directory; on any
        refusal remove its bytes and keep why. Returns the upload as it ends."""
        part = self._part(upload.id)
        try:
            size = part.stat().st_size
            if size != upload.size:
                raise SourceError(
                    f"the server received {size:,} bytes where {upload.size:,} were declared"
                )
            digest = sha256_file(part)
            if digest != upload.sha256:
                raise SourceError(
                    f"the bytes received do not have the SHA-256 declared ({digest} instead of "
                    f"{upload.sha256}): the file changed or was damaged on the way; upload it "
                    "again"
                )
            fmt = content_format(part)
            named = SUFFIXES[Path(upload.filename).suffix]
            if fmt != named:
                raise SourceError(
                    f"{upload.filename} is named .{named} but its content is "
                    f"{'Parquet' if fmt == 'parquet' else 'not Parquet'}: name it after what "
                    "it holds"
                )
            checker(part, fmt)
            upload.file = self._place(part, upload.filename)
            upload.state, upload.message = "done", f"{upload.file} is in the import directory"
        except CatalogError as error:
            upload.state, upload.message = "refused", _without_path(str(error), part, upload)
            part.unlink(missing_ok=True)
        except Exception:
            upload.state = "refused"
            upload.message = "the check failed unexpectedly; the service's log says why"
            part.unlink(missing_ok=True)
            self._save(upload)
            raise
        self._save(upload)
        return upload

    def _place(self, part: Path, filename: str) -> str:
        """Link ``part`` into the import directory under ``filename`` (or name-2, ...),
        never over an existing file, then remove the part."""
        stem, suffix = filename.rsplit(".", 1)
        for n in range(1, 1000):
            name = filename if n == 1 else f"{stem}-{n}.{suffix}"
            try:
                os.link(part, self.import_dir / name)
            except FileExistsError:
                continue
            part.unlink()
            return name
        raise InvalidValue(f"there are too many files named like {filename}: rename the file")

    def recover(self) -> list[str]:
        """After a restart: uploads left ``checking`` (their check died with the process) go
        back to ``receiving``, complete, so that the page's next check runs them again."""
        recovered: list[str] = []
        if not self.staging.is_dir():
            return recovered
        for meta in self.staging.glob("*.json"):
            try:
                upload = Upload(**json.loads(meta.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if upload.state == "checking":
                upload.state = "receiving"
                self._save(upload)
                recovered.append(upload.id)
        return recovered

    def clean(self, older_than: float = STALE_AFTER_S) -> list[str]:
        """Remove uploads (parts and their records) untouched for ``older_than`` seconds."""
        removed: list[str] = []
        if not self.staging.is_dir():
            return removed
        limit = self.clock() - older_than
        newest: dict[str, float] = {}  # an upload's files go together, by the newest one
        files: dict[str, list[Path]] = {}
        for path in self.staging.iterdir():
            try:
                moment = path.stat().st_mtime
            except FileNotFoundError:
                continue
            key = path.name.split(".", 1)[0]
            newest[key] = max(newest.get(key, 0.0), moment)
            files.setdefault(key, []).append(path)
        for key, moment in newest.items():
            if moment >= limit:
                continue
            for path in files[key]:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


def _without_path(message: str, part: Path, upload: Upload) -> str:
    """The catalog names the staged file by its path: name it as the admin knows it."""
    return message.replace(str(part), upload.filename)


def parse_check(data: dict[str, Any]) -> dict[str, Any]:
    """The catalog checks' arguments from the start request's JSON."""
    column = data.get("contributor_column")
    if not isinstance(column, str) or not column.strip():
        raise UploadError("name the contributor column (which company or plant a row is from)")
    mapping = data.get("mapping", "")
    if not isinstance(mapping, str):
        raise UploadError("the mapping must be text, one VALUE=ORGANISATION per line")
    return {
        "contributor_column": column.strip(),
        "mapping": mapping,
        "values_are_orgs": bool(data.get("values_are_orgs")),
    }
