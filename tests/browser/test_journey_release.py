"""Journeys 4 and 5 of the design, in Chromium: a researcher's server asks for the release of a
table and a notebook (with its own token, at the airlock's gateway address); a reviewer opens
the request, sees the exact contents (a notebook whose output carries a script is previewed and
the script does not run), returns it for changes; the researcher fixes the table and
resubmits; two reviewers approve; the researcher downloads the table in the browser, outside
the container, and its hash is the reviewed one. The audit log shows every step and verifies.

Names of this module only: ``albert`` (researcher of ``aljourney``, org alj-uni), ``alistair``
(alj-acme) and ``alina`` (alj-bolt), reviewers of it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from support.browser import fill_login

from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.policy import PolicyClient, revision_of_dir

pytestmark = [pytest.mark.browser, pytest.mark.docker]

PROJECT = "aljourney"
RESEARCHER, REVIEWER_1, REVIEWER_2 = "albert", "alistair", "alina"
TABLE_V1 = b"plant_group,lots,mean_yield\nA,40,97.1\nB,2,88.0\n"
TABLE_V2 = b"plant_group,lots,mean_yield\nA+B,42,96.7\n"
NOTEBOOK = json.dumps(
    {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 1,
                "metadata": {},
                "source": ["print('yield')"],
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "text/html": [
                                "<b id='bold-output'>yield by plant</b>",
                                "<script>document.title='PWNED'; alert('PWNED')</script>",
                                "<img src='x' onerror=\"document.title='PWNED'\">",
                            ],
                            "text/plain": ["yield by plant"],
                        },
                    }
                ],
            }
        ],
    }
).encode()


@pytest.fixture(scope="module")
def journey(hub, docker_client):
    catalog = CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )
    for org in ("alj-uni", "alj-acme", "alj-bolt"):
        catalog.add_organisation(org, org, "depositor", actor="adam")
    for name, group, org in (
        (RESEARCHER, "researcher", "alj-uni"),
        (REVIEWER_1, "reviewer", "alj-acme"),
        (REVIEWER_2, "reviewer", "alj-bolt"),
    ):
        hub.add_user(name, (group,))
        catalog.set_user_organisation(name, org, actor="adam")
    catalog.create_project(PROJECT, actor="adam")
    catalog.add_member(PROJECT, RESEARCHER, "researcher", actor="adam")
    catalog.add_member(PROJECT, REVIEWER_1, "reviewer", actor="adam")
    catalog.add_member(PROJECT, REVIEWER_2, "reviewer", actor="adam")
    # This deployment asks two reviewers for every release (its policy's setting).
    release = Path(hub.settings.policies_dir) / "release.rego"
    original = release.read_text()
    tmp = release.with_name(".release.rego.tmp")
    tmp.write_text(original.replace('"min_reviewers": 1,', '"min_reviewers": 2,'))
    tmp.replace(release)
    with PolicyClient(hub.settings.policy_url) as policy:
        deadline = time.monotonic() + 30
        while policy.fetch_revision() != revision_of_dir(hub.settings.policies_dir):
            assert time.monotonic() < deadline, "OPA did not load the changed release policy"
            time.sleep(0.2)
    hub.start_server(RESEARCHER, options={"project": PROJECT})
    try:
        yield hub.server_token(docker_client, RESEARCHER)
    finally:
        tmp.write_text(original)
        tmp.replace(release)
        hub.stop_server(RESEARCHER)


def from_server(hub, token: str, method: str, path: str, **kwargs) -> dict:
    """What the researcher's server does: its own token, the gateway address."""
    answer = requests.request(
        method,
        hub.airlock_direct_url + path,
        headers={"Authorization": f"token {token}"},
        timeout=60,
        **kwargs,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def sign_in(page: Page, hub, name: str, path: str = "") -> None:
    page.goto(hub.airlock_url + path)
    page.wait_for_url(f"{hub.url}/hub/login**")
    fill_login(page, name, hub.passwords[name])
    page.wait_for_url(hub.airlock_url + path, timeout=60_000)
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {name}")


def cast(page: Page, decisions: dict[str, tuple[str, str, bool]]) -> None:
    """Fill the vote form: per file a decision, a comment, and whether the requester reads it."""
    for fieldset in page.locator("#vote-form fieldset").all():
        name = fieldset.locator("legend").inner_text().strip()
        if name not in decisions:
            continue
        decision, comment, visible = decisions[name]
        fieldset.locator(f"input[type=radio][value={decision}]").check()
        fieldset.locator("textarea").fill(comment)
        if visible:
            fieldset.locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Record my votes").click()
    expect(page.locator(".notice")).to_contain_text("Your vote is recorded")


def test_return_resubmit_two_approvals_and_a_download_of_the_reviewed_bytes(hub, journey, browser):
    token = journey
    created = from_server(
        hub,
        token,
        "POST",
        "api/requests",
        json={"justification": "yield by plant group", "title": "Yield table"},
    )
    rid = created["id"]
    from_server(hub, token, "PUT", f"api/requests/{rid}/files/yield.csv?type=table", data=TABLE_V1)
    nb = from_server(
        hub, token, "PUT", f"api/requests/{rid}/files/analysis.ipynb?type=notebook", data=NOTEBOOK
    )
    assert nb["media_type"] == "application/x-ipynb+json", nb
    submitted = from_server(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert submitted["state"] == "in_review" and submitted["reviewers_required"] == 2

    # The first reviewer: the queue, the contents, a notebook script that does not run.
    reviewer = browser.new_context(ignore_https_errors=True).new_page()
    dialogs: list[str] = []
    reviewer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(reviewer, hub, REVIEWER_1, "review")
    reviewer.get_by_role("link", name="Yield table").click()
    expect(reviewer.locator("#state")).to_have_text("in review")
    expect(reviewer.locator("#files")).to_contain_text(hashlib.sha256(TABLE_V1).hexdigest())
    expect(reviewer.locator("#checks")).to_contain_text("integrity")
    previews = reviewer.locator(".preview")
    expect(previews.first).to_be_visible()
    expect(reviewer.locator(".preview", has_text="plant_group")).to_have_count(1)
    expect(reviewer.locator(".preview", has_text="yield by plant")).to_have_count(1)
    assert reviewer.locator(".preview script").count() == 0
    assert reviewer.locator(".preview [onerror]").count() == 0
    time.sleep(0.5)
    assert reviewer.title() != "PWNED" and dialogs == []
    cast(
        reviewer,
        {
            "yield.csv": ("changes", "group B has 2 lots: merge it", True),
            "analysis.ipynb": ("approve", "fine", False),
        },
    )
    expect(reviewer.locator("#state")).to_have_text("returned")

    # The researcher reads why, fixes the table and resubmits from her server.
    model = from_server(hub, token, "GET", f"api/requests/{rid}")
    assert model["state"] == "returned"
    comments = {f["name"]: [v["comment"] for v in f["votes"]] for f in model["files"]}
    assert comments == {"yield.csv": ["group B has 2 lots: merge it"], "analysis.ipynb": [""]}
    fixed = from_server(
        hub, token, "PUT", f"api/requests/{rid}/files/yield.csv?type=table", data=TABLE_V2
    )
    assert fixed["version"] == 2
    again = from_server(hub, token, "POST", f"api/requests/{rid}/submit", json={})
    assert again["state"] == "in_review" and again["round"] == 2

    # Both reviewers approve; the first sees the change between the versions.
    response = reviewer.goto(f"{hub.airlock_url}requests/{rid}")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script may run here
    expect(reviewer.locator(".diff")).to_contain_text("A+B,42,96.7")
    cast(reviewer, {"yield.csv": ("approve", "merged, fine", False)})
    expect(reviewer.locator("#state")).to_have_text("in review")
    second = browser.new_context(ignore_https_errors=True).new_page()
    sign_in(second, hub, REVIEWER_2, f"requests/{rid}")
    cast(
        second, {"yield.csv": ("approve", "ok", False), "analysis.ipynb": ("approve", "ok", False)}
    )
    expect(second.locator("#state")).to_have_text("approved")

    # The researcher downloads in her own browser, outside the clean room.
    researcher = browser.new_context(ignore_https_errors=True, accept_downloads=True).new_page()
    sign_in(researcher, hub, RESEARCHER, f"requests/{rid}")
    assert researcher.locator(".preview").count() == 0  # no contents for the requester
    row = researcher.locator("#files tr", has_text="yield.csv")
    with researcher.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    path = download_info.value.path()
    data = Path(path).read_bytes()
    final = from_server(hub, token, "GET", f"api/requests/{rid}")
    reviewed = {f["name"]: f["sha256"] for f in final["files"]}
    assert hashlib.sha256(data).hexdigest() == reviewed["yield.csv"]
    assert data == TABLE_V2
    assert from_server(hub, token, "GET", f"api/requests/{rid}")["state"] == "released"

    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    steps = [
        (r.details["source"], r.details["target"])
        for r in audit.records()
        if r.event == "airlock.request.state" and r.details.get("request") == rid
    ]
    assert steps == [
        ("draft", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "returned"),
        ("returned", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
        ("approved", "released"),
    ]
    downloads = [
        r
        for r in audit.records()
        if r.event == "airlock.release.download" and r.details.get("request") == rid
    ]
    assert [d.details["sha256"] for d in downloads] == [reviewed["yield.csv"]]
    assert audit.verify().ok
