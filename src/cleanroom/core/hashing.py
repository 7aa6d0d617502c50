"""SHA-256 of files, read in chunks.

sha256_file(path)                    # hex digest
sha256_file(path, on_read=callback)  # callback(bytes read so far) after every chunk
sha256_fileobj(f)                    # (hex digest, bytes read) from f's position to its end
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024


def sha256_fileobj(
    f: BinaryIO,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    on_read: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """The hex SHA-256 of what ``f`` holds from its position to its end, and how many bytes
    that was. ``on_read`` is called with the running count after every chunk."""
    digest = hashlib.sha256()
    done = 0
    while chunk := f.read(chunk_bytes):
        digest.update(chunk)
        done += len(chunk)
        if on_read is not None:
            on_read(done)
    return digest.hexdigest(), done


def sha256_file(
    path: str | os.PathLike[str],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    on_read: Callable[[int], None] | None = None,
) -> str:
    """The hex SHA-256 of the file at ``path``."""
    with open(path, "rb") as f:
        return sha256_fileobj(f, chunk_bytes=chunk_bytes, on_read=on_read)[0]
