"""PDFs: found with care, inspected and rendered in the real sandbox (bubblewrap, poppler)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest
from factories.pdfs import make_pdf

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect import sandboxed
from cleanroom.airlock.inspect.checks import CheckSubject, pdf_outcome, run_checks
from cleanroom.airlock.inspect.previews.pdf import PREVIEW_PAGES

from ..airlock.test_previews import assert_inert, images


@pytest.fixture(scope="module")
def parquet_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("pq") / "rows.parquet"
    duckdb.sql(
        f"COPY (SELECT range AS id, 'plant-' || (range % 7) AS plant, range * 0.5 AS yield "
        f"FROM range(2000)) TO '{path}' (FORMAT parquet)"
    )
    return path.read_bytes()


def write(tmp_path: Path, data: bytes, name: str = "report.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def subject(path: Path) -> CheckSubject:
    data = path.read_bytes()
    media_type = mt.detect_media_type(path, path.name)
    return CheckSubject(
        path, path.name, "report", media_type, len(data), hashlib.sha256(data).hexdigest()
    )


def pdf_check(path: Path):
    outcomes = {o.check: o for o in run_checks(subject(path))}
    return outcomes["pdf"]


def test_a_pdf_with_a_parquet_file_after_eof_is_flagged_and_its_pages_rendered(
    tmp_path, parquet_bytes
):
    path = write(tmp_path, make_pdf(pages=5) + parquet_bytes)
    assert mt.detect_media_type(path, "report.pdf") == mt.PDF
    check = pdf_check(path)
    assert check.status == CheckStatus.FAIL
    assert f"{len(parquet_bytes):,} bytes after the last %%EOF" in check.message
    assert "Parquet" in check.message
    assert "export the document again" in check.message  # says what to do

    fragment = sandboxed.preview(path, mt.PDF, "report.pdf", subject(path).sha256)
    assert_inert(fragment)
    assert len(images(fragment)) == PREVIEW_PAGES
    assert all(src.startswith("data:image/png;base64,") for src in images(fragment))
    assert f"{len(parquet_bytes):,} bytes" in fragment and "Parquet" in fragment
    assert "2 more pages are not shown here (pages 4–5)" in fragment


def test_a_clean_pdf_passes_with_its_page_count(tmp_path):
    check = pdf_check(write(tmp_path, make_pdf(pages=2)))
    assert check.status == CheckStatus.PASS
    assert check.message.startswith("2 pages;")


@pytest.mark.parametrize(
    ("options", "status", "found"),
    [
        ({"javascript": "app.alert(1)"}, CheckStatus.FAIL, "/JavaScript"),
        ({"attachment": ("rows.csv", b"plant,yield\nA,1\n")}, CheckStatus.FAIL, "rows.csv"),
        ({"form": True}, CheckStatus.WARN, "/AcroForm"),
    ],
)
def test_scripts_and_embedded_files_fail_forms_warn(tmp_path, options, status, found):
    check = pdf_check(write(tmp_path, make_pdf(pages=1, **options)))
    assert check.status == status
    assert found in check.message


def test_names_hidden_in_compressed_streams_and_hex_escapes_are_found(tmp_path):
    data = make_pdf(pages=1, javascript="x").replace(b"/JavaScript", b"/J#61vaScript")
    check = pdf_check(write(tmp_path, data))
    assert check.status == CheckStatus.FAIL and "/JavaScript" in check.message


def test_any_page_range_renders_through_the_sandbox(tmp_path):
    path = write(tmp_path, make_pdf(pages=8))
    fragment = sandboxed.pdf_pages(path, 4, 6, "report.pdf")
    assert_inert(fragment)
    assert len(images(fragment)) == 3
    assert re.findall(r"page (\d+)</figcaption>", fragment) == ["4", "5", "6"]


def test_a_range_that_is_not_one_is_a_note(tmp_path):
    path = write(tmp_path, make_pdf(pages=2))
    fragment = sandboxed.pdf_pages(path, 3, 1, "report.pdf")
    assert "No page view" in fragment and "not a range" in fragment


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        (mt.PDF, b"%PDF-1.4\n<script>alert(1)</script>\nstartxref\n0\n%%EOF\n"),
        (mt.PDF, b"%PDF-1.7\n" + bytes(range(256)) * 50),
        (mt.PARQUET, b"PAR1" + b"\xff" * 64 + b"PAR1"),
        (mt.PNG, mt.PNG_SIGNATURE + b"<svg onload=alert(1)>"),
        (mt.NOTEBOOK, b'{"cells": [' * 10000),
    ],
)
def test_hostile_content_previewed_through_the_sandbox_gives_a_note(tmp_path, media_type, data):
    path = write(tmp_path, data, "hostile")
    fragment = sandboxed.preview(path, media_type, "<b>hostile</b>", None)
    assert_inert(fragment)
    assert 'class="cr-note"' in fragment
    assert "<b>hostile</b>" not in fragment


def test_a_preview_the_sandbox_cannot_finish_is_a_note_with_size_and_hash(tmp_path, monkeypatch):
    from cleanroom import sandbox

    path = write(tmp_path, make_pdf(pages=1))
    # Deterministic: the sandbox refuses the input (a timeout is tested in test_warm.py).
    limits = sandbox.Limits(input_bytes=16)
    monkeypatch.setattr(sandbox.run_warm, "__defaults__", (None, limits))
    fragment = sandboxed.preview(path, mt.PDF, "report.pdf", "ab" * 32)
    assert "No preview: the input could not be given to the sandbox" in fragment
    assert f"{path.stat().st_size:,} bytes" in fragment and "ab" * 32 in fragment


def test_media_types_are_found_in_the_sandbox(tmp_path, parquet_bytes):
    assert sandboxed.media_type(write(tmp_path, make_pdf(pages=1)), "r.pdf") == mt.PDF
    path = write(tmp_path, parquet_bytes, "t.parquet")
    assert sandboxed.media_type(path, "t.parquet") == mt.PARQUET


def test_a_media_type_the_sandbox_cannot_find_is_unknown(tmp_path, monkeypatch):
    from cleanroom import sandbox

    # The sandbox cannot take the file (larger than it accepts): no answer, so unknown.
    limits = sandbox.Limits(input_bytes=16)
    monkeypatch.setattr(sandbox.run_warm, "__defaults__", (None, limits))
    path = write(tmp_path, make_pdf(pages=1))
    assert sandboxed.media_type(path, "r.pdf") == mt.OCTET_STREAM


# --- media types and the check's rules (pure) -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (make_pdf(pages=1), mt.PDF),
        (make_pdf(pages=1) + b"PK\x03\x04" + bytes(5000), mt.PDF),  # the pdf check fails it
        (b"%PDF-1.4\nanything at all\n%%EOF\n", mt.OCTET_STREAM),  # no startxref
        (b"%PDF-9.1\n" + make_pdf(pages=1)[9:], mt.OCTET_STREAM),  # not a PDF version
        (b"junk" + make_pdf(pages=1), mt.OCTET_STREAM),  # the header must come first
    ],
)
def test_a_pdf_is_found_with_care(tmp_path, data, media_type):
    assert mt.detect_media_type(write(tmp_path, data, "r.pdf"), "r.pdf") == media_type


def test_a_fake_eof_in_appended_data_does_not_hide_it(tmp_path):
    pdf = make_pdf(pages=1)
    path = write(tmp_path, pdf + b"secret rows\n%%EOF\n")
    assert mt.pdf_end(path) == len(pdf)


def test_the_outcome_rules():
    base = {
        "pages": 3,
        "eof_found": True,
        "trailing_bytes": 0,
        "trailing_kind": None,
        "embedded_files": [],
        "active": {},
        "scanned_whole": True,
    }
    assert pdf_outcome(base).status == CheckStatus.PASS
    assert pdf_outcome(base | {"pages": 0}).status == CheckStatus.ERROR
    assert pdf_outcome(base | {"scanned_whole": False}).status == CheckStatus.ERROR
    assert pdf_outcome(base | {"eof_found": False}).status == CheckStatus.FAIL
    assert pdf_outcome(base | {"active": {"/URI": 2}}).status == CheckStatus.WARN
    assert pdf_outcome(base | {"active": {"/Launch": 1}}).status == CheckStatus.FAIL


def test_hostile_names_in_a_pdf_are_shown_inert(tmp_path):
    name = "<img src=x onerror=alert(1)>.csv"
    path = write(tmp_path, make_pdf(pages=1, attachment=(name, b"a,b\n")))
    fragment = sandboxed.preview(path, mt.PDF, "report.pdf")
    assert_inert(fragment)
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in fragment
