"""cleanroom.hubapi against a small fake hub: the URL, the token, JSON both ways, a missing
user; and the airlock's HubClient on top of the async client."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error

import pytest

from cleanroom.airlock.errors import Unavailable
from cleanroom.airlock.facts import HubClient, HubUser
from cleanroom.hubapi import AsyncHubAPI, HubAPI

TOKEN = "service-token"
USERS = {
    "alice": {
        "name": "alice",
        "groups": ["researcher"],
        "servers": {"": {"ready": True, "user_options": {"project": "p1"}}},
    }
}


@pytest.fixture
def hub():
    """A fake hub API at <url>/hub/api: GET/POST users, POST group members; 500 for 'broken'."""
    seen: list[tuple[str, str, str | None, dict | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body=None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append((self.command, self.path, self.headers.get("Authorization"), body))
            if self.headers.get("Authorization") != f"token {TOKEN}":
                return self._answer(403, {"message": "no"})
            path = self.path.removeprefix("/hub/api")
            if path == "/users/broken":
                return self._answer(500, {"message": "oops"})
            if path.startswith("/users/"):
                name = path.removeprefix("/users/")
                if self.command == "POST":
                    USERS.setdefault(name, {"name": name, "groups": [], "servers": {}})
                    return self._answer(201, USERS[name])
                if name in USERS:
                    return self._answer(200, USERS[name])
                return self._answer(404, {"message": "not found"})
            if path.startswith("/groups/") and self.command == "POST":
                return self._answer(200, {"name": path.split("/")[2]})
            return self._answer(200, {"version": "5"})

        do_GET = do_POST = do_DELETE = _handle

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        USERS.pop("bob", None)


def test_sync_calls_send_the_token_and_json(hub):
    url, seen = hub
    api = HubAPI(url, TOKEN)
    assert api.call("GET", "/users/alice")["groups"] == ["researcher"]
    assert seen[-1] == ("GET", "/hub/api/users/alice", f"token {TOKEN}", None)
    api.wait_until_up(timeout=5)
    with pytest.raises(urllib.error.HTTPError) as error:
        api.call("GET", "/users/nobody")
    assert error.value.code == 404


def test_from_api_url_is_the_same_client(hub):
    url, _ = hub
    api = HubAPI.from_api_url(f"{url}/hub/api/", TOKEN)
    assert api.base_url == url
    assert api.call("GET", "/users/alice")["name"] == "alice"


def test_ensure_user_creates_a_missing_user_and_adds_its_groups(hub):
    url, seen = hub
    HubAPI(url, TOKEN).ensure_user("bob", ("reviewer",))
    assert [(method, path, body) for method, path, _, body in seen] == [
        ("GET", "/hub/api/users/bob", None),
        ("POST", "/hub/api/users/bob", None),
        ("POST", "/hub/api/groups/reviewer/users", {"users": ["bob"]}),
    ]


async def test_async_calls_send_the_token(hub):
    url, seen = hub
    api = AsyncHubAPI(f"{url}/hub/api/", TOKEN, timeout=5)
    assert (await api.call("GET", "/users/alice"))["name"] == "alice"
    assert seen[-1] == ("GET", "/hub/api/users/alice", f"token {TOKEN}", None)
    assert (await api.call("POST", "/groups/g/users", {"users": ["alice"]})) == {"name": "g"}
    assert seen[-1][3] == {"users": ["alice"]}


async def test_the_airlocks_hub_client(hub):
    url, _ = hub
    client = HubClient(f"{url}/hub/api", TOKEN, timeout=5)
    assert await client.user("alice") == HubUser("alice", ("researcher",), "p1", True)
    assert await client.user("nobody") == HubUser("nobody", (), None, False)
    with pytest.raises(Unavailable, match="did not answer about broken"):
        await client.user("broken")
    with pytest.raises(Unavailable, match="did not answer"):
        await HubClient(f"{url}/hub/api", "wrong", timeout=5).user("alice")
