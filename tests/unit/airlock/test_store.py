"""The blob store and file names: content addressing, limits, cut-off and killed uploads,
tampered blobs, and the names that are refused."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cleanroom.airlock.errors import IntegrityError, InvalidInput, TooLarge
from cleanroom.airlock.names import check_file_name, check_file_type
from cleanroom.airlock.store import TMP_PREFIX, BlobStore


def test_bytes_are_stored_under_their_sha256_and_read_back_verified(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(3 * 1024 * 1024 + 17)
    with store.writer(limit=len(data)) as writer:
        for start in range(0, len(data), 65536):
            writer.write(data[start : start + 65536])
        blob = writer.commit()
    assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == len(data)
    assert store.verified_path(blob.sha256).read_bytes() == data
    assert b"".join(store.read_verified(blob.sha256)) == data
    assert [p.name for p in store.root.iterdir()] == [blob.sha256]
    assert oct(store.root.stat().st_mode & 0o777) == "0o700"
    # The same bytes again: the same blob, one file.
    assert store.put_bytes(data) == blob
    assert len(list(store.root.iterdir())) == 1


def test_an_upload_over_its_limit_stops_and_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    writer = store.writer(limit=10, what="file big.csv")
    writer.write(b"0123456789")
    with pytest.raises(TooLarge, match="big.csv"):
        writer.write(b"x")
    assert list(store.root.iterdir()) == []


def test_an_aborted_upload_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(RuntimeError), store.writer(limit=100) as writer:
        writer.write(b"half")
        raise RuntimeError("the connection closed")
    assert list(store.root.iterdir()) == []


def test_a_process_killed_mid_upload_keeps_what_was_acknowledged_and_nothing_partial(tmp_path):
    root = tmp_path / "blobs"
    script = textwrap.dedent(f"""
        import sys, time
        from cleanroom.airlock.store import BlobStore
        store = BlobStore({str(root)!r})
        print(store.put_bytes(b"acknowledged bytes").sha256, flush=True)
        writer = store.writer(limit=10**9)
        writer.write(b"x" * 1_000_000)
        print("writing", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        acknowledged = process.stdout.readline().strip()
        assert process.stdout.readline().strip() == "writing"
        assert any(p.name.startswith(TMP_PREFIX) for p in root.iterdir())
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    store = BlobStore(root)  # opening the store after the crash
    assert [p.name for p in root.iterdir()] == [acknowledged]
    assert store.verified_path(acknowledged).read_bytes() == b"acknowledged bytes"


def test_a_changed_blob_is_never_served(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    blob = store.put_bytes(b"the reviewed bytes")
    store.verified_path(blob.sha256)  # verified once and remembered
    path = store.root / blob.sha256
    time.sleep(0.01)
    path.write_bytes(b"the swapped bytes!")
    with pytest.raises(IntegrityError, match="no longer matches"):
        store.verified_path(blob.sha256)
    path.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        store.verified_path(blob.sha256)


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../etc/passwd",
        "a/b",
        "a\\b",
        "/abs",
        "x\x00y",
        "x\ny",
        "tab\tname",
        "bell\x07",
        "rtl\u202egpj.exe",
        " lead",
        "trail ",
        "a" * 256,
        "..hidden",
    ],
)
def test_names_that_are_not_plain_file_names_are_refused(name):
    with pytest.raises(InvalidInput):
        check_file_name(name)


@pytest.mark.parametrize("name", ["t.csv", "yield by plant.csv", "Ergebnis_ä.parquet", ".x"])
def test_plain_names_pass(name):
    assert check_file_name(name) == name


def test_file_types_are_the_policy_schemas():
    assert check_file_type("table") == "table"
    for bad in (None, "", "secret", "TABLE"):
        with pytest.raises(InvalidInput):
            check_file_type(bad)
