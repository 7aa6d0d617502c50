"""The ``archive`` check, through the real sandbox job (``archive-inspect``): bombs, nesting,
links, unsafe paths, encryption and duplicates are refused; a clean zip passes with each
member's media type found from its bytes."""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.archives import ARCHIVE_LIMITS
from cleanroom.airlock.inspect.checks import CheckSubject, run_checks

from .test_mediatypes import png_bytes

CSV = b"plant,yield\np1,0.5\np2,0.7\n"


def archive_check(path: Path):
    media_type = mt.detect_media_type(path, path.name)
    assert media_type == mt.ZIP
    subject = CheckSubject(path, path.name, "archive", media_type, path.stat().st_size, "0" * 64)
    outcomes = {o.check: o for o in run_checks(subject)}
    return outcomes["archive"]


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of duplicate names
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def refused(outcome, rule: str) -> list[dict]:
    assert outcome.status == CheckStatus.FAIL, outcome.message
    hits = [f for f in outcome.findings if f.get("rule") == rule]
    assert hits, outcome.findings
    assert "To release it" in outcome.message
    return hits


def test_a_clean_zip_of_a_csv_and_a_png_passes(tmp_path):
    path = make_zip(tmp_path / "out.zip", [("t/yield.csv", CSV), ("t/yield.png", png_bytes())])
    outcome = archive_check(path)
    assert outcome.status == CheckStatus.PASS, outcome.message
    members = {f["location"]: f for f in outcome.findings}
    assert members["t/yield.csv"]["media_type"] == mt.CSV
    assert members["t/yield.png"]["media_type"] == mt.PNG
    assert members["t/yield.csv"]["bytes"] == len(CSV)
    assert outcome.metrics["members"] == 2
    assert outcome.metrics["read_bytes"] == len(CSV) + len(png_bytes())


def test_a_zip_bomb_is_refused_from_its_central_directory(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("zeros.bin", "w", force_zip64=True) as f:
            chunk = bytes(1024 * 1024)
            for _ in range(1024):  # 1 GiB of zeros, a few MiB compressed
                f.write(chunk)
    assert path.stat().st_size < 16 * 1024**2
    outcome = archive_check(path)
    hits = refused(outcome, "bomb")
    assert any(f.get("bytes") == 1024**3 for f in hits)
    assert outcome.metrics["uncompressed_bytes"] == 1024**3
    assert "read_bytes" not in outcome.metrics  # refused before reading anything


def test_a_member_with_a_high_ratio_is_refused(tmp_path):
    path = make_zip(tmp_path / "r.zip", [("zeros.bin", bytes(8 * 1024**2))])
    hits = refused(archive_check(path), "bomb")
    assert "expands" in hits[0]["message"]


def test_a_member_that_holds_more_than_it_declares_is_refused_while_reading(tmp_path):
    data = b"0123456789" * 1000
    path = make_zip(tmp_path / "lie.zip", [("a.txt", data)])
    raw = bytearray(path.read_bytes())
    # Make both headers declare 100 bytes uncompressed instead of 10,000.
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, 100)
    struct.pack_into("<I", raw, central + 24, 100)
    path.write_bytes(bytes(raw))
    outcome = archive_check(path)
    assert outcome.status == CheckStatus.FAIL
    assert {f["rule"] for f in outcome.findings} & {"corrupt", "bomb"}


def test_a_nested_zip_is_refused(tmp_path):
    inner = make_zip(tmp_path / "inner.zip", [("t.csv", CSV)]).read_bytes()
    path = make_zip(tmp_path / "outer.zip", [("t.csv", CSV), ("inner.zip", inner)])
    hits = refused(archive_check(path), "nested")
    assert hits[0]["location"] == "inner.zip" and hits[0]["media_type"] == mt.ZIP


def test_a_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("secrets")
    link.create_system = 3
    link.external_attr = (0o120777 << 16) | 0x20
    path = make_zip(tmp_path / "l.zip", [("t.csv", CSV), (link, b"/etc/passwd")])
    hits = refused(archive_check(path), "link")
    assert hits[0]["location"] == "secrets"


@pytest.mark.parametrize("name", ["../escape.csv", "a/../../escape.csv", "/etc/cron.d/x"])
def test_absolute_and_dotdot_paths_are_refused(tmp_path, name):
    path = make_zip(tmp_path / "p.zip", [(zipfile.ZipInfo(name), CSV)])
    hits = refused(archive_check(path), "path")
    assert hits[0]["location"] == name


def test_an_encrypted_member_is_refused(tmp_path):
    info = zipfile.ZipInfo("t.csv")
    path = make_zip(tmp_path / "e.zip", [(info, CSV)])
    raw = bytearray(path.read_bytes())
    # Set the "encrypted" flag bit in the local header and the central directory.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.index(signature) + offset
        struct.pack_into("<H", raw, at, struct.unpack_from("<H", raw, at)[0] | 1)
    path.write_bytes(bytes(raw))
    refused(archive_check(path), "encrypted")


@pytest.mark.parametrize("second", ["t.csv", "T.CSV", "./t.csv"])
def test_duplicate_names_are_refused(tmp_path, second):
    path = make_zip(tmp_path / "d.zip", [("t.csv", CSV), (second, b"a,b\n1,2\n")])
    refused(archive_check(path), "duplicate")


def test_too_many_members_are_refused_unread(tmp_path):
    count = ARCHIVE_LIMITS["max_members"] + 1
    path = make_zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(count)])
    refused(archive_check(path), "members")


def test_a_member_of_unknown_type_is_reported_for_the_policy(tmp_path):
    path = make_zip(tmp_path / "u.zip", [("blob.bin", bytes(range(256)) * 4)])
    outcome = archive_check(path)
    assert outcome.status == CheckStatus.PASS  # the release policy refuses the member's type
    assert outcome.findings[0]["media_type"] == mt.OCTET_STREAM


# --- detection of the new media types (bounded: nothing is extracted or unpickled) -----------


def test_zip_kinds_are_detected_from_member_names(tmp_path):
    xlsx = make_zip(
        tmp_path / "w.bin", [("[Content_Types].xml", b"<x/>"), ("xl/workbook.xml", b"<x/>")]
    )
    torch = make_zip(tmp_path / "t.bin", [("m/data.pkl", b"\x80\x02}."), ("m/data/0", b"1234")])
    not_torch = make_zip(tmp_path / "n.bin", [("m/data.pkl", b"\x80\x02}."), ("x/other", b"1")])
    plain = make_zip(tmp_path / "p.bin", [("t.csv", CSV)])
    empty = tmp_path / "e.bin"
    zipfile.ZipFile(empty, "w").close()
    assert mt.detect_media_type(xlsx, "w.zip") == mt.XLSX
    assert mt.detect_media_type(torch, "m.zip") == mt.TORCH
    assert mt.detect_media_type(not_torch, "m.pt") == mt.ZIP
    assert mt.detect_media_type(plain, "p.xlsx") == mt.ZIP
    assert mt.detect_media_type(empty, "e.zip") == mt.ZIP


def test_a_zip_with_bytes_before_or_after_it_is_not_a_zip(tmp_path):
    data = make_zip(tmp_path / "z", [("t.csv", CSV)]).read_bytes()
    (tmp_path / "after").write_bytes(data + b"hidden rows")
    (tmp_path / "cut").write_bytes(data[:-10])
    assert mt.detect_media_type(tmp_path / "after", "a.zip") == mt.OCTET_STREAM
    assert mt.detect_media_type(tmp_path / "cut", "a.zip") == mt.OCTET_STREAM


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"\x80\x05\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.", "m.joblib", mt.PICKLE),
        (b"\x80\x02K\x01.", "m.bin", mt.PICKLE),
        (b"\x80\x02K\x01", "m.pkl", mt.OCTET_STREAM),  # no STOP: cut short
        (b"\x80\x09K\x01.", "m.pkl", mt.OCTET_STREAM),  # no such protocol
        (b"plant\tyield\np1\t0.5\np2\t0.7\n", "t.tsv", mt.TSV),
        (b"plant\tyield\np1\t0.5\t9\n", "t.tsv", mt.TEXT),  # ragged
        (b"just words\n", "t.tsv", mt.TEXT),  # one column is not a TSV
    ],
)
def test_pickles_and_tsv_are_detected(tmp_path, content, name, expected):
    path = tmp_path / "blob"
    path.write_bytes(content)
    assert mt.detect_media_type(path, name) == expected


def test_bytes_no_member_holds_are_refused_comments(tmp_path):
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("t.csv", CSV)
        z.comment = b"p1,0.5\np2,0.7\n"
    hits = refused(archive_check(path), "hidden")
    assert hits[0]["bytes"] == 14


def test_bytes_between_members_are_refused(tmp_path):
    path = make_zip(tmp_path / "g.zip", [("a.csv", CSV), ("b.csv", CSV)])
    with zipfile.ZipFile(path) as z:
        second = z.infolist()[1].header_offset
    raw = bytearray(path.read_bytes())
    hidden = b"rows the reviewer never sees\n" * 10
    raw[second:second] = hidden
    # Shift what follows: the second member's offset and the central directory's.
    central = raw.index(b"PK\x01\x02")
    central2 = raw.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", raw, central2 + 42, second + len(hidden))
    end = raw.rindex(b"PK\x05\x06")
    struct.pack_into("<I", raw, end + 16, struct.unpack_from("<I", raw, end + 16)[0] + len(hidden))
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:  # control: an ordinary reader finds both members intact
        assert z.read("b.csv") == CSV and z.testzip() is None
    hits = refused(archive_check(path), "hidden")
    assert hits[0]["bytes"] == len(hidden)


def test_a_large_extra_field_is_refused(tmp_path):
    info = zipfile.ZipInfo("t.csv")
    info.extra = struct.pack("<HH", 0xCAFE, 1000) + bytes(1000)
    path = make_zip(tmp_path / "x.zip", [(info, CSV)])
    hits = refused(archive_check(path), "hidden")
    assert hits[0]["location"] == "t.csv"
