"""The notebook image's `cleanroom` package (images/notebook/client/cleanroom/), on this host.

The package is loaded from its folder under another name (``cleanroom_client_under_test``,
see tests/support/client.py): it must never shadow the hub's own ``cleanroom`` package here.
The same package is tested inside the built image by tests/integration/test_client_image.py;
its verified tables (``cleanroom.sdc``) by test_sdc.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from support.client import CLIENT, load_client
from support.paths import REPO

from cleanroom.grants.materialise import build_view_catalog


@pytest.fixture(scope="module")
def client():
    yield from load_client()


@pytest.fixture
def mounted(tmp_path, monkeypatch):
    """A view catalog over two small Parquet files, laid out as in a container."""
    data = tmp_path / "data"
    keys = {"wafer_lots": "a" * 64, "weld_inspections": "b" * 64}
    for i, key in enumerate(keys.values()):
        (data / key).mkdir(parents=True)
        duckdb.sql(
            f"COPY (SELECT range AS n, {i} AS k FROM range(10)) "
            f"TO '{data / key / 'data.parquet'}' (FORMAT parquet)"
        )
    catalog = build_view_catalog(keys, data / "catalog.duckdb", str(data))
    monkeypatch.setenv("CLEANROOM_CATALOG", str(catalog))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    return catalog


def test_the_hubs_package_is_not_shadowed(client):
    import cleanroom

    assert Path(cleanroom.__file__).parent == REPO / "src" / "cleanroom"  # the hub's package
    assert client.__name__ == "cleanroom_client_under_test"
    assert Path(client.__file__) == CLIENT / "__init__.py"
    # sdc and its tablespec load relatively, under the same name
    assert client.sdc.__name__ == "cleanroom_client_under_test.sdc"
    assert client.sdc.tablespec.__name__ == "cleanroom_client_under_test.tablespec"
    assert "cleanroom.sdc" not in sys.modules and "cleanroom.tablespec" not in sys.modules


def test_tablespec_is_an_exact_copy_of_the_hubs_spec():
    hub = REPO / "src" / "cleanroom" / "tables" / "spec.py"
    copy = CLIENT / "tablespec.py"
    assert copy.read_bytes() == hub.read_bytes(), (
        f"{copy} differs from {hub}: copy it (cp {hub} {copy})"
    )


def test_connect_lists_and_queries_the_views(client, mounted):
    assert client.catalog_path() == mounted
    assert client.datasets() == ["wafer_lots", "weld_inspections"]
    con = client.connect()
    try:
        assert client.datasets(con) == ["wafer_lots", "weld_inspections"]
        assert con.sql("SELECT sum(n), max(k) FROM weld_inspections").fetchall() == [(45, 1)]
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE t AS SELECT 1")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DROP VIEW wafer_lots")
    finally:
        con.close()


def test_settings_pass_through(client, mounted):
    con = client.connect(threads=1)
    try:
        assert con.execute("SELECT current_setting('threads')").fetchall() == [(1,)]
        temp = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
        assert temp.endswith("/tmp/duckdb")
    finally:
        con.close()


def test_no_data_mounted_says_what_to_do(client, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANROOM_CATALOG", str(tmp_path / "nothing.duckdb"))
    with pytest.raises(client.NoDataMounted, match="No datasets are mounted .* choose the project"):
        client.connect()
    monkeypatch.delenv("CLEANROOM_CATALOG")
    assert str(client.catalog_path()) == "/data/catalog.duckdb"


def test_request_release_offers_files_of_the_home_relative_to_it(client, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "work" / "outputs").mkdir(parents=True)
    (home / "work" / "outputs" / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "outside.csv").write_text("x\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "work")
    proposal = client.request_release(
        "outputs/table.csv", title="Means", justification="for the paper"
    )
    bundle = proposal._repr_mimebundle_()
    assert bundle[client.RELEASE_MIME] == {
        "paths": ["work/outputs/table.csv"],
        "title": "Means",
        "justification": "for the paper",
    }
    assert "nothing is sent until you do" in bundle["text/plain"]
    with pytest.raises(FileNotFoundError, match="is not a file: write it first"):
        client.request_release(["outputs/missing.csv"])
    with pytest.raises(ValueError, match="is not in your home"):
        client.request_release([str(tmp_path / "outside.csv")])
    (home / "work" / "link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(ValueError, match="is not in your home"):
        client.request_release(["link.csv"])
    with pytest.raises(ValueError, match="at least one file"):
        client.request_release([])
