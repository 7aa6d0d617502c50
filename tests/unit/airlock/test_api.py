"""The airlock's HTTP layer in-process: identity, errors as JSON 4xx (never 5xx), XSRF only for
cookie sign-ins, strict headers, streamed uploads and their limits, the peer check, the route
table. The hub and OPA are small fakes here (the real ones: tests/integration/test_airlock_*).
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from factories.airlock import make_airlock, serving
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.web import RequestHandler

from cleanroom.airlock.facts import HubUser, parse_user
from cleanroom.airlock.service import Limits
from cleanroom.airlock.web.app import routes
from cleanroom.airlock.web.handlers.base import CONTENT_SECURITY_POLICY, check_route_table

# The server fixture and the tests share the session's event loop (the fixtures' loop scope).
in_session_loop = pytest.mark.asyncio(loop_scope="session")

PREFIX = "/services/airlock/"
TOKENS = {
    "alice-token": ("alice", ["custom:cleanroom:submit"]),
    "rita-token": ("rita", ["custom:cleanroom:review"]),
}


class FakeHubAuth:
    """Answers like HubAuth.get_user: the model of a known token, else None; XSRF as
    tornado checks it."""

    login_url = "/hub/login"
    base_url = PREFIX

    def check_xsrf_cookie(self, handler):
        return RequestHandler.check_xsrf_cookie(handler)

    def get_user(self, handler, sync=True):
        model = self._model(handler)
        if sync:
            return model

        async def answer():
            return model

        return answer()

    @staticmethod
    def _model(handler):
        header = handler.request.headers.get("Authorization", "")
        token = header.removeprefix("token ").strip()
        if token in TOKENS:
            name, scopes = TOKENS[token]
            return {"kind": "user", "name": name, "scopes": scopes}
        if handler.get_cookie("fake-session") == "alice":
            return {"kind": "user", "name": "alice", "scopes": ["custom:cleanroom:submit"]}
        return None


class FakeHub:
    async def user(self, name):
        return HubUser(name, ("researcher",), "yield" if name == "alice" else None, True)


@pytest.fixture
async def server(tmp_path):
    # A stub policy, which nothing these tests do gets as far as asking (checked at the end).
    limits = Limits(max_file_bytes=1000, max_files=3, max_request_bytes=2500)
    service = make_airlock(tmp_path, limits=limits)
    with serving(service, FakeHub(), FakeHubAuth(), PREFIX, max_body_size=1024 * 1024) as url:
        yield {"port": urlsplit(url).port, "url": url, "service": service}
    assert service.policy.asked == []


async def call(server, method, path, token="alice-token", body=None, headers=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"token {token}"
    request = HTTPRequest(
        server["url"] + path,
        method=method,
        headers=headers,
        body=body,
        allow_nonstandard_methods=True,
    )
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def draft(server) -> str:
    answer = await call(server, "POST", "api/requests", body=json.dumps({"justification": "j"}))
    assert answer.code == 201, answer.body
    return json.loads(answer.body)["id"]


@in_session_loop
async def test_without_a_hub_identity_everything_is_401_json(server):
    for method, path in (
        ("GET", "api/requests"),
        ("POST", "api/requests"),
        ("PUT", "api/requests/r-1/files/a.csv?type=table"),
    ):
        answer = await call(
            server, method, path, token=None, body=b"{}" if method != "GET" else None
        )
        assert answer.code in (401, 403), (method, path, answer.code)
        assert "error" in json.loads(answer.body)
    answer = await call(server, "GET", "api/requests", token="stolen")
    assert answer.code == 401 and "sign in" in json.loads(answer.body)["error"]


@in_session_loop
async def test_strict_headers_on_every_answer(server):
    answer = await call(server, "GET", "api/requests")
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"


@in_session_loop
async def test_bad_input_is_4xx_json_never_5xx(server):
    rid = await draft(server)
    cases = [
        ("POST", "api/requests", b"{not json"),
        ("POST", "api/requests", b"[]"),
        ("POST", "api/requests", b'{"justification": 3}'),
        ("POST", "api/requests", b'{"justification": "   "}'),
        ("GET", "api/requests/r-nope", None),
        ("GET", "api/requests?queue=everything", None),
        ("POST", f"api/requests/{rid}/votes", b'{"votes": [{"file": 1}]}'),
        ("POST", f"api/requests/{rid}/votes", b'{"votes": []}'),
        ("PUT", f"api/requests/{rid}/files/a.csv?type=weights", b"x"),
        ("PUT", f"api/requests/{rid}/files/a%2F..%2Fb?type=table", b"x"),
        ("PUT", f"api/requests/{rid}/files/%00?type=table", b"x"),
        ("PUT", f"api/requests/{rid}/files/..?type=table", b"x"),
        ("DELETE", f"api/requests/{rid}/files/nothing.csv", None),
        ("GET", "api/nothing-here", None),
        ("POST", f"api/requests/{rid}/revoke", b'{"reason": "x"}'),
    ]
    for method, path, body in cases:
        answer = await call(server, method, path, body=body)
        assert 400 <= answer.code < 500, (method, path, answer.code, answer.body)
        assert json.loads(answer.body)["error"], (method, path)


@in_session_loop
async def test_a_cookie_sign_in_needs_the_xsrf_token_a_header_token_does_not(server):
    body = json.dumps({"justification": "j"})
    by_cookie = await call(
        server,
        "POST",
        "api/requests",
        token=None,
        body=body,
        headers={"Cookie": "fake-session=alice"},
    )
    assert by_cookie.code == 403 and "xsrf" in json.loads(by_cookie.body)["error"].lower()
    assert (await call(server, "POST", "api/requests", body=body)).code == 201


@in_session_loop
async def test_the_body_never_names_the_project_or_requester(server):
    body = json.dumps({"justification": "j", "project": "secret", "requester": "rita"})
    answer = await call(server, "POST", "api/requests", body=body)
    model = json.loads(answer.body)
    assert (model["project"], model["requester"]) == ("yield", "alice")


async def raw_put(server, rid: str, name: str, head: str, body: bytes) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", server["port"])
    writer.write(
        f"PUT {PREFIX}api/requests/{rid}/files/{name}?type=table HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: token alice-token\r\n{head}\r\n".encode()
        + body
    )
    try:
        await writer.drain()
    except ConnectionError:
        pass
    answer = await asyncio.wait_for(reader.read(65536), 30)
    writer.close()
    return answer.decode(errors="replace")


@in_session_loop
async def test_uploads_over_the_limit_are_413_and_leave_nothing(server):
    rid = await draft(server)
    blobs = server["service"].store.root
    declared = await raw_put(server, rid, "big.csv", "Content-Length: 1001\r\n", b"")
    assert declared.startswith("HTTP/1.1 413") and "at most 1000 bytes" in declared
    chunk = b"x" * 600
    chunked = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n"
    streamed = await raw_put(server, rid, "big.csv", "Transfer-Encoding: chunked\r\n", chunked)
    assert streamed.startswith("HTTP/1.1 413"), streamed[:200]
    assert list(blobs.iterdir()) == []
    model = json.loads((await call(server, "GET", f"api/requests/{rid}")).body)
    assert model["files"] == []


@in_session_loop
async def test_an_upload_streams_in_and_counts_against_the_request(server):
    rid = await draft(server)
    for index in range(2):
        answer = await call(
            server,
            "PUT",
            f"api/requests/{rid}/files/f{index}.csv?type=table",
            body=b"a" * 1000 + bytes([index]) * 0,
        )
        assert answer.code == 201, answer.body
    # 2000 of 2500 bytes used: the next file may have 500.
    over = await call(server, "PUT", f"api/requests/{rid}/files/f2.csv?type=table", body=b"b" * 501)
    assert over.code == 413
    ok = await call(server, "PUT", f"api/requests/{rid}/files/f2.csv?type=table", body=b"b" * 500)
    assert ok.code == 201
    fourth = await call(server, "PUT", f"api/requests/{rid}/files/f3.csv?type=table", body=b"c")
    assert fourth.code == 413 and "3 files" in json.loads(fourth.body)["error"]


@in_session_loop
async def test_only_the_requester_changes_a_request(server):
    rid = await draft(server)
    answer = await call(
        server, "PUT", f"api/requests/{rid}/files/a.csv?type=table", body=b"1", token="rita-token"
    )
    assert answer.code == 403


def test_every_handler_method_is_authenticated():
    from cleanroom.airlock.web.handlers import api, pages

    check_route_table(api.default_handlers)
    check_route_table(pages.default_handlers)
    assert routes(PREFIX)


@pytest.mark.parametrize(
    ("peer", "inside"),
    [
        ("172.30.0.2", True),
        ("172.30.0.254", True),
        ("172.30.0.1", False),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("not-an-address", True),
    ],
)
def test_the_peer_check(peer, inside):
    from cleanroom.airlock.web.handlers.base import AirlockHandler

    class Request:
        remote_ip = peer

    handler = AirlockHandler.__new__(AirlockHandler)
    handler.request = Request()
    handler.application = SimpleNamespace(
        settings={"clean_room_subnet": "172.30.0.0/24", "gateway": "172.30.0.1"}
    )
    assert handler.peer_in_clean_room() is inside


def test_the_hubs_user_model_gives_the_running_servers_project_only():
    running = {
        "name": "alice",
        "groups": ["researcher"],
        "servers": {"": {"ready": True, "stopped": False, "user_options": {"project": "yield"}}},
    }
    assert parse_user(running) == HubUser("alice", ("researcher",), "yield", True)
    options = {"project": "yield"}
    pending = {"name": "alice", "servers": {"": {"ready": False, "user_options": options}}}
    assert parse_user(pending).server_project is None
    assert parse_user({"name": "bob", "servers": {}}) == HubUser("bob", (), None, False)
    odd = {"name": "eve", "servers": {"": {"ready": True, "user_options": {"project": ["x"]}}}}
    assert parse_user(odd).server_project is None


@in_session_loop
async def test_the_previews_stylesheet_is_served_and_pages_link_it(server):
    answer = await call(server, "GET", "static/previews.css", token=None)
    assert answer.code == 200 and answer.headers["Content-Type"].startswith("text/css")
    assert b".cr-hl" in answer.body
    from cleanroom.airlock.web.app import templates

    base = templates().get_template("base.html").render(prefix=PREFIX, user=None)
    assert f'href="{PREFIX}static/previews.css"' in base and "<script" not in base


@in_session_loop
async def test_the_common_stylesheet_is_served_beside_the_airlocks_own(server):
    from cleanroom.airlock.web.app import templates

    base = templates().get_template("base.html").render(prefix=PREFIX, user=None)
    for sheet in ("static/common/pages.css", "static/airlock.css"):
        assert f'href="{PREFIX}{sheet}"' in base
        answer = await call(server, "GET", sheet, token=None)
        assert answer.code == 200 and answer.headers["Content-Type"].startswith("text/css")


@in_session_loop
async def test_pages_answer_mistakes_with_a_page_never_a_5xx(server):
    home = await call(server, "GET", "")
    assert home.code == 200 and b"My requests" in home.body and b"<script" not in home.body
    assert home.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    rid = await draft(server)
    mine = await call(server, "GET", f"requests/{rid}")
    assert mine.code == 200 and b"Submit for review" in mine.body
    for method, path, code in (
        ("GET", "requests/r-nope", 404),
        ("GET", "requests/%00", 404),
        ("GET", "admin", 403),
        ("GET", "admin/audit", 403),
        ("GET", "nowhere", 404),
        ("GET", f"requests/{rid}/files/x.csv/download", 403),
        ("POST", f"requests/{rid}/vote", 400),
        ("POST", f"requests/{rid}/revoke", 403),
    ):
        answer = await call(server, method, path, body=b"" if method == "POST" else None)
        assert answer.code == code, (method, path, answer.code)
        assert answer.headers["Content-Type"].startswith("text/html"), (method, path)


@pytest.fixture
async def small_quota(tmp_path):
    """alice may hold 1500 bytes in requests not yet released; uploads up to 1000 each."""
    limits = Limits(
        max_file_bytes=1000, max_files=3, max_request_bytes=2500, researcher_quota_bytes=1500
    )
    service = make_airlock(tmp_path, limits=limits)
    with serving(service, FakeHub(), FakeHubAuth(), PREFIX) as url:
        yield {"port": urlsplit(url).port, "url": url, "service": service}


@in_session_loop
async def test_a_quota_refusal_is_413_before_any_byte_is_stored(small_quota):
    server = small_quota
    rid = await draft(server)
    ok = await call(server, "PUT", f"api/requests/{rid}/files/a.csv?type=table", body=b"a" * 1000)
    assert ok.code == 201, ok.body
    blobs = server["service"].store.root
    before = sorted(p.name for p in blobs.iterdir())
    # Declared over what the quota leaves: 413 with the quota's words, the body never read.
    declared = await raw_put(server, rid, "b.csv", "Content-Length: 501\r\n", b"")
    assert declared.startswith("HTTP/1.1 413"), declared[:200]
    assert "your storage quota is 1500 bytes" in declared and "1000 of them are in use" in declared
    assert "nothing was stored" in declared
    assert sorted(p.name for p in blobs.iterdir()) == before
    fits = await call(server, "PUT", f"api/requests/{rid}/files/b.csv?type=table", body=b"b" * 500)
    assert fits.code == 201, fits.body
    # Full: refused at the start, whatever the size.
    full = await call(server, "PUT", f"api/requests/{rid}/files/c.csv?type=table", body=b"c")
    assert full.code == 413 and "no file can be added" in json.loads(full.body)["error"]
    model = json.loads((await call(server, "GET", f"api/requests/{rid}")).body)
    assert model["files"] == []  # outside the clean room: not reviewed yet


@in_session_loop
async def test_a_comment_on_a_draft_is_409_and_stores_nothing(server):
    rid = await draft(server)
    answer = await call(
        server, "POST", f"api/requests/{rid}/comments", body=json.dumps({"text": "hi"})
    )
    assert answer.code == 409
    assert "only while a request is in review" in json.loads(answer.body)["error"]
    with server["service"]._tx() as s:
        assert server["service"]._get(s, rid).comments == []


@in_session_loop
async def test_the_requester_sees_her_text_from_her_server_and_not_from_outside(tmp_path):
    service = make_airlock(tmp_path)
    body = json.dumps({"justification": "the means per plant", "title": "Yield"})
    # From inside: 127.0.0.1 is in the clean room's subnet here (the gateway is elsewhere).
    with serving(
        service, FakeHub(), FakeHubAuth(), PREFIX, subnet="127.0.0.0/8", gateway="127.0.0.2"
    ) as url:
        server = {"url": url}
        made = json.loads((await call(server, "POST", "api/requests", body=body)).body)
        assert (made["title"], made["justification"], made["withheld"]) == (
            "Yield",
            "the means per plant",
            False,
        )
    with serving(service, FakeHub(), FakeHubAuth(), PREFIX) as url:
        seen = json.loads((await call({"url": url}, "GET", f"api/requests/{made['id']}")).body)
        assert (seen["title"], seen["justification"], seen["withheld"]) == ("", "", True)
        listed = json.loads((await call({"url": url}, "GET", "api/requests")).body)["requests"]
        assert [(r["title"], r["justification"]) for r in listed] == [("", "")]
