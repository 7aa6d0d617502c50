"""The admin pages on a real hub, over TLS through nginx: sign-in through the hub's OAuth, the
admin scope on every page and form, XSRF, and mistakes that write nothing.

Who is who on the test hub: ``adam`` is in the admin group; ``admin`` is a JupyterHub admin
(``admin_users``) outside that group, so the hub lets him reach the service and the service
itself must refuse him; ``rita`` (reviewer) and ``alice`` (researcher) may not reach it.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.catalog.web.base import ADMIN_SCOPE

pytestmark = pytest.mark.docker

PAGES = [
    "",
    "organisations",
    "users",
    "datasets",
    "datasets/new-dataset",
    "datasets/web_welds",
    "projects",
    "projects/web-test",
    "projects/web-test/grants/new?dataset=web_welds",
]
FORMS = {
    "organisations": {"id": "web-zeta", "name": "Zeta", "kind": "depositor"},
    "users": {"user": "zoe", "organisation": "web-co"},
    "datasets/new-dataset": {
        "name": "web_other",
        "file": "web/welds.csv",
        "contributor_column": "yard",
        "values_are_orgs": "1",
    },
    "datasets/web_welds/versions": {"file": "web/welds2.csv", "values_are_orgs": "1"},
    "projects": {"name": "web-other"},
    "projects/web-test/members": {"user": "bob", "role": "researcher"},
    "projects/web-test/members/remove": {"user": "alice"},
    "projects/web-test/grants": {"dataset": "web_welds", "scope": "all", "reason": "study"},
    "grants/1/revoke": {"reason": "done"},
    "grants/1/extend": {"expires": "2040-01-01"},
}


@pytest.fixture(scope="module")
def catalog(hub) -> CatalogService:
    return CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )


@pytest.fixture(scope="module")
def pages(hub, catalog) -> str:
    """The pages' URL once the hub's service answers; a small catalog of their own: org
    ``web-co``, dataset ``web_welds`` from the import directory, project ``web-test`` with
    alice as researcher."""
    url = f"{hub.url}/services/catalog/"
    deadline = time.monotonic() + 60
    while True:
        answer = requests.get(url, verify=str(hub.certificate), allow_redirects=False, timeout=10)
        if answer.status_code == 302:
            break
        assert time.monotonic() < deadline, f"the catalog pages do not answer: {answer.text}"
        time.sleep(0.5)
    web_dir = hub.settings.import_path / "web"
    web_dir.mkdir(parents=True, exist_ok=True)
    (web_dir / "welds.csv").write_text("yard,seam,defects\nweb-co,S1,0\nweb-co,S2,3\n")
    (web_dir / "welds2.csv").write_text("yard,seam,defects\nweb-co,S1,0\nweb-co,S3,1\n")
    catalog.add_organisation("web-co", "Web Test Shipyards", actor="adam")
    catalog.set_user_organisation("alice", "web-co", actor="adam")
    catalog.register_dataset(
        "web_welds",
        web_dir / "welds.csv",
        contributor_column="yard",
        values_are_organisations=True,
        actor="adam",
    )
    catalog.create_project("web-test", actor="adam")
    catalog.add_member("web-test", "alice", "researcher", actor="adam")
    hub.add_user("admin", ())  # a JupyterHub admin (admin_users), not in the admin group
    return url


def signed_in(hub, pages: str, name: str) -> tuple[requests.Session, requests.Response]:
    """Log in through the hub's form, then open the pages (the hub's OAuth, followed)."""
    session = hub.login(name)
    return session, session.get(pages, timeout=30)


def xsrf_of(session: requests.Session) -> str | None:
    return session.cookies.get("_xsrf", path="/services/catalog/")


def catalog_state(catalog: CatalogService) -> tuple:
    """Every catalog row and the number of catalog.* audit records (other components write
    to the same audit log, e.g. sign-ins)."""
    rows = (
        catalog.list_organisations(),
        catalog.list_users(),
        catalog.list_datasets(),
        catalog.list_projects(),
        catalog.list_members(),
        catalog.list_grants(),
        catalog.counts(),
    )
    events = sum(r.event.startswith("catalog.") for r in catalog.audit.records())
    return rows, events


def alert_of(response: requests.Response) -> str:
    match = re.search(r'<div class="error" role="alert">(.*?)</div>', response.text, re.S)
    assert match, response.text[:2000]
    return match.group(1).replace("&#39;", "'").replace("&gt;", ">")


def test_an_admin_signs_in_through_the_hub_and_gets_strict_pages(hub, pages):
    session, response = signed_in(hub, pages, "adam")
    assert response.status_code == 200, response.text[:500]
    assert response.url == pages
    assert "Signed in as <strong>adam</strong>" in response.text
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    for page in PAGES:
        answer = session.get(pages + page, timeout=30)
        assert answer.status_code == 200, (page, answer.text[:500])
        assert "<script" not in answer.text.lower(), page
    assert xsrf_of(session), "the pages set an XSRF cookie"


def test_without_signing_in_the_pages_send_you_to_the_hub_login(hub, pages):
    session = requests.Session()
    session.trust_env = False
    session.verify = str(hub.certificate)
    answer = session.get(pages + "projects", timeout=30)
    assert answer.url.startswith(f"{hub.url}/hub/login"), answer.url
    assert session.post(pages + "projects", data={"name": "x"}, timeout=30).status_code == 403


@pytest.mark.parametrize("name", ["rita", "alice"])
def test_who_is_not_an_admin_gets_403_everywhere_and_changes_nothing(hub, pages, catalog, name):
    session, response = signed_in(hub, pages, name)
    assert response.status_code == 403
    assert "You do not have permission to access" in response.text  # the hub refuses
    for page in PAGES:
        assert session.get(pages + page, timeout=30).status_code == 403, page
    before = catalog_state(catalog)
    # The service's XSRF cookie (set even on the way to the hub's refusal) and the hub's.
    tokens = [xsrf_of(session), session.cookies.get("_xsrf", path="/hub/")]
    assert tokens[0]
    for path, data in FORMS.items():
        for token in tokens:
            answer = session.post(
                pages + path, data={**data, "_xsrf": token}, timeout=30, allow_redirects=False
            )
            assert answer.status_code == 403, path
    assert catalog_state(catalog) == before


def test_a_hub_admin_outside_the_admin_group_is_refused_by_the_service(hub, pages, catalog):
    session, response = signed_in(hub, pages, "admin")
    assert response.status_code == 403
    assert "the catalog pages are for admins" in response.text
    assert ADMIN_SCOPE in response.text
    for page in PAGES:
        answer = session.get(pages + page, timeout=30)
        assert answer.status_code == 403 and "are for admins" in answer.text, page
    token = xsrf_of(session)
    assert token, "even the refusal sets the XSRF cookie, so the forms below get past it"
    before = catalog_state(catalog)
    for path, data in FORMS.items():
        answer = session.post(
            pages + path, data={**data, "_xsrf": token}, timeout=30, allow_redirects=False
        )
        assert answer.status_code == 403, path
        assert "are for admins" in answer.text, (path, answer.text[:500])
    assert catalog_state(catalog) == before


def test_a_form_without_a_valid_xsrf_token_is_refused(hub, pages, catalog):
    session, _ = signed_in(hub, pages, "adam")
    token = xsrf_of(session)
    before = catalog_state(catalog)
    for path, data in FORMS.items():
        missing = session.post(pages + path, data=data, timeout=30, allow_redirects=False)
        assert missing.status_code == 403, path
        assert "_xsrf" in missing.text
        forged = session.post(
            pages + path,
            data={**data, "_xsrf": token[:-4] + "AAAA"},
            timeout=30,
            allow_redirects=False,
        )
        assert forged.status_code == 403, path
    # Another admin's token is no good either.
    other, _ = signed_in(hub, pages, "adam")
    stolen = other.post(
        pages + "projects",
        data={"name": "web-x", "_xsrf": token},
        timeout=30,
        allow_redirects=False,
    )
    assert stolen.status_code == 403
    assert catalog_state(catalog) == before


@pytest.mark.parametrize(
    ("path", "data", "message", "kept"),
    [
        (
            "organisations",
            {"id": "Web Co", "name": "Web Two", "kind": "depositor"},
            "is not a valid organisation id",
            "Web Two",
        ),
        ("users", {"user": "zoe", "organisation": "nowhere"}, "no organisation 'nowhere'", "zoe"),
        ("projects", {"name": "web-test", "description": "again"}, "exists already", "again"),
        (
            "projects/web-test/members",
            {"user": "nobody", "role": "researcher"},
            "does not know user 'nobody'",
            "",
        ),
        (
            "datasets/new-dataset",
            {"name": "web_x", "file": "../catalog/catalog.sqlite", "contributor_column": "yard"},
            "without '..'",
            "web_x",
        ),
        (
            "datasets/new-dataset",
            {"name": "web_x", "file": "web/welds.csv", "contributor_column": "shipyard"},
            "shipyard",
            "web_x",
        ),
        ("datasets/web_welds/versions", {"file": "web/welds.csv"}, "identical", ""),
        (
            "projects/web-test/grants",
            {"dataset": "web_welds", "scope": "some", "columns": ["yard", "secret"], "reason": "r"},
            "has no column 'secret'",
            "",
        ),
        (
            "projects/web-test/grants",
            {
                "dataset": "web_welds",
                "scope": "all",
                "reason": "r",
                "row_filter": "defects > 0; DROP TABLE grants",
            },
            "a second statement are not allowed",
            "DROP TABLE grants",
        ),
        (
            "projects/web-test/grants",
            {
                "dataset": "web_welds",
                "scope": "all",
                "reason": "r",
                "row_filter": "seam IN (SELECT * FROM read_csv('/x'))",
            },
            "subqueries are not allowed",
            "read_csv",
        ),
    ],
)
def test_a_mistake_shows_the_services_message_keeps_the_input_and_writes_nothing(
    hub, pages, catalog, path, data, message, kept
):
    session, _ = signed_in(hub, pages, "adam")
    before = catalog_state(catalog)
    answer = session.post(pages + path, data={**data, "_xsrf": xsrf_of(session)}, timeout=60)
    assert answer.status_code == 400, answer.text[:1000]
    alert = alert_of(answer)
    assert message in alert and "Nothing was changed" in alert
    if kept:
        assert kept in answer.text.replace("&#39;", "'").replace("&gt;", ">")
    assert catalog_state(catalog) == before
