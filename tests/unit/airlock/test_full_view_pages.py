"""The full view's page (``requests/{id}/full/{file version}``) as each role sees it: a
reviewer follows the request page's link and reaches the last row of a 1-million-row CSV in
two clicks; an admin sees it too; the requester, a researcher of another project and any call
from inside the clean room get a refusal that says why, and none of the content.

In-process over a real airlock database and blob store (as ``test_pages.py``); the hub and OPA
are small fakes (the review policy lets rita, only, review).
"""

from __future__ import annotations

import json
import re
import socket
from contextlib import contextmanager
from html import unescape

import pytest
from factories.airlock import NameTokenHubAuth, StubPolicy, allow, deny, make_airlock
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer

from cleanroom.airlock import permissions as perm
from cleanroom.airlock.enums import State
from cleanroom.airlock.errors import PermissionDenied
from cleanroom.airlock.facts import HubUser
from cleanroom.airlock.inspect.previews import PREVIEW_CSP
from cleanroom.airlock.service import Limits
from cleanroom.airlock.web.app import make_app

from .test_rules import CALLERS, EXPECTED, request_in

in_session_loop = pytest.mark.asyncio(loop_scope="session")

PREFIX = "/services/airlock/"
MILLION = 1_000_000
# name -> (groups, scopes, running server's project), as the hub says.
PEOPLE = {
    "alice": (("researcher",), ["custom:cleanroom:submit"], "yield"),
    "bob": (("researcher",), ["custom:cleanroom:submit"], "other"),
    "rita": (("reviewer",), ["custom:cleanroom:review"], None),
    "adam": (("admin",), ["custom:cleanroom:administer"], None),
}
LAST_ROW = f"{MILLION},THE-LAST-ROW"


class FakeHub:
    async def user(self, name):
        groups, _, project = PEOPLE[name]
        return HubUser(name, groups, project, True)


@contextmanager
def serving(service, *, subnet: str):
    """The airlock's app on loopback; ``subnet`` is the researchers' (127.0.0.0/8: every
    caller here comes from inside the clean room)."""
    app = make_app(
        service,
        FakeHub(),
        prefix=PREFIX,
        subnet=subnet,
        gateway="172.30.0.1",
        hub_auth=NameTokenHubAuth({name: person[1] for name, person in PEOPLE.items()}, PREFIX),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    http = HTTPServer(app)
    http.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{PREFIX}"
    finally:
        http.stop()


@pytest.fixture(scope="module")
def million_csv() -> bytes:
    body = "".join(f"{i},g{i % 7}\n" for i in range(1, MILLION))
    return ("id,plant_group\n" + body + LAST_ROW + "\n").encode()


@pytest.fixture
def service(tmp_path):
    policy = StubPolicy(
        review={"rita": allow("review", capacities=["reviewer"])},
        review_default=deny("review", "not a reviewer"),
    )
    limits = Limits(max_file_bytes=20_000_000, max_files=3, max_request_bytes=40_000_000)
    return make_airlock(tmp_path, policy=policy, limits=limits)


@pytest.fixture
async def airlock(service):
    # Async: the server must listen on the loop the test runs in.
    with serving(service, subnet="172.30.0.0/24") as url:
        yield url


async def fetch(url, user, method="GET", body=None):
    request = HTTPRequest(
        url,
        method=method,
        headers={"Authorization": f"token {user}"},
        body=body,
        follow_redirects=False,
        allow_nonstandard_methods=True,
        request_timeout=120,
    )
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def submitted(base: str, data: bytes) -> str:
    """alice's request with big.csv, submitted: in review, waiting for rita."""
    made = await fetch(base + "api/requests", "alice", "POST", json.dumps({"justification": "j"}))
    rid = json.loads(made.body)["id"]
    put = await fetch(base + f"api/requests/{rid}/files/big.csv?type=table", "alice", "PUT", data)
    assert put.code == 201, put.body
    done = await fetch(base + f"api/requests/{rid}/submit", "alice", "POST", b"{}")
    assert json.loads(done.body)["state"] == "in_review", done.body
    return rid


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


def link(html: str, label: str) -> str:
    found = re.findall(rf'<a [^>]*href="([^"]+)"[^>]*>{label}</a>', html)
    assert found, (label, html[-3000:])
    return unescape(found[0])


def origin(base: str) -> str:
    return base[: base.index(PREFIX)]


@in_session_loop
async def test_a_reviewer_reaches_the_last_row_of_a_million_row_csv_in_two_clicks(
    airlock, million_csv
):
    rid = await submitted(airlock, million_csv)
    request_page = (await fetch(airlock + f"requests/{rid}", "rita")).body.decode()
    full = link(request_page, "See the whole file")
    assert re.fullmatch(rf"{PREFIX}requests/{rid}/full/\d+", full)
    # The preview's "cut" note carries the same link.
    assert f'<a class="cr-full-link" href="{full}">See the whole file</a>' in request_page
    first = await fetch(origin(airlock) + full, "rita")  # click one
    assert first.code == 200
    assert first.headers["Content-Security-Policy"] == PREVIEW_CSP
    html = first.body.decode()
    assert "<td>1</td><td>g1</td>" in html and "THE-LAST-ROW" not in html
    last = await fetch(origin(airlock) + link(html, "Last"), "rita")  # click two
    assert last.code == 200
    shown = text(last.body.decode())
    assert "1,000,000 1000000 THE-LAST-ROW" in shown
    assert "Page 5,000 of 5,000" in shown
    back = await fetch(origin(airlock) + link(last.body.decode(), "Previous"), "rita")
    assert "999,800 999800" in text(back.body.decode())


@in_session_loop
async def test_go_to_a_row_and_the_hex_view(airlock):
    rid = await submitted(airlock, b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(1, 1001)))
    page = (await fetch(airlock + f"requests/{rid}", "rita")).body.decode()
    full = origin(airlock) + link(page, "See the whole file")
    row = await fetch(full + "?row=777", "rita")
    assert row.code == 200 and "777 777 x" in text(row.body.decode())
    hexed = await fetch(full + "?view=hex&page=last", "rita")
    assert hexed.code == 200 and "31 30 30 30 2c 78 0a" in hexed.body.decode()  # "1000,x\n"


@in_session_loop
async def test_every_earlier_version_has_its_full_view_too(airlock):
    rid = await submitted(airlock, b"a,b\nold,1\n")
    votes = {"votes": [{"file": "big.csv", "decision": "changes", "comment": "merge"}]}
    voted = await fetch(airlock + f"api/requests/{rid}/votes", "rita", "POST", json.dumps(votes))
    assert voted.code == 200, voted.body
    put = await fetch(
        airlock + f"api/requests/{rid}/files/big.csv?type=table", "alice", "PUT", b"a,b\nnew,2\n"
    )
    assert put.code == 201, put.body
    again = await fetch(airlock + f"api/requests/{rid}/submit", "alice", "POST", b"{}")
    assert json.loads(again.body)["state"] == "in_review", again.body
    page = (await fetch(airlock + f"requests/{rid}", "rita")).body.decode()
    history = re.search(r'<table class="compact" id="history">(.*?)</table>', page, re.S).group(1)
    old, new = (unescape(h) for h in re.findall(r'href="([^"]+)">whole file</a>', history))
    assert link(page, "See the whole file") == new
    assert "old 1" in text((await fetch(origin(airlock) + old, "rita")).body.decode())
    assert "new 2" in text((await fetch(origin(airlock) + new, "rita")).body.decode())


@in_session_loop
async def test_an_admin_sees_the_whole_file(airlock, million_csv):
    rid = await submitted(airlock, million_csv)
    page = (await fetch(airlock + f"requests/{rid}", "adam")).body.decode()
    last = await fetch(origin(airlock) + link(page, "See the whole file") + "?page=last", "adam")
    assert last.code == 200 and "THE-LAST-ROW" in last.body.decode()


@in_session_loop
async def test_the_requester_and_another_projects_researcher_get_nothing_of_the_content(
    airlock, million_csv
):
    rid = await submitted(airlock, million_csv)
    page = (await fetch(airlock + f"requests/{rid}", "rita")).body.decode()
    full = origin(airlock) + link(page, "See the whole file")
    own = (await fetch(airlock + f"requests/{rid}", "alice")).body.decode()
    assert "See the whole file" not in own and "/full/" not in own
    for user, code in (("alice", 403), ("bob", 403)):
        for query in ("", "?page=last", "?view=hex", "?view=text&page=last"):
            answer = await fetch(full + query, user)
            body = answer.body.decode()
            assert answer.code == code, (user, query, answer.code)
            assert "THE-LAST-ROW" not in body and "g1" not in body and "plant_group" not in body
    refusal = text((await fetch(full, "alice")).body.decode())
    assert "shown to reviewers only" in refusal
    # A file version of another request, or none at all.
    assert (await fetch(airlock + f"requests/{rid}/full/999999", "rita")).code == 404


@in_session_loop
async def test_from_inside_the_clean_room_even_a_reviewer_gets_nothing(service, million_csv):
    with serving(service, subnet="172.30.0.0/24") as outside:
        rid = await submitted(outside, million_csv)
        page = (await fetch(outside + f"requests/{rid}", "rita")).body.decode()
        full = link(page, "See the whole file")
    with serving(service, subnet="127.0.0.0/8") as inside:
        answer = await fetch(origin(inside) + full + "?page=last", "rita")
    body = answer.body.decode()
    assert answer.code == 403
    assert "refused from inside the clean room" in text(body)
    assert "THE-LAST-ROW" not in body and "plant_group" not in body


@in_session_loop
async def test_a_wrong_page_says_what_to_give_and_a_page_past_the_end_says_where_it_ends(airlock):
    rid = await submitted(airlock, b"a,b\n1,2\n")
    page = (await fetch(airlock + f"requests/{rid}", "rita")).body.decode()
    full = origin(airlock) + link(page, "See the whole file")
    for query, says in (
        ("?page=0", "give a number from 1, or last"),
        ("?page=abc", "give a number from 1, or last"),
        ("?row=-3", "give a number from 1"),
        ("?view=pdf", "choose text or hex"),
    ):
        answer = await fetch(full + query, "rita")
        assert answer.code == 400 and says in text(answer.body.decode()), query
    past = await fetch(full + "?page=9", "rita")
    assert past.code == 404 and "There is no page 9: it has 1 page." in text(past.body.decode())


# -- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize(("who", "state"), [(w, s) for w in CALLERS for s in State])
def test_the_full_view_rule_is_the_previews_rule_and_never_inside_the_clean_room(
    who, state, inside
):
    """Truth table: as ``see_contents`` outside the clean room; nobody from inside."""
    args = (CALLERS[who], request_in(state), True, inside)
    expected = not inside and state in EXPECTED["see_contents"].get(who, set())
    assert perm.user_can_see_full_view(*args) is expected
    if expected:
        perm.check_user_can_see_full_view(*args)
    else:
        with pytest.raises(PermissionDenied) as refused:
            perm.check_user_can_see_full_view(*args)
        assert str(refused.value)
    # Without the review policy's yes, only admins.
    alone = perm.user_can_see_full_view(CALLERS[who], request_in(state), False, inside)
    assert alone is (expected and who == "admin")
