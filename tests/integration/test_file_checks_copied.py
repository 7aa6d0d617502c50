"""Copied records end to end in the airlock's business layer: a real catalog with a synthetic
dataset, a real grant materialised (the airlock's copy keeps the contributor column), the
real release policy in a real OPA, and the comparison in the real sandbox.

The dataset ``lots`` has one row per production lot: a unique ``lot`` id, the contributor
column ``plant`` (12 plants of 12 organisations), ``line``, ``yield`` (3 decimals),
``temp`` (2 decimals) and ``secret``; project ``yield`` is granted every column but
``secret``.
"""

from __future__ import annotations

import csv
import io
import socket

import duckdb
import pytest
from factories.airlock import real_airlock

from cleanroom.airlock.errors import PolicyRefused, Unavailable
from cleanroom.airlock.permissions import SUBMIT, Caller
from cleanroom.airlock.service import AirlockService
from cleanroom.policy import PolicyClient

ALICE = Caller("alice", frozenset({SUBMIT}), ("researcher",))
ORGS = [f"o{i:02d}" for i in range(1, 13)]
LOTS = 3000
GRANTED = ["lot", "plant", "line", "yield", "temp"]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "lots.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'L-' || lpad(i::VARCHAR, 5, '0') AS lot, 'p-' || (i % 12) AS plant,
                'line' || (i % 3) AS line, round(90 + (hash(i) % 9000) / 1000.0, 3) AS yield,
                round(300 + (hash(i * 7) % 4000) / 100.0, 2) AS temp,
                's' || hash(i * 13) AS secret
            FROM range({LOTS}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    return path


@pytest.fixture
def project(seeded, tmp_path, source):
    from cleanroom.catalog.data_plane import grant_materialiser

    for org in ORGS:
        seeded.add_organisation(org, f"Org {org}", "depositor", actor="adam")
    seeded.register_dataset(
        "lots",
        source,
        contributor_column="plant",
        mapping={f"p-{i}": ORGS[i] for i in range(12)},
        actor="adam",
    )
    seeded.materialiser = grant_materialiser(tmp_path / "grants")
    return seeded.grant("yield", "lots", columns=GRANTED, reason="study", actor="adam")


@pytest.fixture
def airlock(seeded, opa_server, tmp_path, project) -> AirlockService:
    return real_airlock(seeded, opa_server.url, tmp_path)


def rows_of(source, sql: str) -> bytes:
    con = duckdb.connect()
    cursor = con.execute(sql.replace("SOURCE", f"read_parquet('{source}')"))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([d[0] for d in cursor.description])
    w.writerows(cursor.fetchall())
    con.close()
    return out.getvalue().encode()


def submit(airlock, name, data, type_="table", media_type="text/csv"):
    rid = airlock.create(ALICE, project="yield", justification="results").id
    blob = airlock.store.put_bytes(data)
    airlock.put_file(ALICE, rid, name, type_, blob, media_type, project="yield")
    refusal = None
    try:
        airlock.submit(ALICE, rid)
    except PolicyRefused as error:
        refusal = str(error)
    request = airlock.get(ALICE, rid)
    (check,) = [c for c in request.checks if c.check == "copied-records"]
    return request, check, refusal


def test_a_table_of_50_copied_lots_is_refused_with_the_reason(airlock, source):
    # Renamed, reordered, yield rounded to 2 decimals: still the lots' rows.
    data = rows_of(
        source,
        'SELECT temp AS t, lot AS id, round("yield", 2) AS y, line FROM SOURCE '
        "WHERE hash(lot) % 50 = 0 ORDER BY hash(lot) LIMIT 50",
    )
    assert data.count(b"\n") == 51
    request, check, refusal = submit(airlock, "summary.csv", data)
    assert request.state == "draft"
    assert check.status == "fail"
    assert check.metrics["copied_rows"] == 50
    assert "50 row(s) copied" in check.message and "Release aggregates" in check.message
    assert refusal is not None and "check copied-records failed" in refusal
    assert "50 row(s) copied" in refusal
    # The researcher is told counts and column names, never a value of the data.
    shown = check.message + repr(check.findings) + repr(check.metrics)
    assert "L-0" not in shown and "line0" not in shown


def test_a_copy_under_another_file_type_is_refused_too(airlock, source):
    data = rows_of(source, 'SELECT lot, plant, line, "yield", temp FROM SOURCE LIMIT 50')
    request, check, _ = submit(airlock, "notes.txt", data, type_="text", media_type="text/csv")
    assert (check.status, check.metrics["whole_rows"]) == ("fail", 50)
    assert request.state == "draft"


def test_a_table_of_aggregates_goes_to_review(airlock, source):
    data = rows_of(
        source,
        'SELECT line, count(*) AS lots, round(avg("yield"), 2) AS mean_yield, '
        "round(avg(temp), 1) AS mean_temp FROM SOURCE GROUP BY line ORDER BY line",
    )
    request, check, refusal = submit(airlock, "by_line.csv", data)
    assert refusal is None
    assert check.status == "pass" and check.metrics["copied_rows"] == 0
    assert request.state == "in_review"


def test_the_ungranted_secret_column_is_not_compared(airlock, source):
    # secret is not granted: it never enters the comparison (the check sees only lots'
    # granted columns), so this made-up-looking table of secrets alone is not a copy.
    data = rows_of(source, "SELECT secret FROM SOURCE LIMIT 50")
    _, check, _ = submit(airlock, "s.csv", data)
    assert check.metrics["copied_rows"] == 0
    assert all("secret" not in (g["mapping"] or {}).values() for g in check.metrics["grants"])


def test_without_the_policy_s_thresholds_the_table_is_not_passed(airlock, source):
    data = rows_of(source, "SELECT line, count(*) AS n FROM SOURCE GROUP BY line")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    airlock.policy = PolicyClient(f"http://127.0.0.1:{port}", timeout=2.0)
    rid = airlock.create(ALICE, project="yield", justification="x").id
    blob = airlock.store.put_bytes(data)
    airlock.put_file(ALICE, rid, "t.csv", "table", blob, "text/csv", project="yield")
    with pytest.raises(Unavailable):
        airlock.submit(ALICE, rid)
    request = airlock.get(ALICE, rid)
    (check,) = [c for c in request.checks if c.check == "copied-records"]
    assert check.status == "error" and "thresholds could not be read" in check.message
    assert request.state == "draft"
