"""Notebooks: every cell, every representation of every output and all metadata, within a
budget of characters and image bytes; HTML outputs sanitised, JavaScript and widgets never run."""

from __future__ import annotations

import base64
import binascii
import json

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
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _human, _Source
from cleanroom.airlock.inspect.previews.html import (
    _cut,
    _cut_note,
    _details,
    _esc,
    _meta,
    _note,
    _reveal,
    _reveal_note,
    sanitise_html,
)
from cleanroom.airlock.inspect.previews.images import _img
from cleanroom.airlock.inspect.previews.models import _binary
from cleanroom.airlock.inspect.previews.text import _ANSI, _highlighted, _text

_NOTEBOOK_LEXERS: dict[str, type[Lexer]] = {"python": PythonLexer, "r": SLexer, "sql": SqlLexer}


_JS_TYPES = {"application/javascript", "text/javascript", "application/x-javascript"}
_MIME_ORDER = ["text/html", "image/png", "image/jpeg", "text/markdown", "text/plain"]
_NB_KEYS = {"nbformat", "nbformat_minor", "metadata", "cells"}
_CELL_KEYS = {"cell_type", "source", "outputs", "metadata", "execution_count", "id", "attachments"}
_OUTPUT_KEYS = set(
    ("output_type name text data metadata execution_count ename evalue traceback transient").split()
)


class _Budget:
    """What a notebook preview may still add: characters of text and bytes of images."""

    def __init__(self, limits: common.Limits | None = None) -> None:
        self.limits = limits or common.LIMITS
        self.chars = self.limits.notebook_total_chars
        self.image_bytes = self.limits.notebook_image_bytes
        self.highlight_chars = self.limits.highlight_chars
        self.cut = False  # whether any text was cut short

    def text(self, value: object) -> str:
        text = _as_text(value)
        limit = min(self.limits.notebook_block_chars, max(self.chars, 0))
        self.cut = self.cut or len(text) > limit
        text = _cut(text, limit)
        self.chars -= len(text)
        return text

    def details(self, summary: str, value: object) -> str:
        return _details(summary, self.text(value), limit=self.limits.notebook_block_chars)

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


def _notebook(src: _Source, limits: common.Limits | None = None) -> str:
    """The notebook within ``limits`` (the previews' by default; the full view lifts them)."""
    if src.size > common.LIMITS.notebook_bytes:
        return _cut_note("Notebook not shown: too large to render here.", src.full_url) + _binary(
            src, note=False
        )
    nb = mt.load_notebook(src.path)
    if nb is None:
        return _note("Not a readable notebook; shown as text.") + _text(src)
    meta = nb["metadata"]
    kernel = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    language = str(kernel.get("language") or info.get("name") or "").lower()
    lexer = _NOTEBOOK_LEXERS.get(language, TextLexer)
    budget = _Budget(limits)
    cells = nb["cells"]
    parts = [_meta(f"{len(cells):,} cells · {language or 'unknown language'} · {_human(src.size)}")]
    parts.append(budget.details("Notebook metadata", meta))
    extra = {k: v for k, v in nb.items() if k not in _NB_KEYS}
    if extra:
        parts.append(budget.details("Other notebook fields", extra))
    for index, cell in enumerate(cells):
        if index >= budget.limits.notebook_cells or budget.spent:
            parts.append(_note(f"Preview cut: {len(cells) - index:,} more cells not shown."))
            budget.cut = True
            break
        parts.append(_cell(index, cell, lexer, budget))
    if budget.cut:
        parts.append(_cut_note("Parts of this notebook are cut in this preview.", src.full_url))
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
            budget.cut = True
            break
        parts.append(_output(number, output, budget))
    attachments = cell.get("attachments")
    if isinstance(attachments, dict):
        for name, bundle in attachments.items():
            parts.append(f'<p class="cr-nb-label">attachment {_esc(_cut(str(name), 200))}</p>')
            parts.append(_bundle(bundle, budget))
    if cell.get("metadata"):
        parts.append(budget.details("Cell metadata", cell["metadata"]))
    extra = {k: v for k, v in cell.items() if k not in _CELL_KEYS}
    if extra:
        parts.append(budget.details("Other cell fields", extra))
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
        parts.append(budget.details("Output metadata", output["metadata"]))
    extra = {k: v for k, v in output.items() if k not in _OUTPUT_KEYS}
    if extra:
        parts.append(budget.details("Other output fields", extra))
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
            parts.append(budget.details("JavaScript source", value))
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
            parts.append(budget.details("Widget state", value))
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
        if width * height > common.LIMITS.image_pixels:
            return _note(f"{mime} output not shown: {width}×{height} pixels is too large.")
    budget.image_bytes -= len(data)
    return _img(mime, data, mime)
