"""The lab server's first-use parts (extensions/cleanroom-lab): the "Start here" notebook
copied into a new home once, and the Datasets panel's facts read back as the hub wrote them.
Served on a real Jupyter server in test_server.py; here the edge cases."""

from __future__ import annotations

import json

from cleanroom_lab.datasets import MAX_FILE_BYTES, NO_DATASETS, read_datasets
from cleanroom_lab.starthere import MARKER, copy_start_here

from . import NOTEBOOK_IMAGE

START_HERE = NOTEBOOK_IMAGE / "start-here" / "Start here.ipynb"


def test_start_here_is_a_valid_notebook_that_asks_for_a_release():
    notebook = json.loads(START_HERE.read_text())
    assert notebook["nbformat"] == 4
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    for step in (
        "cleanroom.connect()",
        "DESCRIBE",
        ".fit(",
        ".to_csv(",
        "savefig",
        "request_release",
    ):
        assert step in code, step
    assert all(not c.get("outputs") for c in notebook["cells"]), "shipped without outputs"


def test_start_here_is_copied_once_read_only_and_stays_deleted(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    copied = copy_start_here(str(START_HERE), str(home))
    assert copied == home / "Start here.ipynb"
    assert copied.read_bytes() == START_HERE.read_bytes()
    assert copied.stat().st_mode & 0o777 == 0o444
    assert copy_start_here(str(START_HERE), str(home)) is None
    copied.unlink()  # the researcher deletes it: it does not come back
    assert copy_start_here(str(START_HERE), str(home)) is None
    assert not copied.exists()


def test_start_here_never_replaces_or_follows_what_is_there(tmp_path):
    home, outside = tmp_path / "home", tmp_path / "outside"
    home.mkdir()
    outside.mkdir()
    (home / "Start here.ipynb").write_text("my own notes")
    assert copy_start_here(str(START_HERE), str(home)) is None
    assert (home / "Start here.ipynb").read_text() == "my own notes"
    # A marker folder that is a link elsewhere: nothing is written through it.
    other = tmp_path / "other"
    other.mkdir()
    (other / ".cleanroom-lab").symlink_to(outside)
    assert copy_start_here(str(START_HERE), str(other)) is None
    assert list(outside.iterdir()) == []
    assert copy_start_here("/nonexistent/Start here.ipynb", str(tmp_path / "x")) is None
    assert not (tmp_path / "x" / MARKER).exists()


def test_datasets_facts_missing_broken_or_empty_say_so(tmp_path):
    assert read_datasets("") == {"datasets": [], "message": NO_DATASETS}
    assert read_datasets(str(tmp_path / "none.json"))["message"] == NO_DATASETS
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "could not be read" in read_datasets(str(broken))["message"]
    broken.write_text(json.dumps({"datasets": "x"}))
    assert "could not be read" in read_datasets(str(broken))["message"]
    broken.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    assert "could not be read" in read_datasets(str(broken))["message"]
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"datasets": []}))
    assert read_datasets(str(empty)) == {"datasets": [], "message": NO_DATASETS}
