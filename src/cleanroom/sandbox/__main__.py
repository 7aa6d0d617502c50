"""``python -m cleanroom.sandbox check``: probe the sandbox's walls on this host.

Prints one line per wall (user, network, files, memory, time, crash, and a warm sandbox's
jobs kept apart) and exits
1 when any of them does not hold, e.g. after installing a host, or when bubblewrap changed.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

from cleanroom.sandbox import Limits, run, run_warm, warm


def check() -> list[tuple[str, bool, str]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as server:
        some = Path(tmp) / "input"
        some.write_text("x")
        secret = Path(tmp) / "secret"
        secret.write_text("secret")
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def probe(limits: Limits | None = None, **params):
            return run("probe", some, params, limits or Limits(wall_seconds=20))

        who = probe(probe="whoami")
        results.append(("not root", who.ok and 0 not in who.value["resuid"], str(who.value)))
        net = probe(probe="connect", host="127.0.0.1", port=port)
        results.append(("no network", net.ok and not net.value["connected"], str(net.value)))
        read = probe(probe="read", path=str(secret))
        results.append(("no host files", read.ok and not read.value["read"], str(read.value)))
        mem = probe(Limits(memory_bytes=768 * 1024**2), probe="allocate", bytes=1024**3)
        results.append(("memory limit", not mem.ok, mem.message))
        slow = probe(Limits(wall_seconds=1), probe="sleep", seconds=10)
        results.append(("time limit", not slow.ok, slow.message))
        crash = probe(probe="crash")
        results.append(("a crash is an error", not crash.ok, crash.message))
        run_warm("probe", some, {"probe": "linger"})
        after = run_warm("probe", some, {"probe": "processes"})
        own_input = ["/tmp/in"]  # noqa: S108 - inside the sandbox: its private /tmp
        clean = after.ok and after.value["found"] == own_input and len(after.value["pids"]) == 3
        results.append(("warm: nothing left for the next job", clean, str(after.value)))
        warm.close_all()
    return results


def main(argv: list[str]) -> int:
    if argv != ["check"]:
        print("usage: python -m cleanroom.sandbox check", file=sys.stderr)
        return 2
    results = check()
    for name, held, detail in results:
        print(f"{'ok  ' if held else 'FAIL'} {name}: {detail}")
    return 0 if all(held for _, held, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
