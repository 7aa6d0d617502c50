"""The researcher's JupyterLab has no way out but "Request release" (cleanroom-lab), in
Chromium through the real hub and the nginx entry point.

Every registered command is listed (``window.jupyterapp``, exposed by the notebook image's
page_config.json) and each one whose id or label says download, export, print, share, upload
or new browser tab is shown to be hidden, disabled and refused when executed. Every item of the
main menus, and of the context menus of a file, a folder, a notebook and a cell output, is read
as shown: none is a way out, and "Request release…" is there. The server's download routes
are refused through the hub. Users of this module: lxa.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from support.browser import sign_in_to_lab

pytestmark = [pytest.mark.browser, pytest.mark.docker]

USER = "lxa"
# What a way out is called, in a command's id or in what a menu shows.
WAY_OUT = re.compile(
    r"download|export|print|share|upload|browser.tab|new tab|open.url|copy.*link", re.I
)
KNOWN_WAYS_OUT = [
    "filebrowser:download",
    "filebrowser:copy-download-link",
    "filebrowser:open-browser-tab",
    "filebrowser:share-main",
    "docmanager:download",
    "docmanager:open-browser-tab",
    "notebook:export-to-format",
    "apputils:print",
]

LIST_COMMANDS = """async () => {
  const app = window.jupyterapp;
  await app.restored;
  const found = [];
  for (const id of app.commands.listCommands()) {
    const ask = f => { try { return f(); } catch (e) { return 'error: ' + e.message; } };
    found.push({
      id,
      label: String(ask(() => app.commands.label(id, {}))),
      enabled: ask(() => app.commands.isEnabled(id, {})),
      visible: ask(() => app.commands.isVisible(id, {})),
    });
  }
  return found;
}"""

EXECUTE = """async (id) => {
  try {
    await window.jupyterapp.commands.execute(id, {});
    return 'ran';
  } catch (e) {
    return 'refused: ' + e.message;
  }
}"""

MAIN_MENU_ITEMS = """() => {
  const app = window.jupyterapp;
  const bar = Array.from(app.shell.widgets('menu')).concat(Array.from(app.shell.widgets('top')))
    .find(w => Array.isArray(w.menus));
  const shown = [];
  const walk = (menu, path) => {
    for (const item of menu.items) {
      if (!item.isVisible) continue;
      if (item.type === 'submenu' && item.submenu) {
        walk(item.submenu, path + ' > ' + item.submenu.title.label);
      } else if (item.type === 'command') {
        shown.push({path, command: item.command, label: item.label});
      }
    }
  };
  for (const menu of bar.menus) walk(menu, menu.title.label);
  return shown;
}"""


def open_lab(hub, page: Page) -> str:
    sign_in_to_lab(page, hub, USER)
    page.wait_for_url(f"{hub.server_url(USER)}/lab**", timeout=180_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
    page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    return hub.server_url(USER)


def context_menu_labels(page: Page, locator) -> list[str]:
    locator.click(button="right")
    menu = page.locator(".lm-Menu").last
    expect(menu).to_be_visible(timeout=10_000)
    labels = [t.strip() for t in menu.locator(".lm-Menu-itemLabel").all_inner_texts()]
    page.keyboard.press("Escape")
    return [label for label in labels if label]


@pytest.fixture(scope="module")
def lab_user(hub):
    hub.add_user(USER, ("researcher",))
    yield USER
    hub.stop_server(USER)


def test_no_command_that_leads_out_can_run(hub, lab_user, page):
    open_lab(hub, page)
    commands = page.evaluate(LIST_COMMANDS)
    ids = {c["id"] for c in commands}
    assert len(commands) > 200, "JupyterLab registered its commands"
    assert "cleanroom:request-release" in ids and "cleanroom:request-release-output" in ids
    ways_out = [c for c in commands if WAY_OUT.search(c["id"]) or WAY_OUT.search(c["label"])]
    # The plugins that only lead out are switched off before JupyterLab starts.
    for gone in KNOWN_WAYS_OUT:
        assert gone not in ids or gone in {c["id"] for c in ways_out}, gone
    for command in ways_out:
        assert command["enabled"] is False, command
        assert command["visible"] is False, command
        answer = page.evaluate(EXECUTE, command["id"])
        assert answer.startswith("refused"), (command, answer)
    # The guard refuses commands, not JupyterLab: an ordinary command still runs.
    assert page.evaluate(EXECUTE, "filebrowser:refresh") == "ran"
    print(f"{len(commands)} commands; ways out found and refused: {[c['id'] for c in ways_out]}")


def test_no_menu_or_context_menu_offers_a_way_out(hub, lab_user, page):
    base = open_lab(hub, page)
    shown = page.evaluate(MAIN_MENU_ITEMS)
    assert any(item["command"] == "cleanroom:request-release-notebook" for item in shown)
    assert len(shown) > 50, "the main menus were read"
    leading_out = [i for i in shown if WAY_OUT.search(i["label"]) or WAY_OUT.search(i["command"])]
    assert leading_out == []

    # The command palette finds no way out either. It is modal and closes when anything
    # takes the focus (the launcher appearing late, say), so it is opened again if needed.
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=60_000)
    search = page.locator(".lm-CommandPalette-input")
    open_palette = "window.jupyterapp.commands.execute('apputils:activate-command-palette')"

    def palette_search(text: str) -> None:
        for _ in range(3):
            if not search.is_visible():
                page.evaluate(open_palette)
                expect(search).to_be_visible(timeout=10_000)
            try:
                search.fill(text, timeout=5_000)
                return
            except PlaywrightTimeoutError:
                continue  # it closed between the check and the typing
        search.fill(text)

    ours = page.locator(".lm-CommandPalette-item", has_text="Request Release")
    for word in ("download", "export", "browser tab", "share", "print", "upload"):
        # Our own item shows, then goes: the palette has rendered the new search.
        palette_search("request release")
        expect(ours).not_to_have_count(0)
        palette_search(word)
        expect(ours).to_have_count(0)
        found = page.locator(".lm-CommandPalette-item").all_inner_texts()
        assert [text for text in found if WAY_OUT.search(text)] == [], (word, found)
    page.keyboard.press("Escape")

    # A CSV, a folder and a notebook with an output, made through the page's own session.
    page.evaluate(
        """async () => {
          const contents = window.jupyterapp.serviceManager.contents;
          await contents.save('lx-table.csv', {type: 'file', format: 'text',
                                               content: 'plant,mean\\nA,1.5\\n'});
          await contents.save('lx-folder', {type: 'directory'});
          await contents.save('lx-notebook.ipynb', {type: 'notebook', format: 'json', content: {
            nbformat: 4, nbformat_minor: 5,
            metadata: {kernelspec: {name: 'python3', display_name: 'Python 3'}},
            cells: [{cell_type: 'code', source: 'print(1)', metadata: {}, execution_count: 1,
                     outputs: [{output_type: 'execute_result', execution_count: 1, metadata: {},
                                data: {'text/html': '<table><tr><th>a</th></tr>'
                                                    + '<tr><td>1</td></tr></table>',
                                       'text/plain': 'a 1'}}]}]}});
          await window.jupyterapp.commands.execute('filebrowser:refresh');
        }"""
    )
    listing = page.locator(".jp-DirListing-content")
    seen = {}
    for name in ("lx-table.csv", "lx-folder", "lx-notebook.ipynb"):
        item = listing.locator(".jp-DirListing-item", has_text=name)
        expect(item).to_be_visible(timeout=30_000)
        seen[name] = context_menu_labels(page, item)
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('docmanager:open', "
        "{path: 'lx-notebook.ipynb'}); }"
    )
    output = page.locator(".jp-OutputArea-child").first
    expect(output).to_be_visible(timeout=60_000)
    seen["cell output"] = context_menu_labels(page, output)
    seen["notebook"] = context_menu_labels(page, page.locator(".jp-Notebook .jp-Cell").first)
    for where, labels in seen.items():
        assert labels, where
        assert [label for label in labels if WAY_OUT.search(label)] == [], (where, labels)
    for name in ("lx-table.csv", "lx-folder", "lx-notebook.ipynb"):
        assert "Request release…" in seen[name], (name, seen[name])
    assert "Request Release of This Output…" in seen["cell output"]
    assert "Request Release of This Notebook…" in seen["notebook"]

    # A file dropped from the desktop onto the file browser is stopped and explained.
    page.evaluate(
        """() => {
          const transfer = new DataTransfer();
          transfer.items.add(new File(['smuggled'], 'lx-dropped.txt', {type: 'text/plain'}));
          const target = document.querySelector('.jp-DirListing-content');
          for (const type of ['dragenter', 'dragover', 'drop']) {
            target.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true,
                                                      cancelable: true}));
          }
        }"""
    )
    expect(page.locator(".Toastify__toast", has_text="Uploads are switched off")).to_be_visible(
        timeout=10_000
    )
    page.wait_for_timeout(2000)
    listed = page.evaluate(
        "async () => (await window.jupyterapp.serviceManager.contents.get('')).content"
        ".map(item => item.name)"
    )
    assert "lx-dropped.txt" not in listed

    # No upload button; the download routes are refused (403) at the edge, and by the lab
    # server behind it.
    expect(page.locator(".jp-FileBrowser-toolbar .jp-id-upload")).to_have_count(0)
    for route in (
        "files/lx-table.csv",
        "files/lx-table.csv?download=1",
        "view/lx-table.csv",
        "nbconvert/html/lx-notebook.ipynb?download=true",
    ):
        answer = page.evaluate(
            "async url => { const r = await fetch(url);"
            " return {status: r.status, body: await r.text()}; }",
            f"{base}/{route}",
        )
        assert answer["status"] == 403, (route, answer["status"])
        assert "plant,mean" not in answer["body"]
    page.screenshot(path="/tmp/cleanroom-lab-context-menu.png")
