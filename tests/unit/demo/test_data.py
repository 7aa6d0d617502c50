"""Demo data (cleanroom.demo.data): deterministic, many companies, plants that map to them."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pytest

from cleanroom.demo import data as demo_data

ROWS = 3000


def _digests(directory) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return demo_data.generate(tmp_path_factory.mktemp("demo"), ROWS)


def test_same_seed_same_bytes_other_seed_other_bytes(generated, tmp_path):
    again = demo_data.generate(tmp_path / "again", ROWS, threads=1)
    first = _digests(generated.out_dir)
    assert set(first) == {
        "wafer_lots.parquet",
        "wafer_lots.csv",
        "weld_inspections.parquet",
        "weld_inspections.csv",
        "contributors.json",
    }
    assert _digests(again.out_dir) == first
    other = demo_data.generate(tmp_path / "other", ROWS, seed=7, formats=["parquet"])
    other_digests = _digests(other.out_dir)
    assert other_digests["wafer_lots.parquet"] != first["wafer_lots.parquet"]


@pytest.mark.parametrize("name", list(demo_data.DATASETS))
def test_many_companies_several_plants_each_all_present(generated, name):
    ds = generated.datasets[name]
    assert len(ds.organisations) >= 12
    per_company: dict[str, int] = {}
    for company in ds.contributors.values():
        per_company[company] = per_company.get(company, 0) + 1
    assert min(per_company.values()) >= 2
    col = ds.contributor_column
    rows = duckdb.sql(
        f"SELECT {col}, company, count(*) FROM read_parquet('{ds.paths['parquet']}') GROUP BY ALL"
    ).fetchall()
    assert sum(r[2] for r in rows) == ROWS
    assert {r[0] for r in rows} == set(ds.contributors)  # every plant has rows
    for plant, company, _n in rows:
        assert ds.contributors[plant] == company


@pytest.mark.parametrize("name", list(demo_data.DATASETS))
def test_csv_and_parquet_hold_the_same_rows(generated, name):
    ds = generated.datasets[name]
    pq = duckdb.sql(f"SELECT * FROM read_parquet('{ds.paths['parquet']}')").fetchall()
    csv = duckdb.sql(f"SELECT * FROM read_csv('{ds.paths['csv']}')").fetchall()
    assert pq == csv


def test_contributors_json_matches(generated):
    mapping = json.loads((generated.out_dir / "contributors.json").read_text())
    for name, ds in generated.datasets.items():
        assert mapping[name]["contributor_column"] == ds.contributor_column
        assert mapping[name]["contributors"] == ds.contributors
    assert set(generated.contributors) == {
        p for ds in generated.datasets.values() for p in ds.contributors
    }


def test_values_are_plausible(generated):
    wafer = generated.datasets["wafer_lots"].paths["parquet"]
    lo, hi, scrapped = duckdb.sql(
        f"SELECT min(die_yield_pct), max(die_yield_pct), avg(scrapped::INT) "
        f"FROM read_parquet('{wafer}')"
    ).fetchall()[0]
    assert 0 <= lo < hi <= 100
    assert scrapped < 0.2
    # yield falls as defect density rises
    corr = duckdb.sql(
        f"SELECT corr(defect_density_cm2, die_yield_pct) FROM read_parquet('{wafer}')"
    ).fetchall()[0][0]
    assert corr < -0.5
    weld = generated.datasets["weld_inspections"].paths["parquet"]
    accepted, none_defects = duckdb.sql(
        f"SELECT avg((result = 'accept')::INT), avg((defect_type = 'none')::INT) "
        f"FROM read_parquet('{weld}')"
    ).fetchall()[0]
    assert 0.8 < accepted < 1.0
    assert accepted == none_defects


def test_command_line(tmp_path, capsys):
    assert (
        demo_data.main(
            [str(tmp_path), "--rows", "50", "--format", "csv", "--dataset", "weld_inspections"]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "contributors.json",
        "weld_inspections.csv",
    ]
    assert "50 rows from 13 companies" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        demo_data.main([str(tmp_path), "--format", "xlsx"])
