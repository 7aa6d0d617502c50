"""The edge, attacked through the real entry point (nginx over TLS, the edge filter, the hub's
proxy) with a rogue "researcher's server" behind it that answers every path with vault rows
(tests/support/rogue.py). Each refusal is paired with a request that the same server answers.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import ssl
import time
import uuid

import pytest
import websocket
from support.rogue import MARKER, RogueServer, register

from cleanroom import origins
from cleanroom.audit import AuditLog
from cleanroom.edge import display
from cleanroom.host import nginx as edge

pytestmark = pytest.mark.docker

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def rogue(hub, edge_hub):
    server = RogueServer().start()
    for name in ("mallory", "mal.lory"):
        register(hub, name, server.url)
    for name in ("wes", "hal", "otto", "olga", "uma"):
        register(edge_hub, name, server.url)
    yield server
    server.stop()


def raw_request(
    hub,
    host: str,
    method: str,
    target: str,
    headers: dict | None = None,
    body: bytes | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request exactly as written (no normalisation of the target), over TLS to the
    hub's entry point; ``host`` names the TLS server name and the Host header. A response cut
    off by the edge comes back as what arrived before the cut."""
    context = ssl.create_default_context(cafile=str(hub.certificate))
    connection = http.client.HTTPSConnection(
        host, hub.settings.https_port, context=context, timeout=60
    )
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", f"{host}:{hub.settings.https_port}")
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if chunks is not None:
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for chunk in chunks:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        else:
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
        response = connection.getresponse()
        try:
            data = response.read()
        except http.client.IncompleteRead as cut:
            data = cut.partial
        return response.status, response.msg, data
    finally:
        connection.close()


def host_of(hub, name: str) -> str:
    return origins.user_host(hub.settings, name)


# Each of these reaches the rogue server when the edge lets it through: it answers them all.
REFUSED = [
    "/user/mallory/files/data.csv",
    "/user/mallory/files/data.csv?download=1",
    "/user/mallory/view/report.html",
    "/user/mallory/nbconvert/html/analysis.ipynb?download=true",
    "/user/mallory/api/terminals",
    "/user/mallory/tree/data.csv",
    "/user/mallory/%66iles/data.csv",
    "/user/mallory/%46iles/data.csv",
    "/user/mallory/api%2Fcontents/data.csv",
    "/user/mallory/API/contents/data.csv",
    "/user/mallory//api/contents/data.csv",
    "/user/mallory/./api/contents/data.csv",
    "/user/mallory/api/./contents/data.csv",
    "/user/mallory/api/contents/x/../../../files/data.csv",
    "/user/mallory/api/contents/%2e%2e/data.csv",
    "/user/mallory/api;jsessionid=1/contents/data.csv",
    "/user/mallory/api/contents/data.csv;type=file",
    "/user/mallory/second-server/api/contents/data.csv",
    "/user/mallory/api/contents/data.csv?type=file&type=notebook",
    "/user/mallory/api/contents/data.csv?content=1&content=1",
    "/user/bob/api/contents/data.csv",
    "/user/MALLORY/api/contents/data.csv",
    "/hub/api/users",
    "/services/airlock/",
]


@pytest.mark.parametrize("target", REFUSED)
def test_refused_at_the_edge_even_when_the_server_would_answer(hub, rogue, target):
    host = host_of(hub, "mallory")
    status, headers, body = raw_request(hub, host, "GET", target)
    assert 400 <= status < 500, (status, body[:200])
    assert MARKER not in body
    seen = len(rogue.paths)
    # The control, in the same run: the rogue server answers an allowed route with its rows.
    status, _, body = raw_request(hub, host, "GET", "/user/mallory/api/contents/data.csv?size=500")
    assert status == 200 and MARKER in body
    assert len(rogue.paths) == seen + 1
    assert rogue.paths[-1].startswith("/user/mallory/api/contents/data.csv")


def test_servers_are_reached_on_their_own_host_names_only(hub, rogue):
    target = "/user/mallory/api/contents/data.csv?size=500"
    public = hub.settings.public_host
    status, _, body = raw_request(hub, public, "GET", target)
    assert status == 404 and MARKER not in body
    # An absolute URI naming the public host, with the researcher's host as the Host header.
    absolute = f"https://{public}:{hub.settings.https_port}{target}"
    status, _, body = raw_request(hub, host_of(hub, "mallory"), "GET", absolute)
    assert MARKER not in body
    # A name that is not a DNS label lives under JupyterHub's escaped label, and only there.
    escaped = host_of(hub, "mal.lory")
    assert escaped != f"mal.lory.{public}"
    status, _, body = raw_request(hub, escaped, "GET", "/user/mal.lory/api/contents/d.csv")
    assert status == 200 and MARKER in body
    status, _, body = raw_request(hub, f"mal.{public}", "GET", "/user/mal.lory/api/contents/d.csv")
    assert status == 404 and MARKER not in body
    # Control: the researcher's host name answers.
    status, _, body = raw_request(hub, host_of(hub, "mallory"), "GET", target)
    assert status == 200 and MARKER in body


def test_contents_reads_are_capped_by_kind(hub, rogue):
    host = host_of(hub, "mallory")
    cap = hub.settings.contents_read_cap
    # A file over the cap with a length: refused before a byte of it is sent.
    status, headers, body = raw_request(
        hub, host, "GET", f"/user/mallory/api/contents/data.csv?size={2 * MiB}"
    )
    assert status == 403 and headers.get("X-Cleanroom-Edge") == "refused"
    assert MARKER not in body and "1 MiB" in json.loads(body)["message"]
    # Without a length: cut off at the cap.
    status, _, body = raw_request(
        hub, host, "GET", f"/user/mallory/api/contents/data.csv?size={2 * MiB}&chunked=1"
    )
    assert MARKER in body and len(body) <= cap
    # A notebook may be larger (16 MiB by default), and one over that is refused too.
    status, _, body = raw_request(
        hub, host, "GET", f"/user/mallory/api/contents/big.ipynb?size={3 * MiB}"
    )
    assert status == 200 and len(body) == 3 * MiB
    status, _, body = raw_request(
        hub, host, "GET", f"/user/mallory/api/contents/huge.ipynb?size={17 * MiB}"
    )
    assert status == 403 and MARKER not in body
    # Every other answer of the server goes out under a sandbox CSP.
    status, headers, _ = raw_request(hub, host, "GET", "/user/mallory/api/kernels")
    assert status == 200 and "sandbox" in headers.get_all("Content-Security-Policy")


def test_writes_are_capped_and_must_be_text(hub, rogue):
    host = host_of(hub, "mallory")
    target = "/user/mallory/api/contents/upload.csv"
    big = json.dumps({"type": "file", "format": "text", "content": "x" * (2 * MiB)}).encode()
    received = len(rogue.bodies)
    # A chunked body without a length, over the cap: refused, nothing reaches the server.
    chunks = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    status, _, _ = raw_request(hub, host, "PUT", target, chunks=chunks)
    assert status == 413
    binary = json.dumps({"type": "file", "format": "base64", "content": "AAAA"}).encode()
    status, _, body = raw_request(hub, host, "PUT", target, body=binary)
    assert status == 403 and b"binary" in body
    assert len(rogue.bodies) == received
    # Controls: a small text file (chunked) and a large notebook pass.
    small = json.dumps({"type": "file", "format": "text", "content": "a,b\n1,2\n"}).encode()
    status, _, _ = raw_request(hub, host, "PUT", target, chunks=[small[:10], small[10:]])
    assert status == 200 and rogue.bodies[-1] == small
    notebook = json.dumps({"type": "notebook", "format": "json", "content": "x" * (3 * MiB)})
    status, _, _ = raw_request(
        hub, host, "PUT", "/user/mallory/api/contents/n.ipynb", body=notebook.encode()
    )
    assert status == 200


def ws_url(hub, name: str, query: str) -> str:
    host = host_of(hub, name)
    kernel = uuid.uuid4()
    return (
        f"wss://{host}:{hub.settings.https_port}/user/{name}/api/kernels/{kernel}/channels?{query}"
    )


def receive_for(hub, url: str, seconds: float) -> tuple[int, float, str]:
    """Bytes a websocket client received from ``url`` in ``seconds``, the time it took, and
    the last text message."""
    sslopt = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(hub.certificate)}
    ws = websocket.create_connection(url, sslopt=sslopt, timeout=10)
    received, last_text = 0, ""
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            try:
                opcode, data = ws.recv_data()
            except (
                websocket.WebSocketConnectionClosedException,
                websocket.WebSocketTimeoutException,
            ):
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            received += len(data)
            if opcode == websocket.ABNF.OPCODE_TEXT:
                last_text = data.decode()
    finally:
        elapsed = time.monotonic() - start
        ws.close()
    return received, elapsed, last_text


def test_rate_holds_for_websocket_output(edge_hub, rogue):
    settings = edge_hub.settings
    message = 64 * 1024
    received, elapsed, _ = receive_for(
        edge_hub, ws_url(edge_hub, "wes", f"message={message}&total={64 * MiB}"), 3.0
    )
    # The flood is real (more than the burst arrives), and bounded by burst + rate * time.
    assert received > settings.display_burst
    assert received <= settings.display_burst + settings.display_rate * elapsed + message


def test_rate_holds_for_contents_reads(edge_hub, rogue):
    settings = edge_hub.settings
    host = host_of(edge_hub, "hal")
    size = 900 * 1024
    received, start = 0, time.monotonic()
    while time.monotonic() - start < 3.0:
        status, _, body = raw_request(
            edge_hub, host, "GET", f"/user/hal/api/contents/rows.csv?size={size}"
        )
        assert status == 200 and MARKER in body
        received += len(body)
    elapsed = time.monotonic() - start
    assert received > settings.display_burst
    assert received <= settings.display_burst + settings.display_rate * elapsed + size


def edge_filter_pid(hub) -> int | None:
    """The pid of ``hub``'s edge filter (a service the hub started and restarts)."""
    state = str(hub.settings.state_path)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            environ = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        if (
            b"cleanroom.edge.filter" in cmdline
            and f"CLEANROOM_STATE_DIR={state}\0".encode() in environ
        ):
            return int(pid)
    return None


def wait_for_edge(hub, name: str, target: str, timeout: float = 60) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = raw_request(hub, host_of(hub, name), "GET", target)
        if status != 502 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


def test_daily_quota_closes_the_channel_and_survives_restarts(edge_hub, rogue):
    settings = edge_hub.settings
    host = host_of(edge_hub, "otto")
    target = f"/user/otto/api/contents/rows.csv?size={1000 * 1000}"
    received = 0
    for _ in range(2 * settings.display_daily_quota // (1000 * 1000)):
        status, _, body = raw_request(edge_hub, host, "GET", target)
        if status != 200:
            break
        received += len(body)
    assert status == 429, status
    message = json.loads(body)["message"]
    assert "Display quota reached" in message and "12 MiB" in message
    assert settings.display_daily_quota - 2 * MiB < received <= settings.display_daily_quota
    # The websocket is refused too, before it opens.
    with pytest.raises(websocket.WebSocketBadStatusException):
        receive_for(edge_hub, ws_url(edge_hub, "otto", "total=1000"), 1.0)

    # The edge filter dies; the hub starts it again; the count is still there.
    pid = edge_filter_pid(edge_hub)
    assert pid
    os.kill(pid, signal.SIGKILL)
    status, body = wait_for_edge(edge_hub, "otto", target)
    assert status == 429 and edge_filter_pid(edge_hub) not in (None, pid)
    # So is it after nginx restarts.
    edge.stop(edge_hub.settings)
    time.sleep(1)
    edge.start(edge_hub.settings)
    status, body = wait_for_edge(edge_hub, "otto", target)
    assert status == 429
    # Control: another researcher's channel is open.
    theirs = target.replace("/user/otto/", "/user/olga/")
    status, _, body = raw_request(edge_hub, host_of(edge_hub, "olga"), "GET", theirs)
    assert status == 200 and MARKER in body

    # The audit log has the crossing of the threshold and the quota, once each.
    records = AuditLog.from_state_dir(settings.state_path).records()
    mine = [r for r in records if r.actor == "otto"]
    events = [r.event for r in mine]
    assert events.count("display.threshold_crossed") == 1
    assert events.count("display.quota_reached") == 1
    day = display.today()
    counts = display.day_counts(
        display.ledger_path(settings.state_path),
        settings.display_audit_threshold,
        settings.display_daily_quota,
    )
    assert any(c.user == "otto" and c.day == day and c.quota_reached for c in counts)


def test_channel_closes_when_the_count_cannot_be_kept(edge_hub, rogue):
    host = host_of(edge_hub, "uma")
    target = "/user/uma/api/contents/rows.csv?size=1000"
    ledger = sqlite3.connect(display.ledger_path(edge_hub.settings.state_path), timeout=10)
    ledger.isolation_level = None
    ledger.execute("BEGIN EXCLUSIVE")
    try:
        status, _, body = raw_request(edge_hub, host, "GET", target)
        assert status == 503 and MARKER not in body
        assert "cannot count" in json.loads(body)["message"]
    finally:
        ledger.execute("ROLLBACK")
        ledger.close()
    status, _, body = raw_request(edge_hub, host, "GET", target)
    assert status == 200 and MARKER in body


def test_security_headers_on_every_response(hub, rogue):
    public = hub.settings.public_host
    static = next((hub.settings.state_path / "lab-static").glob("*/lab/main.*.js"))
    answers = {
        "hub page": raw_request(hub, public, "GET", "/hub/login"),
        "airlock page": raw_request(hub, public, "GET", "/services/airlock/"),
        "public /user/": raw_request(hub, public, "GET", "/user/mallory/lab"),
        "server answer": raw_request(hub, host_of(hub, "mallory"), "GET", "/user/mallory/api"),
        "edge refusal": raw_request(hub, host_of(hub, "mallory"), "GET", "/user/mallory/files/x"),
        "static file": raw_request(
            hub, host_of(hub, "mallory"), "GET", f"/user/mallory/static/lab/{static.name}"
        ),
    }
    for what, (status, headers, _) in answers.items():
        assert status < 500, what
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), what
        assert headers.get("X-Content-Type-Options") == "nosniff", what
        assert headers.get("Referrer-Policy") == "same-origin", what
        policies = " ".join(headers.get_all("Content-Security-Policy") or [])
        assert "frame-ancestors 'self'" in policies or "frame-ancestors 'none'" in policies, what
    # The hub's pages: their own scripts only, and forms only to the public host and the
    # researchers' servers.
    hub_policy = " ".join(answers["hub page"][1].get_all("Content-Security-Policy"))
    assert "default-src 'self'" in hub_policy and "form-action 'self' https://*." in hub_policy
    # A static file comes from the image's copy (the rogue server never sees it).
    assert answers["static file"][0] == 200 and answers["static file"][2] == static.read_bytes()
    assert not any("/static/lab/" in path for path in rogue.paths)
