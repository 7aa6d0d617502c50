"""The full view: every row, line, cell, output and byte of a file, one page at a time.

::

    page = render_full_page(path, "text/csv", "yield.csv", LAST)    # the last rows
    page.html, page.page, page.pages, page.has_next                 # all JSON-able

A preview shows a bounded start; a reviewer approves the whole file, so this shows all of it:
tables (CSV, TSV, Parquet) by pages of rows read with the sandboxed DuckDB (``LIMIT``/
``OFFSET`` on the file, never the whole file into Python), text and code by pages of lines,
notebooks whole (every cell, output and field), images whole, and anything else (or any file,
with ``view="hex"``) as a hex dump by pages of 16-byte rows. A file that cannot be read as its
type falls back to its lines as text, so nothing stays unseen.

The HTML is built exactly as the previews build theirs (``html.py``: escaped text, invisible
characters revealed, researcher-made HTML sanitised) and must be sent with
:data:`~cleanroom.airlock.inspect.previews.html.PREVIEW_CSP`. The function is pure (a path in,
a :class:`FullPage` of plain values out) so that it can run as a job in the process sandbox.
Which pager shows which media type is the one table :data:`PAGERS`.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pygments.lexers import TextLexer

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _hash_text, _human, _sha256, _Source
from cleanroom.airlock.inspect.previews.html import _esc, _meta, _note, _reveal, _reveal_note
from cleanroom.airlock.inspect.previews.images import _image
from cleanroom.airlock.inspect.previews.marks import Marks, read_marks
from cleanroom.airlock.inspect.previews.notebooks import _notebook
from cleanroom.airlock.inspect.previews.text import _LEXERS, TEXT_MEDIA_TYPES, _highlighted
from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.duckdb_sandbox import first_line

log = logging.getLogger(__name__)

LAST = -1
"""``page=LAST``: the last page (its number is found on the way)."""

TSV = "text/tab-separated-values"


@dataclass(frozen=True)
class PageSizes:
    """How much one page of the full view holds."""

    table_rows: int = 200
    text_lines: int = 1000
    pdf_pages: int = 5  # page images of a PDF
    hex_rows: int = 256  # of 16 bytes: 4 KiB a page
    # A cell longer than this is cut (and says so): a page must stay a page.
    cell_chars: int = 10_000
    # A page of lines stops at this many bytes; longer lines are in the hex view.
    text_page_bytes: int = 4 * 1024 * 1024
    # The total of lines is counted for files up to this size (else only for the last page).
    count_text_bytes: int = 64 * 1024 * 1024
    table_memory: str = "512MB"


SIZES = PageSizes()

HEX_ROW = 16
_CHUNK = 1024 * 1024
# Path characters DuckDB would read as a glob or that SQL text would have to quote.
_UNSAFE_PATH = re.compile(r"[*?\[\]{}'\\\n]")
# A link the airlock built (a path and a query of plain words and numbers), never a file name.
_SAFE_URL = re.compile(r"[A-Za-z0-9/_.%\-]*\Z")


@dataclass(frozen=True)
class FullPage:
    """One page of the full view: plain values only (the sandbox returns it as JSON).

    ``page`` is 1-based; ``pages`` is None when not known without reading the whole file (a
    large CSV's first pages); ``unit`` says what a page counts ("row", "line", "hex row", or
    "whole" for a view of one page); ``first`` is the number of the first unit shown."""

    html: str
    page: int
    pages: int | None
    has_next: bool
    unit: str
    per_page: int
    first: int = 1
    past_end: bool = False

    def as_json(self) -> dict:
        return asdict(self)


_Pager = Callable[[_Source, int, PageSizes, str], FullPage]


def render_full_page(
    path: Path,
    media_type: str,
    name: str,
    page: int = 1,
    *,
    row: int | None = None,
    view: str | None = None,
    sizes: PageSizes = SIZES,
    sha256: str | None = None,
    url: str = "",
    highlight: list[dict] | None = None,
) -> FullPage:
    """Page ``page`` (1-based, or :data:`LAST`) of the file at ``path`` as a safe HTML fragment.

    ``row``: instead of ``page``, the page holding this row (table row, line or hex row, from 1).
    ``view``: ``None`` (by the media type, see :data:`PAGERS`), ``"text"`` (lines) or ``"hex"``
    (every byte). ``url``: the airlock's own relative URL of this view, for the notes that
    point at another view (a path of plain characters; anything else raises ``ValueError``).
    A page past the end gives an empty page that says so (``past_end``), never an error.
    ``highlight``: cells a table page marks (the verified-table check's findings, see
    :mod:`.marks`); each table row is also an anchor, ``#row-<n>``.
    """
    if page != LAST and page < 1:
        raise ValueError(f"page {page} does not exist: pages are numbered from 1")
    if row is not None and row < 1:
        raise ValueError(f"row {row} does not exist: rows are numbered from 1")
    if not _SAFE_URL.match(url):
        raise ValueError("the full view's URL must be a plain path built by the airlock")
    if view is not None and view not in VIEWS:
        raise ValueError(f"no view {view!r}: choose one of {', '.join(VIEWS)}")
    marks = read_marks(highlight)
    with mt.open_regular(Path(path)) as f:
        size = os.fstat(f.fileno()).st_size
        src = _Source(f, Path(path), size, name, media_type, sha256, marks=marks)
        pager = VIEWS[view] if view else _pager_for(media_type, name)
        if row is not None:
            page = (row - 1) // _PER_PAGE.get(pager, lambda _: 1)(sizes) + 1
        try:
            result = pager(src, page, sizes, url)
        except Exception as error:  # hostile content: its lines as text, never a server error
            if pager is _text_pager or pager is _hex_pager:
                raise
            log.info("full view of %r as %s failed: %s", name, media_type, type(error).__name__)
            binary = pager in (
                _parquet_pager,
                _pdf_pager,
            )  # a binary format: its bytes, not "lines"
            result = (_hex_pager if binary else _text_pager)(src, page, sizes, url)
            as_what = "its bytes as hex" if binary else "its lines as text"
            why = _why(error, src)
            note = _note(f"Not shown as {media_type} ({why}): here are {as_what}.")
            result = replace(result, html=note + result.html)
    return replace(result, html=f'<div class="cr-preview cr-full">{result.html}</div>')


def _why(error: Exception, src: _Source) -> str:
    """DuckDB's reason, without the store's path (an internal detail, not the reviewer's)."""
    return first_line(error).replace(str(src.path.resolve()), "the file")[:300]


def _pager_for(media_type: str, name: str) -> _Pager:
    # As media-type detection does, between text types the name decides: a .tsv is a table.
    if media_type == mt.TEXT and name.lower().endswith(".tsv"):
        return PAGERS[TSV]
    return PAGERS.get(media_type, _hex_pager)


def _link(url: str, label: str, **query: str | int) -> str:
    if not url:
        return ""
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f' <a href="{_esc(url + ("?" + q if q else ""))}">{_esc(label)}</a>'


# -- tables ------------------------------------------------------------------------------------


def _duckdb_path(src: _Source) -> str:
    path = str(src.path.resolve())
    if _UNSAFE_PATH.search(path):
        raise ValueError("the stored path has characters DuckDB would read as a pattern")
    return path


def _csv_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    return _delimited(src, page, sizes, url, ",")


def _tsv_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    return _delimited(src, page, sizes, url, "\t")


def _delimited(src: _Source, page: int, sizes: PageSizes, url: str, delimiter: str) -> FullPage:
    """Rows of a CSV or TSV: the first line is the header, shown as the file has it (no
    renamed or deduplicated names); every other line is a row, numbered from 1."""
    if src.size == 0:
        return _whole(_note("An empty file."))
    path = _duckdb_path(src)
    n = sizes.table_rows
    # Nothing may be skipped unseen: header=false (the header line is row 0 as written),
    # skip=0, comment='' (else the sniffer may drop lines starting with '#' as comments), no
    # ignore_errors (a row DuckDB cannot read fails the page: then the lines are shown as
    # text). all_varchar: values as written. parallel=false: quoted line breaks are read
    # (the parallel reader refuses them), and as fast on 2 cores.
    read = (
        "read_csv(?, delim=?, quote='\"', escape='\"', header=false, all_varchar=true, "
        "null_padding=true, skip=0, comment='', parallel=false, max_line_size=8388608)"
    )
    args = [path, delimiter]
    con = sandboxed_duckdb([path], memory_limit=sizes.table_memory, threads=2)
    try:
        rows_total = None
        if page == LAST:
            ((count,),) = con.execute(f"SELECT count(*) FROM {read}", args).fetchall()  # noqa: S608
            rows_total = max(count - 1, 0)
            page = max((rows_total + n - 1) // n, 1)
        offset = 1 + (page - 1) * n
        if page == 1:  # one read: the header line and the first page
            body = con.execute(f"SELECT * FROM {read} LIMIT {n + 2}", args).fetchall()  # noqa: S608
            header_rows, body = body[:1], body[1:]
        else:
            header_rows = con.execute(f"SELECT * FROM {read} LIMIT 1", args).fetchall()  # noqa: S608
            body = con.execute(
                f"SELECT * FROM {read} LIMIT {n + 1} OFFSET {offset}",  # noqa: S608
                args,
            ).fetchall()
        if not body and page > 1 and rows_total is None:  # past the end: say where it is
            ((count,),) = con.execute(f"SELECT count(*) FROM {read}", args).fetchall()  # noqa: S608
            rows_total = max(count - 1, 0)
    finally:
        con.close()
    header = [("" if v is None else v) for v in header_rows[0]] if header_rows else []
    has_next = len(body) > n
    rows = [["" if v is None else v for v in r] for r in body[:n]]
    pages = None if rows_total is None else max((rows_total + n - 1) // n, 1)
    if not has_next and rows_total is None and rows:
        rows_total, pages = offset - 1 + len(rows), page  # reached the end: now it is known
    if not rows and page > 1:
        return _past_end(page, pages, "row", n, url)
    kind = "TSV" if delimiter == "\t" else "CSV"
    shape = _plural(rows_total, "row") if rows_total is not None else "rows not counted yet"
    parts = [_meta(f"{kind} · {shape} × {len(header):,} columns · {_human(src.size)}")]
    parts.append(_reveal_note("\n".join(delimiter.join(r) for r in [header, *rows])))
    parts.append(_rows_table(header, rows, offset, sizes, marks=src.marks))
    parts.append(_marks_note(src))
    parts.append(_cut_cells_note(header, rows, sizes, url))
    parts.append(
        _note_html(
            "Rows as DuckDB reads them: blank lines are not rows.",
            _link(url, "See the file line by line", view="text"),
        )
    )
    if not rows:
        parts.append(_note("No rows: the file has a header line only."))
    return FullPage("".join(parts), page, pages, has_next, "row", n, offset)


def _parquet_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    prefix = src.f.read(4)
    tail = mt.read_tail(src.f, src.size, 8)
    if not mt.is_parquet(src.f, src.size, prefix, tail):
        return _hex_pager(src, page, sizes, url, note="Not a readable Parquet file.")
    path = _duckdb_path(src)
    n = sizes.table_rows
    con = sandboxed_duckdb([path], memory_limit=sizes.table_memory, threads=1)
    try:
        ((rows_total,),) = con.execute(
            "SELECT num_rows FROM parquet_file_metadata(?)", [path]
        ).fetchall()
        pages = max((rows_total + n - 1) // n, 1)
        page = pages if page == LAST else page
        schema = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        names = [str(c[0]) for c in schema]
        if page > pages:
            return _past_end(page, pages, "row", n, url)
        width = sizes.cell_chars + 1
        select = ", ".join(
            f'left(CAST("{c.replace(chr(34), chr(34) * 2)}" AS VARCHAR), {width})' for c in names
        )
        offset = (page - 1) * n
        data = con.execute(
            f"SELECT {select} FROM read_parquet(?) LIMIT {n} OFFSET {offset}",  # noqa: S608
            [path],
        ).fetchall()
    finally:
        con.close()
    rows = [list(r) for r in data]
    parts = [_meta(f"Parquet · {rows_total:,} rows × {len(names):,} columns · {_human(src.size)}")]
    types = [str(c[1]) for c in schema]
    parts.append(_rows_table(names, rows, offset + 1, sizes, types, marks=src.marks))
    parts.append(_marks_note(src))
    parts.append(_cut_cells_note(names, rows, sizes, url))
    return FullPage("".join(parts), page, pages, page < pages, "row", n, offset + 1)


def _rows_table(
    header: list[str],
    rows: list[list[str | None]],
    first: int,
    sizes: PageSizes,
    types: list[str] | None = None,
    marks: Marks | None = None,
) -> str:
    """A table with each row's number (the file's data row, from 1) in front; each row is
    the anchor ``row-<n>`` (the request page's findings link to it), ``marks`` mark cells."""

    def cell(value: str | None, tag: str, mark=None) -> str:
        attributes = mark.attributes(value) if mark is not None else ""
        if value is None:
            return f'<{tag}{attributes}><span class="cr-null">NULL</span></{tag}>'
        shown = value if len(value) <= sizes.cell_chars else value[: sizes.cell_chars] + "…"
        return f"<{tag}{attributes}>{_reveal(shown)}</{tag}>"

    parts = ['<table class="cr-table cr-full-table"><thead><tr><th class="cr-rownum">#</th>']
    parts.extend(cell(h, "th") for h in header)
    parts.append("</tr>")
    if types:
        parts.append("<tr><th></th>" + "".join(cell(t, "th") for t in types) + "</tr>")
    parts.append("</thead><tbody>")
    for number, row in enumerate(rows, start=first):
        marked = marks.at(number - 1, header) if marks else {}
        parts.append(f'<tr id="row-{number}"><th class="cr-rownum">{number:,}</th>')
        parts.extend(cell(v, "td", marked.get(i)) for i, v in enumerate(row))
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _marks_note(src: _Source) -> str:
    return src.marks.note("on this page", "on other pages") if src.marks else ""


def _cut_cells_note(header: list, rows: list, sizes: PageSizes, url: str) -> str:
    long = any(v is not None and len(v) > sizes.cell_chars for r in [header, *rows] for v in r)
    if not long:
        return ""
    return _note_html(
        f"Some cells are longer than {sizes.cell_chars:,} characters and are cut here (…).",
        _link(url, "See every character in the text view", view="text"),
    )


# -- text --------------------------------------------------------------------------------------


def _text_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    """Lines (split at LF only, as they are stored), ``sizes.text_lines`` a page."""
    n = sizes.text_lines
    total = None
    if page == LAST or src.size <= sizes.count_text_bytes:
        total = _count_lines(src)
    pages = max((total + n - 1) // n, 1) if total is not None else None
    if page == LAST:
        page = pages or 1
    start_line = (page - 1) * n
    offset, reached = _seek_line(src, start_line)
    if reached < start_line or (offset >= src.size and page > 1):
        return _past_end(page, pages, "line", n, url)
    src.f.seek(offset)
    raw = src.f.read(sizes.text_page_bytes + 1)
    at_end = len(raw) <= sizes.text_page_bytes  # the rest of the file is in raw
    lines = raw.split(b"\n")
    if at_end:
        lines = lines[:-1] if raw.endswith(b"\n") or not lines[-1] else lines
    else:
        lines = lines[:-1]  # the last one may be cut at the byte bound
    shown = lines[:n]
    # Fewer lines than a page, and more bytes follow: a line is longer than the page's bytes.
    cut_bytes = not at_end and len(shown) < n
    if cut_bytes and not shown:
        shown = [raw[: sizes.text_page_bytes]]
    consumed = sum(len(x) + 1 for x in shown) if lines else len(shown[0]) if shown else 0
    has_next = offset + consumed < src.size
    text = codecs.decode(b"\n".join(shown), "utf-8", "replace")
    lexer = _LEXERS.get(src.media_type, TextLexer)
    counted = f"{total:,} lines" if total is not None else "lines not counted"
    parts = [_meta(f"{counted} · {_human(src.size)} · {src.media_type}")]
    if src.media_type == mt.SVG:
        parts.append(_note("SVG is shown as its source text and never rendered."))
    parts.append(_reveal_note(text))
    parts.append(_numbered(text, start_line + 1, lexer))
    if cut_bytes and len(shown) < n:
        parts.append(
            _note_html(
                f"This page stops at {_human(sizes.text_page_bytes)}: a line is longer than that.",
                _link(url, "See every byte in the hex view", view="hex", row=offset // HEX_ROW + 1),
            )
        )
    return FullPage("".join(parts), page, pages, has_next, "line", n, start_line + 1)


def _numbered(text: str, first: int, lexer) -> str:
    """The lines in a <pre> (highlighted when short enough) beside their numbers."""
    count = text.count("\n") + 1 if text else 0
    numbers = "\n".join(f"{i:,}" for i in range(first, first + count))
    return (
        '<div class="cr-full-lines">'
        f'<pre class="cr-lineno" aria-hidden="true">{numbers}</pre>'
        f"{_highlighted(text, lexer)}</div>"
    )


def _count_lines(src: _Source) -> int:
    src.f.seek(0)
    count, last = 0, b""
    while chunk := src.f.read(_CHUNK):
        count += chunk.count(b"\n")
        last = chunk
    return count + (1 if last and not last.endswith(b"\n") else 0)


def _seek_line(src: _Source, line: int) -> tuple[int, int]:
    """The byte offset where line ``line`` (0-based) starts, and how many lines were passed
    (fewer than ``line`` when the file ends before it)."""
    src.f.seek(0)
    position, seen = 0, 0
    while seen < line:
        chunk = src.f.read(_CHUNK)
        if not chunk:
            return position, seen
        found = chunk.count(b"\n")
        if seen + found < line:
            seen, position = seen + found, position + len(chunk)
            continue
        index = -1
        for _ in range(line - seen):
            index = chunk.index(b"\n", index + 1)
        return position + index + 1, line
    return position, seen


# -- bytes -------------------------------------------------------------------------------------


def _hex_pager(
    src: _Source, page: int, sizes: PageSizes, url: str, *, note: str | None = None
) -> FullPage:
    """Every byte: offset, 16 bytes in hex, and the same as ASCII (others as '.')."""
    n = sizes.hex_rows
    per_page = n * HEX_ROW
    pages = max((src.size + per_page - 1) // per_page, 1)
    page = pages if page == LAST else page
    if page > pages:
        return _past_end(page, pages, "hex row", n, url)
    offset = (page - 1) * per_page
    src.f.seek(offset)
    data = src.f.read(per_page)
    lines = []
    for start in range(0, len(data), HEX_ROW):
        chunk = data[start : start + HEX_ROW]
        hexed = " ".join(f"{b:02x}" for b in chunk).ljust(HEX_ROW * 3 - 1)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset + start:010x}  {hexed}  |{_esc(ascii_)}|")
    sha = _sha256(src.f, src.size, src.sha256)
    parts = [_meta(f"{_human(src.size)} · {src.media_type} · {_hash_text(sha)}")]
    if note:
        parts.append(_note(note))
    parts.append(_note(f"Every byte as hex, {per_page:,} bytes a page."))
    if data:
        parts.append(f'<pre class="cr-hex">{chr(10).join(lines)}</pre>')
    else:
        parts.append(_note("An empty file."))
    return FullPage("".join(parts), page, pages, page < pages, "hex row", n, offset // HEX_ROW + 1)


def _pdf_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    """A PDF's pages as checked page images (poppler, in the sandbox this runs in), a few to
    a page; a PDF poppler cannot count is shown byte for byte."""
    from cleanroom.airlock.inspect.pdf import page_count
    from cleanroom.airlock.inspect.previews.pdf import render_pdf_pages

    total = page_count(src.path)
    if not total:
        return _hex_pager(
            src, page, sizes, url, note="Its pages could not be counted: its bytes follow."
        )
    n = sizes.pdf_pages
    pages = -(-total // n)
    page = pages if page == LAST else page
    if page > pages:
        return FullPage(
            _note(f"There is no page {page}: {pages} pages."),
            page,
            pages,
            False,
            "PDF page",
            n,
            past_end=True,
        )
    first = (page - 1) * n + 1
    last = min(total, first + n - 1)
    html = _note(f"PDF pages {first}–{last} of {total}.") + render_pdf_pages(
        src.path, first, last, src.name
    )
    return FullPage(html, page, pages, page < pages, "PDF page", n, first)


# -- whole files -------------------------------------------------------------------------------


def _whole(html: str) -> FullPage:
    return FullPage(html, 1, 1, False, "whole", 1)


# The notebook preview's bounds lifted: every cell and every character (a notebook is at most
# mt.NOTEBOOK_MAX_BYTES; a larger one is shown as its text).


def _notebook_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    if src.size > common.LIMITS.notebook_bytes:
        result = _text_pager(src, page, sizes, url)
        note = _note("The notebook is too large to render: here is its JSON as text.")
        return replace(result, html=note + result.html)
    if page not in (1, LAST):
        return _past_end(page, 1, "whole", 1, url)
    limits = replace(  # the preview's caps lifted: every cell, every output, whole
        common.LIMITS,
        notebook_cells=10**9,
        notebook_block_chars=10**12,
        notebook_total_chars=10**12,
        notebook_image_bytes=10**12,
    )
    return _whole(_notebook(src, limits=limits))


def _image_pager(src: _Source, page: int, sizes: PageSizes, url: str) -> FullPage:
    if page not in (1, LAST):
        return _past_end(page, 1, "whole", 1, url)
    shown = _image(src)
    if "<img " not in shown:
        shown += _note_html(
            "The image itself is not shown here.", _link(url, "See every byte", view="hex")
        )
    return _whole(shown)


# -- helpers -----------------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _note_html(text: str, link_html: str) -> str:
    return f'<p class="cr-note">{_esc(text)}{link_html}</p>'


def _past_end(page: int, pages: int | None, unit: str, per_page: int, url: str) -> FullPage:
    last = f"it has {_plural(pages, 'page')}" if pages else "the file ends before it"
    html = _note_html(
        f"There is no page {page:,}: {last}.", _link(url, "Go to the last page", page="last")
    )
    return FullPage(html, page, pages, False, unit, per_page, past_end=True)


# Which pager shows which media type (the one table). Text types and SVG source go by lines;
# anything not listed is shown as hex.
PAGERS: dict[str, _Pager] = {
    **{t: _text_pager for t in TEXT_MEDIA_TYPES - {mt.CSV}},
    mt.SVG: _text_pager,
    mt.CSV: _csv_pager,
    TSV: _tsv_pager,
    mt.PARQUET: _parquet_pager,
    "application/x-parquet": _parquet_pager,
    mt.NOTEBOOK: _notebook_pager,
    mt.PNG: _image_pager,
    mt.JPEG: _image_pager,
    mt.PDF: _pdf_pager,  # the sandbox's PDF pages go here
}

# How many rows (of each pager's unit) one page holds, for "go to row".
_PER_PAGE: dict[_Pager, Callable[[PageSizes], int]] = {
    _csv_pager: lambda s: s.table_rows,
    _tsv_pager: lambda s: s.table_rows,
    _parquet_pager: lambda s: s.table_rows,
    _text_pager: lambda s: s.text_lines,
    _hex_pager: lambda s: s.hex_rows,
    _pdf_pager: lambda s: s.pdf_pages,
}

# Views a reviewer may choose for any file, whatever its type.
VIEWS: dict[str, _Pager] = {"text": _text_pager, "hex": _hex_pager}
