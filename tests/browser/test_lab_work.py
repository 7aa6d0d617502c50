"""A researcher's ordinary work in Chromium, with the kernels in their own container: log in,
open JupyterLab, run a cell that queries a granted view, interrupt and restart the kernel,
save the notebook, write a result, request its release from the file browser and see it in
the requests panel. Users of this module: wendy (researcher of project wsplit), wren
(its reviewer, a depositor).
"""

from __future__ import annotations

import duckdb
import pytest
from playwright.sync_api import expect
from support.browser import run_cell, sign_in_to_lab

from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService

pytestmark = [pytest.mark.browser, pytest.mark.docker]

RESEARCHER, REVIEWER, PROJECT = "wendy", "wren", "wsplit"
ADMIN = "adam"
LONG = 120_000  # ms: a kernel start, a poll of the side panel


@pytest.fixture(scope="module")
def project(hub, tmp_path_factory):
    catalog = CatalogService.open(
        hub.settings.catalog_database_url,
        AuditLog.from_state_dir(hub.settings.state_dir),
        materialiser=grant_materialiser(grants_dir(hub.settings.state_dir)),
    )
    source = tmp_path_factory.mktemp("presses") / "presses.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT 'ws-acme' AS plant, i AS press, 100.0 + i AS force "
        "FROM range(37) r(i)"
    )
    con.execute(f"COPY t TO '{source}' (FORMAT parquet)")
    con.close()
    catalog.add_organisation("ws-acme", "ws-acme", "depositor", actor=ADMIN)
    catalog.add_organisation("ws-uni", "ws-uni", "other", actor=ADMIN)
    catalog.register_dataset(
        "presses", source, contributor_column="plant", values_are_organisations=True, actor=ADMIN
    )
    hub.add_user(RESEARCHER, ("researcher",))
    hub.add_user(REVIEWER, ("reviewer",))
    catalog.set_user_organisation(RESEARCHER, "ws-uni", actor=ADMIN)
    catalog.set_user_organisation(REVIEWER, "ws-acme", actor=ADMIN)
    catalog.create_project(PROJECT, actor=ADMIN)
    catalog.add_member(PROJECT, RESEARCHER, "researcher", actor=ADMIN)
    catalog.add_member(PROJECT, REVIEWER, "reviewer", actor=ADMIN)
    catalog.grant(PROJECT, "presses", reason="press study", actor=ADMIN)
    hub.start_server(RESEARCHER, options={"project": PROJECT})
    yield PROJECT
    hub.stop_server(RESEARCHER)


def test_notebook_work_and_a_release_request(hub, project, page):
    sign_in_to_lab(page, hub, RESEARCHER)
    page.wait_for_url(f"{hub.server_url(RESEARCHER)}/lab**", timeout=180_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=120_000)
    page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          await app.restored;
          const model = await app.commands.execute('docmanager:new-untitled',
                                                   {path: '', type: 'notebook'});
          await app.serviceManager.contents.rename(model.path, 'presses.ipynb');
          const panel = await app.commands.execute('docmanager:open',
              {path: 'presses.ipynb', factory: 'Notebook', kernel: {name: 'python3'}});
          await panel.context.ready;
          await panel.sessionContext.ready;
        }"""
    )
    notebook = page.locator(".jp-NotebookPanel")
    expect(notebook).to_be_visible(timeout=LONG)

    # A cell that queries the granted view, typed and run in the page.
    run_cell(
        page,
        "import cleanroom\ncon = cleanroom.connect()\n"
        "print('presses:', con.execute('select count(*) from presses').fetchone()[0])",
    )
    expect(notebook.locator(".jp-OutputArea-output", has_text="presses: 37")).to_be_visible(
        timeout=LONG
    )

    # Interrupt a running cell, then restart the kernel: both answer, and work goes on.
    run_cell(page, "import time\ntime.sleep(600)")
    page.wait_for_timeout(1000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
    expect(notebook.locator(".jp-OutputArea-output", has_text="KeyboardInterrupt")).to_be_visible(
        timeout=LONG
    )
    page.evaluate(
        """async () => {
          const panel = window.jupyterapp.shell.currentWidget;
          await panel.sessionContext.session.kernel.restart();
        }"""
    )
    run_cell(
        page,
        "import cleanroom\n"
        "df = cleanroom.connect().sql('select avg(force) as mean_force from presses').df()\n"
        "df.to_csv('ws-force.csv', index=False)\nprint('saved', len(df))",
    )
    expect(notebook.locator(".jp-OutputArea-output", has_text="saved 1")).to_be_visible(
        timeout=LONG
    )

    # Save, and the file on the server holds the outputs.
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    saved = page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          for (let i = 0; i < 100; i++) {
            const model = await app.serviceManager.contents.get('presses.ipynb');
            const text = JSON.stringify(model.content);
            if (text.includes('presses: 37') && text.includes('saved 1')) { return true; }
            await new Promise(r => setTimeout(r, 300));
          }
          return false;
        }"""
    )
    assert saved, "the saved notebook holds the cells' outputs"

    # The result, from the file browser, for review; it shows in the requests panel.
    page.evaluate("window.jupyterapp.commands.execute('filebrowser:refresh')")
    csv_item = page.locator(".jp-DirListing-item", has_text="ws-force.csv")
    expect(csv_item).to_be_visible(timeout=30_000)
    csv_item.click(button="right")
    page.locator(".lm-Menu-item", has_text="Request release…").first.click()
    dialog = page.locator(".jp-Dialog", has=page.locator(".jp-cleanroom-ReleaseDialog"))
    expect(dialog).to_be_visible(timeout=30_000)
    expect(dialog).to_contain_text("ws-force.csv")
    dialog.locator(".jp-cleanroom-title").fill("Mean press force")
    dialog.locator(".jp-cleanroom-justification").fill("One aggregate for the report")
    dialog.get_by_role("button", name="Send for review").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0, timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('cleanroom:open-requests')")
    card = page.locator(".jp-cleanroom-request", has_text="ws-force.csv")
    expect(card).to_have_attribute("data-state", "in_review", timeout=LONG)
    expect(card).to_contain_text("Mean press force")
