"""Media types from content (cleanroom.airlock.inspect.mediatypes).

Every type the release policy knows is built here from real bytes (PNG by zlib, Parquet by
DuckDB, safetensors and ONNX by their wire formats), then detected under its own name, under a
lying name and truncated. The sample builders are imported by test_airlock_previews.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from pathlib import Path

import duckdb
import pytest
from support.paths import REPO

from cleanroom.airlock.inspect import mediatypes
from cleanroom.airlock.inspect.mediatypes import detect_media_type

# --- sample builders (real formats, small) ---------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bytes(width: int = 3, height: int = 2, extra_chunks: bytes = b"") -> bytes:
    """A real PNG (8-bit RGB) of the given size, with extra chunks before its pixels."""
    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (
        mediatypes.PNG_SIGNATURE
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + extra_chunks
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int = 4, height: int = 3, comment: bytes = b"") -> bytes:
    """A baseline JPEG's segment structure: JFIF, quantisation table, frame, Huffman table,
    scan, end of image (the bytes a detector and a size reader walk)."""

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + (segment(0xFE, comment) if comment else b"")
        + segment(0xDB, b"\x00" + bytes(range(1, 65)))
        + segment(0xC0, b"\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + bytes([0, 1] + [0] * 14) + b"\x00")
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x00\x00\x00"
        + b"\xff\xd9"
    )


PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF\n"
)


def parquet_file(path: Path, rows: int = 1000, row_group_size: int = 100_000) -> Path:
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS id, 'plant-' || (range % 7) AS plant, range * 0.5 AS yield "
        f"FROM range({rows})) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE {row_group_size})"
    )
    con.close()
    return path


def safetensors_bytes(metadata: dict | None = None) -> bytes:
    data = struct.pack("<6f", *range(6))
    header = {"weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, len(data)]}}
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def onnx_bytes(producer: str = "skl2onnx") -> bytes:
    """An ONNX ModelProto: ir_version, producer, a graph with one Identity node, an opset."""
    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Identity")
    graph = _field(1, node) + _field(2, b"g")
    return (
        _field(1, 8)
        + _field(2, producer.encode())
        + _field(7, graph)
        + _field(8, _field(1, b"") + _field(2, 17))
    )


def notebook_dict(cells: list | None = None) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": cells
        if cells is not None
        else [{"cell_type": "code", "source": "print(1)", "metadata": {}, "outputs": []}],
    }


PICKLE_BYTES = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
SVG_TEXT = '<?xml version="1.0"?>\n<!-- made by matplotlib -->\n<svg xmlns="http://www.w3.org/2000/svg"></svg>\n'


def bytes_read() -> int:
    """Bytes this process has read through read system calls so far (Linux /proc)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no rchar line")


def sparse_file(path: Path, head: bytes, size: int = 2 * 1024**3) -> Path:
    """A file of ``size`` bytes (a hole after ``head``): big, but costs no disk."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


# --- tests ------------------------------------------------------------------------------------


def _write(tmp_path: Path, content: bytes | str, stored_as: str = "blob") -> Path:
    path = tmp_path / stored_as
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


CONTENT_CASES = [
    ("png", png_bytes(), "figure.png", "image/png"),
    ("jpeg", jpeg_bytes(), "photo.jpg", "image/jpeg"),
    ("pdf", PDF_BYTES, "report.pdf", "application/pdf"),
    ("svg", SVG_TEXT, "figure.svg", "image/svg+xml"),
    ("svg-bare", "<svg viewBox='0 0 1 1'/>", "f.svg", "image/svg+xml"),
    (
        "safetensors",
        safetensors_bytes({"format": "pt"}),
        "m.safetensors",
        "application/x-safetensors",
    ),
    ("onnx", onnx_bytes(), "model.onnx", "application/onnx"),
    ("pickle", PICKLE_BYTES, "model.pkl", "application/x-python-pickle"),
    (
        "torch-zip",
        b"PK\x03\x04" + bytes(60) + b"archive/data.pkl",
        "m.pt",
        "application/octet-stream",
    ),
    ("notebook", json.dumps(notebook_dict()), "analysis.ipynb", "application/x-ipynb+json"),
    ("csv", 'plant,yield\np1,0.5\n"p,2",0.7\n', "yield.csv", "text/csv"),
    ("csv-quoted-newline", 'a,b\n"x\ny",1\n', "t.csv", "text/csv"),
    ("markdown", "# Results\n\nAll good.\n", "README.md", "text/markdown"),
    ("python", "import duckdb\nprint('hi')\n", "train.py", "text/x-python"),
    ("r", "x <- c(1, 2)\n", "fit.R", "text/x-r"),
    ("sql", "select 1;\n", "q.sql", "text/x-sql"),
    ("text", "plain words\n", "notes.txt", "text/plain"),
    ("text-no-suffix", "plain words\n", "NOTES", "text/plain"),
    ("utf8", "수율 보고서\n", "notes.txt", "text/plain"),
    ("empty", b"", "empty.txt", "text/plain"),
]


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [case[1:] for case in CONTENT_CASES],
    ids=[case[0] for case in CONTENT_CASES],
)
def test_each_type_is_detected_from_content(tmp_path, content, name, expected):
    assert detect_media_type(_write(tmp_path, content), name) == expected


def test_parquet_is_detected(tmp_path):
    assert detect_media_type(parquet_file(tmp_path / "t"), "t.parquet") == mediatypes.PARQUET


MISMATCHED_NAMES = [
    ("text named png", "not an image\n", "figure.png", "text/plain"),
    ("html named png", "<script>alert(1)</script>", "x.png", "text/plain"),
    ("png named csv", png_bytes(), "table.csv", "image/png"),
    ("pdf named txt", PDF_BYTES, "notes.txt", "application/pdf"),
    ("svg named png", SVG_TEXT, "figure.png", "image/svg+xml"),
    ("svg named txt", SVG_TEXT, "notes.txt", "image/svg+xml"),
    ("notebook named py", json.dumps(notebook_dict()), "x.py", "application/x-ipynb+json"),
    ("pickle named onnx", PICKLE_BYTES, "model.onnx", "application/x-python-pickle"),
    ("pickle named safetensors", PICKLE_BYTES, "m.safetensors", "application/x-python-pickle"),
    ("pickle named csv", PICKLE_BYTES, "t.csv", "application/x-python-pickle"),
    ("json named ipynb", '{"cells": "no"}', "x.ipynb", "text/plain"),
    ("ragged csv", "a,b\n1,2,3\n4\n", "t.csv", "text/plain"),
    ("csv with bad quoting", 'a,b\n"x"y,1\n', "t.csv", "text/plain"),
    ("onnx named pkl", onnx_bytes(), "model.pkl", "application/onnx"),
]


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [case[1:] for case in MISMATCHED_NAMES],
    ids=[case[0] for case in MISMATCHED_NAMES],
)
def test_the_name_never_overrides_the_content(tmp_path, content, name, expected):
    assert detect_media_type(_write(tmp_path, content), name) == expected


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


GARBAGE = [
    ("truncated png", _truncated(png_bytes()), "f.png"),
    ("png signature only", mediatypes.PNG_SIGNATURE, "f.png"),
    ("truncated jpeg", _truncated(jpeg_bytes()), "f.jpg"),
    ("png cut inside a chunk after its pixels", png_bytes()[:-6], "f.png"),
    ("png whose IEND is not empty", png_bytes()[:-12] + png_chunk(b"IEND", b"x"), "f.png"),
    ("jpeg cut inside its scan", jpeg_bytes()[:-2] + b"\x12\xff\x00", "f.jpg"),
    ("truncated pdf", _truncated(PDF_BYTES), "r.pdf"),
    ("truncated safetensors", _truncated(safetensors_bytes()), "m.safetensors"),
    ("truncated onnx", _truncated(onnx_bytes()), "m.onnx"),
    ("onnx with trailing junk", onnx_bytes() + b"\xff\xff", "m.onnx"),
    ("parquet magic only", b"PAR1PAR1", "t.parquet"),
    ("parquet footer past the start", b"PAR1" + bytes(8) + b"\xff\xff\x00\x00PAR1", "t.parquet"),
    ("safetensors with a huge header length", struct.pack("<Q", 2**60) + b"{}", "m.safetensors"),
    ("safetensors with data past the end", safetensors_bytes()[:-4], "m.safetensors"),
    ("nul bytes", bytes(4096), "notes.txt"),
    ("terminal escapes", "ok\x1b[2J\n", "notes.txt"),
    ("latin-1", "caf\xe9\n".encode("latin-1"), "notes.txt"),
    ("random", os.urandom(4096), "f.csv"),
]


@pytest.mark.parametrize(
    ("content", "name"), [case[1:] for case in GARBAGE], ids=[case[0] for case in GARBAGE]
)
def test_truncated_and_garbage_files_are_octet_stream(tmp_path, content, name):
    assert detect_media_type(_write(tmp_path, content), name) == "application/octet-stream"


# An image with data after its end marker is still that image (the ``figure`` check fails it
# and says why); the walk finds the real end, not a look-alike inside the data.
APPENDED = [
    ("png with a zip appended", png_bytes() + b"PK\x03\x04" + bytes(40), "f.png", "image/png"),
    ("png with a png appended", png_bytes() + png_bytes(5, 5), "f.png", "image/png"),
    (
        "png with an IEND look-alike appended",
        png_bytes() + b"rows" + mediatypes.PNG_IEND,
        "f.png",
        "image/png",
    ),
    ("jpeg with data appended", jpeg_bytes() + b"secret rows", "f.jpg", "image/jpeg"),
    ("jpeg with a jpeg appended", jpeg_bytes() + jpeg_bytes(), "f.jpg", "image/jpeg"),
]


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [case[1:] for case in APPENDED],
    ids=[case[0] for case in APPENDED],
)
def test_images_with_data_after_their_end_keep_their_type(tmp_path, content, name, expected):
    path = _write(tmp_path, content)
    assert detect_media_type(path, name) == expected
    with mediatypes.open_regular(path) as f:
        size = len(content)
        end = mediatypes.find_png_end(f, size) if expected == "image/png" else None
        end = end or mediatypes.find_jpeg_end(f, size)
    first = png_bytes() if expected == "image/png" else jpeg_bytes()
    assert end == len(first)  # the first image's end, not the appended one's


def test_the_jpeg_walk_skips_stuffed_bytes_restarts_and_later_scans():
    scan = b"\x12\xff\x00\x34\xff\xd3\x56"  # a stuffed FF and a restart marker
    second = b"\xff\xc4\x00\x04\x00\x00\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + scan
    data = jpeg_bytes()[:-2] + scan + second + b"\xff\xd9"
    walk = mediatypes.walk_jpeg(data)
    assert walk.end == len(data) and walk.stray_bytes == 0
    assert [m for m, _, _ in walk.segments].count(0xDA) == 2


def test_the_jpeg_walk_counts_bytes_between_segments():
    data = jpeg_bytes()
    at = data.index(b"\xff\xdb")
    walk = mediatypes.walk_jpeg(data[:at] + b"hidden" + data[at:])
    assert walk.stray_bytes == 6 and walk.end == len(data) + 6


def test_truncated_parquet_is_not_parquet(tmp_path):
    path = parquet_file(tmp_path / "t")
    path.write_bytes(_truncated(path.read_bytes()))
    assert detect_media_type(path, "t.parquet") == "application/octet-stream"


def test_binary_after_a_text_prefix_is_not_text(tmp_path):
    path = _write(tmp_path, "a,b\n" * 40_000 + "\x00" + "a,b\n")
    assert detect_media_type(path, "t.csv") == "application/octet-stream"


def test_a_multibyte_character_across_the_prefix_boundary_is_text(tmp_path):
    text = "a" * (mediatypes.PREFIX_BYTES - 1) + "수" + "\n"
    assert detect_media_type(_write(tmp_path, text), "n.txt") == "text/plain"


def test_a_deeply_nested_json_notebook_is_refused_not_crashed(tmp_path):
    path = _write(tmp_path, "{" + '"a":[' * 200_000 + "]" * 200_000 + "}")
    assert detect_media_type(path, "x.ipynb") == "text/plain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!--a-->" * 60 + "<svg/>", "image/svg+xml"),
        ("<!--a-->" * 60 + "x", "text/plain"),  # a backtracking regex never returns here
        ("<!--a-->" * 70 + "<svg/>", "text/plain"),  # past SVG_MAX_PROLOG_ITEMS
        ('<!DOCTYPE svg [<!ENTITY x "y">]><svg>&x;</svg>', "text/plain"),
        ("<!-- unclosed <svg>", "text/plain"),
        ("<svgx></svgx>", "text/plain"),
        (
            "<?xml version='1.0'?><!DOCTYPE svg PUBLIC '-//W3C//DTD SVG 1.1//EN'>\n<svg>",
            "image/svg+xml",
        ),
    ],
)
def test_svg_prolog(tmp_path, text, expected):
    assert detect_media_type(_write(tmp_path, text), "x.txt") == expected


def test_safetensors_with_wrong_dtype_is_not_safetensors(tmp_path):
    raw = json.dumps({"w": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = _write(tmp_path, struct.pack("<Q", len(raw)) + raw + bytes(4))
    assert detect_media_type(path, "m.safetensors") == "application/octet-stream"


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo"])
def test_only_regular_files_are_examined(tmp_path, kind):
    target = _write(tmp_path, "text\n", "real")
    path = tmp_path / "odd"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)  # opening it for reading would block forever without O_NONBLOCK
    with pytest.raises(ValueError, match="regular file|symbolic link"):
        detect_media_type(path, "x.txt")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"a,b\n1,2\n", "application/octet-stream"),  # the hole reads as NUL bytes
        (png_bytes()[:40], "application/octet-stream"),
        (b"PAR1", "application/octet-stream"),
        (b"\x08\x08" + _field(7, b"x" * 10), "application/octet-stream"),
    ],
    ids=["csv", "png", "parquet", "onnx"],
)
def test_a_2gb_file_is_detected_from_a_bounded_read(tmp_path, head, expected):
    path = sparse_file(tmp_path / "big", head)
    before = bytes_read()
    assert detect_media_type(path, "big.csv") == expected
    assert bytes_read() - before < 1024 * 1024


def test_a_2gb_text_file_is_text_from_its_prefix_only(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        f.write(b"line\n" * 20_000)
        f.seek(2 * 1024**3 - 5)
        f.write(b"line\n")
    before = bytes_read()
    assert detect_media_type(path, "big.txt") == "text/plain"
    assert bytes_read() - before < 1024 * 1024


def test_a_large_onnx_model_is_walked_without_reading_its_weights(tmp_path):
    weights = b"\x01" * (8 * 1024 * 1024)
    graph = _field(1, _field(1, b"x") + _field(4, b"Identity")) + _field(5, weights)
    path = _write(tmp_path, _field(1, 9) + _field(7, graph) + _field(8, _field(2, 17)))
    before = bytes_read()
    assert detect_media_type(path, "m.onnx") == "application/onnx"
    assert bytes_read() - before < 1024 * 1024


def test_every_detected_type_is_one_the_release_policy_knows():
    rego = (REPO / "policies" / "release.rego").read_text()
    known = {
        media_type
        for block in re.findall(r'"media_types":\s*\{([^}]*)\}', rego)
        for media_type in re.findall(r'"([^"]+)"', block)
    }
    # Or refuses with a reason of its own (SVG: it is code).
    refused = set(re.findall(r'refused_media_types := \{\s*"([^"]+)":', rego))
    assert refused == {mediatypes.SVG}
    known |= refused
    returned = {
        mediatypes.CSV,
        mediatypes.PARQUET,
        mediatypes.PNG,
        mediatypes.SVG,
        mediatypes.JPEG,
        mediatypes.PDF,
        mediatypes.OCTET_STREAM,
        mediatypes.ONNX,
        mediatypes.SAFETENSORS,
        mediatypes.NOTEBOOK,
        mediatypes.TEXT,
        mediatypes.PICKLE,
        mediatypes.TORCH,
        mediatypes.ZIP,
        mediatypes.XLSX,
        *mediatypes.TEXT_TYPES_BY_SUFFIX.values(),
    }
    assert returned <= known, returned - known
    assert len(returned) == 20
