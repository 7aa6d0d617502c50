"""Keep one child process running: restart it within a second when it exits.

JupyterHub restarts a managed service that exits, but only when it next polls it (every 30 s).
OPA is on every spawn's path and every release decision, so the hub runs it under this
supervisor instead::

    python -m cleanroom.policy.supervise -- opa run --server ...

- The child is restarted after ``delay`` seconds, doubling up to ``max_delay`` while it keeps
  failing fast (a child that ran for ``steady`` seconds starts again from ``delay``).
- SIGTERM, SIGINT and SIGHUP are passed to the child; then the supervisor waits for it and
  exits with its status (128 + the signal's number when a signal ended it).
- The child gets SIGKILL when the supervisor dies, even by SIGKILL (Linux PR_SET_PDEATHSIG), so
  no orphan keeps OPA's port.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("cleanroom.policy.supervise")

PR_SET_PDEATHSIG = 1
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Supervisor:
    """Runs ``command`` until told to stop, restarting it when it exits."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        delay: float = 0.5,
        max_delay: float = 10.0,
        steady: float = 30.0,
    ):
        if not command:
            raise ValueError("no command to supervise")
        self.command = list(command)
        self.delay = delay
        self.max_delay = max_delay
        self.steady = steady
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._stopping = threading.Event()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop restarting and pass ``signum`` to the child."""
        self._stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signum)

    def run(self) -> int:
        """Run until :meth:`stop`; return the child's last exit status."""
        delay = self.delay
        status = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(self.command, preexec_fn=_die_with_parent)  # noqa: PLW1509
            self.starts += 1
            if self._stopping.is_set():  # a stop raced with the start
                self.process.terminate()
            status = self.process.wait()
            if self._stopping.is_set():
                break
            ran = time.monotonic() - started
            delay = self.delay if ran >= self.steady else min(delay * 2, self.max_delay)
            log.error(
                "%s exited with status %s after %.1f s; restarting in %.1f s",
                self.command[0],
                status,
                ran,
                delay,
            )
            self._stopping.wait(delay)
        return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cleanroom.policy.supervise",
        description="Run a command and restart it within a second whenever it exits.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to supervise after --")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    supervisor = Supervisor(command)
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, lambda signum, _frame: supervisor.stop(signum))
    status = supervisor.run()
    return 128 - status if status < 0 else status  # killed by a signal: the shell's convention


if __name__ == "__main__":
    sys.exit(main())
