"""How the policy server (Open Policy Agent) is run.

The hub starts and supervises OPA as a JupyterHub *managed service*::

    from cleanroom.policy.opa import opa_service
    c.JupyterHub.services.append(opa_service(None, settings.policies_dir, "127.0.0.1:8181"))

OPA then runs ``opa run --server --watch`` on the policies directory (the ``policies_dir``
setting): editing a policy file there (after ``scripts/check-policies.sh``) takes effect on the
next decision, with no restart. The service entry has no ``url``, so JupyterHub's proxy never
routes to it; OPA listens on the loopback interface only, which researchers' containers cannot
reach, and its own authorization policy (``policies/system/authz.rego``) refuses every write
over HTTP.

:func:`find_opa_binary` finds the binary: ``$CLEANROOM_OPA``, else ``opa`` on PATH (in a
checkout, ``scripts/up.sh`` and the tests point ``$CLEANROOM_OPA`` at the pinned binary that
``scripts/install-opa.sh`` builds into ``.cache/bin/opa``). :class:`OpaProcess` runs OPA as a
child process (tests, the benchmark, ``cleanroom policy serve``).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from fnmatch import fnmatch
from pathlib import Path

from cleanroom.errors import CleanRoomError

OPA_VERSION = "1.22.3"
DEFAULT_ADDR = "127.0.0.1:8181"

# Files in the policies directory that OPA does not load (same glob semantics as OPA's
# --ignore: matched against every file and directory name). Tests, the input schema and the
# example inputs are for `opa test` and the Python tests; the server loads only the policies.
IGNORED = ("*_test.rego", "*.schema.json", "examples", ".*")


class OpaNotFound(CleanRoomError):
    """The opa binary is not installed."""


def find_opa_binary() -> str:
    """The opa binary: ``$CLEANROOM_OPA``, else ``opa`` on PATH.

    Raises OpaNotFound, saying to run scripts/install-opa.sh, when there is none.
    """
    configured = os.environ.get("CLEANROOM_OPA")
    if configured:
        if not os.access(configured, os.X_OK):
            raise OpaNotFound(
                f"CLEANROOM_OPA={configured} is not an executable file: point it at an opa "
                "binary, or unset it and run scripts/install-opa.sh"
            )
        return configured
    on_path = shutil.which("opa")
    if on_path:
        return on_path
    raise OpaNotFound(
        "no opa binary ($CLEANROOM_OPA is not set and there is no opa on PATH): in a checkout, "
        f"run scripts/install-opa.sh to build OPA v{OPA_VERSION} into .cache/bin/opa and set "
        "CLEANROOM_OPA to that file (scripts/up.sh and the tests do); elsewhere, install opa "
        "on PATH or set CLEANROOM_OPA"
    )


def check_loopback(addr: str) -> str:
    """Return ``addr`` if it is a loopback ``host:port`` (or a unix socket); raise ValueError.

    Researchers' containers reach every address the host listens on except loopback, so OPA
    must never listen anywhere else.
    """
    if addr.startswith("unix://"):
        return addr
    host, sep, port = addr.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"OPA address {addr!r} is not host:port (e.g. {DEFAULT_ADDR})")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"OPA must listen on a loopback address such as {DEFAULT_ADDR}, not {addr!r}: "
            "researchers' containers can reach every other address of the host"
        )
    return addr


def opa_command(
    opa_binary: str | os.PathLike[str],
    policies_dir: str | os.PathLike[str],
    addr: str = DEFAULT_ADDR,
    *,
    log_level: str = "info",
) -> list[str]:
    """The command line that runs OPA as the policy server.

    - ``--watch``: a changed policy file is loaded on the next decision (no restart); a file
      that does not compile is refused and the previous policies stay in force.
    - ``--authorization=basic``: ``policies/system/authz.rego`` allows only the decision
      queries, reading the loaded policies and /health; nothing can be written over HTTP.
    - ``--skip-version-check``: no call to the outside (there is no egress anyway).
    - ``--log-level-request=debug``: request logs only at debug level; at the default
      ``info`` the log shows start, reloads ("Processed file watch event", with any compile
      error) and shutdown, not every decision (those go to the audit log).
    """
    command = [
        os.fspath(opa_binary),
        "run",
        "--server",
        f"--addr={check_loopback(addr)}",
        "--watch",
        "--authorization=basic",
        "--skip-version-check",
        "--log-format=json",
        f"--log-level={log_level}",
        "--log-level-request=debug",
        "--shutdown-grace-period=2",
    ]
    for pattern in IGNORED:
        command.append(f"--ignore={pattern}")
    command.append(os.fspath(Path(policies_dir).resolve()))
    return command


def opa_service(
    opa_binary: str | os.PathLike[str] | None,
    policies_dir: str | os.PathLike[str],
    addr: str = DEFAULT_ADDR,
    *,
    name: str = "opa",
    log_level: str = "info",
    environment: Mapping[str, str] | None = None,
) -> dict:
    """A JupyterHub managed-service entry for ``c.JupyterHub.services`` that runs OPA.

    JupyterHub starts the command with the hub. OPA runs under :mod:`cleanroom.policy.supervise`,
    which restarts it within a second if it exits (JupyterHub itself would notice only at its
    next 30 s poll; it still restarts the supervisor if that dies). The entry has no
    ``url`` on purpose: a service with a url gets a route on the public proxy, and OPA must
    not be reachable from there. The hub and the airlock reach it at ``http://<addr>``.
    ``opa_binary`` None means :func:`find_opa_binary`; ``policies_dir`` is the setting's.
    """
    binary = opa_binary if opa_binary is not None else find_opa_binary()
    service: dict = {
        "name": name,
        "command": [
            sys.executable,
            "-m",
            "cleanroom.policy.supervise",
            "--",
            *opa_command(binary, policies_dir, addr, log_level=log_level),
        ],
        "cwd": os.fspath(Path(policies_dir).resolve()),
    }
    if environment:
        service["environment"] = dict(environment)
    return service


def policy_files(policies_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``.rego`` files OPA loads from ``policies_dir`` (the IGNORED ones left out)."""
    root = Path(policies_dir)
    found = []
    for path in sorted(root.rglob("*.rego")):
        parts = path.relative_to(root).parts
        if any(fnmatch(part, pattern) for part in parts for pattern in IGNORED):
            continue
        found.append(path)
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, timeout: float = 15.0, process: subprocess.Popen | None = None):
    """Wait until OPA at ``url`` answers /health; raise TimeoutError (or RuntimeError)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"OPA exited with status {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    raise TimeoutError(f"OPA at {url} did not become healthy within {timeout} s: {last_error}")


class OpaProcess:
    """OPA as a child process, for tests, the benchmark and ``cleanroom policy serve``.

    >>> with OpaProcess(policies_dir) as opa:
    ...     PolicyClient(opa.url).access(...)
    """

    def __init__(
        self,
        policies_dir: str | os.PathLike[str],
        addr: str | None = None,
        *,
        opa_binary: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.policies_dir = Path(policies_dir)
        self.addr = addr or f"127.0.0.1:{free_port()}"
        self.opa_binary = opa_binary or find_opa_binary()
        self.log_path = Path(log_path) if log_path else None
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def command(self) -> list[str]:
        command = opa_command(self.opa_binary, self.policies_dir, self.addr, log_level="info")
        return command[:-1] + self.extra_args + command[-1:]

    def start(self, timeout: float = 15.0) -> OpaProcess:
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if not isinstance(log, int):
                log.close()
        try:
            wait_until_healthy(self.url, timeout, self.process)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> OpaProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
