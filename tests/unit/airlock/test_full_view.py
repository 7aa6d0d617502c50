"""The full view's pager (cleanroom.airlock.inspect.previews.full): every row, line, cell and
byte of a file, a page at a time, escaped as the previews escape; and the preview notes that
say something is cut link to it.

Real files, a real (sandboxed) DuckDB; every fragment is checked to be inert with the previews'
own checker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import LAST, render_full_page, render_preview
from cleanroom.airlock.inspect.previews.full import TSV, PageSizes

from .test_mediatypes import notebook_dict, png_bytes
from .test_previews import assert_inert, images, visible_text

URL = "/services/airlock/requests/r-1/full/7"
MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_csv(tmp_path_factory) -> Path:
    """A CSV of a header and 1,000,000 rows, the last one unlike any other."""
    path = tmp_path_factory.mktemp("csv") / "big.csv"
    with path.open("w") as f:
        f.write("id,plant_group\n")
        f.writelines(f"{i},g{i % 7}\n" for i in range(1, MILLION))
        f.write(f"{MILLION},THE-LAST-ROW\n")
    return path


def inert(html: str) -> None:
    """Nothing runs or loads, and the only links are to the full view itself."""
    assert all(h.startswith(URL) for h in re.findall(r'href="([^"]*)"', html))
    assert_inert(re.sub(r' href="[^"]*"', "", html))


def row_numbers(html: str) -> list[int]:
    return [
        int(n.replace(",", "")) for n in re.findall(r'<th class="cr-rownum">([\d,]+)</th>', html)
    ]


def cells(html: str) -> list[str]:
    return [visible_text(c) for c in re.findall(r"<td>(.*?)</td>", html, re.S)]


def write(tmp_path: Path, content: bytes | str, name: str = "blob") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# -- tables ------------------------------------------------------------------------------------


def test_the_first_page_of_a_million_row_csv_is_its_first_rows_without_reading_it_all(million_csv):
    page = render_full_page(million_csv, mt.CSV, "big.csv", 1, url=URL)
    inert(page.html)
    assert row_numbers(page.html) == list(range(1, 201))
    assert cells(page.html)[:2] == ["1", "g1"]
    assert "<th>id</th><th>plant_group</th>" in page.html
    assert (page.page, page.has_next, page.unit, page.per_page) == (1, True, "row", 200)
    assert page.pages is None  # not counted: the first page reads only the start
    json.dumps(page.as_json())  # the sandbox sends it back as JSON


def test_the_last_page_of_a_million_row_csv_shows_its_last_row(million_csv):
    page = render_full_page(million_csv, mt.CSV, "big.csv", LAST, url=URL)
    assert (page.page, page.pages, page.has_next) == (5000, 5000, False)
    assert row_numbers(page.html)[-1] == MILLION
    assert cells(page.html)[-2:] == [str(MILLION), "THE-LAST-ROW"]
    assert "1,000,000 rows × 2 columns" in visible_text(page.html)


def test_go_to_a_row_opens_the_page_that_holds_it(million_csv):
    page = render_full_page(million_csv, mt.CSV, "big.csv", row=999_999)
    assert page.page == 5000
    assert 999_999 in row_numbers(page.html)
    middle = render_full_page(million_csv, mt.CSV, "big.csv", 2501)
    assert row_numbers(middle.html)[0] == 500_001 and middle.first == 500_001


def test_a_page_past_the_end_is_empty_and_says_where_the_end_is(million_csv, tmp_path):
    page = render_full_page(million_csv, mt.CSV, "big.csv", 5001, url=URL)
    assert page.past_end and not page.has_next and not row_numbers(page.html)
    assert "There is no page 5,001" in visible_text(page.html)
    assert f'href="{URL}?page=last"' in page.html
    small = write(tmp_path, "a,b\n1,2\n", "s.csv")
    assert render_full_page(small, mt.CSV, "s.csv", 1).pages == 1
    assert render_full_page(small, mt.CSV, "s.csv", 2).past_end
    with pytest.raises(ValueError, match="numbered from 1"):
        render_full_page(small, mt.CSV, "s.csv", 0)


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "<a href=javascript:alert(3)>x</a>",
    "evil\u202etxt.exe",
]


def test_hostile_cells_and_header_are_escaped_and_invisible_characters_shown(tmp_path):
    header = ",".join(f'"{h.replace(chr(34), chr(34) * 2)}"' for h in HOSTILE)
    rows = "\n".join(header for _ in range(3))
    path = write(tmp_path, rows + "\n", "evil.csv")
    page = render_full_page(path, mt.CSV, "<b>evil</b>.csv", 1, url=URL)
    inert(page.html)
    assert "<script>" not in page.html and "&lt;script&gt;" in page.html
    assert "⟨U+202E⟩" in page.html and "\u202e" not in page.html
    assert cells(page.html)[0] == "<script>alert(1)</script>"


def test_cells_are_shown_whole_up_to_a_bound_that_says_so(tmp_path):
    long = "x" * 5000
    path = write(tmp_path, f"a,b\n{long},short\n", "long.csv")
    whole = render_full_page(path, mt.CSV, "long.csv", 1, url=URL)
    assert long in whole.html and "cut here" not in whole.html  # past the preview's 200
    cut = render_full_page(path, mt.CSV, "long.csv", 1, sizes=PageSizes(cell_chars=1000), url=URL)
    assert "x" * 1000 + "…" in cut.html and "x" * 1001 not in cut.html
    assert f'href="{URL}?view=text"' in cut.html


def test_a_csv_duckdb_cannot_read_is_shown_as_its_lines(tmp_path):
    path = write(tmp_path, 'a,b\n1,2\n3,4,5,6\n"unclosed,7\n', "ragged.csv")
    page = render_full_page(path, mt.CSV, "ragged.csv", 1)
    assert_inert(page.html)
    text = visible_text(page.html)
    assert "Not shown as text/csv" in text and str(tmp_path) not in text
    assert "3,4,5,6" in text and '"unclosed,7' in text


def test_no_line_of_a_csv_is_skipped_unseen(tmp_path):
    # DuckDB's sniffer would take lines starting with '#' for comments and drop them.
    commented = write(tmp_path, "# a\n# b\n# c\na,b\n1,2\n#x,3\n", "c.csv")
    text = visible_text(render_full_page(commented, mt.CSV, "c.csv", 1).html)
    assert "Not shown as text/csv" in text and str(tmp_path) not in text  # no store path
    for line in ("# a", "# b", "# c", "#x,3"):
        assert line in text
    quoted = write(tmp_path, 'a,b\n1,2\n"x\ny",5\n3,4\n', "q.csv")
    page = render_full_page(quoted, mt.CSV, "q.csv", 1, url=URL)
    assert cells(page.html) == ["1", "2", "x\ny", "5", "3", "4"]
    assert f'href="{URL}?view=text"' in page.html  # blank lines: the text view has them


def test_a_tsv_is_a_table_split_at_tabs(tmp_path):
    rows = "plant\tyield\n" + "".join(f"p{i}\t{i}.5\n" for i in range(1, 451))
    path = write(tmp_path, rows, "y.tsv")
    for media_type in (TSV, mt.TEXT):  # detection calls a .tsv text/plain: the name decides
        last = render_full_page(path, media_type, "y.tsv", LAST)
        assert (last.page, last.pages) == (3, 3)
        assert "<th>plant</th><th>yield</th>" in last.html
        assert cells(last.html)[-2:] == ["p450", "450.5"]
    assert render_full_page(path, mt.TEXT, "y.txt", 1).unit == "line"


def test_parquet_pages_count_from_the_footer_and_show_every_column(tmp_path):
    path = tmp_path / "t.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range + 1 AS id, '<i>p' || (range % 3) || '</i>' AS plant, "
        f"range * 0.5 AS yield FROM range(1001)) TO '{path}' (FORMAT parquet)"
    )
    con.close()
    first = render_full_page(path, mt.PARQUET, "t.parquet", 1)
    assert (first.pages, first.has_next) == (6, True)  # known from the footer at once
    assert "BIGINT" in first.html and "&lt;i&gt;p0&lt;/i&gt;" in first.html
    last = render_full_page(path, mt.PARQUET, "t.parquet", LAST)
    assert last.page == 6 and row_numbers(last.html) == [1001]
    assert cells(last.html)[0] == "1001"
    assert render_full_page(path, mt.PARQUET, "t.parquet", 7).past_end
    broken = write(tmp_path, b"PAR1 not really PAR1", "x.parquet")
    assert "Not a readable Parquet file" in render_full_page(broken, mt.PARQUET, "x", 1).html
    damaged = bytearray(path.read_bytes())
    damaged[8:2000] = b"\xff" * 1992  # column data DuckDB cannot decode
    bad = write(tmp_path, bytes(damaged), "d.parquet")
    shown = render_full_page(bad, mt.PARQUET, "d.parquet", 1)
    assert "here are its bytes as hex" in shown.html and "50 41 52 31" in shown.html


# -- text, notebooks, images, bytes ------------------------------------------------------------


def test_text_goes_by_pages_of_lines_with_their_numbers(tmp_path):
    path = write(tmp_path, "".join(f"line {i} <tag>\n" for i in range(1, 2501)), "log.txt")
    first = render_full_page(path, mt.TEXT, "log.txt", 1)
    assert (first.pages, first.has_next, first.unit) == (3, True, "line")
    assert_inert(first.html)
    assert "line 1 &lt;tag&gt;" in first.html and "line 1001 " not in first.html
    last = render_full_page(path, mt.TEXT, "log.txt", LAST)
    text = visible_text(last.html)
    assert last.page == 3 and not last.has_next and last.first == 2001
    assert "line 2001 <tag>" in text and "line 2500 <tag>" in text and "line 2000 " not in text
    assert render_full_page(path, mt.TEXT, "log.txt", 4).past_end
    assert render_full_page(path, mt.TEXT, "log.txt", row=1500).page == 2


def test_a_line_longer_than_a_page_points_to_the_hex_view(tmp_path):
    path = write(tmp_path, "short\n" + "y" * 5000 + "\nafter\n", "wide.txt")
    page = render_full_page(
        path, mt.TEXT, "wide.txt", 1, sizes=PageSizes(text_page_bytes=1000), url=URL
    )
    assert "short" in page.html and page.has_next
    assert f'href="{URL}?view=hex&amp;row=1"' in page.html


def test_a_notebook_is_shown_whole_past_every_preview_bound(tmp_path):
    big_output = "r" * 100_000  # past the preview's 64 KiB a block
    cells_ = [
        {"cell_type": "code", "source": f"x = {i}", "metadata": {}, "outputs": []}
        for i in range(600)  # past the preview's 500 cells
    ]
    cells_[-1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": big_output},
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/html": "<b>ok</b><script>alert(1)</script>"},
        },
    ]
    path = write(tmp_path, json.dumps(notebook_dict(cells_)), "n.ipynb")
    page = render_full_page(path, mt.NOTEBOOK, "n.ipynb", 1)
    assert_inert(page.html)
    assert (page.pages, page.has_next, page.unit) == (1, False, "whole")
    assert "cell 600 · code" in page.html and big_output in page.html
    assert "<b>ok</b>" in page.html and "alert(1)" not in page.html
    assert "Preview cut" not in page.html
    assert render_full_page(path, mt.NOTEBOOK, "n.ipynb", 2).past_end
    # The preview of the same notebook is cut, says so, and links here.
    preview = render_preview(path, mt.NOTEBOOK, "n.ipynb", full_url=URL)
    assert "Preview cut" in preview and f'href="{URL}"' in preview


def test_an_image_is_shown_whole(tmp_path):
    path = write(tmp_path, png_bytes(30, 20), "f.png")
    page = render_full_page(path, mt.PNG, "f.png", 1)
    assert len(images(page.html)) == 1 and page.unit == "whole"
    fake = write(tmp_path, b"\x89PNG not an image", "g.png")
    page = render_full_page(fake, mt.PNG, "g.png", 1, url=URL)
    inert(page.html)
    assert "<img" not in page.html and f'href="{URL}?view=hex"' in page.html


def test_binary_files_are_a_hex_dump_in_pages_and_any_file_can_be_seen_as_hex(tmp_path):
    data = bytes(range(256)) * 40 + b"<script>"  # 10,248 bytes: 3 pages of 4 KiB
    path = write(tmp_path, data, "w.bin")
    first = render_full_page(path, mt.OCTET_STREAM, "w.bin", 1)
    assert (first.pages, first.has_next, first.unit) == (3, True, "hex row")
    assert "0000000000  00 01 02 03" in first.html
    last = render_full_page(path, mt.OCTET_STREAM, "w.bin", LAST)
    assert_inert(last.html)
    assert "0000002800  3c 73 63 72 69 70 74 3e" in last.html and "|&lt;script&gt;|" in last.html
    assert render_full_page(path, mt.OCTET_STREAM, "w.bin", 4).past_end
    csv = write(tmp_path, "a,b\n1,2\n", "t.csv")
    assert "61 2c 62 0a 31 2c 32 0a" in render_full_page(csv, mt.CSV, "t.csv", view="hex").html
    assert "a,b" in visible_text(render_full_page(csv, mt.CSV, "t.csv", view="text").html)
    with pytest.raises(ValueError, match="no view"):
        render_full_page(csv, mt.CSV, "t.csv", view="pdf")


def test_a_pdf_is_shown_as_every_pages_image_a_few_to_a_page(tmp_path):
    from factories.pdfs import make_pdf

    path = write(tmp_path, make_pdf(pages=12), "r.pdf")
    first = render_full_page(path, mt.PDF, "r.pdf", 1)
    assert (first.pages, first.has_next, first.unit) == (3, True, "PDF page")
    assert first.html.count('src="data:image/png;base64,') == 5
    assert "PDF pages 1–5 of 12" in first.html
    last = render_full_page(path, mt.PDF, "r.pdf", LAST)
    assert last.page == 3 and not last.has_next and "PDF pages 11–12 of 12" in last.html
    assert last.html.count('src="data:image/png;base64,') == 2
    assert render_full_page(path, mt.PDF, "r.pdf", row=7).page == 2  # page 7 of the PDF
    assert render_full_page(path, mt.PDF, "r.pdf", 4).past_end


def test_a_pdf_poppler_cannot_read_is_shown_byte_for_byte(tmp_path):
    path = write(tmp_path, b"%PDF-1.7\n%%EOF\n", "r.pdf")
    page = render_full_page(path, mt.PDF, "r.pdf", 1)
    assert "25 50 44 46" in page.html and "could not be counted" in page.html


def test_the_url_must_be_the_airlocks_own_plain_path(tmp_path):
    path = write(tmp_path, "a\n", "t.txt")
    for bad in ('x" onclick="alert(1)', "javascript:alert(1)", "/a b", "/x?y=<z>"):
        with pytest.raises(ValueError, match="plain path"):
            render_full_page(path, mt.TEXT, "t.txt", url=bad)
        with pytest.raises(ValueError, match="plain path"):
            render_preview(path, mt.TEXT, "t.txt", full_url=bad)


# -- the previews' notes link to the full view -------------------------------------------------


def test_every_preview_note_that_says_something_is_cut_links_to_the_full_view(tmp_path):
    csv = write(tmp_path, "a,b\n" + "".join(f"{i},{i}\n" for i in range(100)), "t.csv")
    text = write(tmp_path, "z" * 300_000, "t.txt")
    blob = write(tmp_path, b"\x00\x01binary", "w.bin")
    cases = [
        (csv, mt.CSV, "Showing the first 50 rows"),
        (text, mt.TEXT, "Showing the first 262,144 bytes"),
        (blob, mt.OCTET_STREAM, "size and hash only"),
    ]
    for path, media_type, says in cases:
        html = render_preview(path, media_type, path.name, full_url=URL)
        note = next(n for n in re.findall(r'<p class="cr-note">.*?</p>', html) if says in n)
        assert f'<a class="cr-full-link" href="{URL}">See the whole file</a>' in note
        inert(html)
        assert "cr-full-link" not in render_preview(path, media_type, path.name)


@pytest.mark.parametrize(
    "body",
    [
        "a,b\n" + "".join(f"{i},{i}\n" for i in range(120)),  # plain: newlines are counted
        "a,b\n" + "".join(f"{i},{i}\n" for i in range(120)).rstrip("\n"),  # no last newline
        'a,b\n"x\ny",1\n' + "".join(f"{i},{i}\n" for i in range(118)),  # a row over 2 lines
        "a,b\n\n" + "".join(f"{i},{i}\n\n" for i in range(119)),  # blank lines are not rows
        "a,b\r\n" + "".join(f"{i},{i}\r\n" for i in range(119)),
    ],
)
def test_the_previews_row_count_is_the_csv_modules_however_it_is_counted(tmp_path, body):
    import csv

    path = write(tmp_path, body, "t.csv")
    rows = sum(1 for row in csv.reader(body.splitlines(keepends=True)) if row) - 1
    assert f"{rows:,} rows × 2 columns" in render_preview(path, mt.CSV, "t.csv")
