"""Warm sandboxes (cleanroom.sandbox.warm): one sandbox, a fresh child per job. The walls of
a cold sandbox hold for each job (real bubblewrap, the attacks paired with controls), and
nothing one job leaves behind (files, processes) reaches the next."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from cleanroom.sandbox import Limits, run_warm, warm


@pytest.fixture(autouse=True)
def fresh_pool():
    warm.close_all()
    yield
    warm.close_all()


@pytest.fixture
def some_input(tmp_path) -> Path:
    p = tmp_path / "input.txt"
    p.write_text("hello\n")
    return p


def probe(input_path: Path, limits: Limits | None = None, **params):
    return run_warm("probe", input_path, params, **({"limits": limits} if limits else {}))


def test_jobs_share_one_sandbox_and_each_is_a_fresh_process(some_input):
    first = probe(some_input, probe="processes")
    second = probe(some_input, probe="processes")
    assert first.ok and second.ok, (first.message, second.message)
    assert first.value["parent"] == second.value["parent"]  # the same warm sandbox
    assert first.value["me"] != second.value["me"]  # a new child each time
    assert len(warm._idle) == 1


def test_a_job_cannot_connect_out_or_read_the_callers_files(tmp_path, some_input):
    secret = tmp_path / "secret"
    secret.write_text("the airlock's database")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the control: the caller reaches it
        net = probe(some_input, probe="connect", host="127.0.0.1", port=port)
    assert net.ok and not net.value["connected"], net
    assert secret.read_text()  # the control: the caller reads it
    read = probe(some_input, probe="read", path=str(secret))
    assert read.ok and not read.value["read"], read
    own = probe(some_input, probe="read", path="/tmp/in/0")
    assert own.ok and own.value["bytes"] == len("hello\n")


def test_a_job_is_not_root_and_cannot_write_outside_its_tmp(some_input):
    who = probe(some_input, probe="whoami")
    assert who.ok and 0 not in who.value["resuid"] and who.value["capabilities"] == "0" * 16
    for where in ("/new", "/input/new", "/usr/new"):
        created = probe(some_input, probe="create", path=where)
        assert created.ok and not created.value["created"], (where, created)
    assert probe(some_input, probe="create", path="/tmp/scratch").value["created"]  # control


def test_nothing_a_job_leaves_reaches_the_next_job(some_input):
    left = probe(some_input, probe="linger")
    assert left.ok and left.value["left"], left
    seen = probe(some_input, probe="processes")
    assert seen.ok, seen
    # Only the sandbox's init, the warm process and this job: the lingering one is gone.
    assert seen.value["pids"] == sorted({1, seen.value["parent"], seen.value["me"]}), seen
    assert seen.value["found"] == ["/tmp/in"], seen  # its own input only: no planted file


def test_a_job_cannot_read_the_memory_of_the_process_that_forked_it(some_input):
    looked = probe(some_input, probe="parent_memory")
    assert looked.ok and not looked.value["read"], looked


def test_a_crash_or_a_memory_bomb_is_an_error_and_the_next_job_runs(some_input):
    crash = probe(some_input, probe="crash")
    assert not crash.ok and "crashed" in crash.message
    bomb = probe(some_input, Limits(memory_bytes=768 * 1024**2), probe="allocate", bytes=1024**3)
    assert not bomb.ok and "memory" in bomb.message, bomb
    after = probe(some_input, probe="whoami")
    assert after.ok, after


def test_a_job_past_its_time_is_stopped_with_its_sandbox_and_the_next_starts_anew(some_input):
    assert probe(some_input, probe="whoami").ok
    (sandbox,) = warm._idle
    group = sandbox.proc.pid
    start = time.monotonic()
    slow = probe(some_input, Limits(wall_seconds=2), probe="sleep", seconds=60)
    assert not slow.ok and "longer than 2 s" in slow.message
    assert time.monotonic() - start < 15
    with pytest.raises(ProcessLookupError):  # the whole sandbox is gone, every process
        os.killpg(group, 0)
    after = probe(some_input, probe="whoami")
    assert after.ok and warm._idle and warm._idle[0].proc.pid != group


def test_an_unknown_job_or_a_missing_input_is_refused(some_input, tmp_path):
    assert "unknown sandbox job" in run_warm("shell", some_input).message
    missing = run_warm("probe", tmp_path / "nope", {"probe": "whoami"})
    assert not missing.ok and "could not be given" in missing.message


def test_a_large_input_goes_to_a_cold_sandbox_whole(tmp_path, monkeypatch):
    """A warm job copies its input into its /tmp, so large ones go cold (bound, not copied)."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 4096)
    monkeypatch.setattr(warm, "WARM_INPUT_BYTES", 1024)
    cold = probe(big, probe="read", path="/input/0")  # the cold sandbox's input path
    assert cold.ok and cold.value["bytes"] == 4096, cold
    assert warm._idle == []  # no warm sandbox was used
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 10)
    warmed = probe(small, probe="read", path="/tmp/in/0")  # the control: warm
    assert warmed.ok and warmed.value["bytes"] == 10 and len(warm._idle) == 1
