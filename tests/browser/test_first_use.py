"""First use, for every role, in Chromium through the entry point: a researcher, a reviewer, a
data owner and an admin each log in through the real form, land on the hub's home, see their
own facts there, follow the obvious link to their work, and never meet a 403 or a 500 page.
Each role's first screen is saved to docs/images/first-use-<role>.png (docs/tutorial/first-use.md).

Users of this module (prefix ``fu``): fures (researcher of project fuproj), furev (its
reviewer, of fu-acme), fuown (data owner of fu-acme), fuadm (admin), funew (a researcher with
no project yet).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from support.browser import sign_in, sign_in_to_lab

from cleanroom.airlock.db import create_airlock_engine, session_factory
from cleanroom.airlock.models import FileVersion, Request
from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService

pytestmark = [pytest.mark.browser, pytest.mark.docker]

RESEARCHER, REVIEWER, OWNER, ADMIN, NEWCOMER = "fures", "furev", "fuown", "fuadm", "funew"
PROJECT = "fuproj"
REQUEST_ID = "fu-waiting-1"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
LONG = 180_000  # ms: a server start
GRANTED_COLUMNS = ["line", "yield_pct"]  # not "plant", the contributor column
EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)


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
    catalog.grant(
        PROJECT,
        "fu_lines",
        reason="first use",
        actor=ADMIN,
        columns=GRANTED_COLUMNS,
        expires_at=EXPIRY,
    )
    waiting_request(hub)
    yield catalog
    hub.stop_server(RESEARCHER)


def waiting_request(hub) -> None:
    """A request in review, written as the airlock stores one (the journey tests make them
    through JupyterLab; here only the count and the queue matter)."""
    at = datetime.now(UTC).replace(tzinfo=None)
    sessions = session_factory(create_airlock_engine(hub.settings.airlock_path / "airlock.sqlite"))
    with sessions() as s, s.begin():
        s.add(
            Request(
                id=REQUEST_ID,
                title="Mean line yield",
                project=PROJECT,
                requester=RESEARCHER,
                state="in_review",
                justification="for the paper",
                contributing_organisations=["fu-acme"],
                reviewers_required=1,
                data_owner_approval=["fu-acme"],
                created_at=at,
                updated_at=at,
            )
        )
        s.add(
            FileVersion(
                request_id=REQUEST_ID,
                name="fu-yield.csv",
                version=1,
                type="table",
                sha256="0" * 64,
                size=10,
                media_type="text/csv",
                round=1,
                added_at=at,
            )
        )


def in_review(hub) -> int:
    """How many of fuproj's requests are in review, as the airlock stores them."""
    sessions = session_factory(create_airlock_engine(hub.settings.airlock_path / "airlock.sqlite"))
    with sessions() as s:
        return s.query(Request).filter_by(project=PROJECT, state="in_review").count()


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
    # The hub's navigation offers only what this person may open: no "Token" page (nobody
    # holds the tokens scope), beside the "Home" link that is there for everyone.
    navbar = page.locator("nav .navbar-nav").first
    expect(navbar.get_by_role("link", name="Home", exact=True)).to_have_count(1)
    expect(navbar.get_by_role("link", name="Token")).to_have_count(0)
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


def test_a_researcher_finds_her_datasets_and_runs_start_here_to_a_release(hub, world, page):
    navigations = Navigations(page)
    sign_in_to_lab(page, hub, RESEARCHER, PROJECT)
    wait_for_lab(page, hub, RESEARCHER)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=120_000)

    # The Datasets panel: exactly the granted columns, the row count, the grant's limits.
    page.locator('.lm-TabBar-tab[data-id="cleanroom-datasets"]').click()
    view = page.locator('.jp-cleanroom-dataset[data-view="fu_lines"]')
    expect(view).to_contain_text("40 rows · 2 columns", timeout=60_000)
    expect(view).to_contain_text("Columns: only the 2 granted to this project")
    expect(view).to_contain_text("Rows: all of the dataset")
    expect(view).to_contain_text("Grant expires 2030-01-01 00:00 UTC")
    view.locator("summary").click()
    names = view.locator("tr[data-column]").evaluate_all("rows => rows.map(r => r.dataset.column)")
    assert names == GRANTED_COLUMNS
    assert "plant" not in view.inner_text()
    page.screenshot(path=str(IMAGES / "first-use-datasets.png"))

    # "Start here" is in the new home, read-only.
    page.locator('.lm-TabBar-tab[data-id="filebrowser"]').click()
    item = page.locator(".jp-DirListing-item", has_text="Start here.ipynb")
    expect(item).to_be_visible(timeout=30_000)
    writable = page.evaluate(
        "async () => (await window.jupyterapp.serviceManager.contents.get("
        "'Start here.ipynb', {content: false})).writable"
    )
    assert writable is False
    item.dblclick()
    notebook = page.locator(".jp-NotebookPanel", has_text="Start here")
    expect(notebook).to_be_visible(timeout=60_000)
    page.wait_for_function(
        "window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel != null",
        timeout=120_000,
    )
    # Top to bottom, from the Run menu, in the kernel container.
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    proposal = notebook.locator(".jp-cleanroom-proposal")
    expect(proposal).to_be_visible(timeout=LONG)
    errors = notebook.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    assert "Error" not in " ".join(errors.all_inner_texts())
    expect(notebook).to_contain_text("R² of yield_pct on held-out rows")
    page.screenshot(path=str(IMAGES / "first-use-start-here.png"))

    # Its last cell offers the release dialog, filled in; sending puts it in the airlock.
    proposal.click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-cleanroom-ReleaseDialog"))
    expect(dialog).to_contain_text("start-here-outputs/summary.csv", timeout=30_000)
    expect(dialog).to_contain_text("start-here-outputs/figure.png")
    expect(dialog.locator(".jp-cleanroom-justification")).to_have_value(
        "A first look at fu_lines: counts, means and spread of its numeric columns."
    )
    dialog.get_by_role("button", name="Send for review").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0, timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('cleanroom:open-requests')")
    card = page.locator(".jp-cleanroom-request", has_text="Start here: summary and figure")
    expect(card).to_have_attribute("data-state", "in_review", timeout=LONG)
    request_id = card.get_attribute("data-request-id")
    sessions = session_factory(create_airlock_engine(hub.settings.airlock_path / "airlock.sqlite"))
    with sessions() as s:
        stored = s.get(Request, request_id)
        assert stored.requester == RESEARCHER and stored.project == PROJECT
        files = {f.name for f in s.query(FileVersion).filter_by(request_id=request_id)}
    assert files == {"summary.csv", "figure.png"}

    # "Insert query" puts a working query of the view into the current notebook.
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute("
        "'notebook:create-new', {kernelName: 'python3'}); }"
    )
    page.wait_for_function(
        "window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel != null",
        timeout=120_000,
    )
    page.locator('.lm-TabBar-tab[data-id="cleanroom-datasets"]').click()
    view.get_by_role("button", name="Insert query").click()
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:run-cell'); }")
    table = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output table")
    expect(table).to_contain_text("yield_pct", timeout=LONG)
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
    # fu-waiting-1, and the Start here request if that test ran before: every request of
    # fuproj holds fu-acme's rows only, so reviewer and data owner wait for the same ones.
    waiting = in_review(hub)
    expect(reviews.locator("#cleanroom-waiting")).to_contain_text(
        "1 release request waits for your review"
        if waiting == 1
        else f"{waiting} release requests wait for your review"
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
