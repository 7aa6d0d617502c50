"""Spawn benchmark: vanilla DockerSpawner against CleanRoomSpawner, side by side in one run.

(a) one spawn at a time, fresh users, median of 5, under each spawner: the ratio.
(b) 20 researchers starting at once under CleanRoomSpawner: failures, p50 and p95.

Needs root, a running Docker engine and the built image (make deps images). Starts both hubs
itself on free ports and stops them at the end. Usage: .venv/bin/python bench/spawn.py
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cleanroom.accounts import HubAPI  # noqa: E402
from support.testhub import free_port  # noqa: E402

SINGLE_RUNS = 5
BURST = 20
IMAGE = "cleanroom/notebook:latest"


def timed_spawn(api: HubAPI, name: str, timeout: float = 300) -> float:
    """Seconds from the start request until the hub reports the server ready."""
    try:
        api.call("POST", f"/users/{name}")
    except Exception:  # noqa: BLE001 - the user may exist already
        pass
    start = time.monotonic()
    api.call("POST", f"/users/{name}/server")
    while time.monotonic() - start < timeout:
        server = api.call("GET", f"/users/{name}")["servers"].get("")
        if server and server.get("ready"):
            return time.monotonic() - start
        if not server:
            raise RuntimeError(f"spawn of {name} failed")
        time.sleep(0.1)
    raise TimeoutError(name)


def stop_all(api: HubAPI, names: list[str]) -> None:
    for name in names:
        try:
            api.call("DELETE", f"/users/{name}/server")
        except Exception:  # noqa: BLE001
            pass
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not any(api.call("GET", f"/users/{n}")["servers"] for n in names):
            return
        time.sleep(0.5)


def start_vanilla_hub(client: docker.DockerClient):
    state = tempfile.mkdtemp(prefix="bench-vanilla-")
    bridge = client.networks.get("bridge")
    gateway = bridge.attrs["IPAM"]["Config"][0]["Gateway"]
    token = secrets.token_hex(32)
    env = {
        **os.environ,
        "BENCH_STATE_DIR": state,
        "BENCH_PROXY_PORT": str(free_port()),
        "BENCH_PROXY_API_PORT": str(free_port()),
        "BENCH_HUB_IP": gateway,
        "BENCH_HUB_PORT": str(free_port()),
        "BENCH_IMAGE": IMAGE,
        "BENCH_TOKEN": token,
    }
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    log = open(Path(state) / "hub.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(jupyterhub), "-f", str(REPO / "bench" / "vanilla_jupyterhub_config.py")],
        cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    api = HubAPI(f"http://127.0.0.1:{env['BENCH_PROXY_PORT']}", token)
    api.wait_until_up(90)
    return proc, api, state


