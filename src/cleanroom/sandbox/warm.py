"""Warm sandboxes: the same walls as :func:`cleanroom.sandbox.run`, without a new Python and
fresh imports for every job.

::

    result = run_warm("preview", blob_path, {"media_type": "text/csv", "name": "t.csv"})

A warm sandbox is one bubblewrap sandbox, started like a cold one (same binds, namespaces,
user, ``prlimit`` ceilings) but with its root remounted read-only, whose process has imported
the parsers and forks a fresh child per job (:mod:`cleanroom.sandbox.zygote`). Each job gets
its own limits, its own copy of its inputs and a clean ``/tmp``; nothing it started outlives
it. When a job runs past its time, or the sandbox stops answering, the whole sandbox is
killed and a new one is started for the next job. A sandbox is replaced after
:data:`JOBS_PER_SANDBOX` jobs, and at most :data:`POOL_SIZE` wait idle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .command import bwrap_command
from .limits import DEFAULT_LIMITS, Limits
from .result import SandboxResult

JOBS_PER_SANDBOX = 200
POOL_SIZE = 3
START_SECONDS = 60.0
# A warm job copies its inputs into its /tmp; inputs larger than this together go to a cold
# sandbox instead, which binds them read-only without a copy (the airlock is not root).
WARM_INPUT_BYTES = 64 * 1024**2


class WarmSandbox:
    def __init__(self, uid: int, gid: int, root: bool):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        argv = bwrap_command(
            "zygote",
            json.dumps({"socket": theirs.fileno()}),
            input_fds=[],
            uid=uid,
            gid=gid,
            limits=DEFAULT_LIMITS,
            root=root,
            remount_read_only=True,
        )
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            start_new_session=True,
            close_fds=True,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self.replies = self.sock.makefile("rb")
        self.jobs = 0
        self.ready = False

    def _reply(self, timeout: float) -> dict | None:
        """The sandbox's next line, as JSON; None when it ended."""
        self.sock.settimeout(timeout)
        line = self.replies.readline(4096)
        return json.loads(line) if line.endswith(b"\n") else None

    def run(
        self, job: str, fds: list[int], params_json: str, limits: Limits
    ) -> tuple[SandboxResult | None, int | None, bytes, str]:
        """Send one job; (an error result, or None and the child's exit code, its answer,
        its stderr). After an error result this sandbox is dead."""
        self.jobs += 1
        request = {"job": job, "params": json.loads(params_json), "limits": asdict(limits)}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                if not self.ready:  # its imports done, before the job's clock starts
                    self.ready = bool(self._reply(START_SECONDS))
                    if not self.ready:
                        raise OSError(f"it did not start: {self._why_dead()}")
                socket.send_fds(
                    self.sock, [json.dumps(request).encode()], [out.fileno(), err.fileno(), *fds]
                )
                reply = self._reply(limits.wall_seconds)
            except TimeoutError:
                self.kill()
                return (
                    SandboxResult.error(
                        f"the job took longer than {limits.wall_seconds:g} s and was stopped"
                    ),
                    None,
                    b"",
                    "",
                )
            except OSError as error:
                self.kill()
                return (
                    SandboxResult.error(f"the sandbox stopped answering ({error})"),
                    None,
                    b"",
                    "",
                )
            if not reply:
                self.kill()
                return SandboxResult.error(f"the sandbox ended: {self._why_dead()}"), None, b"", ""
            status = reply["status"]
            size = out.seek(0, os.SEEK_END)
            if size > limits.output_bytes:
                return (
                    SandboxResult.error(
                        f"the job's answer is larger than {limits.output_bytes:,} bytes; "
                        "nothing was kept"
                    ),
                    None,
                    b"",
                    "",
                )
            out.seek(0)
            err.seek(0)
            stderr = err.read(64 * 1024).decode("utf-8", "replace").strip()
            return None, os.waitstatus_to_exitcode(status), out.read(), stderr

    def _why_dead(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read(4096).decode("utf-8", "replace").strip()
        return text.splitlines()[-1][:300] if text else "no message"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.replies.close()
        self.sock.close()
        self.stderr.close()


_idle: list[WarmSandbox] = []
_lock = threading.Lock()


def _take(uid: int, gid: int, root: bool) -> WarmSandbox:
    with _lock:
        while _idle:
            sandbox = _idle.pop()
            if sandbox.alive():
                return sandbox
            sandbox.kill()
    return WarmSandbox(uid, gid, root)


def _give_back(sandbox: WarmSandbox) -> None:
    if not sandbox.alive() or sandbox.jobs >= JOBS_PER_SANDBOX:
        sandbox.kill()
        return
    with _lock:
        if len(_idle) < POOL_SIZE:
            _idle.append(sandbox)
            return
    sandbox.kill()


def run_warm(
    job: str,
    path: Path | Sequence[Path],
    params: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SandboxResult:
    """:func:`cleanroom.sandbox.run`, in a warm sandbox (in a cold one for large inputs)."""
    from . import _answer, _check_job, _open_input, run

    refused, params_json, paths, (uid, gid) = _check_job(job, path, params)
    if refused is not None:
        return refused
    try:
        if sum(os.stat(p).st_size for p in paths) > WARM_INPUT_BYTES:
            return run(job, paths, params, limits)
    except OSError as error:
        return SandboxResult.error(f"the input could not be given to the sandbox: {error}")
    fds: list[int] = []
    try:
        for p in paths:
            # Every input is copied into the job's memory, so the size cap always applies.
            fds.append(_open_input(p, limits, True))
        sandbox = _take(uid, gid, os.geteuid() == 0)
        try:
            failed, rc, raw, stderr = sandbox.run(job, fds, params_json, limits)
        finally:
            _give_back(sandbox)  # a dead one is cleared away instead
        if failed is not None:
            return failed
        return _answer(rc or 0, raw, stderr, limits)
    except (OSError, ValueError) as error:
        return SandboxResult.error(f"the input could not be given to the sandbox: {error}")
    finally:
        for fd in fds:
            os.close(fd)


def close_all() -> None:
    """Stop every idle warm sandbox (at exit, and in tests)."""
    with _lock:
        idle, _idle[:] = list(_idle), []
    for sandbox in idle:
        sandbox.kill()
