"""The ``notebook`` check: outputs that hold data, reported with their place and size,
found through the real sandbox job (``notebook-inspect``) on real nbformat 4 JSON."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cleanroom.airlock.enums import CheckStatus
from cleanroom.airlock.inspect import mediatypes as mt
from cleanroom.airlock.inspect import notebooks
from cleanroom.airlock.inspect.checks import CheckSubject, run_checks

from .test_mediatypes import png_bytes


def code(source: str, *outputs: dict, **metadata) -> dict:
    return {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": metadata,
        "source": source,
        "outputs": list(outputs),
    }


def display(data: dict, **extra) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}, **extra}


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def notebook(*cells: dict, **metadata) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": list(cells)}


def notebook_check(tmp_path: Path, nb: dict):
    path = tmp_path / "analysis.ipynb"
    data = json.dumps(nb).encode()
    path.write_bytes(data)
    media_type = mt.detect_media_type(path, path.name)
    assert media_type == mt.NOTEBOOK
    subject = CheckSubject(
        path, path.name, "notebook", media_type, len(data), hashlib.sha256(data).hexdigest()
    )
    return {o.check: o for o in run_checks(subject)}["notebook"]


def clean_notebook() -> dict:
    plot = base64.b64encode(png_bytes(40, 30)).decode()
    return notebook(
        {"cell_type": "markdown", "metadata": {}, "source": "# Yield by plant"},
        code("import cleanroom\ncon = cleanroom.connect()"),
        code("df.describe()", stream("count 12\nmean 0.91\n")),
        code("df.plot()", display({"image/png": plot, "text/plain": "<Figure>"})),
    )


def test_a_clean_notebook_passes(tmp_path):
    check = notebook_check(tmp_path, clean_notebook())
    assert check.status == CheckStatus.PASS, check.message
    assert check.metrics["cells"] == 4 and check.metrics["outputs"] == 2
    (plot,) = check.findings  # the plot is listed with its size, and passes
    assert plot["rule"] == "image" and plot["location"] == "cell 4, output 1"
    assert plot["status"] == "pass"


def test_a_5_mb_base64_output_is_reported_with_its_size(tmp_path):
    blob = os.urandom(5_000_000)
    nb = clean_notebook()
    nb["cells"].append(
        code(
            "ship()",
            stream("done\n"),
            display({"application/octet-stream": base64.b64encode(blob).decode()}),
        )
    )
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    assert "cell 5, output 2: 5,000,000 bytes of base64 application/octet-stream" in check.message
    (found,) = [f for f in check.findings if f["rule"] == "embedded-data"]
    assert found["location"] == "cell 5, output 2" and found["bytes"] == 5_000_000
    assert found["mime_type"] == "application/octet-stream" and found["status"] == "warn"
    assert check.metrics["base64_bytes"] >= 5_000_000
    assert check.metrics["largest_finding_bytes"] == 5_000_000  # the policy's limit reads it


def test_a_plot_with_data_after_its_end_is_reported(tmp_path):
    plot = base64.b64encode(png_bytes(40, 30) + b"plant,yield\nA-17,0.93\n").decode()
    nb = notebook(code("df.plot()", display({"image/png": plot})))
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    (found,) = check.findings
    assert found["rule"] == "embedded-data" and "not a whole image/png image" in found["message"]


def test_large_tables_text_and_json_outputs_are_reported(tmp_path):
    rows = "".join(f"<tr><td>A-{i}</td><td>0.9</td></tr>" for i in range(150))
    nb = notebook(
        code("df", display({"text/html": f"<table>{rows}</table>", "text/plain": "df"})),
        code("print(df.to_string())", stream("A-1 0.93\n" * 400)),
        code("df.to_dict()", display({"application/json": {"rows": ["A-1"] * 5000}})),
    )
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    found = {f["location"]: f for f in check.findings if f["rule"] == "large-output"}
    assert found["cell 1, output 1"]["rows"] == 150
    assert found["cell 2, output 1"]["lines"] == 401
    assert found["cell 3, output 1"]["mime_type"] == "application/json"
    assert "A-1" not in json.dumps([f["message"] for f in check.findings])  # never the data


def test_hidden_outputs_are_reported(tmp_path):
    small = stream("ok\n")
    nb = notebook(
        code("x", small, jupyter={"outputs_hidden": True}),
        code("y", small, jupyter={"source_hidden": True}),
        code("z", small, collapsed=True),
        code("", small),  # its code was cleared
        code("w", {**display({"text/plain": "1"}), "transient": {"display_id": "d"}}),
    )
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    hidden = {f["location"]: f["message"] for f in check.findings if f["rule"] == "hidden-output"}
    assert set(hidden) == {f"cell {c}, output 1" for c in range(1, 6)}
    assert "outputs_hidden" in hidden["cell 1, output 1"]
    assert "source_hidden" in hidden["cell 2, output 1"]
    assert "collapsed" in hidden["cell 3, output 1"]
    assert "code was cleared" in hidden["cell 4, output 1"]
    assert "transient" in hidden["cell 5, output 1"]
    assert check.metrics["hidden_outputs"] == 5


def test_attachments_and_widget_state_are_reported(tmp_path):
    attached = base64.b64encode(b"x" * 3000).decode()
    nb = notebook(
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": "![a](attachment:a.png)",
            "attachments": {"a.png": {"image/png": attached}},
        },
        widgets={"application/vnd.jupyter.widget-state+json": {"state": {"m": "v" * 2000}}},
    )
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    found = {f["rule"]: f for f in check.findings}
    assert found["attachment"]["bytes"] == 3000 and found["attachment"]["location"] == "cell 1"
    assert found["widget-state"]["bytes"] > 2000
    assert check.metrics["attachment_bytes"] == 3000


def test_large_cell_and_notebook_metadata_is_reported(tmp_path):
    nb = notebook(code("x", rows=["A-17,0.93"] * 1000), kernelspec={"name": "python3"})
    nb["metadata"]["stash"] = "A-17,0.93;" * 1000
    check = notebook_check(tmp_path, nb)
    assert check.status == CheckStatus.WARN
    found = {f["location"]: f for f in check.findings if f["rule"] == "metadata"}
    assert set(found) == {"cell 1", "notebook metadata"}
    assert found["cell 1"]["bytes"] > 10_000 and "A-17" not in repr(check)


def test_a_sandbox_error_is_an_error_never_a_pass():
    outcome = notebooks.notebook_outcome({"error": "not a notebook"})
    assert outcome.status == CheckStatus.ERROR
