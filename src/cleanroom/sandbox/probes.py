"""Probes of the sandbox's walls, for ``python -m cleanroom.sandbox check`` and the tests.

Each probe tries something a job must not be able to do (or exhausts a limit) and reports what
happened. They take no input from researcher-made content: only the caller's parameters.
"""

from __future__ import annotations

import ctypes
import os
import socket
import time
from pathlib import Path
from typing import Any


def whoami(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "resuid": list(os.getresuid()),
        "groups": os.getgroups(),
        "capabilities": _status_field("CapEff"),
        "no_new_privs": _status_field("NoNewPrivs"),
    }


def environ(params: dict[str, Any]) -> dict[str, Any]:
    return {"environ": dict(os.environ)}


def connect(params: dict[str, Any]) -> dict[str, Any]:
    """Connect to ``host``:``port``; says whether it worked and the error if not."""
    try:
        with socket.create_connection((params["host"], int(params["port"])), timeout=2):
            return {"connected": True, "error": None}
    except OSError as error:
        return {"connected": False, "error": f"{type(error).__name__}: {error}"}


def read(params: dict[str, Any]) -> dict[str, Any]:
    """Read the file at ``path``; says whether it could."""
    try:
        return {"read": True, "bytes": len(Path(params["path"]).read_bytes()), "error": None}
    except OSError as error:
        return {"read": False, "bytes": 0, "error": f"{type(error).__name__}: {error}"}


def create(params: dict[str, Any]) -> dict[str, Any]:
    """Create the file at ``path``; says whether it could (the binds are read-only)."""
    try:
        Path(params["path"]).write_bytes(b"x")
        return {"created": True, "error": None}
    except OSError as error:
        return {"created": False, "error": f"{type(error).__name__}: {error}"}


def allocate(params: dict[str, Any]) -> dict[str, Any]:
    block = bytearray(int(params["bytes"]))
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    return {"allocated": len(block)}


def sleep(params: dict[str, Any]) -> dict[str, Any]:
    time.sleep(float(params["seconds"]))
    return {"slept": params["seconds"]}


def spin(params: dict[str, Any]) -> dict[str, Any]:
    end = time.monotonic() + float(params["seconds"])
    n = 0
    while time.monotonic() < end:
        n += 1
    return {"spun": n}


def crash(params: dict[str, Any]) -> dict[str, Any]:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return {}


def write(params: dict[str, Any]) -> dict[str, Any]:
    """Print ``bytes`` bytes of answer (to test the output cap)."""
    return {"data": "x" * int(params["bytes"])}


def linger(params: dict[str, Any]) -> dict[str, Any]:
    """Leave a file in /tmp and /dev/shm and a process running, for the next job to find."""
    for folder in ("/tmp", "/dev/shm"):  # noqa: S108 - the sandbox's private ones
        try:
            Path(folder, "planted").write_text("left by an earlier job")
        except OSError:
            pass  # /dev/shm is not the job's to write
    if os.fork() == 0:
        os.setsid()
        time.sleep(600)
        os._exit(0)
    return {"left": True}


def processes(params: dict[str, Any]) -> dict[str, Any]:
    """The processes this job can see, and what it finds in /tmp and /dev/shm."""
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    folders = [Path(d) for d in ("/tmp", "/dev/shm") if Path(d).is_dir()]  # noqa: S108
    found = [str(p) for d in folders for p in d.iterdir()]
    return {"pids": pids, "me": os.getpid(), "parent": os.getppid(), "found": found}


def parent_memory(params: dict[str, Any]) -> dict[str, Any]:
    """Try to read the memory of the process that started this job."""
    try:
        with open(f"/proc/{os.getppid()}/mem", "rb") as f:
            f.read(1)
        return {"read": True, "error": None}
    except OSError as error:
        return {"read": False, "error": f"{type(error).__name__}: {error}"}


PROBES = {
    f.__name__: f
    for f in (
        whoami,
        environ,
        connect,
        read,
        create,
        allocate,
        sleep,
        spin,
        crash,
        write,
        linger,
        processes,
        parent_memory,
    )
}


def probe(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    return PROBES[params["probe"]](params)


def _status_field(name: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""
