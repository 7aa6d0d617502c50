"""Verified tables made in the notebook (images/notebook/client/cleanroom/sdc.py), on this host.

The client package is loaded under another name (tests/support/client.py) over a real DuckDB
view catalog of real Parquet files, laid out as in a researcher's container. What the helper
writes is read back with the *hub's* package: the specification with
``cleanroom.tables.spec.parse_spec``, and the table recomputed the airlock's way
(``long_query`` over ``read_parquet`` of the same file, then ``shape``) must reproduce the
written file cell for cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json

import duckdb
import pytest
from support.client import load_client

from cleanroom.grants.materialise import build_view_catalog
from cleanroom.tables import spec as hub_spec

WAFER_KEY = "a" * 64
BIG_KEY = "b" * 64
PLANTS = ("P1", "P2", "P3", "P4")
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
STEPS = ("clean", "etch", "litho")


@pytest.fixture(scope="module")
def client():
    yield from load_client()


@pytest.fixture(scope="module")
def sdc(client):
    return client.sdc


def _wafer_rows() -> list[tuple]:
    rows = []
    for i in range(480):
        plant, quarter = PLANTS[i % 4], QUARTERS[(i // 4) % 4]
        if plant == "P4" and quarter == "Q4":
            continue  # one empty combination: 0 in a pivot of counts, empty in one of means
        rows.append(
            (
                plant,
                quarter,
                STEPS[i % 3],
                (i * 37 % 1000) / 10.0,
                i % 25,
                dt.date(2026, 1, 1) + dt.timedelta(days=i % 90),
                "<b>x</b>" if i == 0 else f"lot-{i:04d}",
            )
        )
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE w (plant VARCHAR, quarter VARCHAR, process_step VARCHAR, "
        "die_yield_pct DOUBLE, wafers INTEGER, lot_date DATE, lot_ref VARCHAR)"
    )
    con.executemany("INSERT INTO w VALUES (?, ?, ?, ?, ?, ?, ?)", _wafer_rows())
    for key, sql in {
        WAFER_KEY: "SELECT * FROM w",
        BIG_KEY: "SELECT range AS n, 'ref-' || range AS ref FROM range(10001)",
    }.items():
        (data / key).mkdir()
        con.execute(f"COPY ({sql}) TO '{data / key / 'data.parquet'}' (FORMAT parquet)")
    con.close()
    build_view_catalog(
        {"wafer_lots": WAFER_KEY, "big": BIG_KEY}, data / "catalog.duckdb", str(data)
    )
    return data


@pytest.fixture
def home(data_dir, tmp_path, monkeypatch):
    """The researcher's home (the working directory) with the catalog mounted."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CLEANROOM_CATALOG", str(data_dir / "catalog.duckdb"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    return home


def direct(data_dir, sql: str) -> list[tuple]:
    """A query over the wafer grant's Parquet file as the view ``w``."""
    con = duckdb.connect()
    try:
        path = data_dir / WAFER_KEY / "data.parquet"
        con.execute(f"CREATE VIEW w AS SELECT * FROM read_parquet('{path}')")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def hub_recompute(data_dir, spec_path) -> tuple[list[str], list[list[str]], hub_spec.TableSpec]:
    """The airlock's way: the specification read by the hub's package, its long query over the
    grant's Parquet file, shaped, and each cell written as text."""
    parsed = hub_spec.parse_spec(spec_path.read_bytes())
    source = f"read_parquet('{data_dir / parsed.grant / 'data.parquet'}')"
    con = duckdb.connect()
    try:
        long_rows = con.execute(hub_spec.long_query(parsed, source, parsed.filter)).fetchall()
    finally:
        con.close()
    header, rows = hub_spec.shape(parsed, long_rows)
    return header, [[hub_spec.cell_text(v) for v in r] for r in rows], parsed


def read_csv(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- the helpers ----------------------------------------------------------------------------


def test_frequency_counts_rows_per_group(sdc, home, data_dir):
    t = sdc.frequency("wafer_lots", "plant")
    assert t.header == ("plant", "count")
    assert [list(r) for r in t.rows] == [
        list(r) for r in direct(data_dir, "SELECT plant, count(*) FROM w GROUP BY 1 ORDER BY 1")
    ]
    assert t.spec.grant == WAFER_KEY and t.spec.dataset == "wafer_lots"
    assert t.spec.rounding.as_json() is None  # nothing rounded unless asked
    assert len(t) == 4 and "not rounded" in repr(t)


def test_a_pivot_of_counts_has_zeros_and_one_of_means_empty_cells(sdc, home, data_dir):
    counts = sdc.frequency("wafer_lots", ["plant"], ["quarter"])
    assert counts.header == ("plant", "Q1", "Q2", "Q3", "Q4")
    assert counts.rows[3] == ("P4", 30, 30, 30, 0)
    means = sdc.pivot("wafer_lots", "plant", "quarter", "mean", "die_yield_pct")
    assert means.rows[3][4] is None
    [(truth,)] = direct(
        data_dir, "SELECT avg(die_yield_pct) FROM w WHERE plant = 'P2' AND quarter = 'Q3'"
    )
    assert means.rows[1][3] == truth
    header, rows = read_csv(means.save("means.csv"))
    assert header == ["plant", "Q1", "Q2", "Q3", "Q4"] and rows[3][4] == ""
    header, rows = read_csv(counts.save("counts.csv"))
    assert rows[3] == ["P4", "30", "30", "30", "0"]


def test_summary_gives_each_aggregate_of_the_measure(sdc, home, data_dir):
    t = sdc.summary("wafer_lots", "process_step", "wafers")
    assert t.header == (
        "process_step",
        "count",
        "mean_wafers",
        "median_wafers",
        "min_wafers",
        "max_wafers",
    )
    expected = direct(
        data_dir,
        "SELECT process_step, count(*), avg(wafers), median(wafers), min(wafers), max(wafers) "
        "FROM w GROUP BY 1 ORDER BY 1",
    )
    assert [list(r) for r in t.rows] == [list(r) for r in expected]
    only = sdc.summary("wafer_lots", ["plant"], "lot_date", aggregates=("min", "max"))
    assert only.header == ("plant", "min_lot_date", "max_lot_date")
    assert isinstance(only.rows[0][1], dt.date)


def test_table_with_a_filter_and_several_values(sdc, home, data_dir):
    t = sdc.table(
        "wafer_lots",
        ["plant", "process_step"],
        ["count", ("sum", "wafers"), {"aggregate": "max", "measure": "die_yield_pct"}],
        filter="process_step = 'etch' AND wafers > 3",
    )
    assert t.header == ("plant", "process_step", "count", "sum_wafers", "max_die_yield_pct")
    expected = direct(
        data_dir,
        "SELECT plant, process_step, count(*), sum(wafers), max(die_yield_pct) FROM w "
        "WHERE process_step = 'etch' AND wafers > 3 GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [list(r) for r in t.rows] == [list(r) for r in expected]
    assert t.spec.filter == "process_step = 'etch' AND wafers > 3"
    assert "where process_step = 'etch'" in t.spec.describe()


def test_rounding_is_declared_and_applied_half_up(sdc, home, data_dir):
    counts = sdc.frequency("wafer_lots", "plant", rounding={"base": 5})
    for (plant, n), (_, true) in zip(
        counts.rows,
        direct(data_dir, "SELECT plant, count(*) FROM w GROUP BY 1 ORDER BY 1"),
        strict=True,
    ):
        assert n % 5 == 0 and abs(n - true) <= 2.5, plant
    assert counts.spec.rounding.as_json() == {"base": 5}
    means = sdc.summary("wafer_lots", "plant", "die_yield_pct", ("mean",), rounding={"decimals": 1})
    truth = direct(data_dir, "SELECT avg(die_yield_pct) FROM w GROUP BY plant ORDER BY plant")
    for row, (mean,) in zip(means.rows, truth, strict=True):
        half_up = decimal.Decimal(str(mean)).quantize(
            decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP
        )
        assert row[1] == float(half_up)
    assert means.spec.describe().endswith("rounded to 1 decimal place(s)")


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda s: s.frequency("wafers", "plant"),
            "no dataset 'wafers' here; the project's datasets: big, wafer_lots",
        ),
        (
            lambda s: s.frequency("wafer_lots", "company"),
            "wafer_lots has no column 'company'; its columns are: plant, quarter, process_step",
        ),
        (
            lambda s: s.summary("wafer_lots", "plant", "yield"),
            "has no column 'yield'",
        ),
        (
            lambda s: s.table("wafer_lots", "plant", [(sorted, "wafers")]),
            "the aggregate sorted is a Python function: refused, because the airlock "
            "recomputes every table",
        ),
        (
            lambda s: s.pivot("wafer_lots", "plant", "quarter", lambda x: x, "wafers"),
            "is a Python function: refused",
        ),
        (
            lambda s: s.table("wafer_lots", "plant", [("stddev", "wafers")]),
            "'stddev' is not an aggregate the airlock can recompute; use one of: count, sum",
        ),
        (
            lambda s: s.table("wafer_lots", "plant", ["mean"]),
            'mean needs a measure column: ("mean", "<column>")',
        ),
        (
            lambda s: s.table("wafer_lots", "plant", [("count", "wafers")]),
            '"count" counts rows and takes no measure column',
        ),
        (
            lambda s: s.frequency("wafer_lots", "plant", rounding=5),
            "rounding is None (not rounded), {'decimals': n}",
        ),
        (
            lambda s: s.frequency("wafer_lots", "plant", rounding={"base": 0}),
            '"rounding" is {"decimals": 0..10} or {"base": 1..1000000}',
        ),
        (
            lambda s: s.frequency("wafer_lots", "plant", rounding={"decimals": 1.5}),
            "rounding decimals must be a whole number",
        ),
        (
            lambda s: s.summary("wafer_lots", "plant", "lot_ref", ("mean",)),
            "mean needs a numeric measure; lot_ref is VARCHAR",
        ),
        (
            lambda s: s.summary("wafer_lots", "plant", "lot_ref", ("max",), rounding={"base": 5}),
            "rounding applies to numbers, and max of lot_ref is VARCHAR",
        ),
        (
            lambda s: s.pivot("wafer_lots", "plant", (), "count"),
            "a pivot needs columns",
        ),
        (
            lambda s: s.table(
                "wafer_lots", "plant", [("sum", "wafers"), ("max", "wafers")], "quarter"
            ),
            "a pivot (with columns) shows exactly one value",
        ),
        (
            lambda s: s.frequency("wafer_lots", "plant", filter="no_such_column > 1"),
            "the table could not be computed (is the filter 'no_such_column > 1' right?)",
        ),
        (
            lambda s: s.frequency("big", "ref"),
            "the table has 10,001 rows; a verified table has at most 10,000",
        ),
    ],
)
def test_refusals_say_what_to_do(sdc, home, call, words):
    with pytest.raises(sdc.SpecError) as refused:
        call(sdc)
    assert words in str(refused.value)


def test_a_view_that_is_not_the_catalogs_is_refused(sdc, home, tmp_path, monkeypatch):
    own = tmp_path / "own.duckdb"
    con = duckdb.connect(str(own))
    con.execute("CREATE VIEW mine AS SELECT 1 AS plant")
    con.close()
    monkeypatch.setenv("CLEANROOM_CATALOG", str(own))
    with pytest.raises(sdc.SpecError, match="does not read one granted dataset"):
        sdc.frequency("mine", "plant")


# -- saving, and the airlock's recompute --------------------------------------------------------


def test_a_saved_csv_and_its_specification_are_what_the_airlock_recomputes(sdc, home, data_dir):
    t = sdc.table(
        "wafer_lots",
        ["plant"],
        [("mean", "die_yield_pct"), ("median", "wafers"), ("min", "lot_date"), "count"],
        filter="process_step <> 'clean'",
        rounding=None,
    )
    path = t.save("outputs/yield.csv")
    assert path == str(home / "outputs" / "yield.csv")
    spec_path = home / "outputs" / ("yield.csv" + hub_spec.SPEC_SUFFIX)
    header, rows = read_csv(path)
    hub_header, hub_rows, parsed = hub_recompute(data_dir, spec_path)
    assert (header, rows) == (hub_header, hub_rows)
    # The specification round-trips through the hub's parser (the classes are the copy's).
    assert parsed.as_json() == t.spec.as_json() and parsed.describe() == t.spec.describe()
    assert json.loads(spec_path.read_text())["file_format"] == "csv"
    assert leftovers(home / "outputs") == []


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.frequency("wafer_lots", "plant", "quarter", rounding={"base": 10}),
        lambda s: s.pivot(
            "wafer_lots", ["plant"], ["quarter"], "mean", "die_yield_pct", rounding={"decimals": 2}
        ),
        lambda s: s.pivot("wafer_lots", "process_step", ["plant", "quarter"], "sum", "wafers"),
        lambda s: s.summary(
            "wafer_lots", ["plant", "quarter"], "die_yield_pct", rounding={"decimals": 0}
        ),
        lambda s: s.summary("wafer_lots", "lot_ref", "wafers", ("sum",), filter="wafers = 3"),
    ],
)
def test_every_shape_reproduces_cell_for_cell_in_csv_and_parquet(sdc, home, data_dir, make):
    t = make(sdc)
    csv_path = t.save("t.csv")
    hub_header, hub_rows, parsed = hub_recompute(data_dir, home / "t.csv.table.json")
    assert read_csv(csv_path) == (hub_header, hub_rows)
    assert parsed.as_json() == {**t.spec.as_json(), "file_format": "csv"}

    parquet_path = t.save("t.parquet")
    hub_header, hub_rows, parsed = hub_recompute(data_dir, home / "t.parquet.table.json")
    assert parsed.file_format == "parquet"
    con = duckdb.connect()
    try:
        result = con.execute(f"SELECT * FROM read_parquet('{parquet_path}')")
        header = [d[0] for d in result.description]
        rows = [[hub_spec.cell_text(v) for v in r] for r in result.fetchall()]
    finally:
        con.close()
    assert (header, rows) == (hub_header, hub_rows)
    # what the tablespec writes is what the table shows
    assert [[hub_spec.cell_text(v) for v in r] for r in t.rows] == hub_rows
    assert leftovers(home) == []


def test_save_replaces_both_files_whole(sdc, home):
    first = sdc.frequency("wafer_lots", "plant")
    first.save("t.csv")
    second = sdc.frequency("wafer_lots", "quarter")
    second.save("t.csv")
    assert read_csv(home / "t.csv")[0] == ["quarter", "count"]
    assert json.loads((home / "t.csv.table.json").read_text())["rows"] == ["quarter"]
    assert sorted(p.name for p in home.iterdir()) == ["t.csv", "t.csv.table.json"]


@pytest.mark.parametrize("failing", ["_write_csv", "_write_bytes"])
def test_a_failed_save_leaves_the_previous_files_and_nothing_half_written(
    sdc, home, monkeypatch, failing
):
    sdc.frequency("wafer_lots", "plant").save("t.csv")
    before = {p.name: p.read_bytes() for p in home.iterdir()}

    def broken(*args):
        target = args[-2] if failing == "_write_bytes" else args[-1]
        with open(target, "wb") as handle:
            handle.write(b"half")
        raise OSError(28, "No space left on device")

    if failing == "_write_csv":
        monkeypatch.setattr(sdc.Table, "_write_csv", lambda self, path: broken(path))
    else:
        monkeypatch.setattr(sdc, "_write_bytes", lambda path, data: broken(path, data))
    with pytest.raises(OSError, match="No space left"):
        sdc.frequency("wafer_lots", "quarter").save("t.csv")
    assert {p.name: p.read_bytes() for p in home.iterdir()} == before


def test_save_refuses_places_outside_the_home_and_other_suffixes(sdc, home, tmp_path):
    t = sdc.frequency("wafer_lots", "plant")
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "link").symlink_to(outside)
    for path in (str(outside / "t.csv"), "../t.csv", "link/t.csv", "link/new/t.csv"):
        with pytest.raises(ValueError, match="is not in your home"):
            t.save(path)
    with pytest.raises(ValueError, match=r"name a verified table \.csv or \.parquet"):
        t.save("t.xlsx")
    (home / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        t.save("folder.csv")
    assert list(outside.iterdir()) == [] and not (tmp_path / "t.csv").exists()
    assert sorted(p.name for p in home.iterdir()) == ["folder.csv", "link"]


def test_parquet_refuses_column_names_it_cannot_keep_apart(sdc, home, tmp_path, monkeypatch):
    # A pivot over a column whose values differ only in case.
    con = duckdb.connect()
    try:
        cased = tmp_path / "cased"
        (cased / WAFER_KEY).mkdir(parents=True)
        con.execute(
            "COPY (SELECT CASE WHEN range % 2 = 0 THEN 'a' ELSE 'A' END AS k, range % 3 AS g "
            f"FROM range(12)) TO '{cased / WAFER_KEY / 'data.parquet'}' (FORMAT parquet)"
        )
    finally:
        con.close()
    catalog = build_view_catalog({"cased": WAFER_KEY}, cased / "catalog.duckdb", str(cased))
    monkeypatch.setenv("CLEANROOM_CATALOG", str(catalog))
    t = sdc.frequency("cased", "g", "k")
    assert t.header == ("g", "A", "a")
    with pytest.raises(sdc.SpecError, match="differ only in case.*save the table as .csv"):
        t.save("t.parquet")
    assert t.save("t.csv").endswith("t.csv")
    assert sorted(p.name for p in home.iterdir()) == ["t.csv", "t.csv.table.json"]


def test_the_table_is_shown_escaped_and_read_only(sdc, home):
    t = sdc.frequency("wafer_lots", "lot_ref", filter="wafers = 0")
    shown = t._repr_html_()
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in shown and "<b>x</b>" not in shown
    assert "Verified table: count of wafer_lots by lot_ref, where wafers = 0" in shown
    with pytest.raises(TypeError):
        t.rows[0][1] = 999  # type: ignore[index]
    big = sdc.frequency("wafer_lots", "lot_ref")
    assert f"and {len(big) - sdc.HTML_ROWS:,} more row(s)" in big._repr_html_()


def test_sdc_is_reached_from_the_package(client, sdc):
    assert client.sdc is sdc
    assert "sdc" in client.__all__
    assert sdc.AGGREGATES is sdc.tablespec.AGGREGATES
    assert sdc.SpecError is sdc.tablespec.SpecError and issubclass(sdc.SpecError, ValueError)
