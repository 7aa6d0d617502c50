"""The content-addressed blob store: every file of every request, by SHA-256, outside every
researcher's container and apart from their homes.

    store = BlobStore(Path("/var/lib/cleanroom/airlock/blobs"))
    writer = store.writer(limit=2**30)   # a temporary file in the store's own directory
    writer.write(chunk)                  # hashes and counts as it goes; TooLarge past limit
    blob = writer.commit()               # fsync, rename to <sha256>, fsync the directory
    path = store.verified_path(blob.sha256)   # re-hashes (cached while the file is unchanged)

What survives a crash or a cut-off upload: a blob is visible under its hash only after its
bytes are on disk (fsync before the rename, and of the directory after it), so a name either
holds the whole file or does not exist. Leftover temporary files are removed when the store
opens. Blobs are never modified: a name is its content.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cleanroom.core.hashing import sha256_file

from .errors import IntegrityError, NotFound, TooLarge

TMP_PREFIX = ".upload-"
CHUNK = 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobWriter:
    """One upload in progress. Not thread-safe; use from one task at a time."""

    def __init__(self, store: BlobStore, limit: int, what: str = "the file"):
        self.store = store
        self.limit = limit
        self.what = what
        self.size = 0
        self._hash = hashlib.sha256()
        name = TMP_PREFIX + secrets.token_hex(12)
        self.tmp_path = store.root / name
        self._fd: int | None = os.open(
            self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )

    def write(self, chunk: bytes) -> None:
        if self._fd is None:
            raise ValueError("this upload is already finished")
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(
                f"{self.what} is larger than the airlock accepts ({self.limit} bytes at most); "
                "nothing was stored"
            )
        self._hash.update(chunk)
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def commit(self) -> Blob:
        """Make the bytes durable and visible under their hash; idempotent for equal bytes."""
        if self._fd is None:
            raise ValueError("this upload is already finished")
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        digest = self._hash.hexdigest()
        try:
            os.replace(self.tmp_path, self.store.root / digest)
            _fsync_dir(self.store.root)
        except BaseException:
            self.tmp_path.unlink(missing_ok=True)
            raise
        return Blob(digest, self.size)

    def abort(self) -> None:
        """Forget the upload; nothing of it stays."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is not None or self._fd is not None:
            self.abort()


class BlobStore:
    """Blobs under ``root`` (created 0700), flat, one file per SHA-256."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        self._verified: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self.remove_leftovers()

    def remove_leftovers(self) -> int:
        """Delete temporary files of uploads that never finished (a crash, a cut-off)."""
        count = 0
        for entry in self.root.iterdir():
            if entry.name.startswith(TMP_PREFIX):
                entry.unlink(missing_ok=True)
                count += 1
        return count

    def writer(self, limit: int, what: str = "the file") -> BlobWriter:
        return BlobWriter(self, limit, what)

    def put_bytes(self, data: bytes, limit: int | None = None) -> Blob:
        with self.writer(len(data) if limit is None else limit) as writer:
            writer.write(data)
            return writer.commit()

    def _path(self, sha256: str) -> Path:
        if not _SHA.fullmatch(sha256 or ""):
            raise NotFound(f"{sha256!r} is not a SHA-256")
        return self.root / sha256

    def blob_path(self, sha256: str) -> Path:
        """Where the blob lives (unverified: for readers that hash it themselves)."""
        return self._path(sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def verified_path(self, sha256: str) -> Path:
        """The blob's path after checking that its bytes still hash to ``sha256`` (the check
        is remembered while the file's inode, size and mtime stay the same)."""
        path = self._path(sha256)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise IntegrityError(
                f"the stored file {sha256[:16]}... is missing: nothing is served"
            ) from None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._verified.get(sha256) == key:
                return path
        if sha256_file(path, chunk_bytes=CHUNK) != sha256:
            raise IntegrityError(
                f"the stored file {sha256[:16]}... no longer matches its hash: nothing is "
                "served, and an admin must look at the store"
            )
        with self._lock:
            self._verified[sha256] = key
        return path

    def read_verified(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, hashed as they are read; raises IntegrityError at the
        end when they do not match (after :meth:`verified_path` checked them once before)."""
        path = self.verified_path(sha256)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                yield chunk
        if digest.hexdigest() != sha256:
            raise IntegrityError(f"the stored file {sha256[:16]}... changed while being read")
