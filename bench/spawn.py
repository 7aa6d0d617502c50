"""Spawn benchmark: vanilla DockerSpawner against CleanRoomSpawner, side by side in one run.

(a) time until the server is ready and (b) until a first kernel answers, one spawn at a time,
    fresh users, median of 5 under each spawner, as ratios (clean room / vanilla);
(c) kernel execute round trip over the websocket through each system's entry point (nginx and
    TLS for the clean room, JupyterHub's proxy for vanilla): median and p99, as ratios;
(d) 20 researchers at once, each to a first kernel, under each spawner, with timeouts raised so
    that vanilla finishes too: failures, p50 and p95.

The vanilla hub runs the same image with DockerSpawner's defaults: one container, kernels in
it (the image's gateway settings switched back to Jupyter's defaults on the command line).
After the run, the clean room's per-step start timings (from its hub log) are printed, summed
over all starts.

Needs root, a running Docker engine and the built image (make deps images). Starts both hubs
itself on free ports and stops them at the end.

Usage: .venv/bin/python bench/spawn.py [--runs 5] [--burst 20] [--execs 200] [--cpu-limit N]
(--cpu-limit sets CLEANROOM_CPU_LIMIT for the clean-room hub; the default is the product's
default of 1 CPU per server, while the vanilla spawner sets no CPU limit at all.)
"""

from __future__ import annotations

import ast
import collections
import concurrent.futures
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.kernel import KernelSession  # noqa: E402
from support.testhub import free_port, start_test_hub, stop_test_hub  # noqa: E402

from cleanroom.host import daemon  # noqa: E402
from cleanroom.hubapi import HubAPI  # noqa: E402

IMAGE = "cleanroom/notebook:latest"
BURST_TIMEOUT = 900.0


class VanillaHub:
    """The baseline hub as a browser reaches it: JupyterHub's proxy, the dummy login form."""

    certificate = None  # plain HTTP on loopback

    def __init__(self, url: str, api: HubAPI):
        self.url = url
        self.api = api

    def server_url(self, name: str) -> str:
        return f"{self.url}/user/{name}"

    def server_xsrf(self, session: requests.Session, name: str) -> str:
        return session.cookies.get("_xsrf", path=f"/user/{name}/") or ""

    def add_user(self, name: str) -> None:
        try:
            self.api.call("POST", f"/users/{name}")
        except Exception:  # noqa: BLE001 - the user may exist already
            pass

    def login(self, name: str) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        page = session.get(f"{self.url}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        data = {"username": name, "password": "any"}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        response = session.post(
            f"{self.url}/hub/login", data=data, timeout=30, allow_redirects=False
        )
        assert response.status_code == 302, f"login of {name} failed: {response.status_code}"
        return session


class CleanRoom:
    """The test hub of tests/support, behind nginx over TLS."""

    def __init__(self, hub):
        self.hub = hub
        self.url = hub.url
        self.certificate = hub.certificate
        self.api = hub.api

    def add_user(self, name: str) -> None:
        self.hub.add_user(name, ("researcher",))

    def login(self, name: str) -> requests.Session:
        return self.hub.login(name)

    def server_url(self, name: str) -> str:
        return self.hub.server_url(name)

    def server_xsrf(self, session: requests.Session, name: str) -> str:
        return self.hub.server_xsrf(session, name)


def wait_ready(api: HubAPI, name: str, start: float, timeout: float) -> float:
    while time.monotonic() - start < timeout:
        server = api.call("GET", f"/users/{name}")["servers"].get("")
        if server and server.get("ready"):
            return time.monotonic() - start
        if not server:
            raise RuntimeError(f"spawn of {name} failed")
        time.sleep(0.1)
    raise TimeoutError(name)


def spawn_to_first_kernel(system, name: str, timeout: float = 300) -> tuple[float, float]:
    """(seconds until the hub reports the server ready, seconds until a first kernel has
    answered an execute request), both from the start request; the login happens before."""
    session = system.login(name)
    start = time.monotonic()
    system.api.call("POST", f"/users/{name}/server")
    ready = wait_ready(system.api, name, start, timeout)
    kernel = KernelSession(system, name, session=session)
    try:
        assert kernel.run("print(6 * 7)", timeout=timeout).strip() == "42"
        first_kernel = time.monotonic() - start
    finally:
        kernel.close()
    return ready, first_kernel


def round_trips(system, name: str, count: int) -> list[float]:
    """Seconds per execute request (an empty statement) until its idle status, on a running
    server's kernel."""
    kernel = KernelSession(system, name, session=system.login(name))
    try:
        kernel.run("pass")  # warm up
        times = []
        for _ in range(count):
            start = time.perf_counter()
            kernel.run("pass")
            times.append(time.perf_counter() - start)
        return times
    finally:
        kernel.close()


def stop_all(api: HubAPI, names: list[str]) -> None:
    for name in names:
        try:
            api.call("DELETE", f"/users/{name}/server")
        except Exception:  # noqa: BLE001
            pass
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if not any(api.call("GET", f"/users/{n}")["servers"] for n in names):
            return
        time.sleep(0.5)


def start_vanilla_hub():
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
    url = f"http://127.0.0.1:{env['BENCH_PROXY_PORT']}"
    api = HubAPI(url, token)
    api.wait_until_up(90)
    return proc, VanillaHub(url, api), state


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def burst(system, names: list[str]) -> tuple[int, list[float]]:
    """Everyone at once, each to a first kernel; (failures, seconds to first kernel)."""
    for name in names:
        system.add_user(name)
    failures, times = 0, []
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        futures = {pool.submit(spawn_to_first_kernel, system, n, BURST_TIMEOUT): n for n in names}
        for future in concurrent.futures.as_completed(futures):
            try:
                times.append(future.result()[1])
            except Exception as error:  # noqa: BLE001
                failures += 1
                print(f"burst: {futures[future]} failed: {error!r}", flush=True)
    stop_all(system.api, names)
    return failures, times


def start_step_totals(hub) -> dict[str, list[float]]:
    """The clean room's per-step start timings from its hub log."""
    steps: dict[str, list[float]] = collections.defaultdict(list)
    log = daemon.hub_log(hub.settings)
    for match in re.finditer(r"Start of \S+ took (\{[^}]*\})", log.read_text(errors="replace")):
        for step, seconds in ast.literal_eval(match.group(1)).items():
            steps[step].append(seconds)
    return steps


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="single spawns under each")
    parser.add_argument("--burst", type=int, default=20, help="researchers starting at once")
    parser.add_argument("--execs", type=int, default=200, help="execute round trips under each")
    parser.add_argument("--cpu-limit", help="CPU limit of each clean-room server")
    args = parser.parse_args()
    overrides = {"CLEANROOM_CPU_LIMIT": args.cpu_limit} if args.cpu_limit else {}
    client = docker.from_env()
    client.images.get(IMAGE)
    vanilla_proc, vanilla, vanilla_state = start_vanilla_hub()
    clean_hub = start_test_hub(client, **overrides)
    clean = CleanRoom(clean_hub)
    try:
        # (a), (b): interleaved so that machine noise hits both alike; fresh users every time,
        # so each CleanRoomSpawner start also creates and mounts a new home.
        single = {"vanilla": [], "cleanroom": []}
        for i in range(args.runs):
            for label, system in (("vanilla", vanilla), ("cleanroom", clean)):
                name = f"{label[0]}{i}"
                system.add_user(name)
                single[label].append(spawn_to_first_kernel(system, name))
                if i < args.runs - 1:
                    stop_all(system.api, [name])
            print(f"run {i}: vanilla {single['vanilla'][-1]}, cleanroom {single['cleanroom'][-1]}")

        def median(label: str, which: int) -> float:
            return statistics.median(t[which] for t in single[label])

        ready_ratio = median("cleanroom", 0) / median("vanilla", 0)
        first_kernel_ratio = median("cleanroom", 1) / median("vanilla", 1)

        # (c): on the last single run's servers, batches alternating between the two.
        execs = {"vanilla": [], "cleanroom": []}
        batches = 4
        for _ in range(batches):
            for label, system in (("vanilla", vanilla), ("cleanroom", clean)):
                execs[label] += round_trips(
                    system, f"{label[0]}{args.runs - 1}", args.execs // batches
                )
        stop_all(vanilla.api, [f"v{args.runs - 1}"])
        stop_all(clean.api, [f"c{args.runs - 1}"])
        exec_stats = {
            label: (statistics.median(times), percentile(times, 99))
            for label, times in execs.items()
        }
        for label, (med, p99) in exec_stats.items():
            print(
                f"{label} execute round trip: median {med * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
            )

        # (d): one burst after the other, each alone on the machine.
        vanilla_failures, vanilla_burst = burst(vanilla, [f"vb{i:02d}" for i in range(args.burst)])
        clean_failures, clean_burst = burst(clean, [f"cb{i:02d}" for i in range(args.burst)])
        print(f"vanilla burst of {args.burst}: {[round(t, 1) for t in sorted(vanilla_burst)]}")
        print(f"cleanroom burst of {args.burst}: {[round(t, 1) for t in sorted(clean_burst)]}")
        for step, seconds in start_step_totals(clean_hub).items():
            print(
                f"cleanroom start step {step}: median {statistics.median(seconds):.2f} s, "
                f"max {max(seconds):.2f} s over {len(seconds)} starts"
            )
        print(
            "single (ready s, first kernel s): "
            f"vanilla {[(round(a, 2), round(b, 2)) for a, b in single['vanilla']]} "
            f"cleanroom {[(round(a, 2), round(b, 2)) for a, b in single['cleanroom']]}"
        )
        nan = float("nan")
        p50 = percentile(clean_burst, 50) if clean_burst else nan
        p95 = percentile(clean_burst, 95) if clean_burst else nan
        vanilla_p50 = percentile(vanilla_burst, 50) if vanilla_burst else nan
        vanilla_p95 = percentile(vanilla_burst, 95) if vanilla_burst else nan
        print(
            f"vanilla burst: failures {vanilla_failures}, p50 {vanilla_p50:.2f} s, "
            f"p95 {vanilla_p95:.2f} s"
        )
        print(
            f"RESULT ready_ratio={ready_ratio:.3f} first_kernel_ratio={first_kernel_ratio:.3f} "
            f"exec_median_ratio={exec_stats['cleanroom'][0] / exec_stats['vanilla'][0]:.3f} "
            f"exec_p99_ratio={exec_stats['cleanroom'][1] / exec_stats['vanilla'][1]:.3f} "
            f"burst_failures={clean_failures} burst_p95_ratio={p95 / vanilla_p95:.3f} "
            f"burst_p50_s={p50:.2f} burst_p95_s={p95:.2f} vanilla_burst_p95_s={vanilla_p95:.2f}"
        )
    finally:
        stop_test_hub(clean_hub)
        vanilla_proc.terminate()
        vanilla_proc.wait(60)
        for container in client.containers.list(all=True, filters={"name": "vanilla-"}):
            container.remove(force=True)
        shutil.rmtree(vanilla_state, ignore_errors=True)


if __name__ == "__main__":
    main()
