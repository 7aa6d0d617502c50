"""The admin pages as an admin sees them: a title naming the page and the site, one <h1>, the
current section marked in the navigation, a way back (the hub's home, the parent list), error
pages that say what to do next, and empty lists that say how to make the first entry.

In-process over a seeded (or an empty) SQLite catalog with the stand-in sign-in of
tests/support/webpages.py.
"""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
import requests
from support.webpages import PREFIX, serving

from cleanroom.catalog.web.base import error_guidance
from cleanroom.settings import Settings

SITE = "Clean-room catalog"
SETTINGS = Settings.from_env({})


class Pages:
    def __init__(self, url: str):
        self.url = url

    def session(self, user: str | None = "adam") -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        if user:
            session.cookies.set("test-user", user)
        return session

    def get(self, path: str, user: str | None = "adam", code: int = 200) -> str:
        response = self.session(user).get(self.url + path, timeout=10, allow_redirects=False)
        assert response.status_code == code, (path, user, response.text[:500])
        return response.text

    def post(self, path: str, data: dict, code: int | None = None) -> requests.Response:
        session = self.session()
        session.get(self.url, timeout=10)
        response = session.post(
            self.url + path, data={"_xsrf": session.cookies["_xsrf"], **data}, timeout=60
        )
        if code is not None:
            assert response.status_code == code, (path, response.text[:500])
        deadline = time.monotonic() + 60
        while "/jobs/" in response.url and 'http-equiv="refresh"' in response.text:
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
            response = session.get(response.url, timeout=10)
        return response


@pytest.fixture
def pages(seeded, tmp_path):
    import_dir = tmp_path / "import"
    import_dir.mkdir()
    with serving(
        seeded, state_dir=str(tmp_path / "state"), import_dir=str(import_dir), settings=SETTINGS
    ) as url:
        yield Pages(url)


@pytest.fixture
def empty_pages(catalog, tmp_path):
    import_dir = tmp_path / "import"
    import_dir.mkdir()
    with serving(
        catalog, state_dir=str(tmp_path / "state"), import_dir=str(import_dir), settings=SETTINGS
    ) as url:
        yield Pages(url)


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))).strip()


def title_of(html: str) -> str:
    return text(re.search(r"<title>(.*?)</title>", html, re.S).group(1))


def h1s(html: str) -> list[str]:
    return [text(h) for h in re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)]


def current(html: str) -> list[str]:
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", html, re.S).group(1)
    return [text(a) for a in re.findall(r'<a [^>]*aria-current="page"[^>]*>(.*?)</a>', nav)]


def nav_items(html: str) -> list[str]:
    nav = re.search(r"<nav[^>]*>(.*?)</nav>", html, re.S).group(1)
    return [text(a) for a in re.findall(r"<a [^>]*>(.*?)</a>", nav)]


def crumbs(html: str) -> str:
    found = re.search(r'<p class="crumbs">(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


def next_step(html: str) -> str:
    found = re.search(r'<p id="next-step"><strong>What to do next:</strong>(.*?)</p>', html, re.S)
    return text(found.group(1))


def way_back(html: str) -> dict[str, str]:
    found = re.search(r'<p id="way-back">(.*?)</p>', html, re.S)
    return {
        text(label): href
        for href, label in re.findall(r'<a href="([^"]*)">(.*?)</a>', found.group(1))
    }


def empty(html: str, list_id: str) -> tuple[str, dict[str, str]]:
    """An empty state's text and its links (label -> href)."""
    found = re.search(rf'<p class="empty" id="{list_id}">(.*?)</p>', html, re.S)
    assert found, f"no empty state {list_id}"
    links = re.findall(r'<a href="([^"]*)">(.*?)</a>', found.group(1))
    return text(found.group(1)), {text(label): href for href, label in links}


def test_every_page_says_what_and_where_it_is(pages):
    granted = pages.post(
        "projects/yield/grants", {"dataset": "wafers", "scope": "all", "reason": "study"}
    )
    job = granted.url.removeprefix(pages.url)
    assert job.startswith("jobs/"), granted.url
    # (path, the page's name, the nav item marked current, the parent list in the crumbs)
    walk = [
        ("", "Overview", "Overview", None),
        ("organisations", "Organisations", "Organisations", None),
        ("users", "Users' organisations", "Users", None),
        ("datasets", "Datasets", "Datasets", None),
        ("datasets/new-dataset", "Register a dataset", "Datasets", "Datasets"),
        ("datasets/upload-file", "Upload a dataset file", "Datasets", "Datasets"),
        ("datasets/wafers", "wafers", "Datasets", "Datasets"),
        ("projects", "Projects", "Projects", None),
        ("projects/yield", "yield", "Projects", "Projects"),
        (
            "projects/yield/grants/new?dataset=wafers",
            "Grant wafers to yield",
            "Projects",
            "Projects",
        ),
        ("display", "Display channel", "Display channel", None),
        (job, "Granting wafers to yield", "Projects", "Projects"),
    ]
    for path, name, here, parent in walk:
        html = pages.get(path)
        title = title_of(html)
        if parent:
            assert title == f"{name} · {parent} · {SITE}", (path, title)
            section = parent.lower()
            assert f'<a href="{PREFIX}{section}">{parent}</a>' in crumbs(html), path
        else:
            assert title == f"{name} · {SITE}", (path, title)
        assert h1s(html) == [name], (path, h1s(html))
        assert current(html) == [here], (path, current(html))
        assert '<a href="/hub/home">Hub home</a>' in html, path
        assert "Signed in as <strong>adam</strong>" in html, path


def test_empty_lists_say_how_to_make_the_first(empty_pages, catalog):
    said, links = empty(empty_pages.get("organisations"), "organisations-empty")
    assert said.startswith("No organisation yet: add the first with the form above")
    said, links = empty(empty_pages.get("users"), "users-empty")
    assert said.startswith("No user has an organisation yet: add the organisations first")
    said, links = empty(empty_pages.get("datasets"), "datasets-empty")
    assert said.startswith("No dataset is registered yet: upload a file from this computer")
    assert links == {
        "upload a file from this computer": f"{PREFIX}datasets/upload-file",
        "register it from there": f"{PREFIX}datasets/new-dataset",
    }
    said, links = empty(empty_pages.get("projects"), "projects-empty")
    assert said.startswith("No project yet: create the first with the form above.")
    assert "add its researchers and reviewers and grant it datasets" in said
    said, _ = empty(empty_pages.get("display"), "counts-empty")
    assert said.startswith("Nothing counted yet. Counts start when a researcher opens JupyterLab")

    catalog.add_organisation("uni", "University", "other", actor="adam")
    said, _ = empty(empty_pages.get("users"), "users-empty")
    assert said.startswith("No user has an organisation yet: set the first with the form above")
    catalog.create_project("lonely", actor="adam")
    project = empty_pages.get("projects/lonely")
    said, _ = empty(project, "members-empty")
    assert said == "No members yet: add the project's researchers and reviewers below."
    said, _ = empty(project, "project-grants-empty")
    assert said == "This project has no data yet: grant it a dataset below."
    assert f'<a href="{PREFIX}datasets/new-dataset">register one</a>' in project
    assert 'id="projects-empty"' not in empty_pages.get("projects")


def test_a_dataset_without_grants_says_how_to_grant_it(pages):
    said, links = empty(pages.get("datasets/wafers"), "grants-empty")
    assert said.startswith("No project has been granted this dataset yet")
    assert links == {"the list of projects": f"{PREFIX}projects"}
    assert 'id="datasets-empty"' not in pages.get("datasets")
    assert 'id="members-empty"' not in pages.get("projects/yield")


@pytest.mark.parametrize(
    ("path", "back"),
    [
        ("nowhere", None),
        ("datasets/nosuch", "Datasets"),
        ("projects/nosuch", "Projects"),
        ("projects/yield/grants/new?dataset=nosuch", "Projects"),
        ("jobs/nosuchjob", None),
    ],
)
def test_a_page_that_does_not_exist_says_where_to_look(pages, path, back):
    html = pages.get(path, code=404)
    assert title_of(html) == f"Not found · {SITE}" and h1s(html) == ["Not found"]
    assert next_step(html).startswith("It may have been removed, or the link is wrong")
    links = way_back(html)
    assert links["Overview"] == PREFIX and links["Hub home"] == "/hub/home"
    if back:
        assert links[back] == PREFIX + back.lower()
    assert nav_items(html) and "Signed in as <strong>adam</strong>" in html


def test_a_change_to_a_grant_that_does_not_exist_leads_to_the_projects(pages):
    changed = pages.post("grants/999/revoke", {"reason": "x"}, code=404)
    assert h1s(changed.text) == ["Not found"] and "no grant 999" in changed.text.lower()
    assert way_back(changed.text)["Projects"] == PREFIX + "projects"


def test_a_refusal_says_who_can_give_access(pages):
    html = pages.get("projects", user="hubadmin", code=403)
    assert title_of(html) == f"Not allowed · {SITE}" and h1s(html) == ["Not allowed"]
    assert "ask an admin to add you to the admin group on the hub" in next_step(html)
    assert way_back(html) == {"Hub home": "/hub/home"}
    assert nav_items(html) == []  # nothing behind the refusal is linked
    assert pages.get("nowhere", user=None, code=302) == ""  # to the hub's login, not a 404
    # A form without its XSRF token: reload and send again.
    forged = pages.session().post(pages.url + "organisations", data={"id": "x"}, timeout=10)
    assert forged.status_code == 403
    assert "reload the page and send it again" in next_step(forged.text)
    assert way_back(forged.text) == {"Hub home": "/hub/home"}


def test_a_failure_says_try_again_and_shows_no_internals(pages, seeded, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at postgresql://catalog:hunter2@db/catalog")

    monkeypatch.setattr(seeded, "list_projects", broken)
    html = pages.get("projects", code=500)
    assert title_of(html) == f"Something went wrong · {SITE}"
    assert h1s(html) == ["Something went wrong"]
    assert next_step(html).startswith("Try again in a minute. If it keeps happening")
    assert "the catalog service's log" in next_step(html)
    assert way_back(html)["Projects"] == PREFIX + "projects"
    assert "hunter2" not in html and "Traceback" not in html


@pytest.mark.parametrize(
    ("status", "heading", "step"),
    [
        (400, "Not done", "Nothing was changed: go back, correct what it says"),
        (405, "Not possible", "Nothing was changed"),
        (502, "Something went wrong", "Try again in a minute"),
    ],
)
def test_each_code_has_a_heading_and_a_next_step(status, heading, step):
    said, next_text, links = error_guidance(status, "projects/yield/members", True)
    assert said == heading and next_text.startswith(step)
    assert links == [("projects", "Projects"), ("", "Overview")]
