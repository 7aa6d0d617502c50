"""The airlock's media types, previews, diffs and content checks, each run in the sandbox.

::

    html = preview(blob, "application/pdf", "report.pdf", sha256)   # always a safe fragment
    html = pdf_pages(blob, 4, 10, "report.pdf")                      # the full view of a PDF
    media_type(blob, "yield.csv")                                    # "text/csv", at upload

The functions in ``mediatypes``, ``previews`` and ``pdf`` parse researcher-made bytes, so the
airlock never calls them in its own process: it names the job
(:data:`cleanroom.sandbox.jobs.JOBS`) and a warm sandbox runs it
(:func:`cleanroom.sandbox.run_warm`: the same walls, a fresh process per job, without starting
Python again for each). When the sandbox gives an
error (a crash, a timeout, too much memory), the reviewer sees a note saying so, with the
file's size and hash; never a made-up preview.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any

from cleanroom import sandbox
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews.common import LIMITS
from cleanroom.airlock.inspect.previews.full import LAST, SIZES, VIEWS, FullPage
from cleanroom.airlock.inspect.previews.html import PREVIEW_CSP
from cleanroom.airlock.inspect.previews.marks import STATUSES as MARK_STATUSES
from cleanroom.sandbox import SandboxResult

__all__ = [
    "FULL_VIEWS",
    "FULL_VIEW_ROWS",
    "MARK_STATUSES",
    "PREVIEW_CSP",
    "PREVIEW_ROWS",
    "diff",
    "full_page",
    "media_type",
    "pdf_pages",
    "preview",
]

# The full view's alternative views of any file ("text", "hex").
FULL_VIEWS = tuple(VIEWS)
# The data rows a table's preview shows, and a page of the full view holds (the cells a
# job is asked to mark are chosen by them).
PREVIEW_ROWS = LIMITS.table_rows
FULL_VIEW_ROWS = SIZES.table_rows

log = logging.getLogger(__name__)

# The answers media-type detection may give (anything else from the sandbox is not believed).
MEDIA_TYPES = frozenset(
    v for k, v in vars(mt).items() if k.isupper() and isinstance(v, str) and "/" in v
)


def media_type(path: Path, name: str) -> str:
    """``detect_media_type`` of the file, in the sandbox. When the sandbox cannot tell (a
    crash, a timeout, a file too large to hand it), ``application/octet-stream``: unknown,
    never parsed, and the release policy decides what a file of that type may be."""
    result = sandbox.run_warm("media-type", path, {"name": name})
    if result.ok and result.value in MEDIA_TYPES:
        return result.value
    log.warning("media type of %r not found in the sandbox: %s", name, result.message)
    return mt.OCTET_STREAM


def preview(
    path: Path,
    media_type: str,
    name: str,
    sha256: str | None = None,
    full_url: str | None = None,
    highlight: list[dict] | None = None,
) -> str:
    """``render_preview`` of the file, in the sandbox; its notes that say something was cut
    link to ``full_url`` (the file's full view); a table marks the cells in ``highlight``."""
    params: dict[str, Any] = {
        "media_type": media_type,
        "name": name,
        "sha256": sha256,
        "full_url": full_url,
    }
    if highlight:
        params["highlight"] = highlight
    result = sandbox.run_warm("preview", path, params)
    return _fragment(result, path, sha256, "preview")


def full_page(
    path: Path,
    media_type: str,
    name: str,
    page: int | str = 1,
    *,
    row: int | None = None,
    view: str | None = None,
    sha256: str | None = None,
    url: str = "",
    highlight: list[dict] | None = None,
) -> FullPage:
    """``render_full_page`` of the file (``page`` a number or ``"last"``), in the sandbox. A
    failure there is a page holding a note that says so. A table marks the cells in
    ``highlight``."""
    params = {
        "media_type": media_type,
        "name": name,
        "page": LAST if page == "last" else int(page),
        "row": row,
        "view": view,
        "sha256": sha256,
        "url": url,
    }
    if highlight:
        params["highlight"] = highlight
    result = sandbox.run_warm("full-page", path, params)
    if result.ok and isinstance(result.value, dict):
        try:
            return FullPage(**result.value)
        except TypeError:
            result = SandboxResult(False, None, "the sandbox gave a page of the wrong shape")
    note = _fragment(result, path, sha256, "page")
    return FullPage(note, 1, None, False, "whole", 1)


def diff(
    old: Path,
    new: Path,
    media_type: str,
    name: str,
    old_sha256: str | None = None,
    new_sha256: str | None = None,
) -> str:
    """``render_diff`` of two versions, in the sandbox."""
    params = {
        "media_type": media_type,
        "name": name,
        "old_sha256": old_sha256,
        "new_sha256": new_sha256,
    }
    result = sandbox.run_warm("diff", [old, new], params)
    return _fragment(result, new, new_sha256, "comparison")


def pdf_pages(path: Path, first: int, last: int, name: str, sha256: str | None = None) -> str:
    """Pages ``first``..``last`` of a PDF as checked page images (``render_pdf_pages``)."""
    result = sandbox.run_warm("pdf-pages", path, {"first": first, "last": last, "name": name})
    return _fragment(result, path, sha256, "page view")


def inspect_pdf(path: Path) -> SandboxResult:
    """``cleanroom.airlock.inspect.pdf.inspect_pdf`` of the file, in the sandbox."""
    return sandbox.run_warm("pdf-inspect", path)


def _fragment(result: SandboxResult, path: Path, sha256: str | None, what: str) -> str:
    if result.ok and isinstance(result.value, str):
        return result.value
    message = result.message or "the sandbox gave no page"
    try:
        size = f"{os.stat(path).st_size:,} bytes"
    except OSError:
        size = "size unknown"
    return (
        '<div class="cr-preview">'
        f'<p class="cr-note">No {what}: {html.escape(message)}.</p>'
        f'<p class="cr-preview-meta">{size} · sha256 {html.escape(sha256 or "not computed")}</p>'
        "</div>"
    )
