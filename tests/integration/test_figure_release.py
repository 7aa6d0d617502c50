"""Figures and notebooks through the airlock's business layer: the stored bytes' media type
from the content, the ``figure`` and ``notebook`` checks in the real sandbox, and the real
release policy in a real OPA deciding (fixtures of test_airlock_service)."""

from __future__ import annotations

import base64
import json
import os

import pytest
from test_airlock_service import ALICE, airlock, put  # noqa: F401 - the fixture
from unit.airlock.test_mediatypes import png_bytes

from cleanroom.airlock.errors import PolicyRefused
from cleanroom.airlock.inspect import mediatypes as mt

__all__ = ["airlock"]


def submit(airlock, tmp_path, name: str, data: bytes, type_: str):  # noqa: F811
    path = tmp_path / name
    path.write_bytes(data)
    media_type = mt.detect_media_type(path, name)
    rid = airlock.create(ALICE, project="yield", justification="the paper").id
    put(airlock, rid, name, data, type_=type_, media_type=media_type)
    return rid, media_type


def test_a_png_with_rows_after_its_end_is_refused_and_says_why(airlock, tmp_path):  # noqa: F811
    rows = b"plant,yield\n" + b"A-17,0.93\n" * 300
    rid, media_type = submit(airlock, tmp_path, "yield.png", png_bytes() + rows, "figure")
    assert media_type == mt.PNG
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    reason = next(r for r in refused.value.reasons if "check figure failed" in r)
    assert f"{len(rows):,} bytes after the image's end (IEND)" in reason
    assert "export the figure again" in reason
    assert airlock.get(ALICE, rid).state == "draft"


def test_the_same_png_without_them_goes_to_one_reviewer(airlock, tmp_path):  # noqa: F811
    rid, _ = submit(airlock, tmp_path, "yield.png", png_bytes(), "figure")
    submitted = airlock.submit(ALICE, rid)
    assert submitted.state == "in_review" and submitted.reviewers_required == 1
    check = next(c for c in submitted.checks if c.check == "figure")
    assert check.status == "pass"


def test_an_svg_figure_is_refused_with_what_to_do(airlock, tmp_path):  # noqa: F811
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("x")</script></svg>'
    rid, media_type = submit(airlock, tmp_path, "yield.svg", svg, "figure")
    assert media_type == mt.SVG
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any(
        "SVG is code (scripts, links, external references)" in r and "PNG instead" in r
        for r in refused.value.reasons
    )


def test_a_notebook_with_a_3_mb_base64_output_is_refused_with_its_place(airlock, tmp_path):  # noqa: F811
    blob = base64.b64encode(os.urandom(3_000_000)).decode()
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "source": "ship()",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": "ok\n"},
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"application/octet-stream": blob},
                    },
                ],
            }
        ],
    }
    data = json.dumps(nb).encode()
    rid, media_type = submit(airlock, tmp_path, "analysis.ipynb", data, "notebook")
    assert media_type == mt.NOTEBOOK
    with pytest.raises(PolicyRefused) as refused:
        airlock.submit(ALICE, rid)
    assert any(
        "cell 1, output 2: 3,000,000 bytes of base64 application/octet-stream" in r
        for r in refused.value.reasons
    ), refused.value.reasons
