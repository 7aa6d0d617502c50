"""First use, for every role, in Chromium through the entry point: a researcher, a reviewer, a
data owner and an admin each log in through the real form, land on the hub's home, see their
own facts there, follow the obvious link to their work, and never meet a 403 or a 500 page.
Each role's first screen is saved to docs/images/first-use-<role>.png (docs/tutorial.md).

Users of this module (prefix ``fu``): fures (researcher of project fuproj), furev (its
reviewer, of fu-acme), fuown (data owner of fu-acme), fuadm (admin), funew (a researcher with
no project yet).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from cleanroom.airlock.db import create_airlock_engine, session_factory
from cleanroom.airlock.models import FileVersion, Request
from cleanroom.audit import AuditLog
from cleanroom.catalog.materialiser import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from support.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.docker]

RESEARCHER, REVIEWER, OWNER, ADMIN, NEWCOMER = "fures", "furev", "fuown", "fuadm", "funew"
PROJECT = "fuproj"
REQUEST_ID = "fu-waiting-1"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
LONG = 180_000  # ms: a server start


@pytest.fixture(scope="module")
def world(hub, tmp_path_factory):
    """The catalog (organisations, a dataset granted to fuproj, members) and one release
    request of fures waiting in review, with fu-acme's data in it."""
    catalog = CatalogService.open(
        hub.settings.catalog_database_url,
        AuditLog.from_state_dir(hub.settings.state_dir),
        materialiser=grant_materialiser(grants_dir(hub.settings.state_dir)),
    )
    source = tmp_path_factory.mktemp("fu") / "fu_lines.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT 'fu-acme' AS plant, i AS line, 90.0 + i % 7 AS yield_pct "
        "FROM range(40) r(i)"
    )
    con.execute(f"COPY t TO '{source}' (FORMAT parquet)")
    con.close()
    catalog.add_organisation("fu-acme", "FU Acme Fabs", "depositor", actor=ADMIN)
    catalog.add_organisation("fu-uni", "FU University", "other", actor=ADMIN)
    catalog.register_dataset(
        "fu_lines", source, contributor_column="plant", values_are_organisations=True, actor=ADMIN
    )
    for name, groups, org in (
        (RESEARCHER, ("researcher",), "fu-uni"),
        (REVIEWER, ("reviewer",), "fu-acme"),
        (OWNER, ("data-owner",), "fu-acme"),
        (ADMIN, ("admin",), "fu-uni"),
        (NEWCOMER, ("researcher",), "fu-uni"),
    ):
        hub.add_user(name, groups)
        catalog.set_user_organisation(name, org, actor=ADMIN)
    catalog.create_project(PROJECT, description="Line yields, first use", actor=ADMIN)
    catalog.add_member(PROJECT, RESEARCHER, "researcher", actor=ADMIN)
    catalog.add_member(PROJECT, REVIEWER, "reviewer", actor=ADMIN)
    catalog.grant(PROJECT, "fu_lines", reason="first use", actor=ADMIN)
    waiting_request(hub)
    yield catalog
    hub.stop_server(RESEARCHER)


def waiting_request(hub) -> None:
    """A request in review, written as the airlock stores one (the journey tests make them
    through JupyterLab; here only the count and the queue matter)."""
    at = datetime.now(UTC).replace(tzinfo=None)
    sessions = session_factory(create_airlock_engine(hub.settings.airlock_path / "airlock.sqlite"))
    with sessions() as s, s.begin():
        s.add(Request(id=REQUEST_ID, title="Mean line yield", project=PROJECT,
                      requester=RESEARCHER, state="in_review", justification="for the paper",
                      contributing_organisations=["fu-acme"], reviewers_required=1,
                      data_owner_approval=["fu-acme"], created_at=at, updated_at=at))  # fmt: skip
        s.add(FileVersion(request_id=REQUEST_ID, name="fu-yield.csv", version=1, type="table",
                          sha256="0" * 64, size=10, media_type="text/csv", round=1,
                          added_at=at))  # fmt: skip


class Navigations:
    """Every main-frame navigation's status: none may be a 403 or a 5xx."""

    def __init__(self, page: Page):
        self.page = page
        self.seen: list[tuple[int, str]] = []
        page.on("response", self.record)

    def record(self, response) -> None:
        request = response.request
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.seen.append((response.status, response.url))

    def check(self) -> None:
        bad = [(status, url) for status, url in self.seen if status == 403 or status >= 500]
        assert not bad, f"error pages met: {bad}"
        assert self.seen, "no navigation was seen"


def land(page: Page, hub, name: str, role: str) -> Navigations:
    """Sign in through the real form; arrive on the hub's home; save the first screen."""
    navigations = Navigations(page)
    sign_in(page, hub, name)
    page.wait_for_url(f"{hub.url}/hub/home**", timeout=60_000)
    expect(page.locator("#cleanroom-where")).to_contain_text(f"signed in as {name}")
    expect(page.locator(".breadcrumb")).to_contain_text("Clean room home")
    expect(page).to_have_title("Home · Clean room")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"first-use-{role}.png"), full_page=True)
    return navigations


def wait_for_lab(page: Page, hub, name: str) -> None:
    """Wait until the start ends in JupyterLab on ``name``'s host name. When the server's
    containers come up, new network interfaces appear on this host and Chromium may drop the
    page it is loading (net::ERR_NETWORK_CHANGED): then, as a person would, go back to the
    hub's page of the start, which sends a started server's owner on to it."""
    for attempt in range(3):
        try:
            page.wait_for_url(f"{hub.server_url(name)}/lab**", timeout=LONG)
            return
        except PlaywrightError as error:
            if "ERR_NETWORK_CHANGED" not in str(error) or attempt == 2:
                raise
            hub.wait_ready(name)
            page.goto(f"{hub.url}/hub/spawn-pending/{name}")


def test_a_researcher_starts_her_project_from_the_home(hub, world, page):
    navigations = land(page, hub, RESEARCHER, "researcher")
    projects = page.locator("#cleanroom-projects")
    expect(projects.locator("h2")).to_have_text("Your projects")
    row = projects.locator(f'tr[data-project="{PROJECT}"]')
    expect(row).to_contain_text("Line yields, first use")
    expect(row.locator(".cleanroom-verdict")).to_contain_text("Yes.")
    expect(page.locator("#cleanroom-reviews, #cleanroom-admin")).to_have_count(0)

    row.get_by_role("button", name=f"Start {PROJECT}").click()
    wait_for_lab(page, hub, RESEARCHER)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
    assert hub.api.call("GET", f"/users/{RESEARCHER}")["servers"][""]["user_options"] == {
        "project": PROJECT
    }

    # Back home: the project runs, and its link is the server's own host name.
    page.goto(f"{hub.url}/hub/home")
    expect(page.locator("#cleanroom-running")).to_contain_text(f"for project {PROJECT}")
    link = page.locator("#cleanroom-open")
    expect(link).to_have_attribute("href", f"{hub.server_url(RESEARCHER)}/")
    link.click()
    page.wait_for_url(f"{hub.server_url(RESEARCHER)}/lab**", timeout=LONG)
    navigations.check()


def test_a_researcher_without_a_project_is_told_how_to_get_one(hub, world, page):
    navigations = land(page, hub, NEWCOMER, "newcomer")
    expect(page.locator("#cleanroom-no-projects")).to_contain_text(
        "No projects yet: an admin adds you to one."
    )
    navigations.check()


@pytest.mark.parametrize(("name", "role"), [(REVIEWER, "reviewer"), (OWNER, "data-owner")])
def test_reviewers_and_data_owners_go_from_the_count_to_their_queue(hub, world, page, name, role):
    navigations = land(page, hub, name, role)
    reviews = page.locator("#cleanroom-reviews")
    expect(reviews.locator("h2")).to_have_text("Requests waiting for you")
    expect(reviews.locator("#cleanroom-waiting")).to_contain_text(
        "1 release request waits for your review"
    )
    expect(page.locator("#cleanroom-projects, #cleanroom-admin")).to_have_count(0)

    reviews.get_by_role("link", name="Open the review queue").click()
    page.wait_for_url(f"{hub.airlock_url}review", timeout=60_000)
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {name}")
    expect(page.locator("body")).to_contain_text("Mean line yield")
    navigations.check()


def test_an_admin_finds_the_catalog_the_requests_and_the_audit_log(hub, world, page):
    navigations = land(page, hub, ADMIN, "admin")
    admin = page.locator("#cleanroom-admin")
    expect(admin.locator("h2")).to_have_text("Administration")
    expect(page.locator("#cleanroom-catalog-counts")).to_contain_text("The catalog holds")
    expect(page.locator("#cleanroom-audit")).to_contain_text("the chain checks out")
    expect(page.locator("#cleanroom-projects, #cleanroom-reviews")).to_have_count(0)

    admin.get_by_role("link", name="Catalog").click()
    page.wait_for_url(f"{hub.url}/services/catalog/", timeout=60_000)
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {ADMIN}")

    page.goto(f"{hub.url}/hub/home")
    page.locator("#cleanroom-airlock-admin").click()
    page.wait_for_url(f"{hub.airlock_url}admin", timeout=60_000)
    expect(page.locator("body")).to_contain_text("Mean line yield")
    navigations.check()
