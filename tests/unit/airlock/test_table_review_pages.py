"""A verified table on the reviewer's page: its preview marks the flagged cells (made in the
sandbox), the findings list beside it names the rule, the place and why, with a link to the
row in the full view (which marks the cell too), and the specification is summed up; the
requester reads the same findings once the review round ends.

In-process over a real airlock database and blob store, the real submit path and the real
sandbox; the ``table`` check itself is stood in for (its recompute is another module's, and
needs a grant's copy): it answers with the findings and metrics of the agreed contract. The
hub and OPA are the small fakes of ``test_pages.py``.
"""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import urlencode

import pytest
from factories.airlock import NameTokenHubAuth, StubPolicy, allow, deny, make_airlock, serving

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import checks
from cleanroom.airlock.inspect.checks import CheckOutcome
from cleanroom.airlock.inspect.previews.full import SIZES
from cleanroom.airlock.service import Limits
from cleanroom.airlock.web.handlers.base import CONTENT_SECURITY_POLICY

from .test_pages import PEOPLE, PREFIX, FakeHub, text

in_session_loop = pytest.mark.asyncio(loop_scope="session")

ROWS = SIZES.table_rows + 40  # the table reaches the full view's second page
TABLE = ("plant,n\n" + "".join(f"P{i},{20 + i}\n" for i in range(ROWS))).encode()
LATE = SIZES.table_rows + 10  # a data row on the full view's page 2, beyond the preview
SPEC = {
    "format": "cleanroom-table/1",
    "dataset": "wafer_lots",
    "grant": "ab" * 32,
    "rows": ["plant"],
    "values": [{"aggregate": "count"}],
    "filter": "process_step = 'etch'",
    "rounding": {"base": 5},
    "file_format": "csv",
}
FINDINGS = [
    {
        "row": 1,
        "column": "n",
        "rule": "threshold",
        "status": "fail",
        "message": "3 organisations contribute; at least 10 are needed <b>",
        "location": "row 2 (plant=P1), column n",
    },
    {
        "row": LATE,
        "column": "n",
        "rule": "nk-rule",
        "status": "warn",
        "message": "the 2 largest organisations hold over 90% of the total",
        "location": f"row {LATE + 1} (plant=P{LATE}), column n",
    },
]
DESCRIBED = "count of wafer_lots by plant, where process_step = 'etch'; rounded to a multiple of 5"


def check_table(subject):
    """The ``table`` check's answer, as the recompute gives it (named from this function)."""
    if subject.type != "table":
        return CheckOutcome("table", CheckStatus.PASS, "not a verified table")
    return CheckOutcome(
        "table",
        CheckStatus.FAIL,
        "2 cells break the disclosure rules",
        findings=tuple(FINDINGS),
        metrics={"spec": SPEC, "described": DESCRIBED},
    )


@pytest.fixture
async def airlock(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "CHECKS", [*checks.CHECKS, check_table])
    policy = StubPolicy(
        review={"rita": allow("review", capacities=["reviewer"])},
        review_default=deny("review", "not a reviewer"),
    )
    limits = Limits(max_file_bytes=20_000, max_files=3, max_request_bytes=40_000)
    service = make_airlock(tmp_path, policy=policy, limits=limits)
    with serving(
        service,
        FakeHub(),
        NameTokenHubAuth({name: person[1] for name, person in PEOPLE.items()}, PREFIX),
        PREFIX,
    ) as url:
        yield {"url": url, "service": service}


async def fetch(airlock, path, user="alice", method="GET", body=None):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    request = HTTPRequest(
        airlock["url"] + path,
        method=method,
        headers={"Authorization": f"token {user}"},
        body=body,
        follow_redirects=False,
        allow_nonstandard_methods=True,
    )
    return await AsyncHTTPClient().fetch(request, raise_error=False)


async def submitted(airlock) -> str:
    made = await fetch(
        airlock,
        "api/requests",
        method="POST",
        body=json.dumps({"title": "Yield", "justification": "j"}),
    )
    rid = json.loads(made.body)["id"]
    put = await fetch(
        airlock, f"api/requests/{rid}/files/yield.csv?type=table", method="PUT", body=TABLE
    )
    assert put.code == 201, put.body
    done = await fetch(airlock, f"api/requests/{rid}/submit", method="POST", body=b"{}")
    assert json.loads(done.body)["state"] == "in_review", done.body
    return rid


def marked_cells(html: str) -> dict[str, tuple[str, str]]:
    found = re.findall(
        r'<td class="cr-mark cr-mark-(\w+)" title="([^"]*)" aria-label="[^"]*">(.*?)</td>', html
    )
    return {unescape(value): (status, unescape(title)) for status, title, value in found}


def findings_rows(html: str) -> list[tuple[str, str, str, str, str]]:
    """The findings list beside the preview: (status, rule, where, link, why)."""
    aside = re.search(r'<aside class="findings".*?</aside>', html, re.S).group(0)
    rows = re.findall(r'<tr class="finding finding-\w+">(.*?)</tr>', aside, re.S)
    out = []
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        link = re.search(r'href="([^"]*)"', cells[2])
        out.append(
            (
                text(cells[0]),
                text(cells[1]),
                text(cells[2]),
                unescape(link.group(1)),
                text(cells[3]),
            )
        )
    return out


@in_session_loop
async def test_the_reviewer_sees_the_flagged_cells_marked_and_listed(airlock):
    rid = await submitted(airlock)
    answer = await fetch(airlock, f"requests/{rid}", "rita")
    assert answer.code == 200
    assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = answer.body.decode()
    # The preview (first rows only) marks the failing cell; the warning lies beyond it.
    assert marked_cells(html) == {
        "21": ("fail", "minimum organisations: " + FINDINGS[0]["message"])
    }
    assert "1 flagged cell(s) lie beyond the preview's first 50 rows" in text(html)
    assert "<b>" not in html.split('<aside class="findings"')[1].split("</aside>")[0]
    # The list beside it: fails first, each linking to its row in the full view.
    file_id = re.search(r'href="[^"]*/full/(\d+)"', html).group(1)
    full = f"{PREFIX}requests/{rid}/full/{file_id}"
    assert findings_rows(html) == [
        (
            "fail",
            "minimum organisations",
            FINDINGS[0]["location"],
            f"{full}?row=2#row-2",
            FINDINGS[0]["message"],
        ),
        (
            "warn",
            "(n, k) dominance",
            FINDINGS[1]["location"] + " (beyond the preview)",
            f"{full}?row={LATE + 1}#row-{LATE + 1}",
            FINDINGS[1]["message"],
        ),
    ]
    # The specification, summed up (the sentence from the check's metrics) and in full.
    assert DESCRIBED in text(html)
    details = re.search(r'<details class="spec">(.*?)</details>', html, re.S).group(1)
    spec = dict(
        (text(k), text(v)) for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", details)
    )
    assert spec["Dataset"] == "wafer_lots" and spec["Rows by"] == "plant"
    assert spec["Values"] == "count" and spec["Filter"] == "process_step = 'etch'"
    assert spec["Rounding"] == "rounded to a multiple of 5"
    # The checks table says how many cells were flagged.
    checks_table = text(
        re.search(r'<table class="compact" id="checks">(.*?)</table>', html, re.S).group(1)
    )
    assert "2 cell(s) flagged" in checks_table


@in_session_loop
async def test_the_full_view_opens_at_a_flagged_row_and_marks_it(airlock):
    rid = await submitted(airlock)
    html = (await fetch(airlock, f"requests/{rid}", "rita")).body.decode()
    link = findings_rows(html)[1][3]
    path = link.removeprefix(PREFIX).split("#")[0]
    answer = await fetch(airlock, path, "rita")
    assert answer.code == 200
    body = answer.body.decode()
    assert f'<tr id="row-{LATE + 1}">' in body
    assert marked_cells(body) == {
        str(20 + LATE): ("warn", "(n, k) dominance: " + FINDINGS[1]["message"])
    }
    # The first page marks the failing cell, and says the other is elsewhere.
    first = (await fetch(airlock, path.split("?")[0], "rita")).body.decode()
    assert set(marked_cells(first)) == {"21"}
    flagged = text(re.search(r'<p class="flag-note" id="flagged">(.*?)</p>', first, re.S).group(1))
    assert flagged.startswith("The table check flagged 2 cell(s) of this table, 1 fail, 1 warn")
    last = (await fetch(airlock, path.split("?")[0] + "?page=last", "rita")).body.decode()
    assert set(marked_cells(last)) == {str(20 + LATE)}


@in_session_loop
async def test_the_requester_reads_which_cells_failed_and_why_once_returned(airlock):
    rid = await submitted(airlock)
    opened = (await fetch(airlock, f"requests/{rid}", "rita")).body.decode()
    seen = re.search(r'name="seen_comments" value="(\d+)"', opened).group(1)
    form = {"file_0": "yield.csv", "decision_0": "changes", "comment_0": "see the cells"}
    form["seen_comments"] = seen
    voted = await fetch(
        airlock, f"requests/{rid}/vote", "rita", method="POST", body=urlencode(form)
    )
    assert voted.code == 303, voted.body
    html = (await fetch(airlock, f"requests/{rid}", "alice")).body.decode()
    assert "returned" in html
    flagged = text(
        re.search(r'<details class="check-findings">(.*?)</details>', html, re.S).group(1)
    )
    assert "2 cell(s) flagged" in flagged
    for f in FINDINGS:
        assert f"{f['location']}: {f['message']}" in flagged
    assert "minimum organisations" in flagged and "(n, k) dominance" in flagged
    # The requester gets no preview of the contents (reviewers' pages only).
    assert "cr-mark" not in html and '<aside class="findings"' not in html
    # The API gives them the findings as well (what the JupyterLab panel shows).
    answer = json.loads((await fetch(airlock, f"api/requests/{rid}", "alice")).body)
    (table,) = [c for c in answer["checks"] if c["check"] == "table"]
    assert table["findings"] == FINDINGS and table["metrics"]["described"] == DESCRIBED
