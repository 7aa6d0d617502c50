"""Which workspace files a release request may take (extensions/cleanroom-lab, no server)."""

from __future__ import annotations

import base64
import os

import pytest

from cleanroom_lab.filetypes import check_type, suggest_type
from cleanroom_lab.outputs import check_output
from cleanroom_lab.workspace import MAX_TABLE_SPEC_BYTES, Limits, Refused, Workspace


@pytest.fixture
def room(tmp_path):
    """A workspace with results, a dataset mount beside it and a secret outside both."""
    home, data = tmp_path / "home", tmp_path / "data"
    (home / "results" / "figs").mkdir(parents=True)
    (home / "results" / "table.csv").write_text("a,b\n1,2\n")
    (home / "results" / "figs" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 10)
    (home / ".hidden").write_text("h")
    data.mkdir()
    (data / "sales.parquet").write_bytes(b"PAR1secret")
    (tmp_path / "secret.txt").write_text("outside")
    return Workspace(home, [str(data)], Limits(max_file_bytes=1000, max_request_bytes=1500)), home


def test_files_and_folders_expand_to_checked_files(room):
    workspace, _ = room
    files = workspace.expand(["results"])
    assert [(f.path, f.name, f.suggested_type) for f in files] == [
        ("results/table.csv", "table.csv", "table"),
        ("results/figs/plot.png", "plot.png", "figure"),
    ]
    assert workspace.read(files[0]) == b"a,b\n1,2\n"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("../secret.txt", 403, "outside your workspace"),
        ("results/../../secret.txt", 403, "outside your workspace"),
        ("/etc/passwd", 403, "outside your workspace"),
        (".hidden", 403, "hidden"),
        ("results/nope.csv", 404, "does not exist"),
        ("", 400, "Name a file"),
        ("a\x00b", 400, "not a usable"),
        (".", 400, "not the whole"),
    ],
)
def test_bad_paths_are_refused_with_a_reason(room, path, status, words):
    workspace, _ = room
    with pytest.raises(Refused) as refused:
        workspace.expand([path])
    assert refused.value.status == status
    assert words in refused.value.message


def test_a_link_to_outside_is_refused_and_a_link_inside_is_followed(room, tmp_path):
    workspace, home = room
    os.symlink(tmp_path / "secret.txt", home / "innocent.txt")
    with pytest.raises(Refused, match="symbolic link to .*outside your workspace"):
        workspace.expand(["innocent.txt"])
    os.symlink(home / "results" / "table.csv", home / "same.csv")
    [linked] = workspace.expand(["same.csv"])
    assert workspace.read(linked) == b"a,b\n1,2\n"


def test_a_link_inside_a_folder_that_points_outside_refuses_the_folder(room, tmp_path):
    workspace, home = room
    os.symlink(tmp_path / "secret.txt", home / "results" / "figs" / "also.txt")
    with pytest.raises(Refused, match="also.txt is a symbolic link"):
        workspace.expand(["results"])
    os.unlink(home / "results" / "figs" / "also.txt")
    os.symlink(tmp_path, home / "results" / "up")
    with pytest.raises(Refused, match="results/up is a symbolic link"):
        workspace.expand(["results"])


def test_the_dataset_mount_is_refused_through_a_link(room, tmp_path):
    workspace, home = room
    os.symlink(tmp_path / "data", home / "mydata")
    for path in ("mydata", "mydata/sales.parquet"):
        with pytest.raises(Refused, match="project data .*dataset mount"):
            workspace.expand([path])


def test_a_link_to_data_this_server_does_not_mount_is_called_project_data(tmp_path):
    """The lab container has no /data (the kernels have it): a link made there by a kernel
    dangles in the lab, and is refused as project data, not as a missing file."""
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(tmp_path / "absent-data" / "catalog.duckdb", home / "catalog-link.duckdb")
    os.symlink(tmp_path / "elsewhere" / "gone.csv", home / "gone-link.csv")
    workspace = Workspace(home, [str(tmp_path / "absent-data")])
    with pytest.raises(Refused, match="project data .*dataset mount") as refused:
        workspace.expand(["catalog-link.duckdb"])
    assert refused.value.status == 403
    with pytest.raises(Refused, match="does not exist") as missing:  # control: other links
        workspace.expand(["gone-link.csv"])
    assert missing.value.status == 404


def test_the_dataset_mount_is_refused_even_inside_the_workspace(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1")
    workspace = Workspace(tmp_path, [str(tmp_path / "data")])
    with pytest.raises(Refused, match="project data"):
        workspace.expand(["data/x.csv"])


def test_sizes_counts_and_names_are_limited(room):
    workspace, home = room
    (home / "big.bin").write_bytes(b"0" * 1001)
    with pytest.raises(Refused, match="big.bin is 1001 bytes.*at most 1000 bytes") as big:
        workspace.expand(["big.bin"])
    assert big.value.status == 413
    (home / "a.bin").write_bytes(b"0" * 900)
    (home / "b.bin").write_bytes(b"0" * 900)
    with pytest.raises(Refused, match="Together these files are 1.8 KiB"):
        workspace.expand(["a.bin", "b.bin"])
    (home / "table.csv").write_text("x")
    with pytest.raises(Refused, match="Two files are named table.csv"):
        workspace.expand(["table.csv", "results/table.csv"])
    many = Workspace(home, [], Limits(max_files=1))
    with pytest.raises(Refused, match="more than 1 files"):
        many.expand(["results"])


def test_special_files_are_refused(room):
    workspace, home = room
    os.mkfifo(home / "pipe")
    with pytest.raises(Refused, match="not a regular file"):
        workspace.expand(["pipe"])


def test_a_file_swapped_after_the_check_is_not_read(room, tmp_path):
    workspace, home = room
    [checked] = workspace.expand(["results/table.csv"])
    os.unlink(home / "results" / "table.csv")
    os.symlink(tmp_path / "secret.txt", home / "results" / "table.csv")
    with pytest.raises(Refused) as refused:
        workspace.read(checked)
    assert refused.value.status == 409


def test_a_file_that_grew_past_the_limit_is_not_sent(room):
    workspace, home = room
    [checked] = workspace.expand(["results/table.csv"])
    (home / "results" / "table.csv").write_text("x" * 2000)
    with pytest.raises(Refused, match="grew past"):
        workspace.read(checked)


SPEC = b'{"format": "cleanroom-table/1", "dataset": "wafer_lots"}'


def test_a_tables_specification_goes_with_it_and_never_on_its_own(room):
    workspace, home = room
    (home / "results" / "table.csv.table.json").write_bytes(SPEC)
    # A folder stands for its tables; each specification goes with its table.
    files = workspace.expand(["results"])
    assert [f.path for f in files] == ["results/table.csv", "results/figs/plot.png"]
    assert workspace.table_spec(files[0]) == SPEC
    assert workspace.table_spec(files[1]) is None
    with pytest.raises(Refused) as refused:
        workspace.expand(["results/table.csv.table.json"])
    assert refused.value.status == 400
    assert refused.value.message == (
        "results/table.csv.table.json is the specification of the verified table "
        "results/table.csv: it goes with its table automatically. Choose the table instead."
    )


def test_the_specification_beside_the_real_file_goes_with_a_linked_table(room):
    workspace, home = room
    (home / "results" / "table.csv.table.json").write_bytes(SPEC)
    os.symlink(home / "results" / "table.csv", home / "same.csv")
    [linked] = workspace.expand(["same.csv"])
    assert workspace.table_spec(linked) == SPEC


@pytest.mark.parametrize(
    ("make", "status", "words"),
    [
        (
            lambda spec, tmp: os.symlink(tmp / "secret.txt", spec),
            400,
            "results/table.csv.table.json is a symbolic link: a verified table's specification",
        ),
        (lambda spec, tmp: spec.mkdir(), 400, "is not a regular file"),
        (lambda spec, tmp: os.mkfifo(spec), 400, "is not a regular file"),
        (
            lambda spec, tmp: spec.write_bytes(b" " * (MAX_TABLE_SPEC_BYTES + 1)),
            413,
            "is over 8192 bytes",
        ),
    ],
)
def test_a_specification_that_cannot_be_sent_refuses_its_table(room, tmp_path, make, status, words):
    workspace, home = room
    [table] = workspace.expand(["results/table.csv"])
    make(home / "results" / "table.csv.table.json", tmp_path)
    with pytest.raises(Refused) as refused:
        workspace.table_spec(table)
    assert refused.value.status == status
    assert words in refused.value.message


def test_a_specification_of_the_largest_size_is_sent(room):
    workspace, home = room
    (home / "results" / "table.csv.table.json").write_bytes(b" " * MAX_TABLE_SPEC_BYTES)
    [table] = workspace.expand(["results/table.csv"])
    assert len(workspace.table_spec(table)) == MAX_TABLE_SPEC_BYTES


def test_types():
    assert suggest_type("Model.PT") == "model"
    assert suggest_type("analysis.ipynb") == "notebook"
    assert suggest_type("README") == "text"
    assert check_type("figure") == "figure"
    with pytest.raises(ValueError, match="choose one of table, figure"):
        check_type("dataset")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_cell_outputs_become_png_csv_or_html():
    png = check_output({"name": "cell-3.png", "data": _b64(b"\x89PNG\r\n\x1a\nzz")}, 100)
    assert (png.type, png.media_type) == ("figure", "image/png")
    csv = check_output({"name": "cell 4.csv", "data": _b64(b"a,b\n")}, 100)
    assert csv.type == "table"


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ({"name": "../x.png", "data": ""}, "not a usable name"),
        ({"name": "x.exe", "data": _b64(b"MZ")}, "one of .csv, .html, .png"),
        ({"name": "x.png", "data": _b64(b"GIF89a")}, "not a PNG"),
        ({"name": "x.csv", "data": "***"}, "not valid base64"),
        ({"name": "x.csv", "data": _b64(b"\xff\xfe")}, "not UTF-8"),
        ({"name": "x.csv", "data": _b64(b"a" * 200)}, "larger than 100 bytes"),
        ({"name": "x.csv", "data": ""}, "empty"),
        ("x.csv", "must be an object"),
    ],
)
def test_bad_cell_outputs_are_refused(output, words):
    with pytest.raises(Refused, match=words):
        check_output(output, 100)
