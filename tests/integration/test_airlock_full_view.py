"""The full view through the real hub: a reviewer, signed in through the hub's OAuth over TLS
and nginx, opens a 1-million-row CSV's whole-file view from the request page and reaches its
last row in two clicks; the requester, and a researcher of another project, get nothing of it.

The real OPA, catalog and audit log; the request comes from a real researcher's server token.
Who is who (names of this module only): ``fvera`` researcher of project ``fvproj`` (org
fv-uni), ``fvrex`` a reviewer of it (fv-acme), ``fvolly`` a researcher of ``fvother``.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from test_airlock_hub import api, browser, new_request

from cleanroom.airlock.inspect.previews import PREVIEW_CSP
from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService

pytestmark = pytest.mark.docker

MILLION = 1_000_000
LAST_ROW = f"{MILLION},THE-LAST-ROW"


@pytest.fixture(scope="module")
def people(hub, docker_client):
    """The people, two projects, fvera's running server for fvproj and its token."""
    catalog = CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )
    for org, kind in (("fv-uni", "other"), ("fv-acme", "depositor")):
        catalog.add_organisation(org, org, kind, actor="adam")
    for name, groups, org in (
        ("fvera", ("researcher",), "fv-uni"),
        ("fvrex", ("reviewer",), "fv-acme"),
        ("fvolly", ("researcher",), "fv-uni"),
    ):
        hub.add_user(name, groups)
        catalog.set_user_organisation(name, org, actor="adam")
    catalog.create_project("fvproj", actor="adam")
    catalog.create_project("fvother", actor="adam")
    catalog.add_member("fvproj", "fvera", "researcher", actor="adam")
    catalog.add_member("fvproj", "fvrex", "reviewer", actor="adam")
    catalog.add_member("fvother", "fvolly", "researcher", actor="adam")
    hub.start_server("fvera", options={"project": "fvproj"})
    try:
        yield {"token": hub.server_token(docker_client, "fvera")}
    finally:
        hub.stop_server("fvera")


def million_row_csv() -> bytes:
    # Under the release policy's 10 MiB for a table (about 8.9 MB).
    body = "".join(f"{i},{i % 7}\n" for i in range(1, MILLION))
    return ("id,plant_group\n" + body + LAST_ROW + "\n").encode()


def link(html: str, label: str) -> str:
    found = re.findall(rf'<a [^>]*href="([^"]+)"[^>]*>{label}</a>', html)
    assert found, (label, html[-3000:])
    return unescape(found[0])


def test_the_full_view_shows_the_last_row_of_a_million_row_csv_to_a_reviewer_and_nothing_to_the_requester(  # noqa: E501
    hub, people
):
    token = people["token"]
    rid = new_request(hub, token, {"big.csv": million_row_csv()})
    submitted = api(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "in_review", submitted.text
    origin = hub.airlock_url[: hub.airlock_url.index("/services/airlock/")]

    reviewer = browser(hub, "fvrex")
    page = reviewer.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert page.status_code == 200, page.text[:500]
    full = link(page.text, "See the whole file")
    assert re.fullmatch(rf"/services/airlock/requests/{rid}/full/\d+", full)
    first = reviewer.get(origin + full, timeout=120)  # click one
    assert first.status_code == 200, first.text[-1500:]
    assert first.headers["Content-Security-Policy"] == PREVIEW_CSP
    assert "<td>1</td><td>1</td>" in first.text and "THE-LAST-ROW" not in first.text
    last = reviewer.get(origin + link(first.text, "Last"), timeout=120)  # click two
    assert last.status_code == 200, last.text[-1500:]
    assert '<th class="cr-rownum">1,000,000</th><td>1000000</td><td>THE-LAST-ROW</td>' in last.text
    assert "Page 5,000 of 5,000" in last.text

    requester = browser(hub, "fvera")
    own = requester.get(f"{hub.airlock_url}requests/{rid}", timeout=60)
    assert own.status_code == 200 and "/full/" not in own.text
    outsider = browser(hub, "fvolly")
    for session in (requester, outsider):
        for query in ("", "?page=last", "?view=text&page=last", "?view=hex"):
            answer = session.get(origin + full + query, timeout=60)
            assert answer.status_code in (403, 404), (query, answer.status_code)
            assert "THE-LAST-ROW" not in answer.text and "plant_group" not in answer.text
    # With her server token, at the address her container uses: nothing either.
    direct = api(hub, token, "GET", full.removeprefix("/services/airlock/") + "?page=last")
    assert direct.status_code == 403 and "THE-LAST-ROW" not in direct.text
