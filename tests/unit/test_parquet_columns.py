"""Dropping columns from Parquet files by copying bytes (cleanroom.parquet_columns).

Files are written by DuckDB (the writer the materialiser uses) with many small row groups,
dictionary and plain pages, bloom filters, NULLs and several types; the result of a drop is
compared with DuckDB's own projection of the source, row for row and in order.
"""

from __future__ import annotations

import secrets
import struct

import duckdb
import pytest
from cleanroom.parquet_columns import (
    UnsupportedParquet,
    decode_struct,
    drop_columns,
    encode_struct,
    read_footer,
)

ROWS = 20000


def _write(path, compression="snappy", extra=""):
    secrets_list = [secrets.token_urlsafe(18) for _ in range(40)]
    con = duckdb.connect()
    con.execute("CREATE TABLE canaries (k INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO canaries VALUES (?, ?)", list(enumerate(secrets_list)))
    con.execute(
        f"""COPY (
            SELECT i AS id,
                   'plant-' || (i % 7) AS plant,
                   c.v AS contributor_secret,
                   md5(i::VARCHAR) AS unique_text,
                   CASE WHEN i % 11 = 0 THEN NULL ELSE i * 1.5 END AS measure,
                   (i % 3 = 0) AS flag,
                   DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day,
                   TIMESTAMP '2024-01-01' + to_seconds(i) AS ts,
                   (i % 1000)::DECIMAL(10, 2) AS amount
            FROM range({ROWS}) t(i) JOIN canaries c ON c.k = t.i % 40
            ORDER BY id
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 512, COMPRESSION {compression}{extra})"""
    )
    con.close()
    return secrets_list


def _rows(path, columns="*"):
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT {columns} FROM read_parquet('{path}')")
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module", params=["snappy", "zstd", "uncompressed"])
def source(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "src.parquet"
    return path, _write(path, request.param), request.param


@pytest.mark.parametrize(
    "drop",
    [{"contributor_secret"}, {"plant", "contributor_secret"}, {"id"}, {"amount"}, set()],
)
def test_dropping_columns_equals_projecting_them_away(source, tmp_path, drop):
    src, canaries, compression = source
    dst = tmp_path / "dst.parquet"
    footer, _ = read_footer(src)
    groups = len(next(f for f in footer if f.id == 4).value.items)
    assert groups >= 5  # several row groups

    kept = drop_columns(src, dst, drop)
    names, _ = _rows(src)
    assert kept == [n for n in names if n not in drop]
    projected = ", ".join(f'"{n}"' for n in kept) or "NULL"
    con = duckdb.connect()
    d, p = f"read_parquet('{dst}')", f"read_parquet('{src}')"
    # same types, then same rows in the same order (row numbers included), both ways
    assert (
        con.execute(f"DESCRIBE SELECT * FROM {d}").fetchall()
        == con.execute(f"DESCRIBE SELECT {projected} FROM {p}").fetchall()
    )
    numbered_d = f"SELECT row_number() OVER () AS rn, * FROM {d}"
    numbered_p = f"SELECT row_number() OVER () AS rn, {projected} FROM {p}"
    differences = con.execute(
        f"SELECT count(*) FROM (({numbered_d} EXCEPT ALL {numbered_p}) "
        f"UNION ALL ({numbered_p} EXCEPT ALL {numbered_d}))"
    ).fetchall()
    assert differences == [(0,)]
    assert con.execute(f"SELECT count(*) FROM {d}").fetchall() == [(ROWS,)]
    con.close()
    data = dst.read_bytes()
    if "contributor_secret" in drop:
        for canary in canaries:  # its pages, bloom filters and statistics are gone
            assert canary[4:14].encode() not in data
        assert b"contributor_secret" not in data  # and its name (the footer is not compressed)
    elif compression != "zstd":  # (zstd leaves no value verbatim: nothing to search for)
        assert sum(canary[4:14].encode() in data for canary in canaries) >= 35


def test_bloom_filters_still_work(tmp_path):
    src, dst = tmp_path / "src.parquet", tmp_path / "dst.parquet"
    _write(src)
    drop_columns(src, dst, {"contributor_secret"})
    con = duckdb.connect()
    meta = con.execute(
        f"SELECT path_in_schema, bloom_filter_offset FROM parquet_metadata('{dst}') "
        "WHERE path_in_schema = 'plant' LIMIT 1"
    ).fetchall()
    assert meta[0][1] is not None
    assert (
        con.execute(f"SELECT count(*) FROM '{dst}' WHERE plant = 'plant-3'").fetchall()
        == con.execute(f"SELECT count(*) FROM '{src}' WHERE plant = 'plant-3'").fetchall()
    )
    con.close()


def test_footer_codec_round_trips(tmp_path):
    src = tmp_path / "src.parquet"
    _write(src)
    raw = src.read_bytes()
    length = struct.unpack("<I", raw[-8:-4])[0]
    footer = raw[-8 - length : -8]
    assert encode_struct(decode_struct(footer)) == footer


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (
            lambda p: duckdb.sql(
                f"COPY (SELECT {{'a': 1, 'b': 'x'}} AS s, 1 AS contributor_secret) TO '{p}'"
            ),
            "nested",
        ),
        (lambda p: _write(p, extra=", KV_METADATA {owner: 'x'}"), "key-value"),
        (lambda p: p.write_bytes(b"PAR1 not really a parquet file PAR1"), "footer"),
        (lambda p: p.write_text("a,b\n" + "1,2\n" * 100), "PAR1"),
    ],
)
def test_unsupported_files_are_refused_before_writing(tmp_path, make, fragment):
    src, dst = tmp_path / "src.parquet", tmp_path / "dst.parquet"
    make(src)
    with pytest.raises(UnsupportedParquet, match=fragment):
        drop_columns(src, dst, {"contributor_secret"})
    assert not dst.exists()


def test_unknown_column_and_existing_target(tmp_path):
    src, dst = tmp_path / "src.parquet", tmp_path / "dst.parquet"
    _write(src)
    with pytest.raises(KeyError):
        drop_columns(src, dst, {"nope"})
    assert not dst.exists()
    dst.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        drop_columns(src, dst, {"plant"})
    assert dst.read_bytes() == b"x"
