"""What a researcher-made file really is, decided from its bytes, never from its name alone.

::

    detect_media_type(Path("/store/ab/cd..."), "yield_by_plant.csv")  # -> "text/csv"

The release policy (``file_types`` in policies/release.rego) allows each file type only some
media types, so the type must come from the content: a file named ``.png`` that is not a PNG is
not ``image/png``. Binary formats are recognised by their structure (magic bytes at the start
*and* the end, so a truncated file is not mistaken for a whole one; a PNG or JPEG is walked
to its end marker, so one with data appended after it is still an image, which the ``figure``
check fails); text is text when it is
valid UTF-8 without control characters, and only then does the name choose between the text
types (``.py`` code, ``.csv`` a table that parses as one, ...). Pickles (protocol 2 to 5,
joblib's too) and torch.save's zips are recognised by their framing only, never unpickled;
other zips (and XLSX workbooks) by their end-of-central-directory record and their member
names. Anything not recognised is ``application/octet-stream``: never parsed.

Work is bounded: a prefix and a tail are read; a text file is checked whole only up to
:data:`TEXT_SCAN_MAX_BYTES`; structures (Parquet footer, safetensors header, ONNX top-level
fields) are walked by seeking, never by loading the file.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import json
import os
import re
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# The media types this module returns (those the release policy knows).
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
PNG = "image/png"
SVG = "image/svg+xml"
JPEG = "image/jpeg"
PDF = "application/pdf"
OCTET_STREAM = "application/octet-stream"
ONNX = "application/onnx"
SAFETENSORS = "application/x-safetensors"
NOTEBOOK = "application/x-ipynb+json"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
PYTHON = "text/x-python"
R = "text/x-r"
SQL = "text/x-sql"
# Issue 15 (file checks): detected from the content too.
TSV = "text/tab-separated-values"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = "application/zip"
PICKLE = "application/x-python-pickle"  # pickle, joblib
TORCH = "application/x-pytorch"  # torch.save's zip of a pickle and tensors (.pt, .pth)

# Between text types, and only there, the name decides (lower-cased suffix).
TEXT_TYPES_BY_SUFFIX = {
    ".csv": CSV,
    ".tsv": TSV,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".py": PYTHON,
    ".r": R,
    ".sql": SQL,
    ".txt": TEXT,
}

# How much is read to recognise a file.
PREFIX_BYTES = 64 * 1024
TAIL_BYTES = 1024
# Text files up to this size are checked to be text from the first byte to the last (the
# largest text-like file the policy releases is 10 MiB); longer ones by their prefix only.
TEXT_SCAN_MAX_BYTES = 16 * 1024 * 1024
# A notebook is recognised by parsing it whole; larger JSON is not taken for a notebook.
NOTEBOOK_MAX_BYTES = 16 * 1024 * 1024
# Largest safetensors header (JSON) read; the format's own limit is 100 MB.
SAFETENSORS_MAX_HEADER = 16 * 1024 * 1024
# Largest Parquet footer read (its metadata: schema, row groups).
PARQUET_MAX_FOOTER = 16 * 1024 * 1024
# Most top-level protobuf fields walked to recognise an ONNX model.
ONNX_MAX_FIELDS = 4096
# Most PNG chunks walked to find IEND; how much of a JPEG is walked to find its end.
PNG_MAX_CHUNKS = 100_000
JPEG_SCAN_MAX_BYTES = 64 * 1024 * 1024
# Rows parsed to decide that a ``.csv`` is a table.
CSV_CHECK_ROWS = 200
# Largest zip central directory read, and most members listed, to tell a zip's kind (a
# larger one is still a zip, by its structure: the archive check refuses it).
ZIP_MAX_CENTRAL_DIRECTORY = 16 * 1024 * 1024
ZIP_MAX_MEMBERS_LISTED = 100_000

# A PDF's header, and its end: "startxref <offset> %%EOF" and one end of line.
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d[\r\n]")
_PDF_EOF = re.compile(rb"startxref[ \t\r\n]+(\d{1,15})[ \t\r\n]+%%EOF(?:\r\n|\r|\n)?")
# How far back from the end a PDF's last %%EOF is looked for, in chunks of CHUNK_BYTES.
PDF_EOF_SCAN_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_SOI = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
PARQUET_MAGIC = b"PAR1"
ZIP_LOCAL_HEADER = b"PK\x03\x04"
ZIP_END = b"PK\x05\x06"  # end of central directory record (22 bytes + a comment)
ZIP64_END_LOCATOR = b"PK\x06\x07"
ZIP_END_MAX_COMMENT = 0xFFFF
# A pickle of protocol 2 or later: PROTO and its number first, STOP last.
PICKLE_PROTOCOLS = range(2, 6)
PICKLE_STOP = b"."
# What torch.save's zip holds besides ``<name>/data.pkl`` (all under one top folder).
TORCH_MEMBERS = re.compile(
    r"[^/]+/(data\.pkl|data/[^/]+|version|byteorder|\.data/[^/]+|\.format_version|"
    r"\.storage_alignment|constants\.pkl|code/.+)"
)

# ONNX ModelProto top-level fields: number -> protobuf wire type (0 varint, 2 length-delimited).
_ONNX_MODEL_FIELDS = {
    1: 0,  # ir_version
    2: 2,  # producer_name
    3: 2,  # producer_version
    4: 2,  # domain
    5: 0,  # model_version
    6: 2,  # doc_string
    7: 2,  # graph
    8: 2,  # opset_import
    14: 2,  # metadata_props
    20: 2,  # training_info
    25: 2,  # functions
    26: 2,  # configuration
}
_ONNX_REQUIRED_FIELDS = {1, 7, 8}

_SAFETENSORS_DTYPES = set(
    (
        "BOOL U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 F4 F6_E2M3 F6_E3M2 "
        "I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64 C64"
    ).split()
)

# C0 controls other than tab, line feed, vertical tab, form feed and carriage return, and DEL:
# a file holding them is not text (this also keeps NULs and terminal escapes out of "text").
_NOT_TEXT = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")

# Most XML declarations, comments, processing instructions and doctypes skipped before <svg.
SVG_MAX_PROLOG_ITEMS = 64
_SVG_ROOT = re.compile(r"<svg[\s/>]")


def detect_media_type(path: Path, name: str) -> str:
    """The media type of the file at ``path`` from its content; ``name`` only picks a text type.

    Raises ``ValueError`` when ``path`` is not a regular file (a directory, a FIFO, a device,
    a symbolic link): the airlock only ever stores regular files.
    """
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(PREFIX_BYTES)
        tail = read_tail(f, size, TAIL_BYTES)
        binary = _binary_type(f, size, prefix, tail)
        if binary is not None:
            return binary
        text = _decoded_text(f, size, prefix)
    if text is None:
        return OCTET_STREAM
    if looks_like_svg(text):
        return SVG
    if text.lstrip("\ufeff \t\r\n").startswith("{") and size <= NOTEBOOK_MAX_BYTES:
        if load_notebook(path) is not None:
            return NOTEBOOK
    suffix = PurePosixPath(name).suffix.lower()
    media_type = TEXT_TYPES_BY_SUFFIX.get(suffix, TEXT)
    if media_type == CSV and not looks_like_csv(text, truncated=size > len(prefix)):
        return TEXT
    if media_type == TSV and not looks_like_csv(text, truncated=size > len(prefix), delimiter="\t"):
        return TEXT
    return media_type


def open_regular(path: Path) -> io.BufferedReader:
    """Open ``path`` for reading only if it is a regular file (not a link, FIFO or device).

    Raises ``ValueError`` otherwise: the airlock only ever stores regular files, and opening
    a FIFO or a device could block or never end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the last component is a symbolic link
            raise ValueError(f"{path} is a symbolic link, not a regular file") from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def read_tail(f: io.BufferedReader, size: int, length: int) -> bytes:
    """The last ``length`` bytes of an open file (fewer when it is shorter)."""
    f.seek(max(0, size - length))
    tail = f.read(length)
    f.seek(0)
    return tail


def _binary_type(f: io.BufferedReader, size: int, prefix: bytes, tail: bytes) -> str | None:
    if is_png(prefix, tail) or (png_start(prefix) and find_png_end(f, size) is not None):
        return PNG  # data after IEND keeps it a PNG: the ``figure`` check fails it
    if is_jpeg(prefix, tail) or (jpeg_start(prefix) and find_jpeg_end(f, size) is not None):
        return JPEG
    if is_pdf(prefix, tail) and find_pdf_end(f, size) is not None:
        return PDF
    if is_parquet(f, size, prefix, tail):
        return PARQUET
    if read_safetensors_header(f, size) is not None:
        return SAFETENSORS
    if is_onnx(f, size, prefix):
        return ONNX
    if is_pickle(prefix, tail):
        return PICKLE
    if prefix.startswith((ZIP_LOCAL_HEADER, ZIP_END)):
        names = zip_member_names(f, size)
        if names is None:
            return OCTET_STREAM  # a broken zip
        return zip_kind(names)
    if prefix.startswith((b"%PDF-", PARQUET_MAGIC)):
        return OCTET_STREAM  # a broken PDF or Parquet file, even if its bytes happen to be text
    return None


# --- pickles and zips (never unpickled, never extracted here) --------------------------------


def is_pickle(prefix: bytes, tail: bytes) -> bool:
    """A pickle of protocol 2 to 5 (``pickle``, ``joblib.dump``): PROTO and a protocol number
    first, STOP last. Only the framing: nothing is unpickled or even parsed here."""
    return (
        len(prefix) >= 3
        and prefix[0] == 0x80
        and prefix[1] in PICKLE_PROTOCOLS
        and tail.endswith(PICKLE_STOP)
    )


def find_zip_end(f: io.BufferedReader, size: int) -> tuple[int, int, int, int] | None:
    """A zip's end of central directory: (its offset, member count, central directory size,
    central directory offset), read from the file's last 64 KiB; None when there is none, or
    its numbers do not fit the file exactly (data before the first member or after the
    comment). A zip64 end record is followed to its numbers. The file position is restored.
    """
    try:
        start = max(0, size - 22 - ZIP_END_MAX_COMMENT)
        f.seek(start)
        tail = f.read(size - start)
        pos = tail.rfind(ZIP_END)
        while pos >= 0:
            record = tail[pos : pos + 22]
            if len(record) == 22:
                _, _, _, _, count, cd_size, cd_offset, comment = struct.unpack("<4s4H2LH", record)
                if pos + 22 + comment == len(tail):
                    end = start + pos
                    if 0xFFFFFFFF in (cd_size, cd_offset) or count == 0xFFFF:
                        return _zip64_end(f, end)
                    if cd_offset + cd_size == end:
                        return end, count, cd_size, cd_offset
                    return None
            pos = tail.rfind(ZIP_END, 0, pos)
        return None
    finally:
        f.seek(0)


def _zip64_end(f: io.BufferedReader, end: int) -> tuple[int, int, int, int] | None:
    if end < 20 + 56:
        return None
    f.seek(end - 20)
    locator = f.read(20)
    if not locator.startswith(ZIP64_END_LOCATOR):
        return None
    (record_offset,) = struct.unpack("<Q", locator[8:16])
    if record_offset + 56 > end - 20:
        return None
    f.seek(record_offset)
    record = f.read(56)
    if not record.startswith(b"PK\x06\x06"):
        return None
    count, cd_size, cd_offset = struct.unpack("<QQQ", record[32:56])
    if cd_offset + cd_size != record_offset:
        return None
    return record_offset, count, cd_size, cd_offset


def zip_member_names(f: io.BufferedReader, size: int) -> list[str] | None:
    """The member names of a zip from its central directory (bounded), or None when the file
    is not a well-formed zip. A central directory too large to list gives ``[]`` (a zip of
    unknown kind). Nothing is extracted."""
    end = find_zip_end(f, size)
    if end is None:
        return None
    _, count, cd_size, cd_offset = end
    if cd_size > ZIP_MAX_CENTRAL_DIRECTORY or count > ZIP_MAX_MEMBERS_LISTED:
        return []
    try:
        f.seek(cd_offset)
        directory = f.read(cd_size)
    finally:
        f.seek(0)
    names: list[str] = []
    pos = 0
    for _ in range(count):
        if directory[pos : pos + 4] != b"PK\x01\x02" or pos + 46 > len(directory):
            return None
        name_len, extra_len, comment_len = struct.unpack("<3H", directory[pos + 28 : pos + 34])
        name = directory[pos + 46 : pos + 46 + name_len]
        names.append(name.decode("utf-8", "replace"))
        pos += 46 + name_len + extra_len + comment_len
    return names if pos == len(directory) else None


def zip_kind(names: list[str]) -> str:
    """Which kind of zip these member names make: an XLSX workbook, torch.save's model, or
    any other zip (an archive)."""
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return XLSX
    tops = {n.split("/", 1)[0] for n in names}
    if (
        len(tops) == 1
        and any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names)
        and all(TORCH_MEMBERS.fullmatch(n) for n in names)
    ):
        return TORCH
    return ZIP


# --- images and documents ------------------------------------------------------------------


def png_start(prefix: bytes) -> bool:
    """A PNG's start: signature and a first IHDR chunk with a non-zero size."""
    if not prefix.startswith(PNG_SIGNATURE) or len(prefix) < 33:
        return False
    length, kind, width, height = struct.unpack(">I4sII", prefix[8:24])
    return length == 13 and kind == b"IHDR" and width > 0 and height > 0


def is_png(prefix: bytes, tail: bytes) -> bool:
    """A whole PNG: :func:`png_start`, and IEND at the very end (nothing after it)."""
    return png_start(prefix) and tail.endswith(PNG_IEND)


def find_png_end(f: io.BufferedReader, size: int) -> int | None:
    """The offset just after a PNG's IEND chunk, walking the chunks' headers from the
    signature (seeking past their data), or None when a chunk runs past the end of the file
    before IEND (truncated) or there are more than :data:`PNG_MAX_CHUNKS`. Bytes after that
    offset are not part of the image (a PNG with them is still a PNG, which the ``figure``
    check fails). The file position is restored."""
    pos = len(PNG_SIGNATURE)
    try:
        for _ in range(PNG_MAX_CHUNKS):
            if pos + 12 > size:
                return None
            f.seek(pos)
            length, kind = struct.unpack(">I4s", f.read(8))
            end = pos + 12 + length
            if end > size or not kind.isalpha():  # a chunk's type is four ASCII letters
                return None
            if kind == b"IEND":
                return end if length == 0 else None
            pos = end
        return None
    finally:
        f.seek(0)


def png_size(prefix: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the caller checked :func:`is_png`)."""
    return struct.unpack(">II", prefix[16:24])


def png_chunks(data: bytes, max_chunks: int = 100_000) -> list[tuple[str, int, int]] | None:
    """Each chunk of a whole PNG in memory as (type, offset of its data, length), up to IEND;
    None when a chunk runs past the end or there are more than ``max_chunks``."""
    chunks: list[tuple[str, int, int]] = []
    pos = len(PNG_SIGNATURE)
    while len(chunks) < max_chunks and pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            return None
        chunks.append((kind.decode("latin-1"), pos + 8, length))
        pos += 12 + length
        if kind == b"IEND":
            return chunks
    return None


def jpeg_segments(data: bytes, max_segments: int = 10_000) -> list[tuple[int, int, int]] | None:
    """The marker segments of a JPEG in memory before its first scan, as (marker, offset of
    the segment's data, length); None when one runs past the end."""
    segments: list[tuple[int, int, int]] = []
    pos = 2
    while len(segments) < max_segments and pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            return None
        segments.append((marker, pos + 4, length - 2))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments
        pos += 2 + length
    return None


def jpeg_start(prefix: bytes) -> bool:
    """A JPEG's start: start-of-image and a marker."""
    return prefix.startswith(JPEG_SOI) and len(prefix) >= 4 and prefix[3] >= 0xC0


def is_jpeg(prefix: bytes, tail: bytes) -> bool:
    """A whole JPEG: :func:`jpeg_start`, and end-of-image at the end."""
    return jpeg_start(prefix) and tail.rstrip(b"\x00\r\n").endswith(JPEG_EOI)


def find_jpeg_end(f: io.BufferedReader, size: int) -> int | None:
    """The offset just after a JPEG's end-of-image marker, found by :func:`walk_jpeg` in its
    first :data:`JPEG_SCAN_MAX_BYTES` (None when it has none there: truncated, or not a JPEG).
    The file position is restored."""
    try:
        f.seek(0)
        return walk_jpeg(f.read(min(size, JPEG_SCAN_MAX_BYTES))).end
    finally:
        f.seek(0)


# In a JPEG's entropy-coded data, the FF of the next marker (not a stuffed FF00, a restart
# marker FFD0-FFD7 or a fill byte); one search in C, however many FFs the data holds.
_JPEG_NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
_JPEG_FILL = re.compile(rb"\xff+")


@dataclass
class JpegWalk:
    """What :func:`walk_jpeg` found: the marker segments as (marker, offset of the segment's
    data, length), the offset just after end-of-image (None when not reached), and the bytes
    found between segments that belong to none (not fill bytes)."""

    segments: list[tuple[int, int, int]] = field(default_factory=list)
    end: int | None = None
    stray_bytes: int = 0


def walk_jpeg(data: bytes, max_steps: int = 1_000_000) -> JpegWalk:
    """Every marker segment of a JPEG in memory, through all its scans, up to end-of-image.

    After a start-of-scan segment, the entropy-coded data is skipped to the next marker
    (``FF`` followed by neither ``00``, a restart marker nor fill). A segment that runs past
    the end, or more than ``max_steps`` markers and gaps, stop the walk with ``end`` None."""
    walk = JpegWalk()
    pos, in_scan = 2, False
    for _ in range(max_steps):
        if in_scan:  # entropy-coded data: FF00 is a stuffed FF, FFD0-FFD7 restart markers
            found = _JPEG_NEXT_MARKER.search(data, pos)
            if found is None:
                return walk
            pos, in_scan = found.start(), False
        if pos + 2 > len(data):
            return walk
        if data[pos] != 0xFF:  # bytes between segments: no decoder reads them
            nxt = data.find(b"\xff", pos)
            if nxt == -1:
                return walk
            walk.stray_bytes += nxt - pos
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes: up to the last of the run
            fill = _JPEG_FILL.match(data, pos)
            pos = fill.end() - 1 if fill else pos + 1
            continue
        if marker == 0xD9:
            walk.end = pos + 2
            return walk
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if pos + 4 > len(data):
            return walk
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            return walk
        walk.segments.append((marker, pos + 4, length - 2))
        pos += 2 + length
        in_scan = marker == 0xDA
    return walk


_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a JPEG in memory, from its first start-of-frame segment."""
    for marker, offset, length in jpeg_segments(data) or []:
        if marker in _JPEG_FRAMES and length >= 5:
            height, width = struct.unpack(">HH", data[offset + 1 : offset + 5])
            return (width, height)
    return None


def is_pdf(prefix: bytes, tail: bytes) -> bool:
    """A PDF's header: ``%PDF-1.x`` or ``%PDF-2.x`` then an end of line, at the very start.

    Only the start: where the PDF ends is :func:`find_pdf_end`'s question (a PDF with data
    appended after its ``%%EOF`` is still a PDF, which the ``pdf`` check fails).
    """
    return _PDF_HEADER.match(prefix) is not None


def find_pdf_end(f: io.BufferedReader, size: int) -> int | None:
    """The offset just after a PDF's last real ``%%EOF`` (and its end of line), or None.

    Real: the ``%%EOF`` follows ``startxref <offset>`` with an offset inside the file, as
    the PDF format puts it; a bare ``%%EOF`` in data appended after the real one does not
    count (so that data is found as trailing bytes). Searched backwards from the end, in
    chunks, at most :data:`PDF_EOF_SCAN_BYTES`; the file position is restored.
    """
    try:
        pos = size
        carry = b""
        while pos > 0 and size - pos < PDF_EOF_SCAN_BYTES:
            start = max(0, pos - CHUNK_BYTES)
            f.seek(start)
            chunk = f.read(pos - start) + carry
            for match in reversed(list(_PDF_EOF.finditer(chunk))):
                if int(match.group(1)) < size:
                    return start + match.end()
            carry = chunk[:64]  # a marker cut at the chunk's start is found with the next
            pos = start
        return None
    finally:
        f.seek(0)


def pdf_end(path: Path) -> int | None:
    """:func:`find_pdf_end` of the file at ``path``."""
    with open_regular(path) as f:
        return find_pdf_end(f, os.fstat(f.fileno()).st_size)


# --- Parquet, safetensors, ONNX -------------------------------------------------------------


def is_parquet(f: io.BufferedReader, size: int, prefix: bytes, tail: bytes) -> bool:
    """``PAR1`` at both ends and a footer length that fits inside the file."""
    if size < 12 or not prefix.startswith(PARQUET_MAGIC) or not tail.endswith(PARQUET_MAGIC):
        return False
    (footer,) = struct.unpack("<I", tail[-8:-4])
    return 0 < footer <= min(size - 12, PARQUET_MAX_FOOTER)


def read_safetensors_header(f: io.BufferedReader, size: int) -> dict | None:
    """The JSON header of a well-formed safetensors file, or None.

    Well-formed: an 8-byte little-endian header length, a JSON object header of that length
    whose tensors have a known dtype, a non-negative shape and in-order data offsets, and data
    that ends exactly at the end of the file.
    """
    if size < 10:
        return None
    f.seek(0)
    (length,) = struct.unpack("<Q", f.read(8))
    if not 2 <= length <= min(size - 8, SAFETENSORS_MAX_HEADER):
        f.seek(0)
        return None
    raw = f.read(length)
    f.seek(0)
    if not raw.startswith(b"{"):
        return None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    data_size = size - 8 - length
    end_max = 0
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                return None
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in _SAFETENSORS_DTYPES:
            return None
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(_natural(d) for d in shape):
            return None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_natural, offsets))):
            return None
        if offsets[0] > offsets[1]:
            return None
        end_max = max(end_max, offsets[1])
    return header if end_max == data_size else None


def _natural(value: object) -> bool:
    return type(value) is int and value >= 0


def _varint(f: io.BufferedReader) -> int | None:
    value = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    return None


def read_onnx_fields(f: io.BufferedReader, size: int) -> dict[int, list[int | tuple[int, int]]]:
    """The top-level fields of a file read as an ONNX ``ModelProto``: for each field number,
    its varint values or (offset, length) of its bytes. Empty when the file is not one.

    Walked by seeking past each length-delimited field: only tags and lengths are read. The
    walk must end exactly at the end of the file, on known fields with their right wire types.
    """
    fields: dict[int, list[int | tuple[int, int]]] = {}
    f.seek(0)
    try:
        for _ in range(ONNX_MAX_FIELDS):
            offset = f.tell()
            if offset == size:
                return fields
            tag = _varint(f)
            if tag is None:
                return {}
            number, wire = tag >> 3, tag & 7
            if _ONNX_MODEL_FIELDS.get(number) != wire:
                return {}
            value = _varint(f)
            if value is None:
                return {}
            if wire == 2:
                start = f.tell()
                if start + value > size:
                    return {}
                fields.setdefault(number, []).append((start, value))
                f.seek(start + value)
            else:
                fields.setdefault(number, []).append(value)
        return {}
    finally:
        f.seek(0)


def is_onnx(f: io.BufferedReader, size: int, prefix: bytes) -> bool:
    """An ONNX model: a ModelProto starting with ir_version, with a graph and an opset."""
    if size < 8 or not prefix.startswith(b"\x08"):
        return False
    fields = read_onnx_fields(f, size)
    if not _ONNX_REQUIRED_FIELDS <= fields.keys():
        return False
    ir_version = fields[1][0]
    return isinstance(ir_version, int) and 1 <= ir_version <= 64


# --- text -----------------------------------------------------------------------------------


def _decoded_text(f: io.BufferedReader, size: int, prefix: bytes) -> str | None:
    """The prefix as text when the file is text (whole file up to TEXT_SCAN_MAX_BYTES)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        text = decoder.decode(prefix, final=size <= len(prefix))
    except UnicodeDecodeError:
        return None
    if _NOT_TEXT.search(text):
        return None
    if len(prefix) < size <= TEXT_SCAN_MAX_BYTES:
        f.seek(len(prefix))
        try:
            while chunk := f.read(1024 * 1024):
                if _NOT_TEXT.search(decoder.decode(chunk)):
                    return None
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return text


def looks_like_svg(text: str) -> bool:
    """Text whose root element is ``<svg``, after an optional BOM, XML declaration, comments,
    processing instructions and a doctype without an internal subset (entity tricks are not
    an SVG we recognise). A plain scan: a regular expression here backtracks exponentially.
    """
    text = text[:PREFIX_BYTES].removeprefix("\ufeff")
    pos = 0
    for _ in range(SVG_MAX_PROLOG_ITEMS):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            pos = end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            end = text.find(">", pos)
            if "[" in text[pos:end]:
                return False
            pos = end + 1
        else:
            return _SVG_ROOT.match(text, pos) is not None
        if end < 0:
            return False
    return False


def looks_like_csv(text: str, truncated: bool, delimiter: str = ",") -> bool:
    """Comma-separated rows with the header's number of fields (the first CSV_CHECK_ROWS);
    with ``delimiter="\\t"``, tab-separated ones (a TSV has at least two columns)."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut at the prefix's end
    rows = []
    try:
        for row in csv.reader(lines[: CSV_CHECK_ROWS * 4], strict=True, delimiter=delimiter):
            if row:
                rows.append(row)
            if len(rows) >= CSV_CHECK_ROWS:
                break
    except csv.Error:
        return False
    if delimiter != "," and rows and len(rows[0]) < 2:
        return False
    return bool(rows) and all(len(row) == len(rows[0]) for row in rows)


def load_notebook(path: Path) -> dict | None:
    """The parsed notebook at ``path`` (nbformat 4 JSON: cells and metadata), or None.

    Reads at most NOTEBOOK_MAX_BYTES; anything larger, not JSON, too deeply nested or not
    shaped like a notebook gives None.
    """
    with open_regular(path) as f:
        raw = f.read(NOTEBOOK_MAX_BYTES + 1)
    if len(raw) > NOTEBOOK_MAX_BYTES:
        return None
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(nb, dict) or type(nb.get("nbformat")) is not int or nb["nbformat"] < 4:
        return None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not isinstance(nb.get("metadata"), dict):
        return None
    if not all(isinstance(c, dict) and isinstance(c.get("cell_type"), str) for c in cells):
        return None
    return nb
