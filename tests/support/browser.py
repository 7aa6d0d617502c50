"""Signing in through the hub's real login form, in a Playwright page."""

from __future__ import annotations


def fill_login(page, name: str, password: str) -> None:
    """On the login page the browser was sent to: type the name and password, submit."""
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")


def sign_in(page, hub, name: str) -> None:
    """Open the hub's login page and sign in as ``name``; the hub sends everyone to its home
    (``/hub/home``, cleanroom.hub.landing)."""
    page.goto(f"{hub.url}/hub/login")
    fill_login(page, name, hub.passwords[name])


def sign_in_to_lab(page, hub, name: str, project: str | None = None) -> None:
    """Sign in as ``name`` and, from the hub's home, go to JupyterLab as a researcher would:
    the running server's "Open JupyterLab", else the start button of ``project`` (without
    one: the first start button, or "Start without a project"). The caller waits for /lab."""
    sign_in(page, hub, name)
    page.wait_for_url(f"{hub.url}/hub/home**", timeout=60_000)
    running = page.locator("#cleanroom-open")
    if running.count():
        running.click()
        return
    starts = page.locator(".cleanroom-start")
    if project is not None:
        starts = page.locator(f'tr[data-project="{project}"] .cleanroom-start')
    starts.first.click()


def run_cell(page, code: str) -> None:
    """Type ``code`` into the active notebook's last cell, as a person would, and run it."""
    page.evaluate("window.jupyterapp.commands.execute('notebook:insert-cell-below')")
    editor = page.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content")
    editor.click()
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
