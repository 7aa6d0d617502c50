"""Safe HTML previews and diffs of researcher-made files, for the reviewers' pages.

::

    html = render_preview(path, "text/csv", "yield.csv")          # a table with its shape
    html = render_diff(old_path, new_path, "text/x-python", "train.py")

Every byte is hostile: a researcher who wants data out, or wants to attack a reviewer, made
these files. So the output is an HTML fragment built only from escaped text and elements this
module writes itself: no script, no event handler, no URL but ``data:`` images this module has
checked to be PNG or JPEG, no external resource. Researcher-made HTML (notebook outputs) goes
through an allow-list sanitiser (ammonia, via nh3) first. SVG and PDF are never rendered (they
can carry scripts), pickles never loaded. Pages that show previews must also send
:data:`PREVIEW_CSP`, so even a mistake here cannot run a script; highlighting uses CSS classes
only, served from :data:`PREVIEW_CSS`.

Reviewers must see what would leave, so nothing is hidden silently: a notebook shows every
representation of every output and any metadata; bidirectional and invisible characters are
shown as ``⟨U+202E⟩``; whatever a bound cuts off is said in a note. Work is bounded
(:data:`LIMITS`): a preview or a diff of a 1 GB file reads only a bounded part of it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import difflib
import hashlib
import html
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nh3
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import (
    MarkdownLexer,
    PythonLexer,
    SLexer,
    SqlLexer,
    TextLexer,
    XmlLexer,
)

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.core.duckdb_sandbox import connect as sandboxed_duckdb
from cleanroom.core.hashing import sha256_fileobj
from cleanroom.core.units import human_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """How much of a file a preview or a diff reads and shows."""

    table_rows: int = 50
    table_columns: int = 30
    cell_chars: int = 200
    # CSV: rows shown come from this prefix; the shape is counted over files up to the second.
    csv_read_bytes: int = 1024 * 1024
    csv_count_bytes: int = 16 * 1024 * 1024
    # Parquet: rows are shown only when the first row group is this small (uncompressed).
    parquet_row_group_bytes: int = 64 * 1024 * 1024
    parquet_memory: str = "256MB"
    # Images: larger files or pictures are not put in the page (a decoding bomb for a browser).
    image_bytes: int = 10 * 1024 * 1024
    image_pixels: int = 40_000_000
    text_bytes: int = 256 * 1024
    text_lines: int = 5000
    # Text longer than this is shown escaped but not highlighted (lexing is the slow part).
    highlight_chars: int = 128 * 1024
    # Invisible characters marked as ⟨U+XXXX⟩ in one block; the rest show as U+FFFD.
    reveal_marks: int = 2000
    # Notebooks: whole-notebook cap, cells, chars of one source or output, all text, images.
    notebook_bytes: int = mt.NOTEBOOK_MAX_BYTES
    notebook_cells: int = 500
    notebook_block_chars: int = 64 * 1024
    notebook_total_chars: int = 4 * 1024 * 1024
    notebook_image_bytes: int = 16 * 1024 * 1024
    # A sha256 is computed here only for files up to this size (else the caller passes it).
    hash_bytes: int = 256 * 1024 * 1024
    diff_bytes: int = 2 * 1024 * 1024
    diff_lines: int = 10_000
    diff_output_lines: int = 5000
    line_chars: int = 2000
    binary_listing: int = 100


LIMITS = Limits()

# The Content-Security-Policy of every page that shows a preview: nothing runs, nothing loads
# but the page's own style sheet and data: images; no frames, no plugins, no <base>, and forms
# post only to the airlock itself.
PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'self'; font-src 'none'; "
    "script-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
    "worker-src 'none'; connect-src 'none'; media-src 'none'; manifest-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_FORMATTER = HtmlFormatter(cssclass="cr-hl", wrapcode=True)

# Token colours scoped to .cr-hl (pygments' page-wide rules, such as one for every <pre>, left out).
PREVIEW_CSS = (
    "\n".join(_FORMATTER.get_background_style_defs(".cr-hl"))
    + "\n"
    + "\n".join(_FORMATTER.get_token_style_defs(".cr-hl"))
    + """
.cr-preview { overflow: auto; max-width: 100%; }
.cr-preview pre { white-space: pre-wrap; word-break: break-all; }
.cr-preview-meta { color: #444; }
.cr-note { background: #fff6d5; border-left: 4px solid #d9a400; padding: 0.3em 0.6em; }
.cr-table { border-collapse: collapse; font-family: monospace; font-size: 0.9em; }
.cr-table th, .cr-table td { border: 1px solid #ccc; padding: 0.1em 0.4em; vertical-align: top; }
.cr-table th { background: #f0f0f0; }
.cr-null { color: #999; font-style: italic; }
.cr-reveal { background: #ffd0d0; color: #900; }
.cr-preview-image { max-width: 100%; height: auto; border: 1px solid #ccc; }
.cr-nb-cell { border: 1px solid #ddd; margin: 0.5em 0; padding: 0.3em; }
.cr-nb-label, .cr-nb-mime { color: #666; font-size: 0.85em; margin: 0.2em 0; }
.cr-nb-output { border-top: 1px dashed #ccc; margin-top: 0.3em; }
.cr-nb-html { border: 1px dotted #999; padding: 0.3em; overflow: auto; }
.cr-diff .cr-diff-add { background: #e6ffec; }
.cr-diff .cr-diff-del { background: #ffebe9; }
.cr-diff .cr-diff-hunk { color: #0550ae; }
.cr-diff .cr-diff-file { font-weight: bold; }
"""
)

TEXT_MEDIA_TYPES = {mt.TEXT, mt.MARKDOWN, mt.PYTHON, mt.R, mt.SQL, mt.CSV}
# Lexers by media type: chosen by the detected type, never guessed from the content.
_LEXERS: dict[str, type[Lexer]] = {
    mt.PYTHON: PythonLexer,
    mt.R: SLexer,
    mt.SQL: SqlLexer,
    mt.MARKDOWN: MarkdownLexer,
    mt.SVG: XmlLexer,
}
_NOTEBOOK_LEXERS: dict[str, type[Lexer]] = {"python": PythonLexer, "r": SLexer, "sql": SqlLexer}

# Characters shown as ⟨U+XXXX⟩: controls, bidirectional overrides and invisible ones, which
# could make code or numbers read differently from what they are ("trojan source").
_INVISIBLE = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\u3164\ufeff\ufff9-\ufffb"
)
_REVEAL = re.compile(f"[{_INVISIBLE}]")
_REVEAL_RUN = re.compile(f"([{_INVISIBLE}])\\1*")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

# Researcher-made HTML (notebook outputs): the allow-list. No links, no styles, no ids or
# classes (they could dress content up as the page's own controls), images only as data URIs
# of PNG or JPEG; the content of these elements is dropped, not shown as text.
_HTML_DROP_WITH_CONTENT = {
    "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object",
    "embed", "applet", "svg", "math", "textarea", "select", "title", "xmp", "noembed",
    "noframes", "plaintext", "head", "form", "button", "audio", "video", "canvas",
}  # fmt: skip
_HTML_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"} - _HTML_DROP_WITH_CONTENT
_HTML_ATTRIBUTES = {
    tag: set(attrs) - {"href", "hreflang", "cite"}
    for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()
    if tag in _HTML_TAGS
}
_HTML_ATTRIBUTES["img"] = {"src", "alt", "width", "height"}
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=\s]+\Z")


def _html_attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "src":
        return value if _DATA_IMAGE.match(value) else None
    return value


def sanitise_html(fragment: str) -> str:
    """Researcher-made HTML with only inert elements left (see the allow-list above)."""
    return nh3.clean(
        fragment,
        tags=_HTML_TAGS,
        clean_content_tags=_HTML_DROP_WITH_CONTENT,
        attributes=_HTML_ATTRIBUTES,
        attribute_filter=_html_attribute_filter,
        url_schemes={"data"},
        url_relative="deny",
        link_rel=None,
        strip_comments=True,
    )


# --- shared pieces -------------------------------------------------------------------------


@dataclass
class _Source:
    f: io.BufferedReader
    path: Path
    size: int
    name: str
    media_type: str
    sha256: str | None


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _reveal(text: str) -> str:
    """Escaped text with invisible and control characters made visible."""
    return _mark_invisible(_esc(text))


def _mark_invisible(escaped: str) -> str:
    """Mark invisible characters in escaped HTML (escaping leaves them as they are): a run
    of one character is one marker, and past LIMITS.reveal_marks markers a plain U+FFFD."""
    count = 0

    def mark(m: re.Match) -> str:
        nonlocal count
        count += 1
        if count > LIMITS.reveal_marks:
            return "\ufffd"
        run = len(m.group())
        times = f" ×{run:,}" if run > 1 else ""
        return f'<span class="cr-reveal">⟨U+{ord(m.group(1)):04X}{times}⟩</span>'

    return _REVEAL_RUN.sub(mark, escaped)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit:,} more chars)"


def _note(text: str) -> str:
    return f'<p class="cr-note">{_esc(text)}</p>'


def _meta(text: str) -> str:
    return f'<p class="cr-preview-meta">{_esc(text)}</p>'


def _sha256(f: io.BufferedReader, size: int, given: str | None) -> str | None:
    """The file's sha256: the caller's (the store's) value, else computed for bounded files."""
    if given is not None:
        return given
    if size > LIMITS.hash_bytes:
        return None
    f.seek(0)
    digest, _ = sha256_fileobj(f)
    f.seek(0)
    return digest


def _human(size: int) -> str:
    return human_size(size, exact=True)  # "1.5 KiB (1,536 bytes)"


def _hash_text(sha: str | None) -> str:
    return f"sha256 {sha}" if sha else "sha256 not computed here (file too large)"


def _read_text(f: io.BufferedReader, limit: int) -> tuple[str, bool]:
    """Up to ``limit`` bytes from the start as text (bad UTF-8 replaced); True if cut short."""
    f.seek(0)
    raw = f.read(limit + 1)
    cut = len(raw) > limit
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(raw[:limit], final=not cut)
    return text.removeprefix("\ufeff"), cut


def _highlighted(text: str, lexer: type[Lexer], budget: _Budget | None = None) -> str:
    """Pygments HTML (it escapes), with invisible characters then shown as markers.

    Lexing costs up to about 10 µs per character that a lexer cannot place, so only text
    within ``LIMITS.highlight_chars`` (a notebook: in all) is highlighted; the rest is shown
    escaped, uncoloured.
    """
    allowance = LIMITS.highlight_chars if budget is None else budget.highlight_chars
    if len(text) > allowance:
        return f'<div class="cr-hl"><pre><code>{_reveal(text)}</code></pre></div>'
    if budget is not None:
        budget.highlight_chars -= len(text)
    return _mark_invisible(highlight(text, lexer(stripnl=False, ensurenl=False), _FORMATTER))


def _reveal_note(text: str) -> str:
    found = sorted({f"U+{ord(c):04X}" for c in _REVEAL.findall(text[:1_000_000])})
    if not found:
        return ""
    return _note(
        "This file contains invisible, control or bidirectional characters, shown as ⟨U+…⟩: "
        + ", ".join(found[:20])
    )


# --- previews --------------------------------------------------------------------------------


def render_preview(path: Path, media_type: str, name: str, *, sha256: str | None = None) -> str:
    """A safe HTML fragment showing the file at ``path`` as a reviewer should see it.

    ``media_type`` is the type :func:`cleanroom.airlock.inspect.mediatypes.detect_media_type` gave;
    ``name`` is the researcher's file name (shown escaped); ``sha256`` is the store's hash
    (computed here only for files up to ``LIMITS.hash_bytes`` when not given). Content that
    cannot be read as its type gives a note and the size and hash, never an exception;
    a path that is not a regular file raises ``ValueError``.
    """
    with mt.open_regular(Path(path)) as f:
        src = _Source(f, Path(path), os.fstat(f.fileno()).st_size, name, media_type, sha256)
        renderer = _RENDERERS.get(media_type, _binary)
        try:
            body = renderer(src)
        except Exception as error:  # hostile content gets a note, never a server error
            log.info("preview of %r as %s failed: %s", name, media_type, type(error).__name__)
            body = _note(
                f"No preview: this file could not be read as {media_type} ({type(error).__name__})."
            ) + _binary(src, note=False)
    return f'<div class="cr-preview">{body}</div>'


def _binary(src: _Source, note: bool = True) -> str:
    sha = _sha256(src.f, src.size, src.sha256)
    parts = [_meta(f"{_human(src.size)} · {_hash_text(sha)}")]
    if note:
        reason = {
            mt.PDF: "PDF files are not rendered here (they can carry scripts and links).",
            mt.SAFETENSORS: "Model weights: the tensor list is below; the values are not shown.",
            mt.ONNX: "ONNX model: its top-level fields are below; the graph is not shown.",
        }.get(src.media_type, f"No preview for {src.media_type}: size and hash only.")
        parts.append(_note(reason))
    if src.media_type == mt.SAFETENSORS:
        parts.append(_safetensors_listing(src))
    elif src.media_type == mt.ONNX:
        parts.append(_onnx_listing(src))
    return "".join(parts)


def _safetensors_listing(src: _Source) -> str:
    header = mt.read_safetensors_header(src.f, src.size)
    if header is None:
        return _note("The safetensors header could not be read.")
    metadata = header.pop("__metadata__", None)
    rows = [
        [name, str(entry["dtype"]), "×".join(map(str, entry["shape"])) or "scalar"]
        for name, entry in list(header.items())[: LIMITS.binary_listing]
    ]
    parts = [_meta(f"{len(header):,} tensors")]
    parts.append(_table(["tensor", "dtype", "shape"], rows))
    if len(header) > LIMITS.binary_listing:
        parts.append(_note(f"Showing the first {LIMITS.binary_listing} tensors."))
    if metadata:
        parts.append(_details("__metadata__", json.dumps(metadata, indent=1)))
    return "".join(parts)


def _onnx_listing(src: _Source) -> str:
    fields = mt.read_onnx_fields(src.f, src.size)
    names = {1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain"}
    rows = []
    for number, label in names.items():
        for value in fields.get(number, [])[:1]:
            if isinstance(value, tuple):
                offset, length = value
                src.f.seek(offset)
                shown = src.f.read(min(length, 256)).decode("utf-8", "replace")
            else:
                shown = str(value)
            rows.append([label, shown])
    graph = fields.get(7, [(0, 0)])[0]
    rows.append(["graph", _human(graph[1]) if isinstance(graph, tuple) else "?"])
    src.f.seek(0)
    return _table(["field", "value"], rows)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str | None]], types: list[str] | None = None
) -> str:
    def cell(value: str | None, tag: str) -> str:
        if value is None:
            return f'<{tag}><span class="cr-null">NULL</span></{tag}>'
        return f"<{tag}>{_reveal(_cut(value, LIMITS.cell_chars))}</{tag}>"

    head = "".join(cell(h, "th") for h in header)
    parts = [f'<table class="cr-table"><thead><tr>{head}</tr>']
    if types:
        parts.append("<tr>" + "".join(cell(t, "th") for t in types) + "</tr>")
    parts.append("</thead><tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(cell(v, "td") for v in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _details(summary: str, text: str) -> str:
    text = _cut(text, LIMITS.notebook_block_chars)
    return (
        f"<details><summary>{_esc(summary)} ({len(text):,} chars)</summary>"
        f"<pre>{_reveal(text)}</pre></details>"
    )


def _text(src: _Source) -> str:
    text, cut = _read_text(src.f, LIMITS.text_bytes)
    lines = text.splitlines(keepends=True)
    if len(lines) > LIMITS.text_lines:
        text, cut = "".join(lines[: LIMITS.text_lines]), True
    lexer = _LEXERS.get(src.media_type, TextLexer)
    parts = [_meta(f"{_human(src.size)} · {src.media_type}")]
    if src.media_type == mt.SVG:
        parts.append(
            _note("SVG is shown as its source text and never rendered: it can carry scripts.")
        )
    parts.append(_reveal_note(text))
    if len(text) > LIMITS.highlight_chars:
        parts.append(_note("Shown without highlighting: the text is long."))
    parts.append(_highlighted(text, lexer))
    if cut:
        parts.append(_note(f"Showing the first {len(text.encode()):,} bytes of {src.size:,}."))
    return "".join(parts)


def _csv(src: _Source) -> str:
    text, cut = _read_text(src.f, LIMITS.csv_read_bytes)
    lines = text.splitlines(keepends=True)
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut at the read bound
    rows: list[list[str]] = []
    try:
        for row in csv.reader(lines):
            if row:
                rows.append(row)
            if len(rows) > LIMITS.table_rows:
                break
    except csv.Error as error:
        return _note(f"Not shown as a table: the CSV does not parse ({error}).") + _text(src)
    if not rows:
        return _note("An empty CSV file.") + _binary(src, note=False)
    header, body = rows[0], rows[1 : LIMITS.table_rows + 1]
    shape = _csv_shape(src, len(header))
    columns = min(len(header), LIMITS.table_columns)
    parts = [_meta(f"{shape} · {_human(src.size)}")]
    parts.append(_reveal_note("".join(lines[: LIMITS.table_rows + 1])))
    parts.append(_table(header[:columns], [r[:columns] for r in body]))
    shown = f"the first {len(body):,} rows and {columns} of {len(header):,} columns"
    parts.append(_note(f"Showing {shown}; cells are cut at {LIMITS.cell_chars} characters."))
    return "".join(parts)


def _csv_shape(src: _Source, columns: int) -> str:
    """'rows × columns' counted over the whole file when it is small enough to count."""
    if src.size > LIMITS.csv_count_bytes:
        return f"shape not counted (file larger than {_human(LIMITS.csv_count_bytes)})"
    src.f.seek(0)
    wrapper = io.TextIOWrapper(src.f, encoding="utf-8-sig", errors="replace", newline="")
    try:
        count = sum(1 for row in csv.reader(wrapper) if row)
    except csv.Error as error:
        return f"shape not counted ({error})"
    finally:
        wrapper.detach()
    return f"{max(count - 1, 0):,} rows × {columns:,} columns (plus a header row)"


def _parquet(src: _Source) -> str:
    prefix = src.f.read(4)
    tail = mt.read_tail(src.f, src.size, 8)
    if not mt.is_parquet(src.f, src.size, prefix, tail):
        return _note("Not a readable Parquet file.") + _binary(src, note=False)
    path = str(src.path.resolve())
    if any(c in path for c in "*?[]{}'\\\n"):  # DuckDB would read the path as a glob
        return _note("No preview: the stored path has unusual characters.") + _binary(src, False)
    # An in-memory DuckDB that may read this one file and nothing else, in bounded memory.
    con = sandboxed_duckdb([path], memory_limit=LIMITS.parquet_memory, threads=1)
    try:
        ((rows,),) = con.execute("SELECT num_rows FROM parquet_file_metadata(?)", [path]).fetchall()
        schema = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        ((first_group,),) = con.execute(
            "SELECT coalesce(sum(total_uncompressed_size), 0) FROM parquet_metadata(?) "
            "WHERE row_group_id = 0",
            [path],
        ).fetchall()
        names = [str(c[0]) for c in schema]
        shown = names[: LIMITS.table_columns]
        types = [str(c[1]) for c in schema[: LIMITS.table_columns]]
        parts = [_meta(f"{rows:,} rows × {len(names):,} columns · {_human(src.size)}")]
        if first_group > LIMITS.parquet_row_group_bytes:
            parts.append(_note("Rows not shown: the first row group is too large to read here."))
            parts.append(_table(shown, [], types))
            return "".join(parts)
        select = ", ".join(
            f'left(CAST("{n.replace(chr(34), chr(34) * 2)}" AS VARCHAR), {LIMITS.cell_chars + 1})'
            for n in shown
        )
        data = con.execute(
            f"SELECT {select} FROM read_parquet(?) LIMIT {LIMITS.table_rows}",  # noqa: S608
            [path],
        ).fetchall()
    finally:
        con.close()
    parts.append(_table(shown, [list(r) for r in data], types))
    parts.append(
        _note(
            f"Showing the first {len(data):,} rows and {len(shown)} of {len(names):,} columns; "
            f"cells are cut at {LIMITS.cell_chars} characters."
        )
    )
    return "".join(parts)


def _image(src: _Source) -> str:
    if src.size > LIMITS.image_bytes:
        return _note(f"Image not shown: larger than {_human(LIMITS.image_bytes)}.") + _binary(
            src, note=False
        )
    data = src.f.read(LIMITS.image_bytes)
    tail = data[-mt.TAIL_BYTES :]
    if src.media_type == mt.PNG and mt.is_png(data, tail):
        width, height = mt.png_size(data)
    elif src.media_type == mt.JPEG and mt.is_jpeg(data, tail):
        width, height = mt.jpeg_size(data) or (0, 0)
    else:
        return _note(f"Not shown: the content is not a whole {src.media_type} image.") + _binary(
            src, note=False
        )
    if not width or not height:
        return _note("Image not shown: it has no readable size.") + _binary(src, note=False)
    if width * height > LIMITS.image_pixels:
        return _note(f"Image not shown: {width}×{height} pixels is too large.") + _binary(
            src, note=False
        )
    return (
        _meta(f"{width}×{height} pixels · {_human(src.size)}")
        + _img(src.media_type, data, src.name)
        + _image_metadata(src.media_type, data)
    )


# PNG chunks that only describe the picture; any other chunk is listed for the reviewer.
_PNG_IMAGE_CHUNKS = {
    "IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "pHYs",
    "bKGD", "hIST", "tIME", "cICP", "mDCv", "cLLi",
}  # fmt: skip
# JPEG segments that only describe the picture: frames, tables, restart interval, scan.
_JPEG_IMAGE_SEGMENTS = {0xC4, 0xCC, 0xDA, 0xDB, 0xDD} | (set(range(0xC0, 0xD0)) - {0xC4, 0xCC})


def _image_metadata(media_type: str, data: bytes) -> str:
    """What an image carries besides its pixels (text chunks, EXIF, comments, private
    chunks): data could ride out in them, so the reviewer sees each one and its size."""
    rows: list[list[str | None]] = []
    if media_type == mt.PNG:
        for kind, offset, length in mt.png_chunks(data) or []:
            if kind not in _PNG_IMAGE_CHUNKS:
                rows.append(
                    [kind, f"{length:,}", _chunk_text(kind, data[offset : offset + length])]
                )
    else:
        for marker, offset, length in mt.jpeg_segments(data) or []:
            if marker not in _JPEG_IMAGE_SEGMENTS:
                name = f"APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"0xFF{marker:02X}"
                name = "COM" if marker == 0xFE else name
                rows.append([name, f"{length:,}", _printable(data[offset : offset + length])])
    if not rows:
        return ""
    shown = rows[: LIMITS.binary_listing]
    return _note(f"This image carries {len(rows):,} blocks of data besides its pixels:") + _table(
        ["block", "bytes", "content (start)"], shown
    )


def _chunk_text(kind: str, body: bytes) -> str:
    if kind == "zTXt":  # keyword, NUL, method, compressed text: inflate a bounded amount
        keyword, _, rest = body.partition(b"\x00")
        try:
            text = zlib.decompressobj().decompress(rest[1:], LIMITS.cell_chars * 4)
        except zlib.error:
            return "(compressed text that does not inflate)"
        return _printable(keyword + b": " + text)
    return _printable(body.replace(b"\x00", b": ", 1))


def _printable(raw: bytes) -> str:
    return raw[: LIMITS.cell_chars * 4].decode("utf-8", "replace")


def _img(media_type: str, data: bytes, alt: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="cr-preview-image" src="data:{media_type};base64,{b64}" alt="{_esc(alt)}">'


# --- notebooks -------------------------------------------------------------------------------

_JS_TYPES = {"application/javascript", "text/javascript", "application/x-javascript"}
_MIME_ORDER = ["text/html", "image/png", "image/jpeg", "text/markdown", "text/plain"]
_NB_KEYS = {"nbformat", "nbformat_minor", "metadata", "cells"}
_CELL_KEYS = {"cell_type", "source", "outputs", "metadata", "execution_count", "id", "attachments"}
_OUTPUT_KEYS = {
    "output_type", "name", "text", "data", "metadata", "execution_count", "ename", "evalue",
    "traceback", "transient",
}  # fmt: skip


class _Budget:
    """What a notebook preview may still add: characters of text and bytes of images."""

    def __init__(self) -> None:
        self.chars = LIMITS.notebook_total_chars
        self.image_bytes = LIMITS.notebook_image_bytes
        self.highlight_chars = LIMITS.highlight_chars

    def text(self, value: object) -> str:
        text = _as_text(value)
        text = _cut(text, min(LIMITS.notebook_block_chars, max(self.chars, 0)))
        self.chars -= len(text)
        return text

    @property
    def spent(self) -> bool:
        return self.chars <= 0


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    try:
        return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return repr(type(value))


def _notebook(src: _Source) -> str:
    if src.size > LIMITS.notebook_bytes:
        return _note("Notebook not shown: too large to render here.") + _binary(src, note=False)
    nb = mt.load_notebook(src.path)
    if nb is None:
        return _note("Not a readable notebook; shown as text.") + _text(src)
    meta = nb["metadata"]
    kernel = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    language = str(kernel.get("language") or info.get("name") or "").lower()
    lexer = _NOTEBOOK_LEXERS.get(language, TextLexer)
    budget = _Budget()
    cells = nb["cells"]
    parts = [_meta(f"{len(cells):,} cells · {language or 'unknown language'} · {_human(src.size)}")]
    parts.append(_details("Notebook metadata", budget.text(meta)))
    extra = {k: v for k, v in nb.items() if k not in _NB_KEYS}
    if extra:
        parts.append(_details("Other notebook fields", budget.text(extra)))
    for index, cell in enumerate(cells):
        if index >= LIMITS.notebook_cells or budget.spent:
            parts.append(_note(f"Preview cut: {len(cells) - index:,} more cells not shown."))
            break
        parts.append(_cell(index, cell, lexer, budget))
    return "".join(parts)


def _cell(index: int, cell: dict, lexer: type[Lexer], budget: _Budget) -> str:
    kind = cell["cell_type"]
    count = cell.get("execution_count")
    label = f"cell {index + 1} · {kind}" + (f" · [{count}]" if isinstance(count, int) else "")
    parts = [f'<div class="cr-nb-cell"><p class="cr-nb-label">{_esc(label)}</p>']
    source = budget.text(cell.get("source", ""))
    cell_lexer = {"code": lexer, "markdown": MarkdownLexer}.get(kind, TextLexer)
    parts.append(_reveal_note(source))
    parts.append(_highlighted(source, cell_lexer, budget))
    outputs = cell.get("outputs", [])
    if not isinstance(outputs, list):
        outputs = [outputs]
    for number, output in enumerate(outputs):
        if budget.spent:
            parts.append(_note(f"Preview cut: {len(outputs) - number} more outputs not shown."))
            break
        parts.append(_output(number, output, budget))
    attachments = cell.get("attachments")
    if isinstance(attachments, dict):
        for name, bundle in attachments.items():
            parts.append(f'<p class="cr-nb-label">attachment {_esc(_cut(str(name), 200))}</p>')
            parts.append(_bundle(bundle, budget))
    if cell.get("metadata"):
        parts.append(_details("Cell metadata", budget.text(cell["metadata"])))
    extra = {k: v for k, v in cell.items() if k not in _CELL_KEYS}
    if extra:
        parts.append(_details("Other cell fields", budget.text(extra)))
    parts.append("</div>")
    return "".join(parts)


def _output(number: int, output: object, budget: _Budget) -> str:
    parts = ['<div class="cr-nb-output">']
    if not isinstance(output, dict):
        parts.append(_note("A malformed output, shown as text:"))
        parts.append(f"<pre>{_reveal(budget.text(output))}</pre></div>")
        return "".join(parts)
    kind = str(output.get("output_type", "?"))
    parts.append(f'<p class="cr-nb-label">output {number + 1} · {_esc(_cut(kind, 100))}</p>')
    if kind == "stream":
        parts.append(f"<pre>{_reveal(_ANSI.sub('', budget.text(output.get('text', ''))))}</pre>")
    elif kind == "error":
        trace = _as_text(output.get("traceback", ""))
        if isinstance(output.get("traceback"), list):
            trace = "\n".join(str(line) for line in output["traceback"])
        head = f"{_as_text(output.get('ename', ''))}: {_as_text(output.get('evalue', ''))}\n"
        parts.append(f"<pre>{_reveal(_ANSI.sub('', budget.text(head + trace)))}</pre>")
    elif kind in ("display_data", "execute_result"):
        parts.append(_bundle(output.get("data", {}), budget))
    else:
        parts.append(_note("An output of an unknown type, shown as text:"))
        parts.append(f"<pre>{_reveal(budget.text(output))}</pre>")
    if output.get("metadata"):
        parts.append(_details("Output metadata", budget.text(output["metadata"])))
    extra = {k: v for k, v in output.items() if k not in _OUTPUT_KEYS}
    if extra:
        parts.append(_details("Other output fields", budget.text(extra)))
    parts.append("</div>")
    return "".join(parts)


def _bundle(data: object, budget: _Budget) -> str:
    """Every representation in a MIME bundle: all of them would leave with the notebook."""
    if not isinstance(data, dict):
        return (
            _note("Malformed output data, shown as text:")
            + f"<pre>{_reveal(budget.text(data))}</pre>"
        )
    order = sorted(data, key=lambda m: (_MIME_ORDER.index(m) if m in _MIME_ORDER else 99, str(m)))
    parts = []
    for mime in order:
        value = data[mime]
        parts.append(f'<p class="cr-nb-mime">{_esc(_cut(str(mime), 200))}</p>')
        if mime in _JS_TYPES:
            parts.append(_note("JavaScript output dropped: it is never run. Its source, as text:"))
            parts.append(_details("JavaScript source", budget.text(value)))
        elif mime == "text/html":
            fragment = budget.text(value)
            parts.append(
                _note("HTML output, sanitised: scripts, styles, links and frames removed.")
            )
            parts.append(f'<div class="cr-nb-html">{sanitise_html(fragment)}</div>')
        elif mime in (mt.PNG, mt.JPEG):
            parts.append(_notebook_image(mime, value, budget))
        elif mime == mt.SVG:
            parts.append(_note("SVG output shown as source text, never rendered."))
            parts.append(_highlighted(budget.text(value), XmlLexer, budget))
        elif mime.startswith("application/vnd.jupyter.widget"):
            parts.append(_note("Widget output: never run. Its state, as text:"))
            parts.append(_details("Widget state", budget.text(value)))
        else:
            parts.append(f"<pre>{_reveal(_ANSI.sub('', budget.text(value)))}</pre>")
    return "".join(parts)


def _notebook_image(mime: str, value: object, budget: _Budget) -> str:
    text = _as_text(value)
    if len(text) * 3 // 4 > budget.image_bytes:
        return _note(f"{mime} output not shown: the preview's image budget is spent.")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return _note(f"{mime} output not shown: it is not valid base64.")
    tail = data[-mt.TAIL_BYTES :]
    valid = mt.is_png(data, tail) if mime == mt.PNG else mt.is_jpeg(data, tail)
    if not valid:
        return _note(f"{mime} output not shown: its bytes are not a whole {mime} image.")
    if mime == mt.PNG:
        width, height = mt.png_size(data)
        if width * height > LIMITS.image_pixels:
            return _note(f"{mime} output not shown: {width}×{height} pixels is too large.")
    budget.image_bytes -= len(data)
    return _img(mime, data, mime)


_RENDERERS: dict[str, Callable[[_Source], str]] = {
    **{t: _text for t in TEXT_MEDIA_TYPES - {mt.CSV}},
    mt.SVG: _text,
    mt.CSV: _csv,
    mt.PARQUET: _parquet,
    "application/x-parquet": _parquet,
    mt.PNG: _image,
    mt.JPEG: _image,
    mt.NOTEBOOK: _notebook,
}


# --- diffs ---------------------------------------------------------------------------------


def render_diff(
    old: Path,
    new: Path,
    media_type: str,
    name: str,
    *,
    old_sha256: str | None = None,
    new_sha256: str | None = None,
) -> str:
    """A safe HTML unified diff between two versions of a file.

    Text-like types (CSV, text, code, SVG source) are compared line by line; notebooks by
    their cells' sources, outputs and metadata; anything else gives a "binary files differ"
    summary with both sizes and hashes. Each side is read only up to ``LIMITS.diff_bytes``.
    """
    with mt.open_regular(Path(old)) as fo, mt.open_regular(Path(new)) as fn:
        sizes = os.fstat(fo.fileno()).st_size, os.fstat(fn.fileno()).st_size
        shas = _sha256(fo, sizes[0], old_sha256), _sha256(fn, sizes[1], new_sha256)
        summary = _meta(
            f"old: {_human(sizes[0])}, {_hash_text(shas[0])} · "
            f"new: {_human(sizes[1])}, {_hash_text(shas[1])}"
        )
        if shas[0] is not None and shas[0] == shas[1] and sizes[0] == sizes[1]:
            body = summary + _note("The two versions are identical (same sha256).")
        elif media_type in TEXT_MEDIA_TYPES or media_type in (mt.SVG, mt.NOTEBOOK):
            try:
                differ = sizes[0] != sizes[1] or None not in shas
                body = summary + _text_diff(fo, fn, Path(old), Path(new), media_type, name, differ)
            except Exception as error:  # hostile content gets a note, never a server error
                log.info("diff of %r failed: %s", name, type(error).__name__)
                body = summary + _note(
                    f"No diff: the files could not be compared ({type(error).__name__})."
                )
        else:
            body = summary + _note(f"Binary files differ ({media_type}): compare the hashes.")
    return f'<div class="cr-preview cr-diff">{body}</div>'


def _diff_lines(f: io.BufferedReader, path: Path, media_type: str) -> tuple[list[str], bool]:
    """The lines compared for one side, and whether a bound cut them short."""
    if media_type == mt.NOTEBOOK:
        nb = (
            mt.load_notebook(path)
            if os.fstat(f.fileno()).st_size <= LIMITS.notebook_bytes
            else None
        )
        if nb is not None:
            lines = _notebook_lines(nb)
            return lines[: LIMITS.diff_lines], len(lines) > LIMITS.diff_lines
    text, cut = _read_text(f, LIMITS.diff_bytes)
    lines = text.splitlines()
    return lines[: LIMITS.diff_lines], cut or len(lines) > LIMITS.diff_lines


def _notebook_lines(nb: dict) -> list[str]:
    """A notebook as lines of text: what changed in sources, outputs or metadata shows up."""

    def text_lines(value: object) -> list[str]:
        return _ANSI.sub("", _as_text(value)).splitlines()

    lines = ["=== notebook metadata ===", *text_lines(nb["metadata"])]
    for index, cell in enumerate(nb["cells"]):
        lines.append(f"=== cell {index + 1} ({cell['cell_type']}) ===")
        lines.extend(text_lines(cell.get("source", "")))
        if cell.get("metadata"):
            lines.append("--- cell metadata ---")
            lines.extend(text_lines(cell["metadata"]))
        outputs = cell.get("outputs", [])
        for number, output in enumerate(outputs if isinstance(outputs, list) else [outputs]):
            if not isinstance(output, dict):
                lines.extend([f"--- output {number + 1} ---", *text_lines(output)])
                continue
            lines.append(f"--- output {number + 1} ({output.get('output_type')}) ---")
            rest = {k: v for k, v in output.items() if k != "data"}
            lines.extend(text_lines(rest))
            data = output.get("data", {})
            for mime, value in sorted(data.items()) if isinstance(data, dict) else []:
                if mime in (mt.PNG, mt.JPEG):
                    raw = _as_text(value).encode()
                    digest = hashlib.sha256(raw).hexdigest()
                    lines.append(f"[{mime}: {len(raw):,} base64 chars, sha256 {digest}]")
                else:
                    lines.append(f"[{mime}]")
                    lines.extend(text_lines(value))
        if len(lines) > LIMITS.diff_lines:
            break
    return lines


def _text_diff(
    fo: io.BufferedReader,
    fn: io.BufferedReader,
    old: Path,
    new: Path,
    media_type: str,
    name: str,
    bytes_differ: bool,
) -> str:
    old_lines, old_cut = _diff_lines(fo, old, media_type)
    new_lines, new_cut = _diff_lines(fn, new, media_type)
    diff = difflib.unified_diff(
        old_lines, new_lines, f"{name} (old)", f"{name} (new)", lineterm="", n=3
    )
    rendered, count, more = [], 0, 0
    for index, line in enumerate(diff):
        if count >= LIMITS.diff_output_lines:
            more += 1
            continue
        count += 1
        css = (
            "cr-diff-file"
            if index < 2  # the "--- old" and "+++ new" header lines
            else {"+": "cr-diff-add", "-": "cr-diff-del", "@": "cr-diff-hunk"}.get(line[:1], "")
        )
        shown = _reveal(_cut(line, LIMITS.line_chars))
        rendered.append(f'<span class="{css}">{shown}</span>' if css else shown)
    parts = []
    if rendered:
        parts.append(f'<pre class="cr-diff-lines">{chr(10).join(rendered)}</pre>')
    elif bytes_differ:
        parts.append(
            _note(
                "No difference in the compared text, but the bytes differ "
                "(line endings, encoding, or past the compared part)."
            )
        )
    else:
        parts.append(_note("No difference in the compared part (hashes not compared here)."))
    if more:
        parts.append(_note(f"Diff cut: {more:,} more lines not shown."))
    if old_cut or new_cut:
        parts.append(
            _note(
                f"Only the first {_human(LIMITS.diff_bytes)} / {LIMITS.diff_lines:,} lines "
                "of each version were compared."
            )
        )
    return "".join(parts)
