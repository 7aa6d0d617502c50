"""The airlock's pages as each role sees them: a title naming the page and the site, one <h1>,
the current list marked in the navigation, a way back (the hub's home, the parent list), error
pages that say what to do next, and empty lists that say how the first entry comes about.

In-process over a real airlock database and blob store; the hub and OPA are small fakes (the
release policy asks for one reviewer, the review policy lets reviewers vote).
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from factories.airlock import NameTokenHubAuth, StubPolicy, allow, deny, make_airlock, serving
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from cleanroom.airlock.errors import Unavailable
from cleanroom.airlock.facts import HubUser
from cleanroom.airlock.service import Limits

in_session_loop = pytest.mark.asyncio(loop_scope="session")

PREFIX = "/services/airlock/"
SITE = "Clean-room airlock"
# name -> (groups, scopes): a researcher, a reviewer and an admin, as the hub says.
PEOPLE = {
    "alice": (("researcher",), ["custom:cleanroom:submit"]),
    "rita": (("reviewer",), ["custom:cleanroom:review"]),
    "adam": (("admin",), ["custom:cleanroom:administer"]),
}


class FakeHub:
    async def user(self, name):
        return HubUser(name, PEOPLE[name][0], "yield" if name == "alice" else None, True)


@pytest.fixture
async def airlock(tmp_path):
    # The release policy asks for one reviewer; the review policy lets rita (only) vote.
    policy = StubPolicy(
        review={"rita": allow("review", capacities=["reviewer"])},
        review_default=deny("review", "not a reviewer"),
    )
    limits = Limits(max_file_bytes=10_000, max_files=3, max_request_bytes=20_000)
    service = make_airlock(tmp_path, policy=policy, limits=limits)
    with serving(
        service,
        FakeHub(),
        NameTokenHubAuth({name: person[1] for name, person in PEOPLE.items()}, PREFIX),
        PREFIX,
    ) as url:
        yield {"url": url, "service": service}


async def fetch(airlock, path, user="alice", method="GET", body=None, headers=None):
    headers = dict(headers or {})
    if user:
        headers["Authorization"] = f"token {user}"
    request = HTTPRequest(
        airlock["url"] + path,
        method=method,
        headers=headers,
        body=body,
        follow_redirects=False,
        allow_nonstandard_methods=True,
    )
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def page(airlock, path, user="alice", code=200, **kwargs) -> str:
    answer = await fetch(airlock, path, user, **kwargs)
    assert answer.code == code, (path, user, answer.code, answer.body[:500])
    assert answer.headers["Content-Type"].startswith("text/html")
    return answer.body.decode()


async def submitted(airlock, title="Yield table") -> str:
    """A request of alice's with one file, submitted: in review, waiting for rita."""
    made = await fetch(
        airlock,
        "api/requests",
        method="POST",
        body=json.dumps({"justification": "j", "title": title}),
    )
    rid = json.loads(made.body)["id"]
    put = await fetch(
        airlock,
        f"api/requests/{rid}/files/t.csv?type=table",
        method="PUT",
        body=b"group,n\nA,12\nB,15\n",
    )
    assert put.code == 201, put.body
    done = await fetch(airlock, f"api/requests/{rid}/submit", method="POST", body=b"{}")
    assert json.loads(done.body)["state"] == "in_review", done.body
    return rid


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))).strip()


def title_of(html: str) -> str:
    return text(re.search(r"<title>(.*?)</title>", html, re.S).group(1))


def h1s(html: str) -> list[str]:
    return [text(h) for h in re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)]


def current(html: str) -> list[str]:
    """The labels of the navigation's items marked as the current page."""
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", html, re.S).group(1)
    return [text(a) for a in re.findall(r'<a [^>]*aria-current="page"[^>]*>(.*?)</a>', nav)]


def next_step(html: str) -> str:
    found = re.search(r'<p id="next-step"><strong>What to do next:</strong>(.*?)</p>', html, re.S)
    return text(found.group(1))


def way_back(html: str) -> dict[str, str]:
    found = re.search(r'<p id="way-back">(.*?)</p>', html, re.S)
    links = re.findall(r'<a href="([^"]*)">(.*?)</a>', found.group(1)) if found else []
    return {text(label): href for href, label in links}


def empty(html: str, list_id: str) -> str:
    found = re.search(rf'<p class="empty" id="{list_id}-empty">(.*?)</p>', html, re.S)
    assert found, f"no empty state for {list_id}"
    return text(found.group(1))


@in_session_loop
async def test_every_page_for_every_role_says_what_and_where_it_is(airlock):
    rid = await submitted(airlock)
    # (user, path, the page's name, the nav item marked current, the parent list's link)
    walk = [
        ("alice", "", "My requests", "My requests", None),
        # Outside the clean room her title is shown only once a review round has ended.
        ("alice", f"requests/{rid}", rid, "My requests", ("My requests", "")),
        ("rita", "", "My requests", "My requests", None),
        ("rita", "review", "Waiting for me", "Waiting for me", None),
        ("rita", f"requests/{rid}", "Yield table", "Waiting for me", ("Waiting for me", "review")),
        ("adam", "", "My requests", "My requests", None),
        ("adam", "admin", "All requests", "All requests", None),
        ("adam", "admin?state=in_review", "All requests: in review", "All requests", None),
        ("adam", "admin/audit", "Audit log", "Audit log", None),
        ("adam", f"requests/{rid}", "Yield table", "All requests", ("All requests", "admin")),
    ]
    for user, path, name, here, parent in walk:
        html = await page(airlock, path, user)
        where = (user, path)
        assert title_of(html).startswith(name + " · "), where
        assert title_of(html).endswith(" · " + SITE), where
        headings = h1s(html)
        assert len(headings) == 1 and headings[0].startswith(name), (where, headings)
        assert current(html) == [here], where
        assert '<a href="/hub/home">Hub home</a>' in html, where
        assert f"Signed in as <strong>{user}</strong>" in html, where
        if parent:
            label, target = parent
            crumbs = re.search(r'<p class="crumbs">(.*?)</p>', html, re.S).group(1)
            assert f'<a href="{PREFIX}{target}">{label}</a>' in crumbs, where
    # Each person's navigation holds only their lists.
    assert "Waiting for me" not in (await page(airlock, "", "alice")).split("</nav>")[0]
    admin_nav = (await page(airlock, "", "adam")).split("</nav>")[0]
    assert "All requests" in admin_nav and "Audit log" in admin_nav


@in_session_loop
async def test_empty_lists_say_how_the_first_entry_comes(airlock):
    mine = empty(await page(airlock, "", "alice"), "mine")
    assert mine.startswith("You have no release requests yet.")
    assert 'right-click a file or a cell output and choose "Request release…"' in mine
    assert "it appears here" in mine

    queue = await page(airlock, "review", "rita")
    assert empty(queue, "waiting").startswith("Nothing waits for your review.")
    assert "when a researcher of a project you review submits one" in empty(queue, "waiting")
    assert empty(queue, "voted").startswith("None: requests you have voted on stay here")
    home = await page(airlock, "", "rita")
    assert "when a researcher of a project you review submits one" in empty(home, "waiting")
    # A reviewer asks for no releases: their home says where their work is instead.
    assert "researchers ask for releases" in empty(home, "mine")
    assert f'<a href="{PREFIX}review">Waiting for me</a>' in home.split('id="mine-empty"')[1]

    everything = await page(airlock, "admin", "adam")
    assert empty(everything, "all").startswith("No release requests yet.")
    assert "Request release…" in empty(everything, "all")
    none_approved = await page(airlock, "admin?state=approved", "adam")
    assert empty(none_approved, "all") == "No request is approved now: show all requests."
    audit = await page(airlock, "admin/audit", "adam")
    assert empty(audit, "records").startswith("No airlock records yet")
    assert "Show every record" in empty(audit, "records")

    # Once there is a request, the lists hold it and say nothing of being empty.
    rid = await submitted(airlock)
    for user, path, list_id in (
        ("alice", "", "mine"),
        ("rita", "review", "waiting"),
        ("adam", "admin", "all"),
    ):
        html = await page(airlock, path, user)
        assert f'id="{list_id}-empty"' not in html and f"requests/{rid}" in html, user
    assert 'id="records-empty"' not in await page(airlock, "admin/audit", "adam")


@in_session_loop
async def test_a_page_that_does_not_exist_says_where_to_look(airlock):
    for user, path in (
        ("alice", "requests/r-nope"),
        ("rita", "nowhere"),
        ("alice", "requests/r-nope/files/x.csv/download"),
    ):
        html = await page(airlock, path, user, code=404)
        assert title_of(html) == f"Not found · {SITE}" and h1s(html) == ["Not found"]
        assert "It may have been withdrawn, or the link is wrong" in next_step(html)
        assert way_back(html)["My requests"] == PREFIX
        assert '<a href="/hub/home">Hub home</a>' in html
        assert f"Signed in as <strong>{user}</strong>" in html  # the error page keeps the nav
    assert way_back(await page(airlock, "nowhere", "rita", code=404))["Waiting for me"] == (
        PREFIX + "review"
    )


@in_session_loop
async def test_a_refusal_says_who_can_give_access(airlock):
    html = await page(airlock, "admin", "alice", code=403)
    assert h1s(html) == ["Not allowed"] and title_of(html) == f"Not allowed · {SITE}"
    assert "ask an admin to add you to the admin group" in next_step(html)
    rid = await submitted(airlock)
    html = await page(airlock, f"requests/{rid}", "adam", code=200)  # admins see every request
    outsider = await page(
        airlock, f"requests/{rid}/revoke", "rita", code=403, method="POST", body=b"reason=x"
    )
    assert "ask an admin to add you to the request's project or to give you the reviewer role" in (
        next_step(outsider)
    )
    # A form without its XSRF token (a cookie sign-in): reload and send again.
    forged = await page(
        airlock, f"requests/{rid}/withdraw", None, code=403, method="POST", body=b""
    )
    assert "reload the page and send it again" in next_step(forged)


@in_session_loop
async def test_a_mistake_gives_the_reasons_and_the_way_back(airlock):
    rid = await submitted(airlock)
    html = await page(airlock, f"requests/{rid}/vote", "rita", code=400, method="POST", body=b"")
    assert h1s(html) == ["Not done"]
    assert "Choose a decision for at least one file" in html
    assert next_step(html).startswith("Nothing was changed: go back, correct what it says")
    assert way_back(html) == {"Back to the request": f"{PREFIX}requests/{rid}"}
    bad_state = await page(airlock, "admin?state=lost", "adam", code=400)
    assert "&#39;lost&#39; is not a state" in bad_state
    # Submitting again a request that is in review already: a conflict, with the way back.
    again = await page(
        airlock, f"requests/{rid}/submit", "alice", code=409, method="POST", body=b""
    )
    assert h1s(again) == ["Not possible now"]
    assert "open it again to see where it is now" in next_step(again)
    assert way_back(again) == {"Back to the request": f"{PREFIX}requests/{rid}"}


@in_session_loop
async def test_a_failure_says_try_again_and_shows_no_internals(airlock, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /var/lib/cleanroom/airlock.sqlite")

    monkeypatch.setattr(airlock["service"], "list_mine", broken)
    html = await page(airlock, "", "alice", code=500)
    assert h1s(html) == ["Something went wrong"]
    assert title_of(html) == f"Something went wrong · {SITE}"
    assert next_step(html) == (
        "Try again in a minute. If it keeps happening, tell an admin: the "
        "airlock's log has the details."
    )
    assert "secret internals" not in html and "Traceback" not in html

    def down(*args, **kwargs):
        raise Unavailable("the review policy could not be asked; try again soon")

    monkeypatch.setattr(airlock["service"], "list_mine", down)
    html = await page(airlock, "", "alice", code=503)
    assert h1s(html) == ["Not available right now"]
    assert "The review policy could not be asked" in html
    assert "Try again in a minute" in next_step(html)


@in_session_loop
async def test_a_vote_form_from_before_a_comment_is_refused_and_says_to_reload(airlock):
    from urllib.parse import urlencode

    def seen(html: str) -> str:
        return re.search(r'name="seen_comments" value="(\d+)"', html).group(1)

    rid = await submitted(airlock)
    opened = seen(await page(airlock, f"requests/{rid}", "rita"))
    said = await fetch(
        airlock, f"api/requests/{rid}/comments", method="POST", body=json.dumps({"text": "p.s."})
    )
    assert said.code == 201, said.body
    form = {"file_0": "t.csv", "decision_0": "approve", "seen_comments": opened}
    stale = await page(
        airlock, f"requests/{rid}/vote", "rita", code=409, method="POST", body=urlencode(form)
    )
    assert "since you opened it" in stale and "reload the page" in stale
    reloaded = await page(airlock, f"requests/{rid}", "rita")
    assert "p.s." in reloaded and seen(reloaded) == str(int(opened) + 1)
    form["seen_comments"] = seen(reloaded)
    done = await fetch(airlock, f"requests/{rid}/vote", "rita", method="POST", body=urlencode(form))
    assert done.code == 303, done.body


@in_session_loop
async def test_a_reviewer_sees_a_pdfs_first_pages_and_its_check_made_in_the_sandbox(airlock):
    from factories.pdfs import make_pdf

    made = await fetch(
        airlock, "api/requests", method="POST", body=json.dumps({"justification": "j"})
    )
    rid = json.loads(made.body)["id"]
    pdf = make_pdf(pages=5, javascript="app.alert(1)")
    put = await fetch(
        airlock, f"api/requests/{rid}/files/report.pdf?type=report", method="PUT", body=pdf
    )
    assert put.code == 201 and json.loads(put.body)["media_type"] == "application/pdf", put.body
    await fetch(airlock, f"api/requests/{rid}/submit", method="POST", body=b"{}")
    html = await page(airlock, f"requests/{rid}", "rita")
    assert html.count('src="data:image/png;base64,') == 3
    assert "2 more pages are not shown here (pages 4–5)" in html
    assert "/JavaScript" in html  # the findings table and the failed pdf check
    assert "<script" not in html and "app.alert" not in html
