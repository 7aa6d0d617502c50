"""The admin pages (cleanroom.catalog.web) in-process, over a seeded SQLite catalog, with the hub's
OAuth replaced by a stand-in that says who is signed in and with which scopes. The real sign-in
through the hub is tested in tests/integration/test_catalog_web.py and the browser journey.

- every page and every form: 403 without the administer scope, nothing written;
- XSRF: a form without its token is refused;
- mistakes: the service's message on the same page, the input kept, nothing written;
- jobs: registering and granting run in a thread and report; the form parsers.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests
from fixtures.catalog import PLANTS, nothing_written
from support.webpages import ACCESS, PREFIX, serving
from traitlets.config import Config

from cleanroom import scopes as roles
from cleanroom.catalog.errors import InvalidValue, SourceError
from cleanroom.catalog.web import app as web_app
from cleanroom.catalog.web.base import ADMIN_SCOPE, CONTENT_SECURITY_POLICY
from cleanroom.catalog.web.forms import import_file, list_import_files, parse_mapping
from cleanroom.hub.config import configure
from cleanroom.settings import Settings


class Web:
    def __init__(self, url: str, import_dir: Path, catalog):
        self.url = url
        self.import_dir = import_dir
        self.catalog = catalog

    def session(self, user: str | None) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        if user:
            session.cookies.set("test-user", user)
        return session

    def xsrf(self, session: requests.Session) -> str:
        session.get(self.url, timeout=10, allow_redirects=False)
        return session.cookies.get("_xsrf")

    def post(self, session, path: str, data: dict, **kwargs) -> requests.Response:
        data = {"_xsrf": self.xsrf(session), **data}
        return session.post(self.url + path, data=data, timeout=30, **kwargs)

    def wait_job(self, session, response: requests.Response) -> requests.Response:
        deadline = time.monotonic() + 60
        while "/jobs/" in response.url and 'http-equiv="refresh"' in response.text:
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.2)
            response = session.get(response.url, timeout=10)
        return response


@pytest.fixture
def web(seeded, tmp_path, sources) -> Web:
    import_dir = tmp_path / "import"
    import_dir.mkdir()
    shutil.copy(sources.wafers_v2, import_dir / "wafers_v2.parquet")
    shutil.copy(sources.welds, import_dir / "welds.csv")
    (tmp_path / "outside.csv").write_text("a,b\n1,2\n")
    (import_dir / "escape.csv").symlink_to(tmp_path / "outside.csv")
    with serving(seeded, state_dir=str(tmp_path / "state"), import_dir=str(import_dir)) as url:
        yield Web(url, import_dir, seeded)


PAGES = [
    "",
    "organisations",
    "users",
    "datasets",
    "datasets/new-dataset",
    "datasets/wafers",
    "projects",
    "projects/yield",
    "projects/yield/grants/new?dataset=wafers",
    "jobs/nosuchjob",
]
FORMS = {
    "organisations": {"id": "zeta", "name": "Zeta", "kind": "depositor"},
    "users": {"user": "zoe", "organisation": "acme"},
    "datasets/new-dataset": {
        "name": "welds",
        "file": "welds.csv",
        "contributor_column": "yard",
        "values_are_orgs": "1",
    },
    "datasets/wafers/versions": {"file": "wafers_v2.parquet", "mapping": "dora-west=acme"},
    "projects": {"name": "other"},
    "projects/yield/members": {"user": "bob", "role": "researcher"},
    "projects/yield/members/remove": {"user": "alice"},
    "projects/yield/grants": {"dataset": "wafers", "scope": "all", "reason": "study"},
    "grants/1/revoke": {"reason": "done"},
    "grants/1/extend": {"expires": "2030-01-01"},
}


def test_every_route_needs_admin():
    for pattern, handler, *_ in web_app.routes(PREFIX):
        if pattern.endswith(("oauth_callback", "static/(.*)", "static/common/(.*)")):
            continue
        for verb in ("get", "post"):
            method = handler.__dict__.get(verb)
            if method is not None:
                assert method.access_check == "needs_admin", (pattern, verb)


@pytest.mark.parametrize("user", ["hubadmin", "rita", None])
def test_without_the_admin_scope_every_page_and_form_is_refused(web, user):
    session = web.session(user)
    if user is None:
        # Not signed in: pages send the browser to the hub's login.
        for page in PAGES:
            response = session.get(web.url + page, allow_redirects=False, timeout=10)
            assert response.status_code == 302, page
            assert response.headers["Location"].startswith("http://127.0.0.1:9/hub/login")
    else:
        for page in PAGES:
            response = session.get(web.url + page, timeout=10)
            assert response.status_code == 403, page
            if user == "hubadmin":
                assert "the catalog pages are for admins" in response.text
                assert ADMIN_SCOPE in response.text
    with nothing_written(web.catalog):
        for path, data in FORMS.items():
            response = web.post(session, path, data, allow_redirects=False)
            assert response.status_code == 403, path
            # Refused by the admin check, not for want of an XSRF token.
            expected = "are for admins" if user == "hubadmin" else "Sign in first"
            assert expected in response.text, (path, response.text[:1000])


def test_admin_sees_every_page_with_strict_headers_and_no_script(web):
    session = web.session("adam")
    for page in PAGES[:-1]:
        response = session.get(web.url + page, timeout=10)
        assert response.status_code == 200, (page, response.text[:500])
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in response.text.lower()
        assert "Signed in as <strong>adam</strong>" in response.text
    assert session.get(web.url + "jobs/nosuchjob", timeout=10).status_code == 404
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in (
        CONTENT_SECURITY_POLICY
    )


def test_a_form_without_its_xsrf_token_is_refused(web):
    session = web.session("adam")
    web.xsrf(session)
    with nothing_written(web.catalog):
        for path, data in FORMS.items():
            response = session.post(web.url + path, data=data, timeout=10, allow_redirects=False)
            assert response.status_code == 403, path
            assert "_xsrf" in response.text
            bad = session.post(
                web.url + path,
                data={**data, "_xsrf": "2|forged|x|y"},
                timeout=10,
                allow_redirects=False,
            )
            assert bad.status_code == 403, path


@pytest.mark.parametrize(
    ("path", "data", "message", "kept"),
    [
        (
            "organisations",
            {"id": "Bad Id", "name": "Bad Corp", "kind": "depositor"},
            "is not a valid organisation id",
            "Bad Corp",
        ),
        (
            "organisations",
            {"id": "acme", "name": "Acme again", "kind": "depositor"},
            "exists already",
            "Acme again",
        ),
        ("users", {"user": "zoe", "organisation": "nowhere"}, "no organisation", "zoe"),
        ("projects", {"name": "yield", "description": "twice"}, "exists already", "twice"),
        (
            "projects/yield/members",
            {"user": "nobody", "role": "researcher"},
            "does not know user",
            "",
        ),
        ("projects/yield/members", {"user": "bob", "role": "owner"}, "not a project role", ""),
        ("projects/yield/members/remove", {"user": "bob"}, "not a member", ""),
        (
            "datasets/new-dataset",
            {"name": "x", "file": "../outside.csv", "contributor_column": "a"},
            "without &#39;..&#39;",
            "",
        ),
        (
            "datasets/new-dataset",
            {"name": "x", "file": "escape.csv", "contributor_column": "a"},
            "leads outside the import directory",
            "",
        ),
        (
            "datasets/new-dataset",
            {
                "name": "welds2",
                "file": "welds.csv",
                "contributor_column": "yard",
                "mapping": "acme",
            },
            "is not VALUE=ORGANISATION",
            "welds2",
        ),
        (
            "datasets/new-dataset",
            {"name": "welds2", "file": "welds.csv", "contributor_column": "nope"},
            "nope",
            "welds2",
        ),
        (
            "datasets/new-dataset",
            {"name": "welds2", "file": "welds.csv", "contributor_column": "yard"},
            "have no organisation",
            "welds2",
        ),
        ("datasets/wafers/versions", {"file": "wafers_v2.parquet"}, "dora-west", ""),
        (
            "projects/yield/grants",
            {"dataset": "wafers", "scope": "some", "columns": ["nope"], "reason": "r"},
            "has no column",
            "",
        ),
        (
            "projects/yield/grants",
            {"dataset": "wafers", "scope": "some", "reason": "r"},
            "allow-list is empty",
            "",
        ),
        (
            "projects/yield/grants",
            {
                "dataset": "wafers",
                "scope": "all",
                "reason": "r",
                "row_filter": "yield_pct > (SELECT 1)",
            },
            "Row filter refused",
            "SELECT 1",
        ),
        (
            "projects/yield/grants",
            {"dataset": "wafers", "scope": "all", "reason": "", "expires": "2030-01-01"},
            "give the reason",
            "2030-01-01",
        ),
        (
            "projects/yield/grants",
            {"dataset": "wafers", "scope": "all", "reason": "r", "expires": "someday"},
            "not a date",
            "someday",
        ),
    ],
)
def test_a_mistake_shows_the_message_keeps_the_input_and_writes_nothing(
    web, path, data, message, kept
):
    session = web.session("adam")
    with nothing_written(web.catalog):
        response = web.post(session, path, data)
    assert response.status_code == 400, response.text[:300]
    alert = re.search(r'<div class="error" role="alert">(.*?)</div>', response.text, re.S)
    assert alert, response.text[:2000]
    assert message in alert.group(1)
    assert "Nothing was changed" in alert.group(1)
    if kept:
        assert kept in response.text.replace("&gt;", ">").replace("&#39;", "'")


def test_register_a_dataset_then_grant_some_columns(web):
    session = web.session("adam")
    response = web.post(
        session,
        "datasets/new-dataset",
        {
            "name": "welds",
            "file": "welds.csv",
            "contributor_column": "yard",
            "values_are_orgs": "1",
            "description": "Weld seams",
        },
    )
    response = web.wait_job(session, response)
    assert "Registered welds v1: 30 rows" in response.text
    version = web.catalog.get_version("welds")
    assert version.source_path == str((web.import_dir / "welds.csv").resolve())
    assert set(version.organisations) == {"acme", "bolt", "cora"}
    page = session.get(web.url + "datasets", timeout=10).text
    assert version.content_sha256 in page

    response = web.post(
        session,
        "projects/yield/grants",
        {
            "dataset": "welds",
            "version": "1",
            "scope": "some",
            "columns": ["yard", "defects"],
            "row_filter": "defects > 0",
            "expires": "2031-01-01",
            "reason": "weld quality",
        },
    )
    response = web.wait_job(session, response)
    assert "Granted yield welds v1 (yard, defects)" in response.text, response.text[:2000]
    (grant,) = [g for g in web.catalog.list_grants("yield") if g.dataset == "welds"]
    assert grant.columns == ("yard", "defects") and grant.row_filter
    assert grant.materialisation_status == "ready" and grant.granted_by == "adam"

    response = web.post(session, f"grants/{grant.id}/extend", {"expires": "2032-01-01"})
    assert response.status_code == 200 and "now runs until 2032-01-01" in response.text
    response = web.post(session, f"grants/{grant.id}/revoke", {"reason": "finished"})
    assert f"Revoked grant {grant.id}" in response.text
    assert web.catalog.get_grant(grant.id).revoked
    events = [r.event for r in web.catalog.audit.records()][-4:]
    assert events == [
        "catalog.dataset.register",
        "catalog.grant.create",
        "catalog.grant.extend",
        "catalog.grant.revoke",
    ]


def test_slow_work_runs_as_a_job_whose_page_shows_progress(web, monkeypatch):
    from cleanroom.catalog.web import jobs

    monkeypatch.setattr(jobs, "QUICK_ANSWER_S", 0.05)
    release = threading.Event()
    register = web.catalog.register_dataset

    def slow_register(*args, progress, **kwargs):
        progress(0.4, "hashing welds.csv")
        assert release.wait(30)
        return register(*args, progress=progress, **kwargs)

    monkeypatch.setattr(web.catalog, "register_dataset", slow_register)
    session = web.session("adam")
    response = web.post(
        session,
        "datasets/new-dataset",
        {
            "name": "welds",
            "file": "welds.csv",
            "contributor_column": "yard",
            "values_are_orgs": "1",
        },
    )
    assert "/jobs/" in response.url
    assert '<meta http-equiv="refresh" content="1">' in response.text
    assert "Working: hashing welds.csv (40%)" in response.text
    assert '<progress max="100" value="40">' in response.text
    # The loop is free meanwhile: other pages answer at once.
    assert session.get(web.url + "projects", timeout=2).status_code == 200
    release.set()
    done = web.wait_job(session, response)
    assert "Registered welds v1" in done.text and "refresh" not in done.text


def test_add_a_version_with_a_mapping(web):
    session = web.session("adam")
    response = web.post(
        session,
        "datasets/wafers/versions",
        {"file": "wafers_v2.parquet", "mapping": "dora-west = cora\n"},
    )
    response = web.wait_job(session, response)
    assert "Added wafers v2" in response.text
    assert web.catalog.get_version("wafers").contributors == {**PLANTS, "dora-west": "cora"}


def test_members_are_added_and_removed(web):
    session = web.session("adam")
    response = web.post(session, "projects/yield/members", {"user": "bob", "role": "reviewer"})
    assert "bob (uni) is a reviewer of yield" in response.text
    response = web.post(session, "projects/yield/members/remove", {"user": "alice"})
    assert "Removed alice from yield" in response.text
    assert {(m.user, m.role) for m in web.catalog.list_members("yield")} == {
        ("bob", "reviewer"),
        ("rita", "reviewer"),
    }


# -- the form parsers and the wiring ------------------------------------------------------------


def test_parse_mapping():
    text = "# plants\nHBS-ICN1=hanbit\n\n  a=b = acme \n"
    assert parse_mapping(text) == {"HBS-ICN1": "hanbit", "a=b": "acme"}
    for bad in ("no-equals", "=acme", "x=", "x=a\nx=b"):
        with pytest.raises(InvalidValue):
            parse_mapping(bad)


def test_import_file_stays_under_the_import_dir(tmp_path):
    base = tmp_path / "import"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "a.csv").write_text("x\n1\n")
    (base / "notes.txt").write_text("x")
    (tmp_path / "secret.csv").write_text("x\n1\n")
    (base / "link.csv").symlink_to(tmp_path / "secret.csv")
    assert import_file(base, "sub/a.csv") == (base / "sub" / "a.csv").resolve()
    assert list_import_files(base) == ["sub/a.csv"]
    for bad, error in [
        ("../secret.csv", SourceError),
        (str(tmp_path / "secret.csv"), SourceError),
        ("link.csv", SourceError),
        ("notes.txt", InvalidValue),
        ("missing.csv", SourceError),
        ("", InvalidValue),
    ]:
        with pytest.raises(error):
            import_file(base, bad)


def test_the_hub_runs_the_pages_as_an_oauth_service_for_admins():
    settings = Settings.from_env(
        {"CLEANROOM_CATALOG_WEB_PORT": "9183", "CLEANROOM_STATE_DIR": "/srv/cr"}
    )
    c = configure(Config(), settings, admin_token="t" * 64)
    (service,) = [s for s in c.JupyterHub.services if s["name"] == "catalog"]
    assert service["url"] == "http://127.0.0.1:9183"
    assert service["command"][1:] == ["-m", "cleanroom.catalog.web"]
    assert service["oauth_client_allowed_scopes"] == [ADMIN_SCOPE]
    assert service["environment"]["CLEANROOM_STATE_DIR"] == "/srv/cr"
    assert settings.import_path == Path("/srv/cr/import")
    for group, scopes in roles.GROUP_SCOPES.items():
        assert (ACCESS in scopes) == (group == "admin"), group


def test_the_common_stylesheet_is_served_and_linked(web):
    page = web.session("adam").get(web.url, timeout=10)
    assert page.status_code == 200 and 'static/common/pages.css"' in page.text
    sheet = web.session(None).get(web.url + "static/common/pages.css", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("text/css")
