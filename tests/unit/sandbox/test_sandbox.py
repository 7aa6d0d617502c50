"""The sandbox's walls, with the real bubblewrap (no fakes: it is the wall).

Each claim is paired with a control that shows the same action works outside the sandbox,
so that a test cannot pass because the probe itself is broken.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from cleanroom.sandbox import JOBS, Limits, SandboxResult, run
from cleanroom.sandbox.command import bwrap_command


@pytest.fixture
def some_input(tmp_path) -> Path:
    p = tmp_path / "input.txt"
    p.write_text("hello\n")
    return p


def probe(input_path: Path, limits: Limits | None = None, **params) -> SandboxResult:
    return run("probe", input_path, params, **({"limits": limits} if limits else {}))


def test_a_job_cannot_connect_to_a_listener_the_caller_reaches(some_input):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        accepted = []
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
        # Control: the test process reaches it.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        result = probe(some_input, probe="connect", host="127.0.0.1", port=port)
    assert result.ok, result.message
    assert result.value["connected"] is False
    assert "refused" in result.value["error"] or "unreachable" in result.value["error"]


def test_a_job_cannot_read_a_file_the_caller_can_read(tmp_path, some_input):
    secret = tmp_path / "airlock.sqlite"  # stand-in for the airlock's database
    secret.write_bytes(b"SQLite format 3\x00 secret rows")
    assert secret.read_bytes()  # control: the caller reads it
    result = probe(some_input, probe="read", path=str(secret))
    assert result.ok, result.message
    assert result.value["read"] is False


def test_a_job_reads_its_own_input_only_at_input_0(some_input):
    result = probe(some_input, probe="read", path="/input/0")
    assert result.ok and result.value == {"read": True, "bytes": 6, "error": None}


@pytest.mark.parametrize("where", ["/input/0", "source", "/usr/new", "/etc/new"])
def test_a_job_cannot_write_its_input_the_code_or_the_system(some_input, where):
    from cleanroom.sandbox.command import source_dir

    target = str(source_dir() / "cleanroom" / "new.py") if where == "source" else where
    result = probe(some_input, probe="create", path=target)
    assert result.ok, result.message
    assert result.value["created"] is False
    assert probe(some_input, probe="create", path="/tmp/scratch").value["created"]  # control
    assert some_input.read_text() == "hello\n"


def test_a_job_does_not_run_as_root(some_input):
    result = probe(some_input, probe="whoami")
    assert result.ok, result.message
    assert result.value["uid"] == 65534 and result.value["gid"] == 65534
    assert 0 not in result.value["resuid"]  # real, effective and saved: no way back to root
    assert result.value["groups"] == []
    assert int(result.value["capabilities"], 16) == 0
    assert result.value["no_new_privs"] == "1"


def test_the_sandbox_user_is_a_setting(some_input, monkeypatch):
    monkeypatch.setenv("CLEANROOM_SANDBOX_UID", "65533")
    monkeypatch.setenv("CLEANROOM_SANDBOX_GID", "65533")
    result = probe(some_input, probe="whoami")
    assert result.ok and result.value["uid"] == 65533


def test_root_as_the_sandbox_user_is_refused(some_input, monkeypatch):
    monkeypatch.setenv("CLEANROOM_SANDBOX_UID", "0")
    result = probe(some_input, probe="whoami")
    assert not result.ok and "never runs as root" in result.message


def test_a_job_past_the_memory_limit_is_an_error(some_input):
    limits = Limits(memory_bytes=768 * 1024**2)
    small = probe(some_input, limits, probe="allocate", bytes=16 * 1024**2)
    assert small.ok, small.message  # control: an allocation under the limit works
    result = probe(some_input, limits, probe="allocate", bytes=1024**3)
    assert not result.ok
    assert "memory" in result.message


def test_a_job_past_the_time_limit_is_stopped_with_every_process(some_input):
    marker = f"sleep-marker-{os.getpid()}-{time.monotonic_ns()}"
    start = time.monotonic()
    answers: list[SandboxResult] = []
    job = threading.Thread(
        target=lambda: answers.append(
            probe(some_input, Limits(wall_seconds=2), probe="sleep", seconds=30, marker=marker)
        )
    )
    job.start()
    seen = False  # control: while it runs, the job's processes are visible from here
    while job.is_alive() and not seen:
        seen = any(marker in p for p in _command_lines())
        time.sleep(0.05)
    job.join()
    assert seen
    (result,) = answers
    assert not result.ok
    assert "longer than 2 s" in result.message
    assert time.monotonic() - start < 10
    time.sleep(0.2)
    assert not [p for p in _command_lines() if marker in p]  # nothing left running


def _command_lines() -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().decode("utf-8", "replace"))
            except OSError:
                pass
    return lines


def test_a_job_past_the_cpu_limit_is_an_error(some_input):
    result = probe(some_input, Limits(cpu_seconds=1), probe="spin", seconds=20)
    assert not result.ok and "CPU" in result.message


def test_a_job_that_crashes_is_an_error(some_input):
    result = probe(some_input, probe="crash")
    assert not result.ok
    assert "crashed" in result.message


def test_an_answer_over_the_output_cap_is_an_error(some_input):
    limits = Limits(output_bytes=10_000)
    assert probe(some_input, limits, probe="write", bytes=1000).ok  # control
    result = probe(some_input, limits, probe="write", bytes=50_000)
    assert not result.ok and "larger than 10,000 bytes" in result.message


def test_an_unknown_job_is_refused(some_input):
    result = run("shell", some_input, {"cmd": "id"})
    assert not result.ok
    assert "unknown sandbox job 'shell'" in result.message
    assert "preview" in result.message  # says which jobs exist


def test_an_input_that_is_not_a_regular_file_is_refused(tmp_path):
    link = tmp_path / "link"
    link.symlink_to("/etc/passwd")
    result = run("probe", link, {"probe": "whoami"})
    assert not result.ok and "could not be given to the sandbox" in result.message


def test_the_state_directory_and_secrets_are_not_bound(tmp_path):
    argv = bwrap_command(
        "probe", "{}", input_fds=[5], uid=65534, gid=65534, limits=Limits(), root=True
    )
    binds = {argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")}
    assert "--bind" not in argv  # nothing writable from the host
    for path in binds:
        assert not path.startswith(("/var", "/home", "/etc/cleanroom", "/run")), path
    assert "--unshare-net" in argv and "--clearenv" in argv and "--die-with-parent" in argv


def test_the_registry_is_fixed():
    assert set(JOBS) == {
        "media-type",
        "preview",
        "diff",
        "pdf-inspect",
        "pdf-pages",
        "full-page",
        "probe",
        "table-recompute",
        "figure-inspect",
        "notebook-inspect",
        "model-inspect",
        "archive-inspect",
        "copied-records",
    }


def test_the_environment_is_cleared(some_input, monkeypatch):
    monkeypatch.setenv("CLEANROOM_HUB_API_TOKEN", "secret-token")
    assert os.environ["CLEANROOM_HUB_API_TOKEN"] == "secret-token"  # control
    result = probe(some_input, probe="environ")
    assert result.ok, result.message
    assert "CLEANROOM_HUB_API_TOKEN" not in result.value["environ"]
    assert "secret-token" not in repr(result.value)


def test_the_host_check_command_passes_here(capsys):
    from cleanroom.sandbox.__main__ import main

    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok  ") == 7 and "FAIL" not in out


def test_a_diff_gets_both_versions_and_nothing_else(tmp_path):
    from cleanroom.airlock.inspect import sandboxed

    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("plant,yield\nA,1\n")
    new.write_text("plant,yield\nA,2\n")
    fragment = sandboxed.diff(old, new, "text/csv", "t.csv")
    assert "A,1" in fragment and "A,2" in fragment and "No comparison" not in fragment


def test_only_the_sandbox_jobs_call_the_parsers():
    """Outside airlock/inspect (where they live), only the sandbox's jobs import the parsing
    modules: the airlock's server code goes through ``airlock.inspect.sandboxed``."""
    from ..test_imports import _imports, _modules, _within

    parsers = [
        "cleanroom.airlock.inspect.previews",
        "cleanroom.airlock.inspect.mediatypes",
        "cleanroom.airlock.inspect.pdf",
        "cleanroom.airlock.inspect.figures",
        "cleanroom.airlock.inspect.notebooks",
        "cleanroom.airlock.inspect.models",
        "cleanroom.airlock.inspect.archives",
        "cleanroom.tables.copied",  # reads researcher-made CSV, Parquet and XLSX
    ]
    offenders = {}
    for name, path in _modules().items():
        # The jobs and the warm sandbox's preloading both run only inside the sandbox.
        inside = ("cleanroom.sandbox.jobs", "cleanroom.sandbox.zygote")
        if _within(name, "cleanroom.airlock.inspect") or name in inside:
            continue
        hits = [m for m in _imports(path, name) if any(_within(m, p) for p in parsers)]
        if hits:
            offenders[name] = hits
    assert offenders == {}
