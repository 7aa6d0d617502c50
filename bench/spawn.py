"""Spawn benchmark: vanilla DockerSpawner against CleanRoomSpawner, side by side in one run.

(a) one spawn at a time, fresh users, median of 5, under each spawner: the ratio.
(b) 20 researchers starting at once under CleanRoomSpawner: failures, p50 and p95.

Needs root, a running Docker engine and the built image (make deps images). Starts both hubs
itself on free ports and stops them at the end.

Usage: .venv/bin/python bench/spawn.py [--cpu-limit N]
(--cpu-limit sets CLEANROOM_CPU_LIMIT for the clean-room hub; the default is the product's
default of 1 CPU per server, while the vanilla spawner sets no CPU limit at all.)
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cleanroom.accounts import HubAPI  # noqa: E402
from support.testhub import free_port, start_test_hub, stop_test_hub  # noqa: E402

SINGLE_RUNS = 5
BURST = 20
IMAGE = "cleanroom/notebook:latest"


def timed_spawn(api: HubAPI, name: str, timeout: float = 300, options: dict | None = None) -> float:
    """Seconds from the start request until the hub reports the server ready."""
    try:
        api.call("POST", f"/users/{name}")
    except Exception:  # noqa: BLE001 - the user may exist already
        pass
    start = time.monotonic()
    api.call("POST", f"/users/{name}/server", options)
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
    # The default bridge's gateway is docker0's address, where its containers reach the host.
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=True
    )
    gateway = out.stdout.split()[3].split("/")[0]
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
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = HubAPI(f"http://127.0.0.1:{env['BENCH_PROXY_PORT']}", token)
    api.wait_until_up(90)
    return proc, api, state


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-limit", help="CPU limit of each clean-room server")
    args = parser.parse_args()
    overrides = {"CLEANROOM_CPU_LIMIT": args.cpu_limit} if args.cpu_limit else {}
    client = docker.from_env()
    client.images.get(IMAGE)
    vanilla_proc, vanilla_api, vanilla_state = start_vanilla_hub(client)
    clean = start_test_hub(client, **overrides)
    try:
        clean_api = clean.api
        # Interleave the two so that machine noise hits both alike; fresh users every time,
        # so each CleanRoomSpawner start also creates and mounts a new home.
        vanilla_times, clean_times = [], []
        for i in range(SINGLE_RUNS):
            vanilla_times.append(timed_spawn(vanilla_api, f"v{i}"))
            stop_all(vanilla_api, [f"v{i}"])
            clean_api.ensure_user(f"c{i}", ("researcher",))
            clean_times.append(timed_spawn(clean_api, f"c{i}"))
            stop_all(clean_api, [f"c{i}"])
            print(
                f"run {i}: vanilla {vanilla_times[-1]:.2f} s, cleanroom {clean_times[-1]:.2f} s",
                flush=True,
            )
        vanilla_median = statistics.median(vanilla_times)
        clean_median = statistics.median(clean_times)

        names = [f"burst{i:02d}" for i in range(BURST)]
        for name in names:
            clean_api.ensure_user(name, ("researcher",))
        failures, burst_times = 0, []
        with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
            futures = {pool.submit(timed_spawn, clean_api, n): n for n in names}
            for future in concurrent.futures.as_completed(futures):
                try:
                    burst_times.append(future.result())
                except Exception as error:  # noqa: BLE001
                    failures += 1
                    print(f"burst spawn {futures[future]} failed: {error}", flush=True)
        stop_all(clean_api, names)
        print(f"vanilla single: {[round(t, 2) for t in vanilla_times]}")
        print(f"cleanroom single: {[round(t, 2) for t in clean_times]}")
        print(f"burst of {BURST}: {[round(t, 2) for t in sorted(burst_times)]}")
        p50 = percentile(burst_times, 50) if burst_times else float("nan")
        p95 = percentile(burst_times, 95) if burst_times else float("nan")
        print(
            f"RESULT single_ratio={clean_median / vanilla_median:.3f} burst_failures={failures} "
            f"burst_p50_s={p50:.2f} burst_p95_s={p95:.2f} vanilla_single_s={vanilla_median:.2f}"
        )
    finally:
        stop_test_hub(clean)
        vanilla_proc.terminate()
        vanilla_proc.wait(60)
        for container in client.containers.list(all=True, filters={"name": "vanilla-"}):
            container.remove(force=True)
        shutil.rmtree(vanilla_state, ignore_errors=True)


if __name__ == "__main__":
    main()
