"""Run code in a researcher's kernel the way the browser does: the Jupyter REST API to start a
kernel, then the kernel websocket, both through the entry point (nginx over TLS for the clean
room) with the researcher's login."""

from __future__ import annotations

import json
import ssl
import time
import uuid

import requests
import websocket


def execute_request(code: str, user: str) -> tuple[str, str]:
    """An execute request for ``code`` as JupyterLab sends it (JSON): (its msg_id, the frame)."""
    msg_id = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": user,
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "channel": "shell",
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
    }
    return msg_id, json.dumps(message)


class KernelSession:
    """One kernel on ``user``'s server, driven over ``wss://.../api/kernels/<id>/channels``."""

    def __init__(self, hub, user: str, session: requests.Session | None = None):
        self.hub = hub
        self.user = user
        self.session = session or hub.login(user)
        base = hub.server_url(user)
        lab = self.session.get(f"{base}/lab", timeout=60)  # completes the OAuth dance
        lab.raise_for_status()
        self.base = base
        xsrf = hub.server_xsrf(self.session, user)
        created = self.session.post(
            f"{base}/api/kernels",
            json={"name": "python3"},
            headers={"X-XSRFToken": xsrf},
            timeout=60,
        )
        assert created.status_code == 201, created.text
        self.kernel_id = created.json()["id"]
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        url = "ws" + base.removeprefix("http") + f"/api/kernels/{self.kernel_id}/channels"
        tls = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(hub.certificate)}
        self.ws = websocket.create_connection(
            url,
            header=[f"Cookie: {cookies}", f"X-XSRFToken: {xsrf}"],
            sslopt=tls if url.startswith("wss://") else None,
            timeout=120,
        )
        self.received_bytes = 0

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute ``code``; return its stdout; raise AssertionError with the traceback."""
        out: list[str] = []
        for msg in self._execute(code, timeout):
            kind = msg["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
        return "".join(out)

    def run_counting(self, code: str, timeout: float = 300) -> tuple[int, list[dict]]:
        """Execute ``code``; return the bytes of every frame the browser received until the
        cell finished, and that cell's messages."""
        self.received_bytes = 0
        messages = list(self._execute(code, timeout))
        return self.received_bytes, messages

    def _execute(self, code: str, timeout: float):
        """Send one execute request; yield the messages answering it, up to idle."""
        msg_id, message = execute_request(code, self.user)
        self.ws.send(message)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the cell did not finish within {timeout} s")
            self.ws.settimeout(left)
            frame = self.ws.recv()
            self.received_bytes += len(frame)
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            yield msg
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    def close(self) -> None:
        try:
            self.ws.close()
            xsrf = self.hub.server_xsrf(self.session, self.user)
            self.session.delete(
                f"{self.base}/api/kernels/{self.kernel_id}",
                headers={"X-XSRFToken": xsrf},
                timeout=30,
            )
        except (requests.RequestException, websocket.WebSocketException, OSError):
            pass
