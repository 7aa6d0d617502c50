"""Request release from JupyterLab, end to end, in Chromium through the real hub, nginx and the
airlock service (cleanroom-lab's front end, its server extension with the researcher's own
token, the airlock's API and the reviewer's page).

The researcher makes a CSV and a figure in a notebook, opens the release dialog for the
notebook from the File menu, requests release of the CSV from the
file browser and of the figure from its cell output, sees both in review in the side panel; a
reviewer returns the CSV's request for changes in the airlock's page; the researcher sees the
state change and the reviewer's comment in the panel, with a notification, fixes the file and
resubmits it, and withdraws the figure's request. Users of this module: lxb (researcher of
project lxproj), lxc and lxd (its reviewers, from two depositing organisations).
"""

from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import Page, expect
from support.browser import sign_in, sign_in_to_lab

from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService

pytestmark = [pytest.mark.browser, pytest.mark.docker]

RESEARCHER, REVIEWER, SECOND_REVIEWER, PROJECT = "lxb", "lxc", "lxd", "lxproj"
CSV_NAME = "lx-yield.csv"
CSV = b"plant_group,mean_yield\nA,97.1\nB,95.4\n"
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": (
                "import pandas as pd\n"
                "df = pd.DataFrame({'plant_group': ['A', 'B'], 'mean_yield': [97.1, 95.4]})\n"
                f"df.to_csv('{CSV_NAME}', index=False)\n"
                "df"
            ),
        },
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": (
                "import matplotlib.pyplot as plt\n"
                "fig, ax = plt.subplots(figsize=(3, 2))\n"
                "ax.bar(df.plant_group, df.mean_yield)\n"
                "plt.show()"
            ),
        },
    ],
}
LONG = 120_000  # ms: a kernel start, a poll of the side panel


@pytest.fixture(scope="module")
def project(hub):
    catalog = CatalogService.open(
        hub.settings.catalog_database_url, AuditLog.from_state_dir(hub.settings.state_dir)
    )
    for org, kind in (("lx-uni", "other"), ("lx-acme", "depositor"), ("lx-bolt", "depositor")):
        catalog.add_organisation(org, org, kind, actor="adam")
    for name, groups, org in (
        (RESEARCHER, ("researcher",), "lx-uni"),
        (REVIEWER, ("reviewer",), "lx-acme"),
        (SECOND_REVIEWER, ("reviewer",), "lx-bolt"),
    ):
        hub.add_user(name, groups)
        catalog.set_user_organisation(name, org, actor="adam")
    catalog.create_project(PROJECT, actor="adam")
    catalog.add_member(PROJECT, RESEARCHER, "researcher", actor="adam")
    catalog.add_member(PROJECT, REVIEWER, "reviewer", actor="adam")
    catalog.add_member(PROJECT, SECOND_REVIEWER, "reviewer", actor="adam")
    hub.start_server(RESEARCHER, options={"project": PROJECT})
    yield PROJECT
    hub.stop_server(RESEARCHER)


def release_from_menu(page: Page, target, item: str, justification: str):
    """Right-click ``target``, choose ``item``, and return the dialog before sending."""
    target.click(button="right")
    page.locator(".lm-Menu-item", has_text=item).first.click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-cleanroom-ReleaseDialog"))
    expect(dialog).to_be_visible(timeout=30_000)
    dialog.locator(".jp-cleanroom-justification").fill(justification)
    return dialog


def card(page: Page, text: str):
    return page.locator(".jp-cleanroom-request", has_text=text)


def test_request_release_and_see_the_reviewers_answer(hub, project, browser, page):
    sign_in_to_lab(page, hub, RESEARCHER)
    page.wait_for_url(f"{hub.server_url(RESEARCHER)}/lab**", timeout=180_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=120_000)
    # The researcher writes a table and draws a figure in a notebook.
    page.evaluate(
        """async (notebook) => {
          const app = window.jupyterapp;
          await app.restored;
          await app.serviceManager.contents.save('lx-release.ipynb',
            {type: 'notebook', format: 'json', content: notebook});
          const panel = await app.commands.execute('docmanager:open',
                                                   {path: 'lx-release.ipynb'});
          await panel.context.ready;
          await panel.sessionContext.ready;
          await app.commands.execute('notebook:run-all-cells');
        }""",
        NOTEBOOK,
    )
    figure = page.locator(".jp-OutputArea-child", has=page.locator("img"))
    expect(figure).to_be_visible(timeout=LONG)
    page.evaluate("window.jupyterapp.commands.execute('filebrowser:refresh')")
    csv_item = page.locator(".jp-DirListing-item", has_text=CSV_NAME)
    expect(csv_item).to_be_visible(timeout=30_000)

    # The open notebook, from the File menu: saved, then shown as it will go (cancelled here).
    page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
    page.locator(".lm-Menu-item", has_text="Request Release of This Notebook…").click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-cleanroom-ReleaseDialog"))
    expect(dialog).to_contain_text("lx-release.ipynb", timeout=30_000)
    expect(dialog.locator("select.jp-cleanroom-type")).to_have_value("notebook")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)

    # The CSV, from the file browser: the dialog shows exactly what goes, and its hash.
    # Without a justification it asks again, keeping what was chosen.
    dialog = release_from_menu(page, csv_item, "Request release…", "")
    expect(dialog).to_contain_text(CSV_NAME)
    expect(dialog).to_contain_text(f"{len(CSV)} bytes")
    expect(dialog).to_contain_text(hashlib.sha256(CSV).hexdigest()[:12])
    expect(dialog.locator("select.jp-cleanroom-type")).to_have_value("table")
    dialog.locator(".jp-cleanroom-title").fill("Yield table")
    dialog.get_by_role("button", name="Send for review").click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-cleanroom-problem"))
    expect(dialog).to_contain_text("Say why these files should leave the clean room")
    expect(dialog.locator(".jp-cleanroom-title")).to_have_value("Yield table")
    dialog.locator(".jp-cleanroom-justification").fill("Yield by plant group")
    dialog.get_by_role("button", name="Send for review").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0, timeout=60_000)

    # The figure, from its cell output: it becomes a PNG, shown before it is sent.
    dialog = release_from_menu(
        page, figure, "Request Release of This Output…", "The figure for the paper"
    )
    expect(dialog.locator(".jp-cleanroom-outputPreview img")).to_be_visible()
    expect(dialog).to_contain_text("lx-release-cell2-output1.png")
    dialog.get_by_role("button", name="Send for review").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0, timeout=60_000)

    # Both are in review in the side panel.
    page.evaluate("window.jupyterapp.commands.execute('cleanroom:open-requests')")
    csv_card = card(page, CSV_NAME)
    expect(csv_card).to_have_attribute("data-state", "in_review", timeout=LONG)
    expect(card(page, "lx-release-cell2-output1.png")).to_have_attribute(
        "data-state", "in_review", timeout=LONG
    )
    request_id = csv_card.get_attribute("data-request-id")
    expect(csv_card).to_contain_text("Yield table")
    # Its page in the airlock (reviews in full, the download once approved) is one click away.
    link = csv_card.locator("a.jp-cleanroom-airlockLink")
    expect(link).to_have_attribute("href", f"{hub.url}/services/airlock/requests/{request_id}")
    airlock_page = page.context.new_page()  # the same browser, on the public host
    airlock_page.goto(f"{hub.url}/services/airlock/requests/{request_id}")
    # Outside the clean room she sees only what reviewers saw: in its first review, not even
    # her file's name yet (her unreviewed text never comes back out); the panel shows it all.
    expect(airlock_page.locator("#withheld")).to_be_visible()
    assert request_id in airlock_page.content() and CSV_NAME not in airlock_page.content()
    airlock_page.close()

    # A reviewer, in another browser, returns the CSV for changes with a comment for her.
    reviewer = browser.new_context(ignore_https_errors=True).new_page()
    sign_in(reviewer, hub, REVIEWER)
    reviewer.wait_for_url(f"{hub.url}/**", timeout=60_000)
    reviewer.goto(f"{hub.url}/services/airlock/requests/{request_id}")
    form = reviewer.locator("#vote-form")
    expect(form).to_be_visible(timeout=60_000)
    form.locator("input[name=decision_0][value=changes]").check()
    form.locator("textarea[name=comment_0]").fill("Group B is small: merge it with A")
    form.locator("input[name=visible_0]").check()
    form.get_by_role("button", name="Record my votes").click()
    expect(reviewer.locator("body")).to_contain_text("returned", timeout=60_000)
    reviewer.context.close()

    # The researcher sees it change, with a notification and the reviewer's comment.
    expect(csv_card).to_have_attribute("data-state", "returned", timeout=LONG)
    expect(page.locator(".Toastify__toast", has_text="Returned for changes")).to_be_visible(
        timeout=LONG
    )
    expect(csv_card).to_contain_text("Group B is small: merge it with A")

    # She fixes the file and resubmits it from the panel: its new bytes go in review.
    page.evaluate(
        """async (name) => {
          await window.jupyterapp.serviceManager.contents.save(name,
            {type: 'file', format: 'text', content: 'plant_group,mean_yield\\nA+B,96.3\\n'});
        }""",
        CSV_NAME,
    )
    csv_card.get_by_role("button", name="Resubmit…").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Resubmit").click()
    expect(csv_card).to_have_attribute("data-state", "in_review", timeout=LONG)
    expect(csv_card).to_contain_text("version 2")
    page.screenshot(path="/tmp/cleanroom-lab-release-panel.png")

    # She withdraws the figure's request: it will not be reviewed.
    figure_card = card(page, "lx-release-cell2-output1.png")
    figure_card.get_by_role("button", name="Withdraw").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Withdraw").click()
    expect(figure_card).to_have_attribute("data-state", "withdrawn", timeout=LONG)
    expect(figure_card.get_by_role("button", name="Withdraw")).to_have_count(0)
