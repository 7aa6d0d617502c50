"""The ``notebook`` check: outputs of a notebook that hold data, with their sizes.

::

    info = inspect_notebook(Path("/input/0"))   # in the sandbox (the ``notebook-inspect`` job)
    outcome = check_notebook(subject)            # in the airlock: the job, then the outcome

A reviewer reads a notebook's code and looks at its plots; data rides out in what is not read:
large tables printed into outputs (HTML tables, long text, JSON), base64 blobs (images, files),
outputs hidden from view (collapsed or hidden cells, ``transient`` outputs, outputs of cells
whose code was cleared), widget state in the metadata and cell attachments. Each is a finding
with its place (``cell 7, output 2``), mime type and size, never its content. What counts as
large is below; what each finding means is :data:`NOTEBOOK_RULES`; the release policy refuses
findings above its ``content_limits``.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect.outcome import CheckOutcome, CheckSubject

NOTEBOOK_CHECK = "notebook"
# An output is a large table from this many rows (HTML <tr>) or lines of text, or bytes.
TABLE_ROWS = 100
TEXT_LINES = 100
TEXT_BYTES = 64 * 1024
# A JSON output (application/json, *+json) is data from this many bytes.
JSON_BYTES = 16 * 1024
# A plot (image/png, image/jpeg, image/gif) up to this is only listed; larger is a blob.
IMAGE_BYTES = 512 * 1024
# Cell or notebook metadata is data from this many bytes (a kernelspec, tags and ids are less).
METADATA_BYTES = 4096
# Mime types of pictures a reviewer sees rendered.
PICTURES = frozenset({"image/png", "image/jpeg", "image/gif"})

# What each kind of finding means on its own (the check's status is the worst of them).
NOTEBOOK_RULES: dict[str, CheckStatus] = {
    "image": CheckStatus.PASS,  # a plot, listed with its size
    "embedded-data": CheckStatus.WARN,  # a base64 blob: a large image or a file
    "large-output": CheckStatus.WARN,  # a table, long text or JSON printed into an output
    "hidden-output": CheckStatus.WARN,  # outputs a reader of the notebook does not see
    "attachment": CheckStatus.WARN,  # files attached to markdown cells
    "widget-state": CheckStatus.WARN,  # widget state saved in the notebook's metadata
    "metadata": CheckStatus.WARN,  # large cell or notebook metadata, which no view shows
}
NOTEBOOK_FIX = (
    "clear the outputs that hold data (Edit > Clear Outputs), save the notebook and replace "
    "the file; release tables and figures as files of their own"
)


# --- in the sandbox ------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else json.dumps(value)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _base64_bytes(text: str) -> int:
    """The bytes base64 text decodes to (without decoding it)."""
    packed = "".join(text.split())
    return len(packed) * 3 // 4 - (len(packed) - len(packed.rstrip("=")))


def _whole_picture(mime: str, text: str) -> bool:
    """The base64 text is one whole PNG or JPEG with nothing after its end (a GIF is taken
    as it is: the preview shows it)."""
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    tail = data[-mt.TAIL_BYTES :]
    if mime == mt.PNG:
        return mt.is_png(data, tail)
    if mime == mt.JPEG:
        end = mt.walk_jpeg(data).end
        return mt.is_jpeg(data, tail) and end == len(data.rstrip(b"\x00\r\n"))
    return True


def _finding(rule: str, location: str, message: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "location": location, "message": message, "bytes": size, **extra}


def _output_data(output: dict[str, Any]) -> dict[str, Any]:
    """An output's content by mime type (stream text and tracebacks as text/plain)."""
    kind = output.get("output_type")
    if kind == "stream":
        return {"text/plain": output.get("text", "")}
    if kind == "error":
        return {"text/plain": "\n".join(_text(t) for t in output.get("traceback") or [])}
    data = output.get("data")
    return data if isinstance(data, dict) else {}


def _mime_findings(mime: str, value: Any, location: str) -> list[dict[str, Any]]:
    if not isinstance(mime, str):
        return []
    text = _text(value)
    size = len(text.encode())
    if (mime.startswith("image/") and mime != mt.SVG) or (
        mime.startswith("application/")
        and not mime.endswith("json")
        and mime != "application/javascript"
    ):
        decoded = _base64_bytes(text)
        if mime in PICTURES and decoded <= IMAGE_BYTES:
            if _whole_picture(mime, text):
                message = f"a {decoded:,}-byte {mime} image"
                return [_finding("image", location, message, decoded, mime_type=mime)]
            message = (
                f"a {decoded:,}-byte {mime} output that is not a whole {mime} image "
                "(data after its end, or other bytes)"
            )
            return [_finding("embedded-data", location, message, decoded, mime_type=mime)]
        return [
            _finding(
                "embedded-data",
                location,
                f"{decoded:,} bytes of base64 {mime} data ({size:,} characters)",
                decoded,
                mime_type=mime,
            )
        ]
    if mime == "text/html":
        rows = text.lower().count("<tr")
        if rows >= TABLE_ROWS or size >= TEXT_BYTES:
            return [
                _finding(
                    "large-output",
                    location,
                    f"a {size:,}-byte text/html output with {rows:,} table rows",
                    size,
                    mime_type=mime,
                    rows=rows,
                )
            ]
        return []
    if mime.endswith("json") or mime == "application/javascript":
        if size >= JSON_BYTES:
            return [
                _finding(
                    "large-output", location, f"a {size:,}-byte {mime} output", size, mime_type=mime
                )
            ]
        return []
    lines = text.count("\n") + 1
    if lines >= TEXT_LINES or size >= TEXT_BYTES:
        return [
            _finding(
                "large-output",
                location,
                f"a {size:,}-byte {mime} output of {lines:,} lines",
                size,
                mime_type=mime,
                lines=lines,
            )
        ]
    return []


def _hidden_because(cell: dict[str, Any], output: dict[str, Any]) -> list[str]:
    meta = cell.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    jupyter = meta.get("jupyter")
    jupyter = jupyter if isinstance(jupyter, dict) else {}
    why = []
    if jupyter.get("outputs_hidden"):
        why.append("its cell's outputs are hidden (jupyter.outputs_hidden)")
    if jupyter.get("source_hidden"):
        why.append("its cell's code is hidden (jupyter.source_hidden)")
    if meta.get("collapsed"):
        why.append("its cell is collapsed")
    if not _text(cell.get("source", "")).strip():
        why.append("its cell's code was cleared")
    if "transient" in output:
        why.append('it is marked "transient"')
    return why


def inspect_notebook(path: Path) -> dict[str, Any]:
    """Findings and totals of a notebook's outputs, attachments and widget state (pure; the
    ``notebook-inspect`` job). ``{"error": ...}`` when it is not a notebook that can be read."""
    nb = mt.load_notebook(path)
    if nb is None:
        return {"error": f"not an nbformat 4 notebook of at most {mt.NOTEBOOK_MAX_BYTES:,} bytes"}
    findings: list[dict[str, Any]] = []
    totals = {"cells": 0, "outputs": 0, "output_bytes": 0, "base64_bytes": 0}
    for c, cell in enumerate(nb["cells"], start=1):
        totals["cells"] += 1
        findings += _metadata_findings(cell.get("metadata"), f"cell {c}", "cell metadata")
        attachments = cell.get("attachments")
        if isinstance(attachments, dict) and attachments:
            size = sum(
                _base64_bytes(_text(v))
                for a in attachments.values()
                if isinstance(a, dict)
                for v in a.values()
            )
            findings.append(
                _finding(
                    "attachment",
                    f"cell {c}",
                    f"{len(attachments)} attached file(s), {size:,} bytes",
                    size,
                )
            )
        outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
        for o, output in enumerate(outputs, start=1):
            if not isinstance(output, dict):
                continue
            location = f"cell {c}, output {o}"
            totals["outputs"] += 1
            size = _json_size(output)
            totals["output_bytes"] += size
            for mime, value in _output_data(output).items():
                found = _mime_findings(mime, value, location)
                totals["base64_bytes"] += sum(
                    f["bytes"] for f in found if f["rule"] in ("image", "embedded-data")
                )
                findings += found
            why = _hidden_because(cell, output)
            if why:
                findings.append(
                    _finding(
                        "hidden-output",
                        location,
                        f"a {size:,}-byte output a reader does not see: {'; '.join(why)}",
                        size,
                    )
                )
    widgets = nb["metadata"].get("widgets")
    widget_bytes = _json_size(widgets) if widgets else 0
    if widget_bytes:
        findings.append(
            _finding(
                "widget-state",
                "notebook metadata",
                f"{widget_bytes:,} bytes of widget state (metadata.widgets)",
                widget_bytes,
            )
        )
    totals["widget_state_bytes"] = widget_bytes
    rest = {k: v for k, v in nb["metadata"].items() if k != "widgets"}
    findings += _metadata_findings(rest, "notebook metadata", "notebook metadata")
    return {"findings": findings, "totals": totals}


def _metadata_findings(metadata: Any, location: str, what: str) -> list[dict[str, Any]]:
    """Metadata (a cell's, the notebook's besides widget state) of METADATA_BYTES or more:
    JupyterLab never shows it."""
    size = _json_size(metadata) if isinstance(metadata, dict) else 0
    if size < METADATA_BYTES:
        return []
    keys = len(metadata)
    return [_finding("metadata", location, f"{size:,} bytes of {what} ({keys} keys)", size)]


# --- in the airlock ------------------------------------------------------------------------


def check_notebook(subject: CheckSubject) -> CheckOutcome:
    """Outputs of a notebook that hold data, found in the sandbox (``notebook-inspect``)."""
    from cleanroom import sandbox

    result = sandbox.run_warm("notebook-inspect", subject.path)
    if not result.ok or not isinstance(result.value, dict):
        return _outcome(
            CheckStatus.ERROR, f"the notebook could not be inspected: {result.message}", (), {}
        )
    return notebook_outcome(result.value)


def notebook_outcome(info: dict[str, Any]) -> CheckOutcome:
    """The ``notebook`` check's outcome from what :func:`inspect_notebook` found (pure)."""
    if info.get("error"):
        return _outcome(
            CheckStatus.ERROR, f"the notebook was not inspected: it is {info['error']}", (), {}
        )
    findings = [dict(f) for f in info["findings"]]
    for f in findings:
        f["status"] = str(NOTEBOOK_RULES.get(f["rule"], CheckStatus.WARN))
    totals = info["totals"]
    metrics = {
        **totals,
        "hidden_outputs": sum(f["rule"] == "hidden-output" for f in findings),
        "attachment_bytes": sum(f["bytes"] for f in findings if f["rule"] == "attachment"),
        "largest_finding_bytes": max((f["bytes"] for f in findings), default=0),
    }
    summary = (
        f"{totals['cells']:,} cells, {totals['outputs']:,} outputs "
        f"({totals['output_bytes']:,} bytes, {totals['base64_bytes']:,} of them base64 data)"
    )
    warned = [f for f in findings if f["status"] == CheckStatus.WARN]
    if warned:
        listed = "; ".join(f"{f['location']}: {f['message']}" for f in warned[:5])
        more = f" and {len(warned) - 5} more" if len(warned) > 5 else ""
        return _outcome(
            CheckStatus.WARN,
            f"{summary}; a reviewer must look at outputs that hold data: {listed}{more}",
            findings,
            metrics,
        )
    return _outcome(
        CheckStatus.PASS,
        f"{summary}; no output holds a table, a blob or hidden data",
        findings,
        metrics,
    )


def _outcome(
    status: CheckStatus, message: str, findings: Any, metrics: dict[str, Any]
) -> CheckOutcome:
    # Imported here: ``checks`` registers this module's check, so it imports this module.

    return CheckOutcome(NOTEBOOK_CHECK, status, message, tuple(findings), metrics)
