"""Unified diffs of two versions of a file: text line by line, notebooks by their cells'
sources, outputs and metadata, anything else by size and hash; each side read within bounds."""

from __future__ import annotations

import difflib
import hashlib
import io
import logging
import os
from pathlib import Path

from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.previews import common
from cleanroom.airlock.inspect.previews.common import _hash_text, _human, _read_text, _sha256
from cleanroom.airlock.inspect.previews.html import _cut, _meta, _note, _reveal
from cleanroom.airlock.inspect.previews.notebooks import _as_text
from cleanroom.airlock.inspect.previews.text import _ANSI, TEXT_MEDIA_TYPES

log = logging.getLogger(__name__)


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
    summary with both sizes and hashes. Each side is read only up to ``common.LIMITS.diff_bytes``.
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
            if os.fstat(f.fileno()).st_size <= common.LIMITS.notebook_bytes
            else None
        )
        if nb is not None:
            lines = _notebook_lines(nb)
            return lines[: common.LIMITS.diff_lines], len(lines) > common.LIMITS.diff_lines
    text, cut = _read_text(f, common.LIMITS.diff_bytes)
    lines = text.splitlines()
    return lines[: common.LIMITS.diff_lines], cut or len(lines) > common.LIMITS.diff_lines


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
        if len(lines) > common.LIMITS.diff_lines:
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
        if count >= common.LIMITS.diff_output_lines:
            more += 1
            continue
        count += 1
        css = (
            "cr-diff-file"
            if index < 2  # the "--- old" and "+++ new" header lines
            else {"+": "cr-diff-add", "-": "cr-diff-del", "@": "cr-diff-hunk"}.get(line[:1], "")
        )
        shown = _reveal(_cut(line, common.LIMITS.line_chars))
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
                f"Only the first {_human(common.LIMITS.diff_bytes)} / "
                f"{common.LIMITS.diff_lines:,} lines of each version were compared."
            )
        )
    return "".join(parts)
