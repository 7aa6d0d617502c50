"""Text, code and SVG source, highlighted by pygments with CSS classes only (the classes'
colours are ``airlock/web/static/previews.css``); the lexer comes from the detected media type,
never from the content."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

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
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _human, _read_text, _Source
from cleanroom.airlock.inspect.previews.html import (
    _cut_note,
    _mark_invisible,
    _meta,
    _note,
    _reveal,
    _reveal_note,
)

if TYPE_CHECKING:
    from cleanroom.airlock.inspect.previews.notebooks import _Budget


_FORMATTER = HtmlFormatter(cssclass="cr-hl", wrapcode=True)


TEXT_MEDIA_TYPES = {mt.TEXT, mt.MARKDOWN, mt.PYTHON, mt.R, mt.SQL, mt.CSV}
# Lexers by media type: chosen by the detected type, never guessed from the content.
_LEXERS: dict[str, type[Lexer]] = {
    mt.PYTHON: PythonLexer,
    mt.R: SLexer,
    mt.SQL: SqlLexer,
    mt.MARKDOWN: MarkdownLexer,
    mt.SVG: XmlLexer,
}


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def _highlighted(text: str, lexer: type[Lexer], budget: _Budget | None = None) -> str:
    """Pygments HTML (it escapes), with invisible characters then shown as markers.

    Lexing costs up to about 10 µs per character that a lexer cannot place, so only text
    within ``common.LIMITS.highlight_chars`` (a notebook: in all) is highlighted; the rest is shown
    escaped, uncoloured.
    """
    allowance = common.LIMITS.highlight_chars if budget is None else budget.highlight_chars
    if len(text) > allowance:
        return f'<div class="cr-hl"><pre><code>{_reveal(text)}</code></pre></div>'
    if budget is not None:
        budget.highlight_chars -= len(text)
    return _mark_invisible(highlight(text, lexer(stripnl=False, ensurenl=False), _FORMATTER))


def _text(src: _Source) -> str:
    text, cut = _read_text(src.f, common.LIMITS.text_bytes)
    lines = text.splitlines(keepends=True)
    if len(lines) > common.LIMITS.text_lines:
        text, cut = "".join(lines[: common.LIMITS.text_lines]), True
    lexer = _LEXERS.get(src.media_type, TextLexer)
    parts = [_meta(f"{_human(src.size)} · {src.media_type}")]
    if src.media_type == mt.SVG:
        parts.append(
            _note("SVG is shown as its source text and never rendered: it can carry scripts.")
        )
    parts.append(_reveal_note(text))
    if len(text) > common.LIMITS.highlight_chars:
        parts.append(_note("Shown without highlighting: the text is long."))
    parts.append(_highlighted(text, lexer))
    if cut:
        parts.append(
            _cut_note(
                f"Showing the first {len(text.encode()):,} bytes of {src.size:,}.", src.full_url
            )
        )
    return "".join(parts)
