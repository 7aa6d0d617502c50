"""A researcher logs in through the real form, over TLS through nginx, and gets JupyterLab."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from support.browser import fill_login, sign_in_to_lab

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_researcher_logs_in_and_gets_jupyterlab(hub, page):
    hub.add_user("carla", ("researcher",))
    # After login the hub's home; its start button starts the server and JupyterLab opens.
    sign_in_to_lab(page, hub, "carla")
    page.wait_for_url(f"{hub.server_url('carla')}/lab**", timeout=180_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
    assert page.url.startswith("https://"), "JupyterLab is served through the TLS entry point"
    # A room with no network does not ask about news from the outside.
    page.wait_for_timeout(3000)
    expect(page.get_by_text("official Jupyter news")).to_have_count(0)
    hub.stop_server("carla")


def test_wrong_password_is_refused(hub, page):
    hub.add_user("carlo", ("researcher",))
    page.goto(f"{hub.url}/hub/login")
    fill_login(page, "carlo", "not-the-password")
    expect(page.locator("body")).to_contain_text("Invalid username or password", timeout=30_000)
    assert "/user/carlo" not in page.url
