"""Signing in through the hub's real login form, in a Playwright page."""

from __future__ import annotations


def fill_login(page, name: str, password: str) -> None:
    """On the login page the browser was sent to: type the name and password, submit."""
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")


def sign_in(page, hub, name: str) -> None:
    """Open the hub's login page and sign in as ``name`` (then the hub starts the server
    and sends the browser on to JupyterLab)."""
    page.goto(f"{hub.url}/hub/login")
    fill_login(page, name, hub.passwords[name])
