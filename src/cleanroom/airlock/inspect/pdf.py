"""What a PDF holds besides its pages: run only in the sandbox (it parses researcher bytes).

::

    inspect_pdf(Path("/input/0"))
    # {"pages": 3, "trailing_bytes": 1234, "trailing_kind": "a Parquet file (PAR1)",
    #  "embedded_files": ["rows.csv"], "active": {"/JavaScript": 1, "/OpenAction": 1}, ...}

A PDF can carry data a page image never shows: bytes after its last ``%%EOF`` (a whole
Parquet file or ZIP appended; PDF readers ignore them), attached files, scripts and forms.
Pages come from poppler's ``pdfinfo``, attachments from ``pdfdetach -list``; keywords are
found by scanning the raw bytes *and* every Flate-compressed stream (object streams hide
dictionaries from a raw scan), with ``#xx`` escapes in names decoded (``/J#61vaScript``).
Work is bounded (:data:`SCAN_MAX_BYTES`, :data:`INFLATE_MAX_BYTES`).
"""

from __future__ import annotations

import re
import subprocess
import zlib
from pathlib import Path
from typing import Any

from cleanroom.airlock.inspect import mediatypes as mt

PDFINFO = "/usr/bin/pdfinfo"
PDFDETACH = "/usr/bin/pdfdetach"
TOOL_SECONDS = 30

# Most of the file scanned for keywords, and most bytes inflated from its streams in all.
SCAN_MAX_BYTES = 64 * 1024 * 1024
INFLATE_MAX_BYTES = 128 * 1024 * 1024
# Most embedded file names reported.
MAX_LISTED = 100

# Names that make a PDF more than pages, and what each is (domain data: the check decides
# from ``ACTIVE_FAIL`` which of them refuse a release).
ACTIVE_NAMES = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/Launch": "an action that launches a program",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "embedded files",
    "/RichMedia": "rich media (Flash, video)",
    "/XFA": "an XFA form (can carry scripts)",
    "/AcroForm": "a form",
    "/OpenAction": "an action run when the PDF is opened",
    "/AA": "actions run on events",
    "/SubmitForm": "an action that sends form data",
    "/ImportData": "an action that imports data",
    "/GoToR": "a link to another file",
    "/GoToE": "a link into an embedded file",
    "/URI": "a web link",
}

# What the bytes after %%EOF look like: (magic at their start, description).
TRAILING_MAGIC = [
    (mt.PARQUET_MAGIC, "a Parquet file (PAR1)"),
    (b"PK\x03\x04", "a ZIP archive (PK)"),
    (b"%PDF-", "another PDF"),
    (mt.PNG_SIGNATURE, "a PNG image"),
    (mt.JPEG_SOI, "a JPEG image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x80", "a Python pickle (possibly)"),
]

_NAME = re.compile(rb"/[A-Za-z0-9#]+")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n")


def inspect_pdf(path: Path) -> dict[str, Any]:
    """Pages, trailing data, embedded files and active content of the PDF at ``path``."""
    with mt.open_regular(path) as f:
        data = f.read(SCAN_MAX_BYTES + 1)
    truncated = len(data) > SCAN_MAX_BYTES
    data = data[:SCAN_MAX_BYTES]
    size = path.stat().st_size
    end = mt.pdf_end(path)
    trailing = size - end if end is not None else None
    return {
        "pages": page_count(path),
        "size": size,
        "eof_found": end is not None,
        "trailing_bytes": trailing or 0,
        "trailing_kind": describe_trailing(path, end) if end is not None and trailing else None,
        "embedded_files": embedded_files(path),
        "active": active_content(data),
        "scanned_whole": not truncated,
    }


def page_count(path: Path) -> int | None:
    out = _tool([PDFINFO, str(path)])
    match = re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE)
    return int(match.group(1)) if match else None


def embedded_files(path: Path) -> list[str]:
    out = _tool([PDFDETACH, "-list", str(path)])
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if re.match(r"\d+:", line)]
    return names[:MAX_LISTED]


def describe_trailing(path: Path, end: int) -> str:
    with mt.open_regular(path) as f:
        f.seek(end)
        head = f.read(64)
        size = f.seek(0, 2)
        f.seek(max(end, size - 22))
        tail = f.read(22)
    for magic, what in TRAILING_MAGIC:
        if head.startswith(magic):
            return what
    if tail.startswith(b"PK\x05\x06"):
        return "a ZIP archive (its directory at the end)"
    text = head.decode("utf-8", "replace")
    if text.isprintable():
        return f"text starting {text[:40]!r}"
    return f"binary data starting {head[:8].hex(' ')}"


def active_content(data: bytes) -> dict[str, int]:
    """How often each name of :data:`ACTIVE_NAMES` occurs, in the raw bytes and in every
    Flate stream (bounded)."""
    counts: dict[str, int] = {}
    for chunk in [data, *_inflated_streams(data)]:
        for raw in _NAME.findall(chunk):
            name = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("latin-1")
            if name in ACTIVE_NAMES:
                counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _inflated_streams(data: bytes):
    budget = INFLATE_MAX_BYTES
    view = memoryview(data)  # slices without copying the rest of the file for each stream
    for match in _STREAM.finditer(data):
        if budget <= 0:
            return
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(view[match.end() :], budget)
        except zlib.error:
            continue
        budget -= len(out)
        yield out


def _tool(argv: list[str]) -> str:
    done = subprocess.run(  # noqa: S603 - fixed poppler tools on the sandbox's input
        argv, capture_output=True, timeout=TOOL_SECONDS, check=False
    )
    return done.stdout.decode("utf-8", "replace")
