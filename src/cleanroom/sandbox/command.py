"""The command line that starts a job inside bubblewrap, and what it may see.

The sandbox sees: /usr (and the merged-/usr links), the Python installation and virtual
environment, the ``cleanroom`` package's source directory, /etc/fonts and /etc/ld.so.cache
(poppler's fonts), a private /proc, /dev and size-capped /tmp, and its one input file at
``/input/0``. Nothing else: no state directory, no database, no secret, no home. No network
(a new network namespace has only a loopback with nothing on it), no other process (a new PID
namespace), a cleared environment, a new session (no terminal to inject into).

It never runs as root:

- caller not root (the airlock as its own user): bwrap makes a user namespace in which the
  job runs as the sandbox uid/gid, with no capability; the input is bound read-only.
- caller root: bwrap (privileged, so it can bind what root can read, but with no user
  namespace, which would map the job back to root outside) keeps only CAP_SETUID/CAP_SETGID,
  and ``setpriv`` drops to the sandbox uid/gid on the host, clears the groups and every
  capability and sets no-new-privs before Python starts. The input (often mode 0600, owned by
  root) is copied into the sandbox's private memory, read-only to the job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cleanroom

from .limits import Limits

BWRAP = "/usr/bin/bwrap"
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"
INPUT_DIR = "/input"

# The job's process starts here: ``sys.path`` gets the package's own source directory first
# (-I ignores PYTHONPATH and the user's site directory), then the runner takes over.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from cleanroom.sandbox.runner import main; main()"
)
# The job's private, size-capped tmpfs (not the host's /tmp).
SANDBOX_TMP = "/tmp"  # noqa: S108

_SYSTEM_LINKS = {"/bin": "usr/bin", "/lib": "usr/lib", "/lib64": "usr/lib64", "/sbin": "usr/sbin"}
_SYSTEM_FILES = ("/etc/fonts", "/etc/ld.so.cache")
_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": SANDBOX_TMP,
    "XDG_CACHE_HOME": SANDBOX_TMP,
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def source_dir() -> Path:
    """The directory holding the ``cleanroom`` package that is running now."""
    return Path(cleanroom.__file__).resolve().parent.parent


def read_only_dirs() -> list[Path]:
    """What the job needs to run Python and the package, outside /usr, without duplicates."""
    dirs: list[Path] = []
    for p in (Path(sys.base_prefix), Path(sys.prefix), source_dir()):
        p = p.resolve()
        if p != Path("/usr") and not p.is_relative_to("/usr") and p not in dirs:
            dirs.append(p)
    return dirs


def python_executable() -> str:
    """The interpreter of this virtual environment (its ``pyvenv.cfg`` makes the venv's
    packages importable), at a path the sandbox binds."""
    return str(Path(sys.prefix).resolve() / "bin" / "python3")


def bwrap_command(
    job: str,
    params_json: str,
    *,
    input_fds: list[int],
    uid: int,
    gid: int,
    limits: Limits,
    root: bool,
    remount_read_only: bool = False,
) -> list[str]:
    """The argv: ``prlimit`` (limits every process of the sandbox inherits) then bwrap.

    The caller passes the inputs as the open descriptors ``input_fds`` (``pass_fds``), in order.
    """
    args = [
        PRLIMIT,
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
    ]
    args += [f"--fsize={limits.file_bytes}", "--core=0", "--"]
    args += [BWRAP, "--die-with-parent", "--new-session", "--clearenv"]
    if root:
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all", "--uid", str(uid), "--gid", str(gid), "--cap-drop", "ALL"]
    for name, value in _ENV.items():
        args += ["--setenv", name, value]
    args += ["--setenv", "CLEANROOM_SANDBOX_PROCESSES", str(limits.processes)]
    args += ["--ro-bind", "/usr", "/usr"]
    for link, target in _SYSTEM_LINKS.items():
        if os.path.islink(link):
            args += ["--symlink", target, link]
    for system_file in _SYSTEM_FILES:
        if os.path.exists(system_file):
            args += ["--ro-bind", system_file, system_file]
    for directory in read_only_dirs():
        # Parents made world-traversable: the job's user must reach /root/.pyenv/... even
        # where the real /root is 0700 (the real one is never bound).
        for parent in reversed(directory.parents):
            if parent != Path("/"):
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(directory), str(directory)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", SANDBOX_TMP]
    args += ["--chdir", SANDBOX_TMP]
    args += ["--perms", "0755", "--dir", INPUT_DIR]
    for i, fd in enumerate(input_fds):
        if root:
            args += ["--perms", "0444", "--file", str(fd), f"{INPUT_DIR}/{i}"]
        else:
            args += ["--ro-bind-fd", str(fd), f"{INPUT_DIR}/{i}"]
    if remount_read_only:
        args += ["--remount-ro", "/"]  # the sandbox's own root: only /tmp and /dev writable
    if root:
        args += [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        args += ["--inh-caps=-all", "--no-new-privs", "--"]
    args += [python_executable(), "-I", "-c", _BOOT, str(source_dir()), job, params_json]
    return args
