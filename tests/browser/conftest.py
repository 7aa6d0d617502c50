"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download needed).

- ``browser``: one headless Chromium per module (Playwright's sync API holds an event loop
  while it runs, which asyncio tests elsewhere must not find).
- ``page``: a fresh context and page per test; a screenshot is saved when a test fails.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The test hubs' host names (tests/support/testhub.py): only on this machine.
    "--host-resolver-rules=MAP cleanroom.test 127.0.0.1, MAP *.cleanroom.test 127.0.0.1",
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    # The hub's certificate is self-signed; the test trusts it by ignoring the error only here.
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        path = tempfile.mktemp(prefix="cleanroom-browser-", suffix=".png")
        page.screenshot(path=path, full_page=True)
        print(f"screenshot of the failing page: {path}")
    context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
