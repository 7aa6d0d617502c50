"""The supervisor that keeps OPA up: real child processes, no fakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cleanroom.policy.supervise import Supervisor, main


def wait_for(condition, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_child_that_exits_is_started_again(tmp_path: Path):
    counter = tmp_path / "starts"
    script = f"open({str(counter)!r}, 'a').write('x')"
    supervisor = Supervisor([sys.executable, "-c", script], delay=0.01, max_delay=0.05)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    wait_for(lambda: counter.exists() and len(counter.read_text()) >= 3, "three starts")
    supervisor.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert supervisor.starts >= 3


def test_stop_passes_the_signal_to_the_child_and_stops_restarting(tmp_path: Path):
    marker = tmp_path / "got-term"
    script = (
        "import signal, sys, time\n"
        f"def on_term(*_): open({str(marker)!r}, 'w').write('term'); sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "time.sleep(60)\n"
    )
    supervisor = Supervisor([sys.executable, "-c", script], delay=0.01)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()
    wait_for(lambda: supervisor.process is not None and supervisor.process.poll() is None, "child")
    time.sleep(0.3)  # let the child install its handler
    supervisor.stop(signal.SIGTERM)
    thread.join(10)
    assert result == [3]
    assert marker.read_text() == "term"
    assert supervisor.starts == 1


def test_the_child_dies_with_a_killed_supervisor(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "cleanroom.policy.supervise", "--", sys.executable, "-c", script]
    )
    try:
        child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), "child pid"))
        supervisor.kill()
        supervisor.wait(10)
        wait_for(lambda: not _alive(child), "the orphaned child to die")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_sigterm_to_the_supervisor_stops_child_and_supervisor(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "cleanroom.policy.supervise", "--", sys.executable, "-c", script]
    )
    child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), "child pid"))
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(10) == 128 + signal.SIGTERM
    wait_for(lambda: not _alive(child), "the child to stop")


def test_no_command_is_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["--"])
    assert "command to supervise" in capsys.readouterr().err


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.exists(f"/proc/{pid}")
