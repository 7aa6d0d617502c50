"""Run the probe (support/probe.py) where a researcher could: in a kernel, in a container of
the test's own (or a lab container, by ``docker exec``), or on the host; with the same plan,
so results can be paired."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .kernel import KernelSession

PROBE_FILE = Path(__file__).parent / "probe.py"
PROBE = PROBE_FILE.read_text()


def in_kernel(kernel: KernelSession, plan: dict) -> dict:
    output = kernel.run(PROBE + f"\nprint(json.dumps(run({plan!r})))\n")
    return json.loads(output.strip().splitlines()[-1])


def in_container(container, plan: dict) -> dict:
    exit_code, output = container.exec_run(["python3", "-c", PROBE, json.dumps(plan)])
    assert exit_code == 0, output.decode(errors="replace")
    return json.loads(output.decode().strip().splitlines()[-1])


def on_host(plan: dict) -> dict:
    out = subprocess.run(
        [sys.executable, str(PROBE_FILE), json.dumps(plan)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    # Loopback is the container's own inside it; every other address is the host's.
    addresses = [line.split()[3].split("/")[0] for line in out.stdout.splitlines()]
    return [a for a in addresses if not a.startswith("127.")]


def ip_on(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
