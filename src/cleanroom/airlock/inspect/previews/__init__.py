"""Safe HTML previews and diffs of researcher-made files, for the reviewers' pages.

::

    html = render_preview(path, "text/csv", "yield.csv")          # a table with its shape
    html = render_diff(old_path, new_path, "text/x-python", "train.py")

Every byte is hostile: a researcher who wants data out, or wants to attack a reviewer, made
these files. So the output is an HTML fragment built only from escaped text and elements this
module writes itself: no script, no event handler, no URL but ``data:`` images this module has
checked to be PNG or JPEG, no external resource. Researcher-made HTML (notebook outputs) goes
through an allow-list sanitiser (ammonia, via nh3) first. SVG is never rendered (it can carry
scripts), PDFs only as page images made by poppler (``pdf``), pickles never loaded. These
functions parse hostile bytes: the airlock calls them only through the sandbox
(:mod:`cleanroom.airlock.inspect.sandboxed`). Pages that show previews must also send
:data:`PREVIEW_CSP`, so even a mistake here cannot run a script; highlighting uses CSS classes
only, whose colours are the airlock's static file ``previews.css``.

Reviewers must see what would leave, so nothing is hidden silently: a notebook shows every
representation of every output and any metadata; bidirectional and invisible characters are
shown as ``⟨U+202E⟩``; whatever a bound cuts off is said in a note. Work is bounded
(:data:`LIMITS`): a preview or a diff of a 1 GB file reads only a bounded part of it.

One module per kind of file: ``text`` (text, code, SVG source), ``tables`` (CSV, Parquet),
``images`` (PNG, JPEG), ``pdf`` (page images), ``models`` (safetensors, ONNX, and the
size-and-hash fallback), ``notebooks`` and ``diffs``; ``html`` builds the fragments (escaping,
the sanitiser, the page policy) and ``common`` holds what they share (:data:`LIMITS`, read at
call time as ``common.LIMITS``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews.common import LIMITS, Limits, _Source
from cleanroom.airlock.inspect.previews.diffs import render_diff
from cleanroom.airlock.inspect.previews.full import (
    _SAFE_URL,
    LAST,
    TSV,
    FullPage,
    render_full_page,
)
from cleanroom.airlock.inspect.previews.html import PREVIEW_CSP, _cut_note, sanitise_html
from cleanroom.airlock.inspect.previews.images import _image
from cleanroom.airlock.inspect.previews.marks import read_marks
from cleanroom.airlock.inspect.previews.models import _binary
from cleanroom.airlock.inspect.previews.notebooks import _notebook
from cleanroom.airlock.inspect.previews.pdf import _pdf, render_pdf_pages
from cleanroom.airlock.inspect.previews.tables import _csv, _parquet, _tsv
from cleanroom.airlock.inspect.previews.text import TEXT_MEDIA_TYPES, _text

__all__ = [
    "LIMITS",
    "PREVIEW_CSP",
    "TEXT_MEDIA_TYPES",
    "Limits",
    "FullPage",
    "LAST",
    "render_diff",
    "render_pdf_pages",
    "render_full_page",
    "render_preview",
    "sanitise_html",
]

log = logging.getLogger(__name__)


def render_preview(
    path: Path,
    media_type: str,
    name: str,
    *,
    sha256: str | None = None,
    full_url: str | None = None,
    highlight: list[dict] | None = None,
) -> str:
    """A safe HTML fragment showing the file at ``path`` as a reviewer should see it.

    ``media_type`` is the type :func:`cleanroom.airlock.inspect.mediatypes.detect_media_type` gave;
    ``name`` is the researcher's file name (shown escaped); ``sha256`` is the store's hash
    (computed here only for files up to ``LIMITS.hash_bytes`` when not given). Content that
    cannot be read as its type gives a note and the size and hash, never an exception;
    a path that is not a regular file raises ``ValueError``. ``full_url``: the airlock's link
    to the file's full view (a plain path it built), carried by every note that says something
    is cut off. ``highlight``: cells a table (CSV, TSV, Parquet) marks, the verified-table
    check's findings (see :mod:`.marks`; a wrong shape raises ``ValueError``).
    """
    if full_url is not None and not _SAFE_URL.match(full_url):
        raise ValueError("full_url must be a plain path built by the airlock")
    marks = read_marks(highlight)
    with mt.open_regular(Path(path)) as f:
        size = os.fstat(f.fileno()).st_size
        src = _Source(f, Path(path), size, name, media_type, sha256, full_url, marks)
        renderer = _renderer(media_type, name)
        try:
            body = renderer(src)
        except Exception as error:  # hostile content gets a note, never a server error
            log.info("preview of %r as %s failed: %s", name, media_type, type(error).__name__)
            body = _cut_note(
                f"No preview: this file could not be read as {media_type} "
                f"({type(error).__name__}).",
                full_url,
            ) + _binary(src, note=False)
    return f'<div class="cr-preview">{body}</div>'


def _renderer(media_type: str, name: str) -> Callable[[_Source], str]:
    # As media-type detection and the full view do, between text types the name decides: a
    # .tsv is a table.
    if media_type in (mt.TEXT, TSV) and name.lower().endswith(".tsv"):
        return _tsv
    return _RENDERERS.get(media_type, _binary)


_RENDERERS: dict[str, Callable[[_Source], str]] = {
    **{t: _text for t in TEXT_MEDIA_TYPES - {mt.CSV}},
    mt.SVG: _text,
    mt.CSV: _csv,
    TSV: _tsv,
    mt.PARQUET: _parquet,
    "application/x-parquet": _parquet,
    mt.PNG: _image,
    mt.JPEG: _image,
    mt.NOTEBOOK: _notebook,
    mt.PDF: _pdf,
}
