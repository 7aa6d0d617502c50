"""The admin pages' display channel page (cleanroom.catalog.web.display) in-process, over a real
display ledger in a temporary state dir, with the hub's OAuth replaced by a stand-in that says who
is signed in and with which scopes (as in test_web.py).

- an admin sees each researcher's bytes per day, the limits, and which rows are over the audit
  threshold or at the quota; "Nothing counted yet." before the ledger exists;
- anyone without the admin scope is refused (403), or sent to sign in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support.webpages import PREFIX, serving

from cleanroom.catalog.web import app as web_app
from cleanroom.catalog.web.base import CONTENT_SECURITY_POLICY
from cleanroom.edge.display import RESERVE_BYTES, DisplayLedger, QuotaReached, ledger_path
from cleanroom.settings import Settings

MIB = 1024 * 1024
DAY = "2026-03-01"
SETTINGS = Settings.from_env(
    {
        "CLEANROOM_DISPLAY_DAILY_QUOTA": "2M",
        "CLEANROOM_DISPLAY_AUDIT_THRESHOLD": "1M",
        "CLEANROOM_DISPLAY_RATE": "100K",
        "CLEANROOM_DISPLAY_BURST": "3M",
    }
)


@dataclass
class Page:
    url: str
    state_dir: Path

    def get(self, user: str | None, **kwargs) -> requests.Response:
        session = requests.Session()
        session.trust_env = False
        if user:
            session.cookies.set("test-user", user)
        return session.get(self.url, timeout=10, **kwargs)

    def ledger(self, day: str = DAY) -> DisplayLedger:
        """The edge filter's ledger in this state dir, with the page's limits."""
        return DisplayLedger(
            ledger_path(self.state_dir),
            quota=SETTINGS.display_daily_quota,
            audit_threshold=SETTINGS.display_audit_threshold,
            clock=lambda: day,
        )


@contextmanager
def serving_display(state_dir: Path, settings: Settings | None) -> Iterator[Page]:
    # The page reads no catalog.
    with serving(
        None,
        state_dir=str(state_dir),
        import_dir=str(state_dir / "import"),
        settings=settings,
    ) as url:
        yield Page(f"{url}display", state_dir)


@pytest.fixture
def page(tmp_path) -> Iterator[Page]:
    with serving_display(tmp_path / "state", SETTINGS) as served:
        yield served


def rows(html: str) -> dict[tuple[str, str], str]:
    """The table's rows by (day, researcher): each row's text, tags and all."""
    found = {}
    for row in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>|\s+", " ", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells:
            found[cells[0], cells[1]] = re.sub(r"\s+", " ", row)
    return found


def test_the_page_is_registered_and_needs_admin():
    [(pattern, handler, *_)] = [r for r in web_app.routes(PREFIX) if r[0] == PREFIX + "display"]
    assert handler.get.access_check == "needs_admin"
    assert "post" not in handler.__dict__  # read only


def test_an_admin_sees_each_researchers_bytes_and_the_limits(page):
    page.ledger().spend("alice", 1000)
    response = page.get("adam")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.text
    assert "<script" not in html.lower()
    assert "can be read off the screen" in html and "counted at the edge" in html
    # The limits, as people read them.
    assert "<dt>Daily quota</dt>\n  <dd>2.0 MiB per researcher per day (UTC)" in html
    assert "<dt>Rate</dt>\n  <dd>100.0 KiB/s" in html
    assert "<dt>Burst</dt>\n  <dd>3.0 MiB" in html
    assert "<dt>Audit threshold</dt>\n  <dd>1.0 MiB" in html
    # The row the ledger wrote: the count, a slice reserved ahead of the 1000 bytes.
    row = rows(html)[DAY, "alice"]
    assert "256.0 KiB" in row and "12%" in row  # of the quota, rounded down
    assert "tag" not in row and 'class="at-quota"' not in row
    assert "Nothing counted yet." not in html
    # The page is in the navigation, marked as the current one.
    assert f'<a href="{PREFIX}display" aria-current="page">Display channel</a>' in html


def test_rows_over_the_audit_threshold_and_at_the_quota_are_marked(page):
    ledger = page.ledger()
    ledger.spend("alice", 1000)
    ledger.spend("bob", MIB + 1)  # over the threshold, under the quota
    ledger.spend("carol", 2 * MIB)  # the whole quota
    with pytest.raises(QuotaReached):
        ledger.spend("carol", 1)
    page.ledger("2026-02-28").spend("alice", 2 * MIB)

    table = rows(page.get("adam").text)
    assert list(table) == [
        ("2026-03-01", "carol"),
        ("2026-03-01", "bob"),
        ("2026-03-01", "alice"),
        ("2026-02-28", "alice"),
    ]
    alice = table["2026-03-01", "alice"]
    assert "over the audit threshold" not in alice and "at the quota" not in alice
    bob = table["2026-03-01", "bob"]
    assert 'class="over-threshold"' in bob and "over the audit threshold" in bob
    assert "at the quota" not in bob and "1.0 MiB" in bob and "50%" in bob
    for carol in (table["2026-03-01", "carol"], table["2026-02-28", "alice"]):
        assert 'class="at-quota"' in carol and "at the quota" in carol
        assert "over the audit threshold" in carol and "2.0 MiB" in carol and "100%" in carol


@pytest.mark.parametrize("user", ["hubadmin", "rita", None])
def test_without_the_admin_scope_the_page_is_refused(page, user):
    page.ledger().spend("alice", 1000)
    response = page.get(user, allow_redirects=False)
    if user is None:
        # Not signed in: to the hub's login.
        assert response.status_code == 302
        assert response.headers["Location"].startswith("http://127.0.0.1:9/hub/login")
        return
    assert response.status_code == 403
    if user == "hubadmin":
        assert "the catalog pages are for admins" in response.text
    assert "alice" not in response.text and "KiB" not in response.text


def test_before_anything_is_counted(page):
    assert not ledger_path(page.state_dir).exists()
    html = page.get("adam").text
    assert "Nothing counted yet." in html
    assert "<table" not in html
    assert "2.0 MiB per researcher per day" in html
    assert not ledger_path(page.state_dir).exists()  # the page creates nothing
    # The edge filter has created the ledger, nobody has been sent anything yet.
    page.ledger()
    assert "Nothing counted yet." in page.get("adam").text


def test_without_settings_given_the_limits_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANROOM_DISPLAY_DAILY_QUOTA", "5M")
    with serving_display(tmp_path / "state", None) as served:
        served.ledger().spend("alice", RESERVE_BYTES)
        html = served.get("adam").text
    assert "<dd>5.0 MiB per researcher per day (UTC)" in html
    assert "5%" in rows(html)[DAY, "alice"]
