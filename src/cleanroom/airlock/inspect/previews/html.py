"""HTML built from hostile text: escaping with invisible characters revealed, notes, tables,
the allow-list sanitiser for researcher-made HTML, and the previews' page policy
(:data:`PREVIEW_CSP`)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import nh3

from cleanroom.airlock.inspect.previews import common

if TYPE_CHECKING:
    from cleanroom.airlock.inspect.previews.marks import Mark, Marks

# The Content-Security-Policy of every page that shows a preview: nothing runs, nothing loads
# but the page's own style sheet and data: images; no frames, no plugins, no <base>, and forms
# post only to the airlock itself.
PREVIEW_CSP = (
    "default-src 'none'; img-src data:; style-src 'self'; font-src 'none'; "
    "script-src 'none'; object-src 'none'; frame-src 'none'; child-src 'none'; "
    "worker-src 'none'; connect-src 'none'; media-src 'none'; manifest-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# Characters shown as ⟨U+XXXX⟩: controls, bidirectional overrides and invisible ones, which
# could make code or numbers read differently from what they are ("trojan source").
_INVISIBLE = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\u3164\ufeff\ufff9-\ufffb"
)
_REVEAL = re.compile(f"[{_INVISIBLE}]")
_REVEAL_RUN = re.compile(f"([{_INVISIBLE}])\\1*")


# Researcher-made HTML (notebook outputs): the allow-list. No links, no styles, no ids or
# classes (they could dress content up as the page's own controls), images only as data URIs
# of PNG or JPEG; the content of these elements is dropped, not shown as text.
_HTML_DROP_WITH_CONTENT = set(
    (
        "script style template noscript iframe frame frameset object embed applet svg math "
        "textarea select title xmp noembed noframes plaintext head form button audio video "
        "canvas"
    ).split()
)
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


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _reveal(text: str) -> str:
    """Escaped text with invisible and control characters made visible."""
    return _mark_invisible(_esc(text))


def _mark_invisible(escaped: str) -> str:
    """Mark invisible characters in escaped HTML (escaping leaves them as they are): a run
    of one character is one marker, and past common.LIMITS.reveal_marks markers a plain U+FFFD."""
    count = 0

    def mark(m: re.Match) -> str:
        nonlocal count
        count += 1
        if count > common.LIMITS.reveal_marks:
            return "\ufffd"
        run = len(m.group())
        times = f" ×{run:,}" if run > 1 else ""
        return f'<span class="cr-reveal">⟨U+{ord(m.group(1)):04X}{times}⟩</span>'

    return _REVEAL_RUN.sub(mark, escaped)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit:,} more chars)"


def _note(text: str) -> str:
    return f'<p class="cr-note">{_esc(text)}</p>'


def _cut_note(text: str, full_url: str | None) -> str:
    """A note that says something is cut off, with a link to the file's full view (a URL
    the airlock built, see ``render_preview``), when there is one."""
    if not full_url:
        return _note(text)
    link = f'<a class="cr-full-link" href="{_esc(full_url)}">See the whole file</a>'
    return f'<p class="cr-note">{_esc(text)} {link}</p>'


def _meta(text: str) -> str:
    return f'<p class="cr-preview-meta">{_esc(text)}</p>'


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str | None]],
    types: list[str] | None = None,
    marks: Marks | None = None,
) -> str:
    """A table of escaped cells; ``marks`` (by data row from 0 and column name) mark cells."""

    def cell(value: str | None, tag: str, mark: Mark | None = None) -> str:
        attributes = mark.attributes(value) if mark is not None else ""
        if value is None:
            return f'<{tag}{attributes}><span class="cr-null">NULL</span></{tag}>'
        return f"<{tag}{attributes}>{_reveal(_cut(value, common.LIMITS.cell_chars))}</{tag}>"

    head = "".join(cell(h, "th") for h in header)
    parts = [f'<table class="cr-table"><thead><tr>{head}</tr>']
    if types:
        parts.append("<tr>" + "".join(cell(t, "th") for t in types) + "</tr>")
    parts.append("</thead><tbody>")
    for number, row in enumerate(rows):
        marked = marks.at(number, header) if marks else {}
        parts.append("<tr>" + "".join(cell(v, "td", marked.get(i)) for i, v in enumerate(row)))
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _details(summary: str, text: str, limit: int | None = None) -> str:
    text = _cut(text, common.LIMITS.notebook_block_chars if limit is None else limit)
    return (
        f"<details><summary>{_esc(summary)} ({len(text):,} chars)</summary>"
        f"<pre>{_reveal(text)}</pre></details>"
    )


def _reveal_note(text: str) -> str:
    found = sorted({f"U+{ord(c):04X}" for c in _REVEAL.findall(text[:1_000_000])})
    if not found:
        return ""
    return _note(
        "This file contains invisible, control or bidirectional characters, shown as ⟨U+…⟩: "
        + ", ".join(found[:20])
    )
