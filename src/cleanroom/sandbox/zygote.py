"""The sandbox's side of a warm sandbox (:mod:`cleanroom.sandbox.warm`): a process inside
bubblewrap that has imported the parsers once and forks a fresh child for every job.

It never reads a job's request or input itself: the child does. Per job the airlock sends one
message (the request's JSON) with the descriptors of an answer file, an error file and the
inputs; the child makes itself a session of its own, non-dumpable (no other process of the
sandbox may read its memory or descriptors), takes the job's limits, copies the inputs into
its private ``/tmp/in`` and runs the job like a cold sandbox does. When the child has ended,
every other process of the sandbox is killed (nothing a job started outlives it), ``/tmp``
and ``/dev/shm`` are emptied (nothing a job wrote reaches the next one; the rest of the
sandbox's file system is read-only), and the child's exit status goes back to the airlock.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

PR_SET_DUMPABLE = 4
MAX_MESSAGE = 256 * 1024
SCRATCH = (Path("/tmp"), Path("/dev/shm"))  # noqa: S108 - the sandbox's private ones


def _nondumpable() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def preload() -> None:
    """Import what the jobs use, once, before any input is seen."""
    import cleanroom.airlock.inspect.figures  # noqa: F401
    import cleanroom.airlock.inspect.mediatypes  # noqa: F401
    import cleanroom.airlock.inspect.notebooks  # noqa: F401
    import cleanroom.airlock.inspect.pdf  # noqa: F401
    import cleanroom.airlock.inspect.previews  # noqa: F401
    import cleanroom.airlock.inspect.previews.full  # noqa: F401
    import cleanroom.sandbox.jobs  # noqa: F401


def serve(sock_fd: int) -> None:
    _nondumpable()
    preload()
    sock = socket.socket(fileno=sock_fd)
    sock.sendall(b'{"ready": true}\n')
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 64)
        except OSError:
            return
        if not message:
            return  # the airlock closed its end
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(message, fds)  # never returns
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        _end_job()
        sock.sendall(json.dumps({"status": status}).encode() + b"\n")


def _others() -> list[int]:
    """The sandbox's processes but this one and the sandbox's init (its own /proc)."""
    me = os.getpid()
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    return [p for p in pids if p not in (1, me)]


def _end_job() -> None:
    # Every process of the sandbox this one may signal, until none is left (one that forks
    # while the signals go out is caught by the next round); if some still remain, this
    # sandbox ends and the airlock starts a new one.
    for _ in range(1000):
        if not _others():
            break
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.001)
    else:
        os._exit(3)
    for folder in SCRATCH:
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _child(message: bytes, fds: list[int]) -> None:
    code = 1
    try:
        os.setsid()
        _nondumpable()
        out_fd, err_fd, *inputs = fds
        os.dup2(err_fd, 2)
        sys.stderr = os.fdopen(2, "w", closefd=False)
        request = json.loads(message)
        limits = request["limits"]
        for name, value in (
            ("RLIMIT_AS", limits["memory_bytes"]),
            ("RLIMIT_CPU", limits["cpu_seconds"]),
            ("RLIMIT_FSIZE", limits["file_bytes"]),
            ("RLIMIT_NPROC", limits["processes"]),
        ):
            kind = getattr(resource, name)
            hard = resource.getrlimit(kind)[1]  # the sandbox's own: a job only goes lower
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))
        folder = Path("/tmp/in")  # noqa: S108 - the sandbox's private /tmp
        folder.mkdir()
        paths = []
        for i, fd in enumerate(inputs):
            path = folder / str(i)
            with os.fdopen(fd, "rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
            path.chmod(0o444)
            paths.append(path)
        from cleanroom.sandbox.runner import answer

        text = json.dumps(answer(request["job"], request["params"], paths))
        with os.fdopen(out_fd, "w", encoding="utf-8") as out:
            out.write(text)
        code = 0
    except BaseException:  # noqa: BLE001 - the exit status and stderr say it failed
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)
