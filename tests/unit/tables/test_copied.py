"""The ``copied-records`` job, run in the real sandbox with real DuckDB on a synthetic grant:
rows copied from it are counted, however they were laid out and written; tables made from it
(aggregates) are not copies.

The grant ``lots`` (2,000 rows) has a unique ``batch`` id, the contributor column ``plant``
(NOT granted: the job is told the granted columns), ``line``, ``day``, ``yield`` (3
decimals), ``temp`` (2 decimals), ``output`` (1 decimal, thousands) and ``defects``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from cleanroom import sandbox
from cleanroom.tables.copied import COPIED_LIMITS

GRANTED = ["batch", "line", "day", "yield", "temp", "output", "defects"]
ROWS = 2000
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def grant(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grant") / "data.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT 'B' || lpad(i::VARCHAR, 6, '0') AS batch,
                'P' || (i % 12) AS plant,
                'L' || (i % 4) AS line,
                DATE '2024-01-01' + (i % 300)::INTEGER AS day,
                round(80 + (hash(i) % 20000) / 1000.0, 3) AS yield,
                round(300 + (hash(i * 7) % 5000) / 100.0, 2) AS temp,
                round(1000 + (hash(i * 11) % 90000) / 10.0, 1) AS output,
                (hash(i * 3) % 50)::INTEGER AS defects
            FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    return path


def grant_rows(grant: Path, sql: str) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect()
    cursor = con.execute(sql.replace("GRANT", f"read_parquet('{grant}')"))
    header = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    con.close()
    return header, rows


def write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def scan(export: Path, grant: Path, media_type: str = CSV, columns=GRANTED) -> dict:
    result = sandbox.run(
        "copied-records",
        [export, grant],
        {
            "media_type": media_type,
            "grants": [{"label": "lots v1", "columns": columns}],
            "rare_at_most": 1,
            "min_evidence_bits": 8,
        },
        COPIED_LIMITS,
    )
    assert result.ok, result.message
    return result.value


# 50 source rows, spread over the grant.
FIFTY = "SELECT {cols} FROM GRANT WHERE hash(batch) % 40 = 0 ORDER BY hash(batch) LIMIT 50"


def test_50_rows_copied_whole_are_counted(grant, tmp_path):
    header, rows = grant_rows(grant, FIFTY.format(cols=", ".join(GRANTED)))
    assert len(rows) == 50
    answer = scan(write_csv(tmp_path / "t.csv", header, rows), grant)
    assert (answer["rows"], answer["copied_rows"], answer["whole_rows"]) == (50, 50, 50)
    assert answer["rearranged_rows"] == answer["reformatted_rows"] == 0
    (found,) = answer["grants"]
    assert found["mapping"] == {c: c for c in GRANTED}
    assert found["first_rows"][:3] == [1, 2, 3]
    assert answer["verbatim_rare_values"] == 50  # the batch ids


def test_50_copied_rows_hidden_among_made_up_rows_are_counted_exactly(grant, tmp_path):
    header, rows = grant_rows(grant, FIFTY.format(cols=", ".join(GRANTED)))
    made_up = [
        (f"X{i:06d}", f"L{i % 4}", "2025-06-01", 50 + i / 1000, 250 + i / 100, 900.5, i % 7)
        for i in range(450)
    ]
    mixed = made_up[:200] + rows + made_up[200:]
    answer = scan(write_csv(tmp_path / "t.csv", header, mixed), grant)
    assert (answer["rows"], answer["copied_rows"], answer["whole_rows"]) == (500, 50, 50), answer
    assert answer["grants"][0]["first_rows"][:2] == [201, 202]


def test_reordered_renamed_and_dropped_columns_are_still_caught(grant, tmp_path):
    # No column keeps its name or place; line and output are dropped.
    header, rows = grant_rows(
        grant,
        FIFTY.format(
            cols='temp AS "T (°C)", defects AS n_def, batch AS lot, "yield" AS y, day AS d'
        ),
    )
    answer = scan(write_csv(tmp_path / "t.csv", header, rows), grant)
    assert (answer["copied_rows"], answer["rearranged_rows"], answer["whole_rows"]) == (50, 50, 0)
    assert answer["grants"][0]["mapping"] == {
        "T (°C)": "temp",
        "n_def": "defects",
        "lot": "batch",
        "y": "yield",
        "d": "day",
    }


def test_numbers_written_another_way_are_still_caught(grant, tmp_path):
    header, rows = grant_rows(grant, FIFTY.format(cols='day, temp, "yield", output'))
    written = [
        (
            day,
            f"{temp:.3f}",  # 312.4 as 312.400
            f"{y:.2e}" if i % 2 else f"{y:.1f}",  # 97.123 as 9.71e+01 or 97.1
            f"{out:,.1f}",  # 4567.8 as 4,567.8
        )
        for i, (day, temp, y, out) in enumerate(rows)
    ]
    answer = scan(write_csv(tmp_path / "t.csv", ["when", "t", "y", "o"], written), grant)
    assert (answer["copied_rows"], answer["reformatted_rows"]) == (50, 50)
    assert answer["whole_rows"] == answer["rearranged_rows"] == 0
    # The control: the same 50 rows with every number shifted are no copy.
    shifted = [(d, t, f"{float(y.replace(',', '')) + 0.37:.3f}", o) for d, t, y, o in written]
    answer = scan(write_csv(tmp_path / "s.csv", ["when", "t", "y", "o"], shifted), grant)
    assert answer["copied_rows"] == 0


def test_a_table_of_aggregates_of_the_same_data_is_not_a_copy(grant, tmp_path):
    header, rows = grant_rows(
        grant,
        'SELECT line, month(day) AS month, count(*) AS batches, round(avg("yield"), 2) '
        "AS mean_yield, max(temp) AS max_temp, min(output) AS min_output, sum(defects) "
        "AS defects FROM GRANT GROUP BY ALL ORDER BY ALL",
    )
    answer = scan(write_csv(tmp_path / "agg.csv", header, rows), grant)
    assert answer["rows"] == len(rows) > 20
    assert answer["copied_rows"] == 0
    assert answer["verbatim_rare_values"] == 0


def test_a_parquet_export_is_compared(grant, tmp_path):
    path = tmp_path / "t.parquet"
    con = duckdb.connect()
    query = FIFTY.format(cols="batch AS id, temp, output, defects")
    query = query.replace("GRANT", f"read_parquet('{grant}')")
    con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
    con.close()
    answer = scan(path, grant, PARQUET)
    assert (answer["copied_rows"], answer["rearranged_rows"]) == (50, 50)


def test_an_xlsx_export_is_compared(grant, tmp_path):
    import openpyxl

    header, rows = grant_rows(grant, FIFTY.format(cols=", ".join(GRANTED)))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["notes"])  # a first sheet with nothing copied
    copied = book.create_sheet("data")
    copied.append(header)
    for row in rows:
        copied.append(list(row))
    path = tmp_path / "t.xlsx"
    book.save(path)
    answer = scan(path, grant, XLSX)
    assert answer["tables"] == 2
    assert answer["copied_rows"] == 50


def test_the_contributor_column_is_never_compared_unless_granted(grant, tmp_path):
    header, rows = grant_rows(grant, FIFTY.format(cols="plant, batch, temp"))
    answer = scan(write_csv(tmp_path / "t.csv", header, rows), grant)
    assert "plant" not in answer["grants"][0]["mapping"]
    assert answer["copied_rows"] == 50  # batch and temp suffice
    granted = scan(write_csv(tmp_path / "t.csv", header, rows), grant, columns=[*GRANTED, "plant"])
    assert granted["grants"][0]["mapping"]["plant"] == "plant"


def test_an_unreadable_export_is_an_error(grant, tmp_path):
    bad = tmp_path / "t.parquet"
    bad.write_bytes(b"PAR1 not really")
    result = sandbox.run(
        "copied-records",
        [bad, grant],
        {"media_type": PARQUET, "grants": [{"label": "g", "columns": GRANTED}]},
        COPIED_LIMITS,
    )
    assert not result.ok and "could not be compared" in result.message
