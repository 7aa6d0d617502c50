"""Table previews and the full view mark the cells the verified-table check flagged
(``highlight``: 0-based data row, header name, fail or warn, the rule and why), as classes and
escaped text only; marks outside what is shown are counted, never dropped silently; a
malformed highlight is refused. The last tests go through the real sandbox job."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect import sandboxed
from cleanroom.airlock.inspect.previews import LIMITS, render_full_page, render_preview
from cleanroom.airlock.inspect.previews.full import SIZES

from .test_previews import assert_inert

CSV = "plant,quarter,n\nP1,Q1,12\nP2,Q1,3\nP3,Q1,40\n"
FAIL = {"row": 1, "column": "n", "status": "fail", "title": "threshold: 3 organisations, 10 needed"}
WARN = {"row": 2, "column": "n", "status": "warn", "title": "nk-rule: one organisation dominates"}


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def marked(fragment: str) -> dict[str, tuple[str, str, str]]:
    """Marked cells: value -> (status, title, aria-label), the HTML unescaped."""
    from html import unescape

    found = re.findall(
        r'<td class="cr-mark cr-mark-(\w+)" title="([^"]*)" aria-label="([^"]*)">(.*?)</td>',
        fragment,
    )
    return {unescape(v): (s, unescape(t), unescape(a)) for s, t, a, v in found}


def test_a_csv_preview_marks_failing_and_warning_cells(tmp_path):
    fragment = render_preview(write(tmp_path, CSV), mt.CSV, "t.csv", highlight=[FAIL, WARN])
    assert_inert(fragment)
    cells = marked(fragment)
    assert cells == {
        "3": ("fail", FAIL["title"], f"3. fail: {FAIL['title']}"),
        "40": ("warn", WARN["title"], f"40. warn: {WARN['title']}"),
    }
    assert fragment.count("cr-mark ") == 2  # 12 and every key stay unmarked
    assert "2 cell(s) in these first rows marked by the table check" in fragment


def test_without_highlight_nothing_is_marked(tmp_path):
    fragment = render_preview(write(tmp_path, CSV), mt.CSV, "t.csv")
    assert "cr-mark" not in fragment and "marked by the table check" not in fragment


def test_two_findings_on_one_cell_show_the_worse_and_both_reasons(tmp_path):
    warn_same_cell = {**WARN, "row": 1}
    fragment = render_preview(
        write(tmp_path, CSV), mt.CSV, "t.csv", highlight=[warn_same_cell, FAIL]
    )
    ((status, title, _),) = marked(fragment).values()
    assert status == "fail"
    assert WARN["title"] in title and FAIL["title"] in title


def test_a_hostile_title_and_column_stay_text(tmp_path):
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    text = f"plant,{evil}\nP1,5\n".replace(evil, '"' + evil.replace('"', '""') + '"')
    path = write(tmp_path, text)
    fragment = render_preview(
        path,
        mt.CSV,
        "t.csv",
        highlight=[{"row": 0, "column": evil, "status": "fail", "title": evil}],
    )
    assert_inert(fragment)
    assert marked(fragment)["5"][1] == evil
    assert "<script>" not in fragment


def test_marks_beyond_the_preview_rows_are_counted(tmp_path):
    rows = "".join(f"P{i},Q1,{i}\n" for i in range(LIMITS.table_rows + 20))
    path = write(tmp_path, "plant,quarter,n\n" + rows)
    beyond = {**FAIL, "row": LIMITS.table_rows + 5}
    missing_column = {**WARN, "row": 0, "column": "no such column"}
    fragment = render_preview(path, mt.CSV, "t.csv", highlight=[FAIL, beyond, missing_column])
    assert len(marked(fragment)) == 1
    assert "1 cell(s) in these first rows marked" in fragment
    assert "2 marked cell(s) are beyond the rows and columns shown here" in fragment


def test_a_tsv_preview_is_a_table_and_marks_cells(tmp_path):
    path = write(tmp_path, CSV.replace(",", "\t"), "t.tsv")
    for media_type in (mt.TEXT, "text/tab-separated-values"):
        fragment = render_preview(path, media_type, "t.tsv", highlight=[FAIL])
        assert '<table class="cr-table">' in fragment
        assert marked(fragment)["3"][0] == "fail"


def test_a_parquet_preview_marks_cells(tmp_path):
    path = tmp_path / "t.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM (VALUES ('P1', 12), ('P2', 3)) v(plant, n)) TO '{path}' "
        "(FORMAT parquet)"
    )
    con.close()
    fragment = render_preview(path, mt.PARQUET, "t.parquet", highlight=[FAIL])
    assert_inert(fragment)
    assert marked(fragment) == {"3": ("fail", FAIL["title"], f"3. fail: {FAIL['title']}")}


@pytest.mark.parametrize(
    "highlight",
    [
        "row 1",
        [{"row": -1, "column": "n", "status": "fail", "title": ""}],
        [{"row": True, "column": "n", "status": "fail", "title": ""}],
        [{"row": "1", "column": "n", "status": "fail", "title": ""}],
        [{"row": 1, "column": "n", "status": 'fail" onclick="x', "title": ""}],
        [{"row": 1, "column": "n", "status": "pass", "title": ""}],
        [{"row": 1, "column": 3, "status": "fail", "title": ""}],
        [{"row": 1, "column": "n", "status": "fail", "title": "", "style": "color: red"}],
        [FAIL] * 5001,
    ],
)
def test_a_malformed_highlight_is_refused(tmp_path, highlight):
    with pytest.raises(ValueError, match="highlight"):
        render_preview(write(tmp_path, CSV), mt.CSV, "t.csv", highlight=highlight)
    with pytest.raises(ValueError, match="highlight"):
        render_full_page(write(tmp_path, CSV), mt.CSV, "t.csv", highlight=highlight)


def test_the_full_view_marks_a_row_on_a_later_page_and_anchors_it(tmp_path):
    n = SIZES.table_rows
    rows = "".join(f"P{i},Q1,{i}\n" for i in range(2 * n + 10))
    path = write(tmp_path, "plant,quarter,n\n" + rows)
    target = n + 7  # 0-based data row: row n + 8 of the full view, on page 2
    highlight = [{**FAIL, "row": target}, {**WARN, "row": 0}]
    page = render_full_page(path, mt.CSV, "t.csv", row=target + 1, highlight=highlight)
    assert page.page == 2
    assert_inert(page.html)
    assert marked(page.html) == {
        str(target): ("fail", FAIL["title"], f"{target}. fail: {FAIL['title']}")
    }
    assert f'<tr id="row-{target + 1}"><th class="cr-rownum">{target + 1:,}</th>' in page.html
    assert "1 marked cell(s) are on other pages" in page.html
    first = render_full_page(path, mt.CSV, "t.csv", 1, highlight=highlight)
    assert list(marked(first.html)) == ["0"]


def test_the_full_view_of_parquet_marks_cells(tmp_path):
    path = tmp_path / "t.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'P' || range AS plant, range AS n FROM range(5)) TO '{path}'")
    con.close()
    page = render_full_page(path, mt.PARQUET, "t.parquet", highlight=[{**FAIL, "row": 4}])
    assert marked(page.html) == {"4": ("fail", FAIL["title"], f"4. fail: {FAIL['title']}")}


def test_the_sandboxed_preview_and_full_view_carry_the_marks(tmp_path):
    path = write(tmp_path, CSV)
    fragment = sandboxed.preview(path, mt.CSV, "t.csv", None, None, highlight=[FAIL, WARN])
    assert set(marked(fragment)) == {"3", "40"}
    page = sandboxed.full_page(path, mt.CSV, "t.csv", 1, url="/x/full/1", highlight=[FAIL])
    assert set(marked(page.html)) == {"3"}
    # A malformed highlight is the sandbox's refusal: a note, no table, nothing marked.
    bad = sandboxed.preview(path, mt.CSV, "t.csv", None, None, highlight=[{"row": -1}])
    assert "No preview" in bad and "cr-mark" not in bad and "<table" not in bad


def test_invisible_characters_in_a_title_are_shown_as_code_points(tmp_path):
    title = "threshold: plant=P\u202e7"
    fragment = render_preview(
        write(tmp_path, CSV), mt.CSV, "t.csv", highlight=[{**FAIL, "title": title}]
    )
    status, shown, label = marked(fragment)["3"]
    assert shown == "threshold: plant=P⟨U+202E⟩7" and "\u202e" not in fragment
    assert label == f"3. fail: {shown}"
