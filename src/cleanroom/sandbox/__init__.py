"""The sandbox: researcher-made content is parsed only here.

::

    result = run("preview", blob_path, {"media_type": "text/csv", "name": "t.csv"})
    if result.ok:
        html = result.value
    else:
        print(result.message)  # e.g. "the job took longer than 60 s and was stopped"

A job runs in a separate process under bubblewrap (see :mod:`cleanroom.sandbox.command` for
what it sees): no network, no access to the airlock's database, blobs or secrets, never as
root, under limits on memory, CPU, file size and processes, stopped after a wall-clock time.
Jobs are a fixed registry (:data:`cleanroom.sandbox.jobs.JOBS`); the caller names one and
gives the input file and a small JSON of parameters. A crash, a kill, a timeout, an answer
that is too large or not JSON is an error result, never an exception and never a pass.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .command import BWRAP, PRLIMIT, SETPRIV, bwrap_command
from .jobs import JOBS
from .limits import DEFAULT_LIMITS, Limits
from .result import SandboxResult

__all__ = ["DEFAULT_LIMITS", "JOBS", "Limits", "SandboxResult", "run", "run_warm"]

# The unprivileged user the job runs as (nobody), unless the deployment says otherwise.
DEFAULT_UID = 65534
MAX_PARAMS_BYTES = 64 * 1024


def sandbox_ids() -> tuple[int, int]:
    """The uid and gid jobs run as: ``CLEANROOM_SANDBOX_UID``/``_GID``, default nobody."""
    uid = int(os.environ.get("CLEANROOM_SANDBOX_UID", DEFAULT_UID))
    gid = int(os.environ.get("CLEANROOM_SANDBOX_GID", uid))
    if uid == 0 or gid == 0:
        raise ValueError("CLEANROOM_SANDBOX_UID/GID must not be 0: the sandbox never runs as root")
    return uid, gid


def run(
    job: str,
    path: Path | Sequence[Path],
    params: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> SandboxResult:
    """Run the registered ``job`` on the file at ``path`` (or files, in order) in the sandbox."""
    refused, params_json, paths, (uid, gid) = _check_job(job, path, params)
    if refused is not None:
        return refused
    root = os.geteuid() == 0
    fds: list[int] = []
    try:
        for p in paths:
            fds.append(_open_input(p, limits, root))
        return _run(job, params_json, fds, uid, gid, limits, root)
    except (OSError, ValueError) as error:
        return SandboxResult.error(f"the input could not be given to the sandbox: {error}")
    finally:
        for fd in fds:
            os.close(fd)


def _check_job(
    job: str, path: Path | Sequence[Path], params: dict[str, Any] | None
) -> tuple[SandboxResult | None, str, list[Path], tuple[int, int]]:
    """Before any job, cold or warm: (a refusal or None, the parameters as JSON, the input
    paths, the sandbox's uid and gid)."""

    def refuse(message: str):
        return SandboxResult.error(message), "", [], (0, 0)

    if job not in JOBS:
        return refuse(f"unknown sandbox job {job!r}; the jobs are: {', '.join(sorted(JOBS))}")
    for tool in (PRLIMIT, BWRAP, SETPRIV):
        if not os.access(tool, os.X_OK):
            return refuse(
                f"{tool} is missing, so nothing can be parsed: install the bubblewrap and "
                "util-linux packages (scripts/install-system.sh)"
            )
    params_json = json.dumps(params or {})
    if len(params_json) > MAX_PARAMS_BYTES:
        return refuse(f"the job's parameters exceed {MAX_PARAMS_BYTES} bytes")
    try:
        ids = sandbox_ids()
    except ValueError as error:
        return refuse(str(error))
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    return None, params_json, paths, ids


def _open_input(path: Path, limits: Limits, root: bool) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ValueError(f"{path.name} is not a regular file")
    if root and st.st_size > limits.input_bytes:
        os.close(fd)
        raise ValueError(
            f"{path.name} is {st.st_size:,} bytes; the sandbox takes at most "
            f"{limits.input_bytes:,} bytes"
        )
    return fd


def _run(
    job: str, params_json: str, fds: list[int], uid: int, gid: int, limits: Limits, root: bool
) -> SandboxResult:
    argv = bwrap_command(
        job, params_json, input_fds=fds, uid=uid, gid=gid, limits=limits, root=root
    )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # one process group to kill on timeout
            close_fds=True,
            pass_fds=fds,
        )
        try:
            rc = proc.wait(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return SandboxResult.error(
                f"the job took longer than {limits.wall_seconds:g} s and was stopped"
            )
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        size = out.seek(0, os.SEEK_END)
        if size > limits.output_bytes:
            return SandboxResult.error(
                f"the job's answer is larger than {limits.output_bytes:,} bytes; nothing was kept"
            )
        out.seek(0)
        raw = out.read()
        err.seek(0)
        stderr = err.read(4096).decode("utf-8", "replace").strip()
    return _answer(rc, raw, stderr, limits)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _answer(rc: int, raw: bytes, stderr: str, limits: Limits) -> SandboxResult:
    if rc != 0 or not raw:
        return SandboxResult.error(_why(rc, stderr, limits))
    try:
        answer = json.loads(raw)
    except ValueError:
        return SandboxResult.error("the job's answer is not JSON")
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        return SandboxResult.error("the job's answer is not a sandbox answer")
    if answer["ok"]:
        return SandboxResult(True, answer.get("value"))
    return SandboxResult.error(str(answer.get("message", "the job failed")))


def _why(rc: int, stderr: str, limits: Limits) -> str:
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    reasons = {
        signal.SIGXCPU: f"it used more than {limits.cpu_seconds} s of CPU",
        signal.SIGXFSZ: f"it wrote a file larger than {limits.file_bytes:,} bytes",
        signal.SIGKILL: "it was killed (out of memory or CPU time)",
        signal.SIGSEGV: "it crashed (segmentation fault)",
        signal.SIGABRT: "it aborted",
        signal.SIGBUS: "it crashed (bus error)",
    }
    if sig in reasons:
        return f"the job stopped: {reasons[signal.Signals(sig)]}"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return f"the job ran out of memory (limit {limits.memory_bytes:,} bytes)"
    last = stderr.splitlines()[-1][:300] if stderr else "no message"
    return f"the job failed (exit status {rc}): {last}"


from .warm import run_warm  # noqa: E402 - uses the helpers above
