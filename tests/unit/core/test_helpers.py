"""cleanroom.core: times, canonical JSON, hashing, sizes and the SQLite setup."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cleanroom.core.hashing import sha256_file, sha256_fileobj
from cleanroom.core.jsoncanon import canonical_json
from cleanroom.core.sqlite import configure_sqlite
from cleanroom.core.times import now, rfc3339
from cleanroom.core.units import human_size, parse_size


def test_now_is_aware_utc():
    moment = now()
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_rfc3339_writes_utc_with_z():
    assert rfc3339(datetime(2025, 6, 1, 12, 0, 0)) == "2025-06-01T12:00:00.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2025, 6, 1, 14, 0, 0, 5, tzinfo=plus_two)) == (
        "2025-06-01T12:00:00.000005Z"
    )
    assert rfc3339(datetime(2025, 6, 1, 12, 0, 0), timespec="auto") == "2025-06-01T12:00:00Z"
    assert rfc3339(datetime(2025, 6, 1, 12, 0, 0, 5, tzinfo=UTC), timespec="auto") == (
        "2025-06-01T12:00:00.000005Z"
    )
    assert rfc3339().endswith("Z")


def test_rfc3339_equals_the_formats_it_replaced():
    moment = datetime(2025, 6, 1, 12, 3, 4, 120000, tzinfo=UTC)
    assert rfc3339(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_canonical_json_is_the_audit_and_policy_spelling():
    value = {"b": [1, 2.5, None], "a": "é", "c": {"z": True, "y": "x"}}
    assert canonical_json(value) == '{"a":"é","b":[1,2.5,null],"c":{"y":"x","z":true}}'
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    with pytest.raises(ValueError):
        canonical_json(float("nan"))
    with pytest.raises(TypeError):
        canonical_json({1, 2})


def test_sha256_file_and_fileobj(tmp_path):
    data = b"x" * 3000 + b"y"
    path = tmp_path / "f"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    seen: list[int] = []
    assert sha256_file(path, chunk_bytes=1024, on_read=seen.append) == expected
    assert seen == [1024, 2048, 3001]
    stream = io.BytesIO(data)
    assert sha256_fileobj(stream) == (expected, len(data))
    stream.seek(3000)
    assert sha256_fileobj(stream) == (hashlib.sha256(b"y").hexdigest(), 1)


@pytest.mark.parametrize(
    ("count", "plain", "exact"),
    [
        (0, "0 B", "0 bytes"),
        (1000, "1000 B", "1,000 bytes"),
        (1536, "1.5 KiB", "1.5 KiB (1,536 bytes)"),
        (5 * 1024**2, "5.0 MiB", "5.0 MiB (5,242,880 bytes)"),
        (3 * 1024**4, "3072.0 GiB", "3072.0 GiB (3,298,534,883,328 bytes)"),
    ],
)
def test_human_size(count, plain, exact):
    assert human_size(count) == plain
    assert human_size(count, exact=True) == exact


def test_parse_size():
    assert parse_size("512") == 512
    assert parse_size("1K") == 1024
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("4G") == 4 * 1024**3
    assert parse_size("2T") == 2 * 1024**4
    for bad in ("", "0", "4GB", "1.5G", "-1K", "4 G", "k"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_configure_sqlite(tmp_path):
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    configure_sqlite(conn)
    pragmas = [
        conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    ]
    assert pragmas == ["wal", 2, 1, 30_000]
    configure_sqlite(conn, synchronous="NORMAL", foreign_keys=False, busy_timeout_ms=5)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 0
    with pytest.raises(ValueError):
        configure_sqlite(conn, synchronous="FULL; DROP TABLE x")
    conn.close()
