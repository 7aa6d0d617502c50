"""The edge in Chromium: a page on a researcher's origin against the public host's pages, and
the display quota as a researcher meets it in JupyterLab.

Users of this module: rita (reviewer, main hub), mallet (a rogue server's route on the main
hub), quinn (researcher on ``edge_hub``, whose daily quota is 12 MiB).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from support.browser import run_cell, sign_in, sign_in_to_lab
from support.rogue import RogueServer, register

from cleanroom import origins
from cleanroom.host import daemon

pytestmark = [pytest.mark.browser, pytest.mark.docker]

LONG = 120_000


@pytest.fixture(scope="module")
def rogue(hub):
    server = RogueServer().start()
    register(hub, "mallet", server.url)
    yield server
    server.stop()


def access_log(hub) -> str:
    return (hub.settings.state_path / "logs" / "nginx-access.log").read_text(errors="replace")


def test_a_page_on_a_researchers_origin_cannot_read_or_post_to_the_public_host(hub, rogue, page):
    sign_in(page, hub, "rita")
    page.wait_for_load_state()
    public = origins.public_origin(hub.settings)

    # The attack: rita follows a link to a page on mallet's origin. Its script tries to read
    # the airlock with rita's cookies, tosses an XSRF cookie for the public host, and posts
    # a vote with it.
    page.goto(f"{hub.server_url('mallet')}/lab?hub={public}")
    page.wait_for_function("document.title === 'done'", timeout=30_000)
    results = json.loads(page.inner_text("#out"))
    assert results["own"].startswith("read 200"), results  # the probe reads its own origin
    assert results["read"].startswith("blocked"), results
    probe = "POST /services/airlock/requests/edge-probe/vote"
    assert f'{probe} HTTP/1.1" 403' in access_log(hub)  # refused by nginx ...
    hub_log = daemon.hub_log(hub.settings).read_text()
    assert "/requests/edge-probe/vote" not in hub_log  # ... so the airlock never saw it

    # The control, in the same browser with the same cookies: from a page of the public
    # origin, the same post passes the edge and reaches the airlock (which then asks for
    # its own XSRF token: not the edge's business).
    page.goto(f"{public}/hub/home")
    control = page.evaluate(
        """async () => {
          const body = new URLSearchParams({decision: 'approve'});
          const post = await fetch('/services/airlock/requests/edge-control/vote',
              {method: 'POST', credentials: 'include', body, redirect: 'manual'});
          return {type: post.type, text: post.type === 'basic' ? await post.text() : ''};
        }"""
    )
    assert "Refused by the clean room's edge" not in control["text"], control
    log = daemon.hub_log(hub.settings).read_text()
    assert "/requests/edge-control/vote" in log, "the airlock saw the control post"


def test_display_quota_is_shown_in_jupyterlab(edge_hub, page):
    sign_in_to_lab(page, edge_hub, "quinn")
    page.wait_for_url(f"{edge_hub.server_url('quinn')}/lab**", timeout=180_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=LONG)
    page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          await app.restored;
          await app.serviceManager.contents.save('small.csv',
              {type: 'file', format: 'text', content: 'plant,yield\\nA,0.97\\nB,0.91\\n'});
          await app.serviceManager.contents.save('later.csv',
              {type: 'file', format: 'text', content: 'plant,yield\\nC,0.88\\n'});
          const model = await app.commands.execute('docmanager:new-untitled',
                                                   {path: '', type: 'notebook'});
          await app.serviceManager.contents.rename(model.path, 'flood.ipynb');
          await app.commands.execute('docmanager:open', {path: 'small.csv'});
        }"""
    )
    # Ordinary work first: a small CSV opens.
    expect(page.locator(".jp-CSVViewer, .jp-FileEditor").first).to_be_visible(timeout=LONG)
    page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          const panel = await app.commands.execute('docmanager:open',
              {path: 'flood.ipynb', factory: 'Notebook', kernel: {name: 'python3'}});
          await panel.context.ready;
          await panel.sessionContext.ready;
        }"""
    )
    notebook = page.locator(".jp-NotebookPanel")
    expect(notebook).to_be_visible(timeout=LONG)
    # 30 MB of output at 0.5 MB/s, under the lab server's own output limits (so the output
    # stays one stream), over the day's 12 MiB: the edge stops it with a message.
    run_cell(page, "import time\n_ = [(print('x' * 500_000), time.sleep(1)) for i in range(60)]")
    expect(
        notebook.locator(".jp-OutputArea-output", has_text="Display quota reached")
    ).to_be_visible(timeout=LONG)
    # Opening another file now fails with the reason (JupyterLab shows the server's message).
    opened = page.evaluate(
        """() => window.jupyterapp.serviceManager.contents.get('later.csv')
                   .then(() => 'opened', error => String(error.message))"""
    )
    assert "Display quota reached" in opened
