"""cleanroom.core.duckdb_sandbox: what a sandboxed connection may and may not touch."""

from __future__ import annotations

import duckdb
import pytest

from cleanroom.core.duckdb_sandbox import connect


@pytest.fixture
def files(tmp_path):
    allowed = tmp_path / "allowed.csv"
    allowed.write_text("a,b\n1,2\n")
    other = tmp_path / "other.csv"
    other.write_text("x,y\n3,4\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return allowed, other, scratch


def test_reads_a_readable_file(files):
    allowed, _, _ = files
    con = connect([allowed])
    try:
        assert con.execute("SELECT * FROM read_csv(?)", [str(allowed)]).fetchall() == [(1, 2)]
    finally:
        con.close()


def test_cannot_read_a_file_outside_readable(files):
    allowed, other, scratch = files
    con = connect([allowed], scratch)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv(?)", [str(other)]).fetchall()
        # Not through the writable directory either.
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv(?)", [f"{scratch}/../other.csv"]).fetchall()
    finally:
        con.close()


def test_writes_only_inside_writable_dir(files, tmp_path):
    allowed, _, scratch = files
    con = connect([allowed], scratch)
    try:
        con.execute(f"COPY (SELECT 1 AS one) TO '{scratch / 'out.csv'}'")
        assert (scratch / "out.csv").is_file()
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY (SELECT 1 AS one) TO '{tmp_path / 'escaped.csv'}'")
    finally:
        con.close()
    assert not (tmp_path / "escaped.csv").exists()


def test_without_writable_dir_nothing_is_written(files, tmp_path):
    allowed, _, _ = files
    con = connect([allowed])
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY (SELECT 1 AS one) TO '{tmp_path / 'out.csv'}'")
        assert con.execute("SELECT current_setting('temp_directory')").fetchone() == ("",)
    finally:
        con.close()
    assert not (tmp_path / "out.csv").exists()


def test_the_configuration_is_locked(files):
    allowed, _, scratch = files
    con = connect([allowed], scratch)
    try:
        for statement in (
            "SET enable_external_access = true",
            "SET allowed_paths = ['/']",
            "SET allowed_directories = ['/']",
            "SET lock_configuration = false",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(statement)
        with pytest.raises(duckdb.Error):
            con.execute("ATTACH ? AS other", [str(scratch.parent / "x.duckdb")])
        with pytest.raises(duckdb.Error):
            con.execute("INSTALL httpfs")
    finally:
        con.close()


def test_settings_are_applied(files):
    allowed, _, scratch = files
    con = connect(
        [allowed],
        scratch,
        memory_limit="100MB",
        threads=1,
        options={"preserve_insertion_order": True, "enable_progress_bar_print": False},
    )
    try:
        row = con.execute(
            "SELECT current_setting('threads'), current_setting('temp_directory'), "
            "current_setting('enable_external_access'), current_setting('lock_configuration'), "
            "current_setting('enable_progress_bar_print')"
        ).fetchone()
    finally:
        con.close()
    assert row == (1, str(scratch / "spill"), False, True, False)


def test_an_option_name_is_checked(files):
    with pytest.raises(ValueError, match="not a DuckDB setting"):
        connect([], options={"threads = 1; SET enable_external_access": True})


def test_a_database_file_is_written_and_nothing_else(tmp_path):
    path = tmp_path / "catalog.duckdb"
    con = connect(database=path)
    try:
        con.execute("CREATE VIEW v WITH (DEFER_BINDING) AS SELECT * FROM read_parquet('/x.pq')")
        con.execute("CHECKPOINT")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY (SELECT 1 AS one) TO '{tmp_path / 'out.csv'}'")
    finally:
        con.close()
    assert path.is_file()


def test_quote_identifier_and_first_line(tmp_path):
    from cleanroom.core.duckdb_sandbox import first_line, quote_identifier

    con = connect()
    try:
        name = 'odd "name"; DROP'
        con.execute(f"CREATE TABLE t ({quote_identifier(name)} INTEGER)")
        assert con.execute("SELECT name FROM pragma_table_info('t')").fetchall() == [(name,)]
        with pytest.raises(duckdb.Error) as error:
            con.execute("SELECT * FROM no_such_table")
    finally:
        con.close()
    assert first_line(error.value) == str(error.value).strip().splitlines()[0].strip()
    assert "\n" not in first_line(error.value)
    assert first_line(ValueError("")) == "ValueError"


def test_no_progress_bar_is_printed_where_a_sandbox_job_answers(files):
    """A sandbox job answers JSON on stdout; DuckDB prints a progress bar there for long
    queries unless it is off, and nothing run on the connection may turn it on."""
    allowed, _, _ = files
    con = connect([allowed])
    try:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_progress_bar = true")
    finally:
        con.close()
