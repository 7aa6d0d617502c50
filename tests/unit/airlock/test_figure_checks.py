"""The ``figure`` check: metadata and hidden data of PNGs and JPEGs, found through the real
sandbox job (``figure-inspect``) on real image bytes, and what the policy is told."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import figures
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.checks import CheckSubject, run_checks

from .test_mediatypes import jpeg_bytes, png_bytes, png_chunk


def figure_check(tmp_path: Path, data: bytes, name: str = "figure.png"):
    path = tmp_path / name
    path.write_bytes(data)
    media_type = mt.detect_media_type(path, name)
    subject = CheckSubject(
        path, name, "figure", media_type, len(data), hashlib.sha256(data).hexdigest()
    )
    outcomes = {o.check: o for o in run_checks(subject)}
    return media_type, outcomes["figure"]


def rules(outcome) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for f in outcome.findings:
        found.setdefault(f["rule"], []).append(f)
    return found


def test_a_plain_png_passes(tmp_path):
    media_type, check = figure_check(tmp_path, png_bytes())
    assert media_type == mt.PNG
    assert check.status == CheckStatus.PASS, check.message
    assert check.findings == () and check.metrics["trailing_bytes"] == 0


def test_a_png_with_data_appended_after_iend_fails_and_says_how_much(tmp_path):
    secret = b"plant,yield\n" + b"A-17,0.93\n" * 500
    media_type, check = figure_check(tmp_path, png_bytes() + secret)
    assert media_type == mt.PNG  # recognised for what it is, so the check can say why
    assert check.status == CheckStatus.FAIL
    assert f"{len(secret):,} bytes after the image's end (IEND): text" in check.message
    assert "export the figure again" in check.message  # says what to do
    assert check.metrics["trailing_bytes"] == len(secret)
    (trailing,) = rules(check)["trailing-data"]
    assert trailing["bytes"] == len(secret) and trailing["status"] == "fail"
    assert "A-17" not in repr(check)  # sizes, never the data


def test_small_metadata_of_a_plotting_library_is_listed_and_passes(tmp_path):
    body = b"Software\x00Matplotlib version3.9.0, https://matplotlib.org/"
    _, check = figure_check(tmp_path, png_bytes(extra_chunks=png_chunk(b"tEXt", body)))
    assert check.status == CheckStatus.PASS, check.message
    (meta,) = rules(check)["metadata"]
    assert meta["chunk"] == "tEXt" and meta["bytes"] == len(body) and meta["status"] == "pass"


def test_a_png_with_a_1_mb_text_chunk_warns_with_its_size(tmp_path):
    body = b"Comment\x00" + b"x" * (1024 * 1024 - 8)
    _, check = figure_check(tmp_path, png_bytes(extra_chunks=png_chunk(b"tEXt", body)))
    assert check.status == CheckStatus.WARN
    assert "1,048,576 bytes of text metadata (tEXt)" in check.message
    assert check.metrics["metadata_bytes"] == 1024 * 1024  # the policy's limit reads this


@pytest.mark.parametrize(
    ("kind", "body", "rule"),
    [
        (b"zTXt", b"Comment\x00\x00" + zlib.compress(b"rows" * 2000), "metadata"),
        (b"iTXt", b"Comment\x00\x00\x00\x00\x00" + b"r" * 5000, "metadata"),
        (b"eXIf", b"MM\x00*" + bytes(5000), "metadata"),
        (b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(20000)) + bytes(5000), "metadata"),
        (b"prVt", b"private data", "unknown-chunk"),
    ],
    ids=["zTXt", "iTXt", "eXIf", "iCCP", "private chunk"],
)
def test_every_metadata_and_private_chunk_is_reported_and_warns(tmp_path, kind, body, rule):
    _, check = figure_check(tmp_path, png_bytes(extra_chunks=png_chunk(kind, body)))
    assert check.status == CheckStatus.WARN, check.message
    (found,) = rules(check)[rule]
    assert found["chunk"] == kind.decode() and found["bytes"] == len(body)


def test_a_zip_after_the_end_is_named_by_its_magic(tmp_path):
    _, check = figure_check(tmp_path, png_bytes() + b"PK\x03\x04" + bytes(40))
    assert check.status == CheckStatus.FAIL
    assert "44 bytes after the image's end (IEND): they look like a ZIP archive (PK)" in (
        check.message
    )


def test_a_chunk_with_a_wrong_checksum_fails(tmp_path):
    chunk = bytearray(png_chunk(b"tEXt", b"Comment\x00hello"))
    chunk[-1] ^= 0xFF
    _, check = figure_check(tmp_path, png_bytes(extra_chunks=bytes(chunk)))
    assert check.status == CheckStatus.FAIL
    assert "checksum is wrong" in check.message


def test_a_plain_jpeg_passes(tmp_path):
    media_type, check = figure_check(tmp_path, jpeg_bytes(), "photo.jpg")
    assert media_type == mt.JPEG
    assert check.status == CheckStatus.PASS, check.message
    (jfif,) = rules(check)["metadata"]
    assert jfif["segment"] == "APP0" and "JFIF" in jfif["message"]


def test_a_jpeg_with_trailing_bytes_and_a_comment_fails_with_both(tmp_path):
    comment = b"c" * 6000
    data = jpeg_bytes(comment=comment) + b"secret rows" * 100
    media_type, check = figure_check(tmp_path, data, "photo.jpg")
    assert media_type == mt.JPEG
    assert check.status == CheckStatus.FAIL
    assert "1,100 bytes after the image's end (EOI): text" in check.message
    found = rules(check)
    (com,) = [f for f in found["metadata"] if f["segment"] == "COM"]
    assert com["bytes"] == len(comment) and com["status"] == "warn"
    assert "secret" not in repr(check) and "ccc" not in repr(check)


def test_bytes_hidden_between_jpeg_segments_fail(tmp_path):
    data = jpeg_bytes()
    at = data.index(b"\xff\xdb")
    _, check = figure_check(tmp_path, data[:at] + b"hidden rows" + data[at:], "photo.jpg")
    assert check.status == CheckStatus.FAIL
    assert "11 bytes between the image's segments" in check.message


def test_a_newline_after_a_jpeg_is_padding_only(tmp_path):
    _, check = figure_check(tmp_path, jpeg_bytes() + b"\n", "photo.jpg")
    assert check.status == CheckStatus.PASS, check.message


def test_a_sandbox_error_is_an_error_never_a_pass():
    outcome = figures.figure_outcome({"format": None, "size": 1, "error": "too large to inspect"})
    assert outcome.status == CheckStatus.ERROR


def test_a_chunk_name_that_is_not_letters_is_shown_as_hex(tmp_path):
    _, check = figure_check(tmp_path, png_bytes(extra_chunks=png_chunk(b"<s>\x00", b"x")))
    assert check.status == CheckStatus.WARN
    (found,) = rules(check)["unknown-chunk"]
    assert found["chunk"] == "3c733e00" and "<s>" not in check.message


def test_jpeg_app_segments_are_named_by_known_labels_only(tmp_path):
    def app(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body

    data = jpeg_bytes()
    extra = app(0xE1, b"Exif\x00\x00" + bytes(100)) + app(0xE5, b"PlantA17Yield\x00rows")
    _, check = figure_check(tmp_path, data[:2] + extra + data[2:], "photo.jpg")
    messages = [f["message"] for f in rules(check)["metadata"]]
    assert "106 bytes of EXIF metadata (APP1)" in messages
    assert "18 bytes of metadata (APP5)" in messages
    assert "PlantA17" not in repr(check)
