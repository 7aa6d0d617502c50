"""PDFs as page images: rendered by poppler's ``pdftoppm`` in the sandbox, never by the browser.

The reviewer's page shows what the PDF holds besides its pages (pages, bytes after its last
``%%EOF``, embedded files, scripts and forms, from :mod:`cleanroom.airlock.inspect.pdf`), then
the first :data:`PREVIEW_PAGES` pages as PNG images (checked whole, bounded in bytes and
pixels, embedded as ``data:`` URIs like any image), with a note saying how many are not shown.
:func:`render_pdf_pages` renders any range of pages (the full view). Both run only inside the
sandbox (``pdf-pages`` and ``preview`` jobs): they parse researcher-made bytes.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.pdf import ACTIVE_NAMES, inspect_pdf
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _human, _Source
from cleanroom.airlock.inspect.previews.html import _meta, _note, _table
from cleanroom.airlock.inspect.previews.images import _img
from cleanroom.airlock.inspect.previews.models import _binary

PDFTOPPM = "/usr/bin/pdftoppm"
# Pages in the review page's preview; pages one call of render_pdf_pages may render.
PREVIEW_PAGES = 3
MAX_PAGES_PER_CALL = 20
# A modest resolution, and a cap on the longer side of a page image (a huge page size must
# not make a huge picture).
DPI = 60
MAX_SIDE_PIXELS = 1240
RENDER_SECONDS = 50

_PAGE_FILE = re.compile(r"page-0*(\d+)\.png$")


def _pdf(src: _Source) -> str:
    info = inspect_pdf(src.path)
    pages = info["pages"]
    parts = [_meta(f"PDF · {pages if pages is not None else '?'} pages · {_human(src.size)}")]
    parts.append(_findings(info))
    if not pages:
        parts.append(_note("No page could be read from this PDF: nothing is shown."))
    else:
        shown = min(PREVIEW_PAGES, pages)
        parts.append(render_pdf_pages(src.path, 1, shown, src.name))
        if pages > shown:
            rest = f"page {pages}" if pages == shown + 1 else f"pages {shown + 1}–{pages}"
            parts.append(
                _note(
                    f"{pages - shown:,} more {'page is' if pages == shown + 1 else 'pages are'} "
                    f"not shown here ({rest}); open the full view to see every page."
                )
            )
    parts.append(_binary(src, note=False))
    return "".join(parts)


def _findings(info: dict) -> str:
    """What the PDF holds besides its pages, as a table (empty when nothing)."""
    rows: list[list[str | None]] = []
    if info["trailing_bytes"]:
        rows.append(
            [
                "data after %%EOF",
                f"{info['trailing_bytes']:,} bytes",
                info["trailing_kind"],
            ]
        )
    if not info["eof_found"]:
        rows.append(["no %%EOF", "", "the PDF's end could not be found"])
    for name in info["embedded_files"]:
        rows.append(["embedded file", "", name])
    for name, count in info["active"].items():
        rows.append([name, f"{count:,}×", ACTIVE_NAMES.get(name, "")])
    if not rows:
        return ""
    return _note("This PDF holds more than its pages:") + _table(["what", "size", "details"], rows)


def render_pdf_pages(path: Path, first: int, last: int, name: str = "") -> str:
    """Pages ``first`` to ``last`` (1-based, inclusive, at most MAX_PAGES_PER_CALL) of the PDF
    at ``path`` as a safe HTML fragment of checked PNG images, one ``figure`` per page.

    A page that cannot be rendered gives a note; a range past the last page gives the pages
    that exist. Raises ``ValueError`` for a range that is not one.
    """
    if not 1 <= first <= last or last - first + 1 > MAX_PAGES_PER_CALL:
        raise ValueError(
            f"pages {first}–{last} is not a range of 1 to {MAX_PAGES_PER_CALL} pages from page 1"
        )
    with tempfile.TemporaryDirectory(prefix="pdf-pages-") as out:
        done = subprocess.run(  # noqa: S603 - a fixed tool on the sandbox's input
            [
                PDFTOPPM,
                "-png",
                "-r",
                str(DPI),
                "-scale-to",
                str(MAX_SIDE_PIXELS),
                "-f",
                str(first),
                "-l",
                str(last),
                str(path),
                f"{out}/page",
            ],
            capture_output=True,
            timeout=RENDER_SECONDS,
            check=False,
        )
        images = sorted(
            (int(m.group(1)), p)
            for p in Path(out).iterdir()
            if (m := _PAGE_FILE.search(p.name)) is not None
        )
        parts = [_page(number, file.read_bytes(), name) for number, file in images]
    if not parts:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        return _note(f"The pages could not be rendered{': ' + why[0][:200] if why else ''}.")
    if done.returncode != 0:
        parts.append(_note("poppler stopped before the last page asked for."))
    return f'<div class="cr-pdf-pages">{"".join(parts)}</div>'


def _page(number: int, data: bytes, name: str) -> str:
    caption = f'<figcaption class="cr-meta">page {number}</figcaption>'
    if len(data) > common.LIMITS.image_bytes or not mt.is_png(data, data[-mt.TAIL_BYTES :]):
        return f"<figure>{_note(f'Page {number} could not be shown.')}{caption}</figure>"
    width, height = mt.png_size(data)
    if width * height > common.LIMITS.image_pixels:
        return f"<figure>{_note(f'Page {number} is too large to show.')}{caption}</figure>"
    return f"<figure>{_img(mt.PNG, data, f'{name} page {number}')}{caption}</figure>"


__all__ = ["render_pdf_pages"]
