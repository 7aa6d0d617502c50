"""Materialised grants and view catalogs (cleanroom.grants.materialise), on small files.

Fixtures:
- ``source``: a Parquet and a CSV source (parametrised) of 60 rows where every value that a
  grant must keep out is a unique random canary: the ``secret_recipe`` column (never granted)
  and every value of the rows of plant ``X-OUT`` (filtered out). Granted values are random
  too, so a byte search of the written files shows what is and is not there. Parquet pages are
  compressed (Snappy): 4 bytes that repeat earlier bytes of the page become a back-reference,
  which happens to a value's first or last letter (next to a length prefix that repeats) about
  once in 64, and inside a value when two random values share 4 letters. So the search is by
  8-letter pieces: a value kept out has no piece in the file; a value kept in has most of its
  pieces there.
- ``cache``: an empty cache directory.
- ``no_fsync`` (autouse): fsync is a no-op (it is slow on a busy disk and proves nothing
  here); ``test_files_reach_the_disk`` checks that it is called.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading

import duckdb
import pytest

from cleanroom.errors import CleanRoomError
from cleanroom.grants import materialise
from cleanroom.grants.materialise import (
    GrantSpec,
    MaterialiseError,
    build_view_catalog,
    container_mounts,
    describe_source,
    grant_cache_key,
    materialise_grant,
)
from cleanroom.grants.rowfilter import RowFilterError

# Long enough that a byte search cannot meet one by chance in compressed random data (a
# 3-letter name did, about once in fifty runs).
PLANTS = ["PLANT-A-1", "PLANT-A-2", "PLANT-B-1", "X-OUT"]
GRANTED = ("lot_id", "yield_pct", "note")
FILTER = "plant <> 'X-OUT' AND yield_pct >= 0"


class Source:
    def __init__(self, path, fmt, rows):
        self.path = path
        self.format = fmt
        self.rows = rows  # list of dicts

    def kept(self):
        return [r for r in self.rows if r["plant"] != "X-OUT"]

    def canaries(self):
        """Strings that must never reach the researcher: the ungranted column, the cut rows."""
        out = [r["secret_recipe"] for r in self.rows]
        out += [r[c] for r in self.rows if r["plant"] == "X-OUT" for c in ("lot_id", "note")]
        return out

    def spec(self, **changes):
        fields = dict(
            dataset_version_id="v1",
            source_path=str(self.path),
            source_format=self.format,
            columns=GRANTED,
            row_filter=FILTER,
            contributor_column="plant",
            source_sha256="ab" * 32,
        )
        fields.update(changes)
        return GrantSpec(**fields)


def _write_source(directory, fmt) -> Source:
    rows = []
    for i in range(60):
        plant = PLANTS[i % len(PLANTS)]
        rows.append(
            {
                "company": plant.split("-")[0] + " Corp",
                "plant": plant,
                "lot_id": secrets.token_urlsafe(36),
                "secret_recipe": secrets.token_urlsafe(36),
                "yield_pct": 50.0 + i / 2,
                "note": secrets.token_urlsafe(36),
            }
        )
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE s (company VARCHAR, plant VARCHAR, lot_id VARCHAR, "
        "secret_recipe VARCHAR, yield_pct DOUBLE, note VARCHAR)"
    )
    con.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?, ?)", [tuple(r.values()) for r in rows])
    path = directory / f"source.{fmt}"
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    con.execute(f"COPY s TO '{path}' ({options})")
    con.close()
    return Source(path, fmt, rows)


@pytest.fixture(params=["parquet", "csv"])
def source(request, tmp_path_factory):
    return _write_source(tmp_path_factory.mktemp("src"), request.param)


@pytest.fixture
def parquet_source(tmp_path_factory):
    return _write_source(tmp_path_factory.mktemp("src"), "parquet")


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch):
    synced = []
    monkeypatch.setattr(materialise, "_fsync", synced.append)
    return synced


def pieces(value: str) -> list[bytes]:
    """The six 8-letter pieces of a random 48-letter value."""
    return [value[i : i + 8].encode() for i in range(0, 48, 8)]


def absent(value: str, data: bytes) -> bool:
    return not any(piece in data for piece in pieces(value))


def present(value: str, data: bytes) -> bool:
    # One back-reference (4 bytes) can break two pieces; two in one value are very rare.
    return sum(piece in data for piece in pieces(value)) >= 4


def _read(path):
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT * FROM read_parquet('{path}')")
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()
    finally:
        con.close()


def _final_files(cache):
    return sorted(
        p.relative_to(cache).as_posix()
        for sub in ("researcher", "airlock")
        for p in (cache / sub).rglob("*")
        if p.is_file()
    )


def test_researcher_copy_holds_only_granted_columns_and_rows(source, cache):
    grant = materialise_grant(source.spec(), cache)
    assert grant.rows == len(source.kept()) == 45
    assert grant.columns == GRANTED

    names, rows = _read(grant.researcher_path)
    assert names == list(GRANTED)
    assert rows == [tuple(r[c] for c in GRANTED) for r in source.kept()]

    data = grant.researcher_path.read_bytes()
    for canary in source.canaries():
        assert absent(canary, data), canary
    for row in source.kept():  # the search works: granted values are there
        assert present(row["lot_id"], data)
        assert present(row["note"], data)
    for plant in PLANTS:  # no contributor values either
        assert plant.encode() not in data, plant

    names, rows = _read(grant.airlock_path)
    assert names == [*GRANTED, "plant"]
    assert rows == [(*(r[c] for c in GRANTED), r["plant"]) for r in source.kept()]
    airlock_bytes = grant.airlock_path.read_bytes()
    for canary in source.canaries():
        assert absent(canary, airlock_bytes)


def test_whole_dataset_grant_keeps_every_column_and_row(parquet_source, cache):
    grant = materialise_grant(parquet_source.spec(columns=None, row_filter=None), cache)
    names, rows = _read(grant.researcher_path)
    assert names == list(parquet_source.rows[0])
    assert rows == [tuple(r.values()) for r in parquet_source.rows]
    assert _read(grant.airlock_path) == (names, rows)  # the contributor column is granted


@pytest.mark.parametrize(
    ("row_filter", "expected"),
    [
        (None, PLANTS),  # no filter: every contributor
        (FILTER, ["PLANT-A-1", "PLANT-A-2", "PLANT-B-1"]),  # X-OUT's rows all filtered out
        ("plant LIKE 'PLANT-A-%'", ["PLANT-A-1", "PLANT-A-2"]),
        ("yield_pct < 0", []),  # no row at all: nobody's data
    ],
)
def test_the_contributors_of_the_granted_rows_are_recorded(source, cache, row_filter, expected):
    # The contributor column is not granted: the values come from the source, after the filter.
    grant = materialise_grant(source.spec(row_filter=row_filter), cache)
    assert grant.contributors == tuple(expected)
    assert list(grant.contributors) == sorted(
        {r["plant"] for r in source.rows if _keeps(row_filter, r)}
    )
    manifest = json.loads(grant.airlock_path.with_name("grant.json").read_text())
    assert manifest["contributors"] == expected
    # kept with the cache: a second call (a cache hit) says the same
    assert (
        materialise_grant(source.spec(row_filter=row_filter), cache).contributors
        == grant.contributors
    )


def _keeps(row_filter, row) -> bool:
    return {
        None: True,
        FILTER: row["plant"] != "X-OUT" and row["yield_pct"] >= 0,
        "plant LIKE 'PLANT-A-%'": row["plant"].startswith("PLANT-A-"),
        "yield_pct < 0": row["yield_pct"] < 0,
    }[row_filter]


def test_contributors_are_recorded_with_the_researchers_copy_in_background(parquet_source, cache):
    grant = materialise_grant(parquet_source.spec(), cache, airlock="background")
    assert grant.contributors == ("PLANT-A-1", "PLANT-A-2", "PLANT-B-1")
    grant.wait_for_airlock(timeout=30)
    assert materialise_grant(parquet_source.spec(), cache).contributors == grant.contributors


def test_a_manifest_without_contributors_says_unknown(parquet_source, cache):
    grant = materialise_grant(parquet_source.spec(), cache)
    manifest_path = grant.airlock_path.with_name("grant.json")
    manifest = json.loads(manifest_path.read_text())
    del manifest["contributors"]  # as a grant materialised before they were recorded
    os.chmod(manifest_path, 0o644)
    manifest_path.write_text(json.dumps(manifest))
    again = materialise_grant(parquet_source.spec(), cache)
    assert again.cached and again.contributors is None


def test_granted_contributor_column_is_not_duplicated(parquet_source, cache):
    grant = materialise_grant(parquet_source.spec(columns=("plant", "lot_id")), cache)
    assert _read(grant.researcher_path)[0] == ["plant", "lot_id"]
    assert _read(grant.airlock_path)[0] == ["plant", "lot_id"]


def test_files_are_read_only_and_in_their_own_trees(parquet_source, cache):
    grant = materialise_grant(parquet_source.spec(), cache)
    for path in (
        grant.researcher_path,
        grant.airlock_path,
        grant.airlock_path.with_name("grant.json"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    assert grant.researcher_path.parent == cache / "researcher" / grant.key
    assert grant.airlock_path.parent == cache / "airlock" / grant.key
    assert sorted(p.name for p in grant.researcher_path.parent.iterdir()) == ["data.parquet"]
    assert stat.S_IMODE(grant.researcher_path.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE((cache / "researcher").stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "airlock").stat().st_mode) == 0o2750
    assert stat.S_IMODE(grant.airlock_path.parent.stat().st_mode) == 0o750
    assert list((cache / "tmp").iterdir()) == []
    manifest = json.loads(grant.airlock_path.with_name("grant.json").read_text())
    assert manifest["rows"] == grant.rows and manifest["key"] == grant.key


def test_second_call_is_a_cache_hit(parquet_source, cache):
    first = materialise_grant(parquet_source.spec(), cache)
    before = {p: p.stat().st_mtime_ns for p in (first.researcher_path, first.airlock_path)}
    seen = []
    second = materialise_grant(parquet_source.spec(), cache, lambda f, m: seen.append((f, m)))
    assert second.cached and not first.cached
    assert (second.key, second.rows, second.researcher_path) == (
        first.key,
        first.rows,
        first.researcher_path,
    )
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert seen == [(1.0, "already materialised")]


def test_a_damaged_cache_entry_is_materialised_again(parquet_source, cache):
    first = materialise_grant(parquet_source.spec(), cache)
    first.airlock_path.with_name("grant.json").unlink()  # as if it crashed before the manifest
    again = materialise_grant(parquet_source.spec(), cache)
    assert not again.cached and again.rows == first.rows


def test_cache_key_follows_content_and_definition(parquet_source):
    base = parquet_source.spec()
    key = grant_cache_key(base)
    assert len(key) == 64 and key == grant_cache_key(parquet_source.spec())
    changed = [
        parquet_source.spec(dataset_version_id="v2"),
        parquet_source.spec(source_sha256="cd" * 32),
        parquet_source.spec(columns=("lot_id", "yield_pct")),
        parquet_source.spec(columns=("yield_pct", "lot_id", "note")),
        parquet_source.spec(row_filter="plant <> 'PLANT-A-1'"),
        parquet_source.spec(row_filter=None),
        parquet_source.spec(contributor_column="company"),
    ]
    keys = {grant_cache_key(s) for s in changed}
    assert len(keys) == len(changed) and key not in keys
    # without a content hash, the file's identity (path, size, mtime) stands in for it
    loose = parquet_source.spec(source_sha256=None)
    loose_key = grant_cache_key(loose)
    os.utime(parquet_source.path, ns=(1, 1))
    assert grant_cache_key(loose) != loose_key


def test_failure_midway_leaves_nothing_under_a_final_name(parquet_source, cache):
    def cancel_in_second_copy(fraction, message):
        if fraction >= 0.8:  # both copies are written (in tmp), not yet in place
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        materialise_grant(parquet_source.spec(), cache, cancel_in_second_copy)
    assert _final_files(cache) == []
    assert list((cache / "tmp").iterdir()) == []
    grant = materialise_grant(parquet_source.spec(), cache)  # and it can be done again
    assert not grant.cached and grant.rows == 45


def test_failure_while_reading_leaves_nothing(tmp_path, cache):
    bad = tmp_path / "bad.csv"
    rows = "\n".join(f"P{i % 3},{i},x{i}" for i in range(5000))
    bad.write_text("plant,n,s\n" + rows + "\nP1,5001,oops,extra\n" + rows + "\n")
    spec = GrantSpec("v1", str(bad), "csv", ("n",), None, "plant")
    with pytest.raises(MaterialiseError, match="failed .*nothing was kept") as raised:
        materialise_grant(spec, cache)
    assert str(bad) not in str(raised.value) or "Check the source file" in str(raised.value)
    assert _final_files(cache) == []
    assert list((cache / "tmp").iterdir()) == []


def test_progress_rises_to_one(parquet_source, cache):
    seen = []
    materialise_grant(parquet_source.spec(), cache, lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_runs_in_threads_once_per_key(parquet_source, cache):
    results, errors = [], []

    def work():
        try:
            results.append(materialise_grant(parquet_source.spec(), cache))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.key for r in results}) == 1
    assert sum(not r.cached for r in results) == 1


@pytest.mark.parametrize(
    ("changes", "error", "fragment"),
    [
        ({"columns": ("lot_id", "nope")}, MaterialiseError, "'nope', which the dataset does not"),
        ({"columns": ()}, MaterialiseError, "grants nothing"),
        ({"columns": ("lot_id", "lot_id")}, MaterialiseError, "more than once"),
        ({"contributor_column": "nope"}, MaterialiseError, "contributor column 'nope'"),
        ({"row_filter": "lot_id IN (SELECT 1)"}, RowFilterError, "subqueries"),
        ({"row_filter": "read_csv('/etc/passwd') IS NULL"}, RowFilterError, "function calls"),
        ({"row_filter": "1=1; DROP TABLE x"}, RowFilterError, "second statement"),
        ({"row_filter": "secret = 1"}, RowFilterError, "not a column"),
        ({"source_format": "xlsx"}, MaterialiseError, "not supported"),
        ({"source_path": "/nonexistent/x.parquet"}, MaterialiseError, "missing or not a file"),
        ({"source_path": "/srv/*.parquet"}, MaterialiseError, "file pattern"),
    ],
)
def test_bad_grants_are_refused_with_a_reason(parquet_source, cache, changes, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        materialise_grant(parquet_source.spec(**changes), cache)
    assert issubclass(error, CleanRoomError)
    if (cache / "researcher").exists():
        assert _final_files(cache) == []


def test_the_work_connection_is_sandboxed(parquet_source, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    con = materialise._connect([parquet_source.path], work)
    try:
        assert con.execute(f"SELECT count(*) FROM '{parquet_source.path}'").fetchall() == [(60,)]
        for sql in (
            "SELECT * FROM read_csv('/etc/passwd')",
            "SELECT * FROM glob('/*')",
            f"COPY (SELECT 1) TO '{tmp_path / 'elsewhere.parquet'}'",
            "SET enable_external_access = true",
            "INSTALL httpfs",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        con.execute(f"COPY (SELECT 1 AS a) TO '{work / 'ok.parquet'}'")
    finally:
        con.close()


def test_csv_schema_matches_the_catalog(source):
    inspect = pytest.importorskip("cleanroom.catalog.source").inspect_source
    summary = inspect(source.path, contributor_column="plant", format=source.format)
    assert describe_source(source.path, source.format) == summary.schema


# --- the view catalog --------------------------------------------------------------------------


def test_view_catalog_over_the_grants(parquet_source, cache, tmp_path):
    whole = materialise_grant(parquet_source.spec(columns=None, row_filter=None), cache)
    part = materialise_grant(parquet_source.spec(), cache)
    out = tmp_path / "catalogs" / "p1.duckdb"
    # Inside a container the views read /data/<key>/data.parquet; here "/data" is the cache's
    # researcher tree, which has the same layout.
    path = build_view_catalog(
        {"wafers": whole.key, "Wafer lots (part)": part.key},
        out,
        str(cache / "researcher"),
        cache_dir=cache,
    )
    assert path == out
    assert stat.S_IMODE(out.stat().st_mode) == 0o444
    assert sorted(p.name for p in out.parent.iterdir()) == ["p1.duckdb"]
    con = duckdb.connect(str(out), read_only=True)
    try:
        views = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
        assert [v[0] for v in views] == ["Wafer lots (part)", "wafers"]
        assert f"{cache}/researcher/{part.key}/data.parquet" in views[0][1]
        assert con.execute("SELECT count(*) FROM wafers").fetchall() == [(60,)]
        cur = con.execute('SELECT * FROM "Wafer lots (part)"')
        assert [d[0] for d in cur.description] == list(GRANTED)
        assert len(cur.fetchall()) == 45
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE t AS SELECT 1")
    finally:
        con.close()


def test_view_catalog_paths_are_the_containers(parquet_source, cache, tmp_path):
    grant = materialise_grant(parquet_source.spec(), cache)
    out = build_view_catalog({"wafer_lots": grant.key}, tmp_path / "c.duckdb")
    con = duckdb.connect(str(out), read_only=True)
    try:
        sql = con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()[0][0]
        assert f"read_parquet('/data/{grant.key}/data.parquet')" in sql
        with pytest.raises(duckdb.Error, match="No files found"):  # not on this host
            con.execute("SELECT * FROM wafer_lots")
    finally:
        con.close()
    mounts = container_mounts({"wafer_lots": grant.key}, cache, out)
    assert mounts == {
        str(cache / "researcher" / grant.key): {"bind": f"/data/{grant.key}", "mode": "ro"},
        str(out): {"bind": "/data/catalog.duckdb", "mode": "ro"},
    }


def test_an_empty_catalog_is_fine(tmp_path):
    out = build_view_catalog({}, tmp_path / "empty.duckdb")
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [
        (0,)
    ]
    con.close()


KEY = "0" * 64


@pytest.mark.parametrize(
    ("views", "data_dir", "fragment"),
    [
        ({"a": "not-a-key"}, "/data", "is not a grant key"),
        ({"a": "../" + KEY[3:]}, "/data", "is not a grant key"),
        ({"": KEY}, "/data", "1 to 63 characters"),
        ({"x" * 64: KEY}, "/data", "1 to 63 characters"),
        ({"bad\nname": KEY}, "/data", "control characters"),
        ({"duckdb_settings": KEY}, "/data", "reserves"),
        ({"Wafers": KEY, "wafers": "1" * 64}, "/data", "differ only in case"),
        ({"a": KEY}, "data", "absolute path"),
        ({"a": KEY}, "/data/../etc", "absolute path"),
        ({"a": KEY}, "/da'ta", "absolute path"),
        ({"a": KEY}, "/data[1]", "absolute path"),
    ],
)
def test_view_catalog_refuses_bad_input(tmp_path, views, data_dir, fragment):
    out = tmp_path / "c.duckdb"
    with pytest.raises(MaterialiseError, match=fragment):
        build_view_catalog(views, out, data_dir)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_view_catalog_checks_grants_are_materialised(tmp_path):
    with pytest.raises(MaterialiseError, match="not materialised"):
        build_view_catalog({"a": KEY}, tmp_path / "c.duckdb", cache_dir=tmp_path)


def test_files_reach_the_disk(parquet_source, cache, no_fsync):
    grant = materialise_grant(parquet_source.spec(), cache)
    assert set(no_fsync) >= {
        grant.researcher_path.parent,
        grant.airlock_path.parent,
    }
    assert any(p.name == "researcher.parquet" for p in no_fsync)  # before its rename
    assert any(p.name == "airlock.parquet" for p in no_fsync)  # DuckDB's COPY does not sync
    assert any(p.name == "grant.json" for p in no_fsync)


@pytest.mark.parametrize(
    ("columns", "how"),
    [(GRANTED, "written"), (("plant", "lot_id"), "linked"), (None, "linked")],
)
def test_how_the_copies_are_made(parquet_source, cache, columns, how):
    # The researcher's copy is always DuckDB's own COPY of the granted columns and rows; the
    # airlock's is a second one with the contributor column, or, when that column is granted,
    # the researcher's file itself (a second link: the same bytes, written and synced once).
    grant = materialise_grant(parquet_source.spec(columns=columns), cache)
    assert grant.manifest["researcher_copy"] == "written"
    assert grant.manifest["airlock_copy"] == how
    assert os.path.samefile(grant.researcher_path, grant.airlock_path) == (how == "linked")


class HeldAirlock:
    """Holds the airlock's copy back until released (or makes it fail), to see the state
    between the two copies."""

    def __init__(self, monkeypatch, fail=False):
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self.fail = fail
        original = materialise._write_airlock_copy

        def held(*args, **kwargs):
            self.calls += 1
            self.started.set()
            assert self.release.wait(30)
            if self.fail:
                raise OSError("disk full (pretend)")
            return original(*args, **kwargs)

        monkeypatch.setattr(materialise, "_write_airlock_copy", held)


def test_in_background_the_grant_is_usable_once_the_researchers_copy_is_durable(
    parquet_source, cache, no_fsync, monkeypatch
):
    held = HeldAirlock(monkeypatch)
    seen = []
    spec = parquet_source.spec()
    grant = materialise_grant(spec, cache, lambda f, m: seen.append(f), airlock="background")
    try:
        # returned while the airlock's copy is held back: the researcher's is complete,
        # synced before its rename (and its directory after), read-only, only granted data
        assert held.started.wait(30)
        assert not grant.airlock_ready and seen[-1] == 1.0
        assert materialise.materialisation_state(cache, grant.key) == "pending"
        assert grant.manifest["airlock"] == "pending"
        assert any(p.name == "researcher.parquet" for p in no_fsync)
        assert grant.researcher_path.parent in no_fsync
        assert stat.S_IMODE(grant.researcher_path.stat().st_mode) == 0o444
        names, rows = _read(grant.researcher_path)
        assert names == list(GRANTED) and len(rows) == 45
        data = grant.researcher_path.read_bytes()
        assert all(absent(c, data) for c in parquet_source.canaries())
        assert not grant.airlock_path.exists()
        # the airlock's reader waits for it (here: gives up after a short wait)
        with pytest.raises(materialise.AirlockCopyPending, match="still being written"):
            materialise.airlock_copy(cache, grant.key, timeout=0.2)
        # a second background call finds it usable and starts no second writer
        again = materialise_grant(spec, cache, airlock="background")
        assert again.cached and not again.airlock_ready
    finally:
        held.release.set()
    assert grant.wait_for_airlock(timeout=30) == grant.airlock_path
    assert held.calls == 1
    assert materialise.materialisation_state(cache, grant.key) == "complete"
    assert _read(grant.airlock_path)[0] == [*GRANTED, "plant"]
    assert stat.S_IMODE(grant.airlock_path.stat().st_mode) == 0o444
    assert any(p.name == "airlock.parquet" for p in no_fsync)
    final = materialise_grant(spec, cache)
    assert final.cached and final.airlock_ready and final.manifest["airlock"] == "complete"
    assert final.manifest["airlock_bytes"] == grant.airlock_path.stat().st_size
    assert list((cache / "tmp").iterdir()) == []


def test_waiting_for_both_waits_for_an_airlock_copy_in_progress(parquet_source, cache, monkeypatch):
    held = HeldAirlock(monkeypatch)
    spec = parquet_source.spec()
    first = materialise_grant(spec, cache, airlock="background")
    assert held.started.wait(30)
    results = []
    waiter = threading.Thread(target=lambda: results.append(materialise_grant(spec, cache)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and results == []  # blocked on the writer's lock
    held.release.set()
    waiter.join(30)
    assert results[0].airlock_ready and results[0].key == first.key
    assert held.calls == 1


def test_a_failed_airlock_copy_stays_pending_and_is_finished_later(
    parquet_source, cache, monkeypatch
):
    held = HeldAirlock(monkeypatch, fail=True)
    held.release.set()
    spec = parquet_source.spec()
    grant = materialise_grant(spec, cache, airlock="background")
    # the reader waits for the writer, which fails: pending, and it says what to do
    with pytest.raises(materialise.AirlockCopyPending, match="nobody is writing it"):
        materialise.airlock_copy(cache, grant.key, timeout=30)
    assert materialise.materialisation_state(cache, grant.key) == "pending"
    assert not grant.airlock_path.exists() and list((cache / "tmp").iterdir()) == []
    before = grant.researcher_path.stat().st_mtime_ns
    held.fail = False
    finished = materialise_grant(spec, cache)  # finishes the airlock's copy only
    assert finished.airlock_ready and finished.rows == grant.rows
    assert grant.researcher_path.stat().st_mtime_ns == before
    names, rows = _read(finished.airlock_path)
    assert names == [*GRANTED, "plant"]
    assert rows == [(*(r[c] for c in GRANTED), r["plant"]) for r in parquet_source.kept()]
    assert materialise.airlock_copy(cache, grant.key) == finished.airlock_path


def test_a_pending_copy_nobody_writes_is_resumed_in_background(parquet_source, cache, monkeypatch):
    held = HeldAirlock(monkeypatch, fail=True)
    held.release.set()
    spec = parquet_source.spec()
    grant = materialise_grant(spec, cache, airlock="background")
    with pytest.raises(materialise.AirlockCopyPending):
        grant.wait_for_airlock(timeout=30)
    held.fail = False
    again = materialise_grant(spec, cache, airlock="background")
    assert again.cached and not again.airlock_ready
    assert again.wait_for_airlock(timeout=30) == grant.airlock_path
    assert held.calls == 2


def test_airlock_copy_of_an_unknown_grant_is_pending(parquet_source, cache):
    with pytest.raises(materialise.AirlockCopyPending, match="is not materialised"):
        materialise.airlock_copy(cache, "0" * 64, timeout=1)
    assert not cache.exists()
    materialise_grant(parquet_source.spec(), cache)
    with pytest.raises(materialise.AirlockCopyPending, match="missing and nobody"):
        materialise.airlock_copy(cache, "0" * 64, timeout=1)
    with pytest.raises(MaterialiseError, match="not a grant key"):
        materialise.airlock_copy(cache, "../x", timeout=1)


def test_an_unknown_airlock_mode_is_refused(parquet_source, cache):
    with pytest.raises(MaterialiseError, match="use one of wait, background"):
        materialise_grant(parquet_source.spec(), cache, airlock="later")
    assert not cache.exists()


def test_a_source_changed_during_materialising_leaves_nothing(parquet_source, cache, monkeypatch):
    original = materialise._run

    def touch_source_meanwhile(*args, **kwargs):
        rows = original(*args, **kwargs)
        os.utime(parquet_source.path, ns=(5, 5))
        return rows

    monkeypatch.setattr(materialise, "_run", touch_source_meanwhile)
    with pytest.raises(MaterialiseError, match="changed while it was being materialised"):
        materialise_grant(parquet_source.spec(), cache)
    assert _final_files(cache) == []
    assert list((cache / "tmp").iterdir()) == []


def test_a_source_changed_before_the_airlock_copy_leaves_it_pending(
    parquet_source, cache, monkeypatch
):
    original = materialise._finish_airlock

    def source_changes_first(*args, **kwargs):
        os.utime(parquet_source.path, ns=(7, 7))
        return original(*args, **kwargs)

    monkeypatch.setattr(materialise, "_finish_airlock", source_changes_first)
    grant = materialise_grant(parquet_source.spec(), cache, airlock="background")
    with pytest.raises(materialise.AirlockCopyPending, match="nobody is writing it"):
        grant.wait_for_airlock(timeout=30)
    assert not grant.airlock_path.exists() and list((cache / "tmp").iterdir()) == []


def test_the_airlock_waits_for_its_copy_without_the_writers_lock(
    parquet_source, cache, monkeypatch
):
    """wait_for_airlock_copy reads only the airlock's folder (the airlock's account cannot
    open locks/ nor the researcher's copy): it returns the copy once it is complete, and says
    it is not when it never is."""
    from cleanroom.grants import cache as cache_module

    held = HeldAirlock(monkeypatch)
    grant = materialise_grant(parquet_source.spec(), cache, airlock="background")
    assert held.started.wait(30)

    def no_lock(*args, **kwargs):
        raise PermissionError("locks/ is the writers'")

    with monkeypatch.context() as m:
        m.setattr(cache_module.KeyLock, "acquire", no_lock)
        # nor the researcher's copy (grants/researcher/ is 0700, the writers')
        researcher = grant.researcher_path.parent.parent
        researcher.rename(researcher.with_name("hidden"))
        with pytest.raises(materialise.AirlockCopyPending, match="not complete"):
            cache_module.wait_for_airlock_copy(cache, grant.key, timeout=0.3, poll=0.05)
        releaser = threading.Timer(0.3, held.release.set)
        releaser.start()
        copy = cache_module.wait_for_airlock_copy(cache, grant.key, timeout=30, poll=0.05)
        releaser.join()
        researcher.with_name("hidden").rename(researcher)
    assert copy == grant.airlock_path and copy.is_file()
