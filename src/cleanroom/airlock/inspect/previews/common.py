"""What every preview shares: the bounds on what is read and shown (:data:`LIMITS`), the
open file (``_Source``), its size and hash, and its start read as text."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.core.hashing import sha256_fileobj
from cleanroom.core.units import human_size

if TYPE_CHECKING:
    from cleanroom.airlock.inspect.previews.marks import Marks


@dataclass(frozen=True)
class Limits:
    """How much of a file a preview or a diff reads and shows."""

    table_rows: int = 50
    table_columns: int = 30
    cell_chars: int = 200
    # CSV: rows shown come from this prefix; the shape is counted over files up to the second.
    csv_read_bytes: int = 1024 * 1024
    csv_count_bytes: int = 16 * 1024 * 1024
    # Parquet: rows are shown only when the first row group is this small (uncompressed).
    parquet_row_group_bytes: int = 64 * 1024 * 1024
    parquet_memory: str = "256MB"
    # Images: larger files or pictures are not put in the page (a decoding bomb for a browser).
    image_bytes: int = 10 * 1024 * 1024
    image_pixels: int = 40_000_000
    text_bytes: int = 256 * 1024
    text_lines: int = 5000
    # Text longer than this is shown escaped but not highlighted (lexing is the slow part).
    highlight_chars: int = 128 * 1024
    # Invisible characters marked as ⟨U+XXXX⟩ in one block; the rest show as U+FFFD.
    reveal_marks: int = 2000
    # Notebooks: whole-notebook cap, cells, chars of one source or output, all text, images.
    notebook_bytes: int = mt.NOTEBOOK_MAX_BYTES
    notebook_cells: int = 500
    notebook_block_chars: int = 64 * 1024
    notebook_total_chars: int = 4 * 1024 * 1024
    notebook_image_bytes: int = 16 * 1024 * 1024
    # A sha256 is computed here only for files up to this size (else the caller passes it).
    hash_bytes: int = 256 * 1024 * 1024
    diff_bytes: int = 2 * 1024 * 1024
    diff_lines: int = 10_000
    diff_output_lines: int = 5000
    line_chars: int = 2000
    binary_listing: int = 100


LIMITS = Limits()


@dataclass
class _Source:
    f: io.BufferedReader
    path: Path
    size: int
    name: str
    media_type: str
    sha256: str | None
    # The airlock's link to this file's full view, for the notes that say something is cut.
    full_url: str | None = None
    # Cells a table marks (the verified-table check's findings), see ``marks``.
    marks: Marks | None = None


def _sha256(f: io.BufferedReader, size: int, given: str | None) -> str | None:
    """The file's sha256: the caller's (the store's) value, else computed for bounded files."""
    if given is not None:
        return given
    if size > LIMITS.hash_bytes:
        return None
    f.seek(0)
    digest, _ = sha256_fileobj(f)
    f.seek(0)
    return digest


def _human(size: int) -> str:
    return human_size(size, exact=True)  # "1.5 KiB (1,536 bytes)"


def _hash_text(sha: str | None) -> str:
    return f"sha256 {sha}" if sha else "sha256 not computed here (file too large)"


def _read_text(f: io.BufferedReader, limit: int) -> tuple[str, bool]:
    """Up to ``limit`` bytes from the start as text (bad UTF-8 replaced); True if cut short."""
    f.seek(0)
    raw = f.read(limit + 1)
    cut = len(raw) > limit
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(raw[:limit], final=not cut)
    return text.removeprefix("\ufeff"), cut
