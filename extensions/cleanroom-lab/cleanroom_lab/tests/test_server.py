"""The cleanroom-lab server extension on a real Jupyter server, talking to a small fake airlock.

The server is the notebook image's jupyter_server version, loaded with the image's own
/etc/jupyter configuration file (images/notebook/jupyter_server_config.py) and the extension
from extensions/cleanroom-lab; its kernels run, as in the image, under the kernel container's
Jupyter Kernel Gateway (images/notebook/kernels_gateway.py) on a Unix socket. The fake airlock
keeps requests in memory and follows the agreed contract (docs/explanation/lab-extension.md): it
records every call, with the token that made it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import tornado.web
import websocket

from cleanroom_lab.guard import guard_handlers
from cleanroom_lab.handlers import lab_handlers

from . import EXTENSION, NOTEBOOK_IMAGE

IMAGE_CONFIG = NOTEBOOK_IMAGE / "jupyter_server_config.py"
KERNELS_GATEWAY = NOTEBOOK_IMAGE / "kernels_gateway.py"
START_HERE = NOTEBOOK_IMAGE / "start-here" / "Start here.ipynb"
DESCRIBED = {
    "view": "sales",
    "dataset": "sales",
    "version": "v1",
    "grant": 3,
    "columns": [{"name": "region", "type": "VARCHAR"}],
    "rows": 10,
    "columns_restricted": True,
    "row_filter": None,
    "expires_at": "2027-01-01T00:00:00Z",
    "granted_at": "2026-01-01T00:00:00Z",
}
TOKEN = "server-token-lxa"
RESEARCHER_TOKEN = "hub-token-of-lxa"


class FakeAirlock(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), AirlockHandler)
        self.requests: dict[str, dict] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.fail_put = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/airlock/"


class AirlockHandler(BaseHTTPRequestHandler):
    server: FakeAirlock

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.calls.append((method, url.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != f"token {RESEARCHER_TOKEN}":
            return self._reply(403, {"error": "not your token"})
        path = url.path.removeprefix("/services/airlock/")
        requests_ = self.server.requests
        if method == "POST" and path == "api/requests":
            data = json.loads(body)
            request_id = f"r-{len(requests_) + 1}"
            requests_[request_id] = {
                "id": request_id,
                "state": "draft",
                "justification": data["justification"],
                "title": data.get("title"),
                "files": [],
                "checks": [],
                "comments": [],
                "reasons": [],
                "blobs": {},
                "specs": {},
            }
            return self._reply(201, self._public(requests_[request_id]))
        if method == "GET" and path == "api/requests":
            return self._reply(200, {"requests": [self._public(r) for r in requests_.values()]})
        match = re.fullmatch(r"api/requests/([^/]+)(?:/(files)/([^/]+)|/(submit|withdraw))?", path)
        if not match or match.group(1) not in requests_:
            return self._reply(404, {"error": "no such request"})
        request = requests_[match.group(1)]
        if match.group(2) == "files" and method == "PUT":
            if self.server.fail_put:
                return self._reply(507, {"error": "the airlock's store is full"})
            name = unquote(match.group(3))
            kind = parse_qs(url.query)["type"][0]
            request["files"] = [f for f in request["files"] if f["name"] != name]
            request["files"].append({"name": name, "type": kind, "size": len(body)})
            request["blobs"][name] = body
            request["specs"][name] = self.headers.get("X-Cleanroom-Table-Spec")
            return self._reply(201, request["files"][-1])
        if match.group(4) == "submit" and method == "POST":
            if "deny" in request["justification"]:
                return self._reply(
                    409,
                    {
                        "error": "the release policy refuses this",
                        "reasons": ["models need a data owner"],
                    },
                )
            request["state"] = "in_review"
            return self._reply(200, self._public(request))
        if match.group(4) == "withdraw" and method == "POST":
            request["state"] = "withdrawn"
            return self._reply(200, self._public(request))
        if method == "GET" and not match.group(2) and not match.group(4):
            return self._reply(200, self._public(request))
        return self._reply(405, {"error": "method not allowed"})

    @staticmethod
    def _public(request: dict) -> dict:
        return {k: v for k, v in request.items() if k not in ("blobs", "specs")}

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")


@pytest.fixture(scope="module")
def airlock():
    server = FakeAirlock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, airlock):
    """A Jupyter server with the image's configuration and the extension; its workspace."""
    base = tmp_path_factory.mktemp("lab")
    home, data, runtime = base / "home", base / "data", base / "runtime"
    for folder in (home, data, runtime):
        folder.mkdir()
    (data / "sales.parquet").write_bytes(b"PAR1 the depositors' data")
    facts = base / "datasets.json"
    facts.write_text(json.dumps({"datasets": [DESCRIBED]}))
    (home / ".cleanroom-lab").mkdir()
    (home / "Start here.ipynb").symlink_to(base / "secret.txt")  # left by the researcher
    (base / "secret.txt").write_text("outside the workspace")
    config = base / "config.py"
    config.write_text(
        f"load_subconfig({str(IMAGE_CONFIG)!r})\n"
        f"c.IdentityProvider.token = {TOKEN!r}\n"
        f"c.CleanroomLab.airlock_url = {airlock.url!r}\n"
        f"c.CleanroomLab.api_token = {RESEARCHER_TOKEN!r}\n"
        f"c.CleanroomLab.dataset_dirs = [{str(data)!r}]\n"
        f"c.CleanroomLab.datasets_file = {str(facts)!r}\n"
        f"c.CleanroomLab.start_here = {str(START_HERE)!r}\n"
        "c.CleanroomLab.max_file_bytes = 64 * 1024\n"
        "c.GuardedContentsManager.max_base64_read_bytes = 4096\n"
    )
    port = _free_port()
    kernel_socket = base / "kernels" / "gateway.sock"
    kernel_socket.parent.mkdir(mode=0o700)
    env = {
        **os.environ,
        "PYTHONPATH": str(EXTENSION),
        "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(base / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_PATH": "",
        "HOME": str(home),
        "CLEANROOM_KERNEL_SOCKET": str(kernel_socket),
    }
    env.pop("CLEANROOM_TERMINALS", None)
    gateway_log = open(base / "gateway.log", "w")  # noqa: SIM115
    gateway = subprocess.Popen(
        [sys.executable, str(KERNELS_GATEWAY)],
        cwd=home,
        # The kernel side's data dir is its own (in the image, the researcher's home).
        env={**env, "PYTHONPATH": "", "JUPYTER_DATA_DIR": str(base / "gateway-data")},
        stdout=gateway_log,
        stderr=subprocess.STDOUT,
    )
    log = open(base / "server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--config={config}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={home}",
            "--ServerApp.port_retries=0",
            "--allow-root",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                break
            try:
                if requests.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the Jupyter server did not start")
        if process.poll() is not None:
            pytest.fail(f"the Jupyter server exited:\n{(base / 'server.log').read_text()}")
        session = requests.Session()
        session.headers["Authorization"] = f"token {TOKEN}"
        yield {
            "url": url,
            "home": home,
            "base": base,
            "session": session,
            "data": data,
            "kernel_socket": kernel_socket,
            "gateway_pid": gateway.pid,
        }
    finally:
        for child in (process, gateway):
            child.terminate()
            child.wait(timeout=30)
        log.close()
        gateway_log.close()


def _api(lab, method, path, **kwargs):
    return lab["session"].request(
        method, f"{lab['url']}/cleanroom-lab/{path}", timeout=30, **kwargs
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _example_path(pattern: str) -> str:
    """A path that a route's pattern matches: each group filled in with a plausible value."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)|\(\.\*\)", "r-1", pattern)
    assert re.fullmatch(pattern, path), (pattern, path)
    return path


def _extension_routes() -> list[tuple[str, str]]:
    """(method, path) for every method of every route the extension registers, read from its
    own handler tables, as the server gets them. The methods a handler only inherits are
    jupyter_server's own, and ones it lets anyone call (the CORS preflight ``OPTIONS``)."""
    routes = []
    for pattern, handler in guard_handlers("/") + lab_handlers("/"):
        for method in handler.SUPPORTED_METHODS:
            function = getattr(handler, method.lower())
            if function is tornado.web.RequestHandler._unimplemented_method:
                continue
            if not function.__module__.startswith("cleanroom_lab."):
                assert function.__module__.startswith("jupyter_server."), (method, handler)
                assert hasattr(function, "__allow_unauthenticated"), (method, handler)
                continue
            routes.append((method, _example_path(pattern)))
    return routes


def test_every_route_of_the_extension_refuses_an_anonymous_request(lab, airlock):
    routes = _extension_routes()
    # Among them the release endpoints and the refused download routes.
    assert {("POST", "/cleanroom-lab/requests"), ("GET", "/files/r-1")} <= set(routes)
    (lab["home"] / "r-1").write_text("a workspace file")
    before = len(airlock.calls)
    anonymous = requests.Session()
    for method, path in routes:
        response = anonymous.request(
            method, f"{lab['url']}{path}", json={}, timeout=30, allow_redirects=False
        )
        assert response.status_code in (302, 403), (method, path, response.status_code)
        assert "a workspace file" not in response.text, (method, path)
    assert len(airlock.calls) == before  # nothing reached the airlock


def test_the_datasets_panel_reads_what_the_hub_wrote(lab):
    response = _api(lab, "GET", "datasets")
    assert response.status_code == 200, response.text
    assert response.json() == {"datasets": [DESCRIBED], "message": ""}


def test_start_here_is_never_written_through_a_link(lab):
    # The home already held a link of that name: it was left alone, and the marker set.
    assert (lab["home"] / "Start here.ipynb").is_symlink()
    assert (lab["base"] / "secret.txt").read_text() == "outside the workspace"
    assert (lab["home"] / ".cleanroom-lab" / "start-here-copied").exists()


def test_preview_shows_exactly_what_would_be_sent(lab):
    (lab["home"] / "out").mkdir(exist_ok=True)
    (lab["home"] / "out" / "means.csv").write_text("plant,mean\nA,1.5\n")
    response = _api(lab, "POST", "preview", json={"paths": ["out"]})
    assert response.status_code == 200, response.text
    [item] = response.json()["files"]
    assert (
        item["path"] == "out/means.csv"
        and item["size"] == len("plant,mean\nA,1.5\n")
        and item["type"] == "table"
    )
    assert len(item["sha256"]) == 64


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("../secret.txt", 403, "outside your workspace"),
        ("data-link/sales.parquet", 403, "dataset mount"),
        ("escape.txt", 403, "symbolic link"),
        ("huge.bin", 413, "at most 64.0 KiB"),
    ],
)
def test_preview_refuses_with_a_clear_message(lab, path, status, words):
    home = lab["home"]
    if not (home / "data-link").exists():
        os.symlink(lab["data"], home / "data-link")
        os.symlink(lab["base"] / "secret.txt", home / "escape.txt")
        (home / "huge.bin").write_bytes(b"\0" * (64 * 1024 + 1))
    response = _api(lab, "POST", "preview", json={"paths": [path]})
    assert response.status_code == status
    assert words in response.json()["error"]


def test_a_request_sends_the_files_and_outputs_with_the_researchers_token(lab, airlock):
    (lab["home"] / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\nfigure")
    (lab["home"] / "t.csv").write_text("a,b\n1,2\n")
    response = _api(
        lab,
        "POST",
        "requests",
        json={
            "justification": "Yield by plant for the paper",
            "title": "paper",
            "files": [{"path": "t.csv", "type": "table"}, {"path": "fig.png", "type": "figure"}],
            "outputs": [{"name": "cell-2.png", "data": _b64(b"\x89PNG\r\n\x1a\ncell")}],
        },
    )
    assert response.status_code == 201, response.text
    request = response.json()
    assert request["state"] == "in_review"
    stored = airlock.requests[request["id"]]
    assert stored["blobs"] == {
        "t.csv": b"a,b\n1,2\n",
        "fig.png": b"\x89PNG\r\n\x1a\nfigure",
        "cell-2.png": b"\x89PNG\r\n\x1a\ncell",
    }
    assert [f["type"] for f in stored["files"]] == ["table", "figure", "figure"]
    assert {auth for _, _, auth in airlock.calls} == {f"token {RESEARCHER_TOKEN}"}
    listed = _api(lab, "GET", "requests").json()["requests"]
    assert request["id"] in [r["id"] for r in listed]


def test_a_refused_file_sends_nothing(lab, airlock):
    before = len(airlock.calls)
    response = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "x", "files": [{"path": "../secret.txt", "type": "text"}]},
    )
    assert response.status_code == 403
    bad_type = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "x", "files": [{"path": "t.csv", "type": "dataset"}]},
    )
    assert bad_type.status_code == 400 and "choose one of" in bad_type.json()["error"]
    no_reason = _api(lab, "POST", "requests", json={"files": [{"path": "t.csv", "type": "table"}]})
    assert no_reason.status_code == 400 and "Say why" in no_reason.json()["error"]
    assert len(airlock.calls) == before


def test_a_failed_upload_withdraws_the_draft(lab, airlock):
    airlock.fail_put = True
    try:
        response = _api(
            lab,
            "POST",
            "requests",
            json={"justification": "x", "files": [{"path": "t.csv", "type": "table"}]},
        )
    finally:
        airlock.fail_put = False
    assert response.status_code == 507
    assert "store is full" in response.json()["error"]
    newest = list(airlock.requests.values())[-1]
    assert newest["state"] == "withdrawn"


def test_a_policy_refusal_comes_back_with_its_reasons(lab):
    response = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "deny me", "files": [{"path": "t.csv", "type": "table"}]},
    )
    assert response.status_code == 409
    body = response.json()
    assert body["reasons"] == ["models need a data owner"]
    assert body["request"]["state"] == "draft"


def test_withdraw_and_resubmit_send_the_current_bytes(lab, airlock):
    created = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "first", "files": [{"path": "t.csv", "type": "table"}]},
    ).json()
    airlock.requests[created["id"]]["state"] = "returned"
    (lab["home"] / "t.csv").write_text("a,b\n1,3\n")
    resubmitted = _api(
        lab,
        "POST",
        f"requests/{created['id']}/resubmit",
        json={"justification": "fixed the small cell"},
    )
    assert resubmitted.status_code == 200, resubmitted.text
    assert resubmitted.json()["state"] == "in_review"
    assert airlock.requests[created["id"]]["blobs"]["t.csv"] == b"a,b\n1,3\n"
    again = _api(lab, "POST", f"requests/{created['id']}/resubmit", json={})
    assert again.status_code == 409 and "only a request returned" in again.json()["error"]
    withdrawn = _api(lab, "POST", f"requests/{created['id']}/withdraw")
    assert withdrawn.json()["state"] == "withdrawn"
    missing = _api(lab, "GET", "requests/r-999")
    assert missing.status_code == 404 and missing.json()["error"] == "no such request"


@pytest.mark.parametrize(
    "route",
    [
        "files/t.csv",
        "view/t.csv",
        "nbconvert/html/n.ipynb",
        "files/",
        "nbconvert/script/n.ipynb?download=true",
    ],
)
def test_download_routes_are_refused(lab, route):
    (lab["home"] / "n.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    response = lab["session"].get(f"{lab['url']}/{route}", timeout=30)
    assert response.status_code == 403
    assert "Request release" in response.text


def test_contents_api_refuses_large_binary_reads_and_uploads(lab):
    home, session, url = lab["home"], lab["session"], lab["url"]
    (home / "small.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\1" * 100)
    (home / "large.bin").write_bytes(b"\xff" * 5000)
    (home / "large.txt").write_text("x" * 5000)
    small = session.get(f"{url}/api/contents/small.png", params={"format": "base64"}, timeout=30)
    assert small.status_code == 200
    for params in ({"format": "base64"}, {}):
        large = session.get(f"{url}/api/contents/large.bin", params=params, timeout=30)
        assert large.status_code == 403, params
        assert "Request release" in large.json()["message"]
    text = session.get(f"{url}/api/contents/large.txt", params={"format": "text"}, timeout=30)
    assert text.status_code == 200 and text.json()["content"] == "x" * 5000
    forced = session.get(f"{url}/api/contents/large.txt", params={"format": "base64"}, timeout=30)
    assert forced.status_code == 403
    upload = session.put(
        f"{url}/api/contents/up.bin",
        timeout=30,
        json={"type": "file", "format": "base64", "content": _b64(b"smuggled")},
    )
    assert upload.status_code == 403 and "administrator" in upload.json()["message"]
    assert not (home / "up.bin").exists()
    notebook = session.put(
        f"{url}/api/contents/new.ipynb",
        timeout=30,
        json={
            "type": "notebook",
            "format": "json",
            "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
        },
    )
    assert notebook.status_code in (200, 201)


def test_terminals_are_off(lab):
    response = lab["session"].get(f"{lab['url']}/api/terminals", timeout=30)
    assert response.status_code == 404


def _gateway_get(lab, path: str, method: str = "GET"):
    """Ask the kernel gateway itself, over its Unix socket (as only the lab server can)."""
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(lab["kernel_socket"]))

    connection = UnixConnection("cleanroom-kernels", timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _run_in_kernel(lab, kernel_id: str, code: str) -> str:
    url = lab["url"].replace("http://", "ws://") + f"/api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(url, header=[f"Authorization: token {TOKEN}"], timeout=60)
    try:
        msg_id = f"run-{time.monotonic_ns()}"
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": "t", "username": ""}
        ws.send(
            json.dumps(
                {
                    "header": {**header, "version": "5.3", "date": ""},
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": False},
                    "channel": "shell",
                }
            )
        )
        out = []
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def test_kernels_run_under_the_gateway_in_their_notebooks_folder(lab):
    session, url, home = lab["session"], lab["url"], lab["home"]
    (home / "analysis").mkdir(exist_ok=True)
    created = session.post(
        f"{url}/api/sessions",
        timeout=60,
        json={"path": "analysis/n.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert created.status_code == 201, created.text
    kernel_id = created.json()["kernel"]["id"]
    try:
        status, kernels = _gateway_get(lab, "/api/kernels")
        assert status == 200 and kernel_id in [k["id"] for k in kernels]
        out = _run_in_kernel(lab, kernel_id, "import os; print(os.getcwd(), os.getppid())")
        folder, parent = out.split()
        assert folder == str(home / "analysis")
        assert int(parent) == lab["gateway_pid"]
    finally:
        session.delete(f"{url}/api/sessions/{created.json()['id']}", timeout=60)
    assert kernel_id not in [k["id"] for k in _gateway_get(lab, "/api/kernels")[1]]


def test_kernel_specs_come_from_the_server_not_from_the_gateway(lab):
    """A kernel spec the kernel side adds (its data dir is the researcher's) is never listed,
    nor is its logo served."""
    planted = lab["base"] / "gateway-data" / "kernels" / "planted"
    planted.mkdir(parents=True)
    (planted / "kernel.json").write_text(
        json.dumps({"argv": ["python3", "-c", "pass"], "display_name": "Planted", "language": "x"})
    )
    (planted / "logo-64x64.png").write_bytes(b"<script>alert(1)</script>")
    status, gateway_specs = _gateway_get(lab, "/api/kernelspecs")
    assert status == 200 and "planted" in gateway_specs["kernelspecs"]  # the gateway has it
    specs = lab["session"].get(f"{lab['url']}/api/kernelspecs", timeout=30)
    assert specs.status_code == 200
    assert "python3" in specs.json()["kernelspecs"]
    assert "planted" not in specs.json()["kernelspecs"]
    logo = lab["session"].get(f"{lab['url']}/kernelspecs/planted/logo-64x64.png", timeout=30)
    assert logo.status_code == 404


def test_a_kernel_the_gateway_lost_is_gone_for_the_lab_too(lab):
    """As after a restart of the kernel container: the lab server asks the gateway, so
    JupyterLab sees the kernel gone (and shows it dead), not a stale model."""
    session, url = lab["session"], lab["url"]
    created = session.post(f"{url}/api/kernels", json={"name": "python3"}, timeout=60)
    assert created.status_code == 201, created.text
    kernel_id = created.json()["id"]
    assert session.get(f"{url}/api/kernels/{kernel_id}", timeout=30).status_code == 200
    status, _ = _gateway_get(lab, f"/api/kernels/{kernel_id}", method="DELETE")
    assert status == 204
    assert session.get(f"{url}/api/kernels/{kernel_id}", timeout=30).status_code == 404
    assert kernel_id not in [k["id"] for k in session.get(f"{url}/api/kernels").json()]


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_verified_tables_specification_is_sent_with_it_as_a_header(lab, airlock):
    home = lab["home"]
    (home / "verified").mkdir()
    spec = json.dumps({"format": "cleanroom-table/1", "dataset": "sales", "rows": ["région"]})
    (home / "verified" / "by_region.csv").write_text("region,count\nN,12\n")
    (home / "verified" / "by_region.csv.table.json").write_bytes(spec.encode() + b"\n>>?")
    (home / "verified" / "plain.csv").write_text("a\n1\n")
    preview = _api(lab, "POST", "preview", json={"paths": ["verified"]})
    assert preview.status_code == 200, preview.text
    assert [(f["path"], f["table_spec"]) for f in preview.json()["files"]] == [
        (
            "verified/by_region.csv",
            {"name": "by_region.csv.table.json", "size": len(spec.encode()) + 4},
        ),
        ("verified/plain.csv", None),
    ]
    response = _api(
        lab,
        "POST",
        "requests",
        json={
            "justification": "counts by region",
            "files": [
                {"path": "verified/by_region.csv", "type": "table"},
                {"path": "verified/plain.csv", "type": "table"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    stored = airlock.requests[response.json()["id"]]
    sent = stored["specs"]["by_region.csv"]
    assert "=" not in sent and "+" not in sent and "/" not in sent  # base64url, unpadded
    assert _unb64url(sent) == spec.encode() + b"\n>>?"  # the bytes as they are
    assert stored["specs"]["plain.csv"] is None
    assert sorted(stored["blobs"]) == ["by_region.csv", "plain.csv"]  # never a file of its own

    # Resubmitting sends the table's current specification with its current bytes.
    stored["state"] = "returned"
    (home / "verified" / "by_region.csv.table.json").write_text('{"rounding": {"base": 5}}')
    resubmitted = _api(lab, "POST", f"requests/{stored['id']}/resubmit", json={})
    assert resubmitted.status_code == 200, resubmitted.text
    assert _unb64url(stored["specs"]["by_region.csv"]) == b'{"rounding": {"base": 5}}'


def test_a_specification_on_its_own_or_unsendable_sends_nothing(lab, airlock):
    home = lab["home"]
    (home / "alone").mkdir()
    (home / "alone" / "t.csv").write_text("a\n1\n")
    (home / "alone" / "t.csv.table.json").write_text("{}")
    before = len(airlock.calls)
    alone = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "x", "files": [{"path": "alone/t.csv.table.json", "type": "text"}]},
    )
    assert alone.status_code == 400
    assert "it goes with its table automatically" in alone.json()["error"]
    os.unlink(home / "alone" / "t.csv.table.json")
    os.symlink(lab["base"] / "secret.txt", home / "alone" / "t.csv.table.json")
    linked = _api(
        lab,
        "POST",
        "requests",
        json={"justification": "x", "files": [{"path": "alone/t.csv", "type": "table"}]},
    )
    assert linked.status_code == 400
    assert "t.csv.table.json is a symbolic link" in linked.json()["error"]
    assert len(airlock.calls) == before
