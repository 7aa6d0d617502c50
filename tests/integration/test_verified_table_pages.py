"""A verified table's findings as the reviewer and the researcher see them, end to end in
process: the real catalog and grants, the real release and review policies in a real OPA, the
recompute and the previews in the real sandbox (``test_verified_tables.py``'s fixtures), and
the airlock's pages over HTTP (the hub is a small fake).

- A table whose min cells are each one organisation's own figure (``single-value``: warn)
  reaches review; the reviewer's page marks exactly those cells in the preview, lists them
  beside it with links to their rows, and the full view marks them too.
- A table with cells of too few organisations fails and goes back to the researcher, who reads
  which cells and why (what the JupyterLab panel shows), never another organisation's figures.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from factories.airlock import NameTokenHubAuth, serving
from test_verified_tables import (  # noqa: F401 - the fixtures are used by name
    ALICE,
    airlock,
    make_table,
    project,
    put_table,
)
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from cleanroom.airlock.errors import PolicyRefused
from cleanroom.airlock.facts import HubUser
from cleanroom.airlock.web.serialise import request_model

in_session_loop = pytest.mark.asyncio(loop_scope="session")

PREFIX = "/services/airlock/"
SCOPES = {"alice": ["custom:cleanroom:submit"], "rita": ["custom:cleanroom:review"]}


class FakeHub:
    async def user(self, name):
        groups = ("researcher",) if name == "alice" else ("reviewer",)
        return HubUser(name, groups, "yield" if name == "alice" else None, True)


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))).strip()


def marked_cells(html: str) -> list[tuple[str, str, str]]:
    """(status, title, value) of every marked cell, in order."""
    found = re.findall(
        r'<td class="cr-mark cr-mark-(\w+)" title="([^"]*)" aria-label="[^"]*">(.*?)</td>', html
    )
    return [(status, unescape(title), unescape(value)) for status, title, value in found]


async def get(url: str, user: str) -> str:
    request = HTTPRequest(url, headers={"Authorization": f"token {user}"})
    answer = await AsyncHTTPClient().fetch(request, raise_error=False)
    assert answer.code == 200, (url, answer.code, answer.body[:500])
    return answer.body.decode()


@in_session_loop
async def test_a_table_in_review_shows_its_warned_cells_marked_and_listed(
    airlock,  # noqa: F811 - the imported fixture
    project,  # noqa: F811 - the imported fixture
    tmp_path,
):
    granted, _ = project
    data, spec = make_table(
        tmp_path,
        granted,
        filter="region IN ('A', 'D')",
        values=[{"aggregate": "count"}, {"aggregate": "min", "measure": "output"}],
    )
    rid = airlock.create(ALICE, project="yield", justification="output by region").id
    put_table(airlock, rid, "by_region.csv", data, spec)
    request = airlock.submit(ALICE, rid)
    assert request.state == "in_review"
    (check,) = [c for c in request.checks if c.check == "table"]
    assert check.status == "warn"
    assert {(f["row"], f["column"], f["rule"]) for f in check.findings} == {
        (0, "min_output", "single-value"),
        (1, "min_output", "single-value"),
    }
    hub_auth = NameTokenHubAuth(SCOPES, PREFIX)
    with serving(airlock, FakeHub(), hub_auth, PREFIX) as url:
        html = await get(f"{url}requests/{rid}", "rita")
        # The preview, made in the sandbox, marks the two min cells and nothing else.
        minimums = [row.split(",")[2] for row in data.decode().splitlines()[1:]]
        marks = marked_cells(html)
        assert [(status, value) for status, _, value in marks] == [
            ("warn", minimums[0]),
            ("warn", minimums[1]),
        ]
        assert all(title.startswith("single value: ") for _, title, _ in marks)
        # Beside it: the table's sentence and the two findings, each linked to its row.
        aside = re.search(r'<aside class="findings".*?</aside>', html, re.S).group(0)
        assert spec_sentence(spec) in text(aside)
        links = re.findall(r'href="([^"]*/full/\d+\?row=(\d+)#row-\d+)"', aside)
        assert [row for _, row in links] == ["1", "2"]
        # The full view at the second finding's row marks both cells of its page.
        full = await get(url.removesuffix(PREFIX) + unescape(links[1][0]).split("#")[0], "rita")
        assert [status for status, _, _ in marked_cells(full)] == ["warn", "warn"]
        assert '<tr id="row-2">' in full


@in_session_loop
async def test_a_failing_table_goes_back_and_the_researcher_reads_which_cells_and_why(
    airlock,  # noqa: F811 - the imported fixture
    project,  # noqa: F811 - the imported fixture
    tmp_path,
):
    granted, _ = project
    data, spec = make_table(tmp_path, granted)
    rid = airlock.create(ALICE, project="yield", justification="output by region").id
    put_table(airlock, rid, "by_region.csv", data, spec)
    with pytest.raises(PolicyRefused):
        airlock.submit(ALICE, rid)
    # What the researcher's panel receives (from their running server: inside).
    model = request_model(airlock.get(ALICE, rid), ALICE, inside=True)
    assert model["state"] == "draft"
    (check,) = [c for c in model["checks"] if c["check"] == "table"]
    assert check["status"] == "fail" and check["findings"]
    for finding in check["findings"]:
        assert finding["location"] and finding["message"] and finding["rule"]
        assert "2090" not in finding["message"] and "95" not in finding["message"]
    assert {f["location"].split(" ")[1] for f in check["findings"]} == {"2", "3", "4"}


def spec_sentence(spec: dict) -> str:
    from cleanroom.tables import spec as table_spec

    return table_spec.parse_spec(spec).describe()
