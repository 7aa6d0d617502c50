"""Edge benchmark: a researcher's server with and without the edge filter, side by side in one run.

Researchers' servers live on ``<user>.<public host>``: nginx (TLS) sends them to the edge
filter (cleanroom.edge.filter: allow-list, caps, per-researcher byte counting in SQLite and a
rate limit), which forwards to JupyterHub's proxy. This bench measures what the filter costs,
against a second nginx it starts itself from the same rendered configuration
(cleanroom.host.nginx.render), on a port of its own, whose researchers' block sends straight to the
proxy (no filter, no counting) with the client's Host:

(1) kernel execute round trip over the websocket: one kernel, one websocket through each path,
    an execute_request of ``1`` until its execute_reply, alternating between the paths, 300
    each after 20 warm-ups: median and p99, as ratios (with the edge / without);
(2) opening a ~5 MB notebook (contents API, type=notebook, the whole body read), alternating,
    10 each after one warm-up: median, as a ratio. The edge paces each researcher (display_rate
    with a display_burst), so before each open through it the bench sleeps until the bucket has
    refilled (notebook bytes / display_rate): it measures an ordinary open, not the throttle.

Needs root, a running Docker engine and the built image (make deps images). Starts its own test
hub (tests/support/testhub.py, default display limits), one researcher and their server, and the
second nginx; stops all of them at the end, also on failure.

Usage (as root): .venv/bin/python bench/edge.py [--execs 300] [--warmup 20] [--opens 10]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests
import websocket

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support import kernel as kernel_messages  # noqa: E402
from support.kernel import KernelSession  # noqa: E402
from support.testhub import free_port, start_test_hub, stop_test_hub  # noqa: E402

from cleanroom import origins  # noqa: E402
from cleanroom.edge import display  # noqa: E402
from cleanroom.host import nginx as edge  # noqa: E402

IMAGE = "cleanroom/notebook:latest"
USER = "edgebench"
NOTEBOOK = "bench-edge.ipynb"
NOTEBOOK_TARGET_BYTES = 5 * 1024 * 1024
WS_TIMEOUT = 60.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def find_lab_static(settings) -> Path:
    """The JupyterLab static files the running edge serves: <state_dir>/lab-static/<id>/."""
    found = [
        p
        for p in (settings.state_path / "lab-static").iterdir()
        if p.is_dir() and not p.name.startswith(".")
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one lab-static directory, found {found}")
    return found[0]


def baseline_config(settings, port: int, prefix: Path) -> str:
    """The edge's own nginx configuration, moved to ``port`` and ``prefix``, with researchers'
    host names sent straight to the hub's proxy (the client's Host, port included)."""
    conf = edge.render(settings, find_lab_static(settings))
    state = str(settings.state_path)
    listen = f"listen {settings.bind_address}:{settings.https_port} ssl"
    replacements = [
        (f"pid {state}/run/nginx.pid;", f"pid {prefix}/nginx.pid;", 1),
        (f"error_log {state}/logs/nginx-error.log", f"error_log {prefix}/error.log", 1),
        (f"access_log {state}/logs/nginx-access.log", f"access_log {prefix}/access.log", 1),
        (f"{state}/nginx/tmp/", f"{prefix}/tmp/", len(edge.TEMP_DIRS)),
        (listen, f"listen {settings.bind_address}:{port} ssl", 2),
        ("shared:cleanroom_tls:", "shared:bench_edge_tls:", 1),
        # Only the researchers' block goes to the edge, and only it sends $host.
        ("proxy_pass http://cleanroom_edge;", "proxy_pass http://cleanroom_hub;", 1),
        ("proxy_set_header Host $host;", "proxy_set_header Host $http_host;", 1),
    ]
    for old, new, count in replacements:
        found = conf.count(old)
        if found != count:
            raise RuntimeError(f"the rendered nginx.conf holds {old!r} {found} times, not {count}")
        conf = conf.replace(old, new)
    if state in conf.replace(f"{state}/tls/", "").replace(f"{state}/lab-static/", ""):
        raise RuntimeError("the baseline nginx.conf still names the hub's state directory")
    return conf


def start_baseline_nginx(settings, port: int) -> tuple[subprocess.Popen, Path]:
    """A second nginx in the foreground (its master is the returned process), in a temporary
    prefix whose temp directories belong to the worker user, as edge.start prepares them."""
    prefix = Path(tempfile.mkdtemp(prefix="bench-edge-nginx-"))
    try:
        edge.prepare_temp_dirs(prefix)
        conf = prefix / "nginx.conf"
        conf.write_text(baseline_config(settings, port, prefix))
        base = ["nginx", "-p", str(prefix), "-c", str(conf)]
        subprocess.run([*base, "-t", "-q"], check=True)
        proc = subprocess.Popen([*base, "-g", "daemon off;"])
    except BaseException:
        shutil.rmtree(prefix, ignore_errors=True)
        raise
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((settings.bind_address, port), timeout=1).close()
            return proc, prefix
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_baseline_nginx(proc, prefix)
                raise RuntimeError(f"the baseline nginx did not come up; see {prefix}") from None
            time.sleep(0.1)


def stop_baseline_nginx(proc: subprocess.Popen | None, prefix: Path | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()  # SIGTERM to its own master: a fast shutdown
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if prefix is not None:
        shutil.rmtree(prefix, ignore_errors=True)


def make_notebook(target: int) -> dict:
    """A valid nbformat 4 notebook of about ``target`` bytes: code cells with text output."""
    cells = []
    size, i = 0, 0
    while size < target:
        text = "".join(f"{i:04d}:{n:04d} {os.urandom(40).hex()}\n" for n in range(800))
        cells.append(
            {
                "cell_type": "code",
                "execution_count": i + 1,
                "id": uuid.uuid4().hex[:8],
                "metadata": {},
                "source": f"for n in range(800):\n    print(f'{i:04d}:{{n:04d}}', token())",
                "outputs": [{"output_type": "stream", "name": "stdout", "text": text}],
            }
        )
        size += len(text) + 300
        i += 1
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def execute_request(code: str) -> tuple[str, str]:
    return kernel_messages.execute_request(code, USER)


def round_trip(ws: websocket.WebSocket) -> tuple[float, str]:
    """Seconds from sending ``1`` until its execute_reply; then reads on until the kernel is
    idle again (not timed), so that the next request starts on a quiet kernel."""
    msg_id, frame = execute_request("1")
    replied = idle = None
    start = time.perf_counter()
    ws.send(frame)
    while replied is None or not idle:
        msg = json.loads(ws.recv())
        if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
            continue
        kind = msg.get("msg_type") or msg["header"]["msg_type"]
        if kind == "execute_reply":
            replied = time.perf_counter() - start
            if msg["content"].get("status") != "ok":
                raise RuntimeError(f"execute_reply: {msg['content']}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    return replied, msg_id


def drain(ws: websocket.WebSocket, msg_id: str, timeout: float) -> bool:
    """Read the other websocket's copies of ``msg_id``'s iopub messages up to its idle status
    (a kernel's iopub goes to every connection); False when none came within ``timeout``."""
    ws.settimeout(timeout)
    try:
        while True:
            msg = json.loads(ws.recv())
            if (
                (msg.get("parent_header") or {}).get("msg_id") == msg_id
                and (msg.get("msg_type") or msg["header"]["msg_type"]) == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                return True
    except websocket.WebSocketTimeoutException:
        return False
    finally:
        ws.settimeout(WS_TIMEOUT)


def ledger_bytes(settings, user: str) -> int:
    """What the edge's display ledger counted (or reserved) for ``user`` today."""
    path = display.ledger_path(settings.state_path)
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT SUM(bytes) FROM display_bytes WHERE user = ?", (user,))
        return rows.fetchone()[0] or 0


def open_notebook(session: requests.Session, url: str) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    response = session.get(url, timeout=300)
    body = response.content  # the whole body
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:300]}")
    json.loads(body)
    return seconds, response


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execs", type=int, default=300, help="round trips through each path")
    parser.add_argument("--warmup", type=int, default=20, help="round trips not counted")
    parser.add_argument("--opens", type=int, default=10, help="notebook opens through each path")
    args = parser.parse_args()
    began = time.monotonic()
    client = docker.from_env()
    client.images.get(IMAGE)
    print("starting a test hub ...", flush=True)
    hub = start_test_hub(client)
    settings = hub.settings
    nginx = prefix = kernel = base_ws = None
    try:
        hub.add_user(USER, ("researcher",))
        print(f"starting {USER}'s server ...", flush=True)
        hub.start_server(USER)
        port = free_port()
        nginx, prefix = start_baseline_nginx(settings, port)
        print(f"baseline nginx (no edge filter) on port {port}, pid {nginx.pid}", flush=True)

        host = origins.user_host(settings, USER)
        edge_base = hub.server_url(USER)
        base_base = f"https://{host}:{port}/user/{USER}"
        session = hub.login(USER)
        kernel = KernelSession(hub, USER, session=session)  # through the edge
        xsrf = hub.server_xsrf(session, USER)
        # The server's cookies are host-only: the same session is signed in on either port.
        check = session.get(f"{base_base}/api/status", timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"baseline path: {check.status_code} {check.text[:300]}")
        cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        tls = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(hub.certificate)}
        base_ws = websocket.create_connection(
            f"wss://{host}:{port}/user/{USER}/api/kernels/{kernel.kernel_id}/channels",
            header=[f"Cookie: {cookies}", f"X-XSRFToken: {xsrf}"],
            origin=f"https://{host}:{port}",
            sslopt=tls,
            timeout=WS_TIMEOUT,
        )
        edge_ws = kernel.ws
        edge_ws.settimeout(WS_TIMEOUT)
        paths = {"edge": edge_ws, "base": base_ws}

        # (1) execute round trips, alternating; each path's copies of the other's iopub
        # messages are read before it is timed again.
        print(f"websocket round trips: {args.warmup} warm-up, then {args.execs} each", flush=True)
        times: dict[str, list[float]] = {"edge": [], "base": []}
        broadcast = True
        for i in range(args.warmup + args.execs):
            for label, other in (("edge", "base"), ("base", "edge")):
                seconds, msg_id = round_trip(paths[label])
                if broadcast:
                    broadcast = drain(paths[other], msg_id, 10 if i == 0 else WS_TIMEOUT)
                    if not broadcast:
                        print("note: iopub is not copied to the other websocket", flush=True)
                if i >= args.warmup:
                    times[label].append(seconds)
        ws = {k: (statistics.median(v) * 1000, percentile(v, 99) * 1000) for k, v in times.items()}
        for label, (med, p99) in ws.items():
            print(f"{label}: execute round trip median {med:.2f} ms, p99 {p99:.2f} ms", flush=True)

        # (2) a ~5 MB notebook in the home, written through the edge (request bodies are not
        # counted), then opened through each path.
        notebook = make_notebook(NOTEBOOK_TARGET_BYTES)
        put = session.put(
            f"{edge_base}/api/contents/{NOTEBOOK}",
            json={"type": "notebook", "format": "json", "content": notebook},
            headers={"X-XSRFToken": xsrf},
            timeout=300,
        )
        if put.status_code not in (200, 201):
            raise RuntimeError(f"PUT {NOTEBOOK}: {put.status_code} {put.text[:300]}")
        query = f"api/contents/{NOTEBOOK}?type=notebook&content=1&hash=0"
        edge_url, base_url = f"{edge_base}/{query}", f"{base_base}/{query}"
        _, first = open_notebook(session, base_url)
        size = len(first.content)
        refill = size / settings.display_rate
        print(
            f"notebook: {size} bytes as a JSON model ({first.headers.get('Content-Encoding')!r} "
            f"encoding); before each open through the edge the bench sleeps {refill:.1f} s "
            f"({size} B / display_rate {settings.display_rate} B/s) so that its bucket "
            f"(burst {settings.display_burst} B) is full again: ordinary opens, not the throttle",
            flush=True,
        )
        opens: dict[str, list[float]] = {"edge": [], "base": []}
        before = ledger_bytes(settings, USER)
        for i in range(args.opens + 1):  # the first pair is a warm-up
            print(f"open {i}: sleeping {refill:.1f} s for the edge's bucket", flush=True)
            time.sleep(refill)
            edge_s, edge_r = open_notebook(session, edge_url)
            base_s, base_r = open_notebook(session, base_url)
            for label, response in (("edge", edge_r), ("base", base_r)):
                sandboxed = "sandbox" in response.headers.get("Content-Security-Policy", "")
                if len(response.content) != size or sandboxed != (label == "edge"):
                    raise RuntimeError(f"{label} open: not the answer that path gives")
            print(
                f"open {i}{' (warm-up)' if i == 0 else ''}: edge {edge_s:.3f} s, "
                f"without {base_s:.3f} s",
                flush=True,
            )
            if i:
                opens["edge"].append(edge_s)
                opens["base"].append(base_s)
        counted = ledger_bytes(settings, USER) - before
        print(
            f"display ledger: {counted} bytes counted during the opens, for "
            f"{args.opens + 1} through the edge ({(args.opens + 1) * size} bytes)",
            flush=True,
        )
        nb = {k: statistics.median(v) for k, v in opens.items()}
        for label, seconds in nb.items():
            print(f"{label}: notebook open median {seconds:.3f} s ({opens[label]})", flush=True)
        result = (
            f"RESULT ws_median_ratio={ws['edge'][0] / ws['base'][0]:.3f} "
            f"ws_p99_ratio={ws['edge'][1] / ws['base'][1]:.3f} "
            f"notebook_open_ratio={nb['edge'] / nb['base']:.3f} "
            f"ws_median_ms={ws['edge'][0]:.3f} ws_median_base_ms={ws['base'][0]:.3f} "
            f"ws_p99_ms={ws['edge'][1]:.3f} ws_p99_base_ms={ws['base'][1]:.3f} "
            f"notebook_open_s={nb['edge']:.3f} notebook_open_base_s={nb['base']:.3f}"
        )
    finally:
        if base_ws is not None:
            try:
                base_ws.close()
            except (websocket.WebSocketException, OSError):
                pass
        if kernel is not None:
            kernel.close()
        hub.stop_server(USER)
        stop_baseline_nginx(nginx, prefix)
        stop_test_hub(hub)
    print(f"run time {time.monotonic() - began:.0f} s (with start and clean-up)", flush=True)
    print(result, flush=True)


if __name__ == "__main__":
    main()
