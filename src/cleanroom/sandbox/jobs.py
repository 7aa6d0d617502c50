"""The fixed registry of sandboxed jobs: name -> function(inputs, params) -> JSON value.

``inputs`` are the input files as the job sees them (``/input/0``, ...), ``params`` the
caller's small JSON object. A job is a thin call into a pure function of the airlock (which
must be importable without a server, a database or settings); heavy imports happen inside
the job, in the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .probes import probe

Job = Callable[[list[Path], dict[str, Any]], Any]


def media_type(inputs: list[Path], params: dict[str, Any]) -> str:
    from cleanroom.airlock.inspect.mediatypes import detect_media_type

    return detect_media_type(inputs[0], params["name"])


def preview(inputs: list[Path], params: dict[str, Any]) -> str:
    from cleanroom.airlock.inspect.previews import render_preview

    return render_preview(
        inputs[0],
        params["media_type"],
        params["name"],
        sha256=params.get("sha256"),
        full_url=params.get("full_url"),
        highlight=params.get("highlight"),
    )


def full_page(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.previews import render_full_page

    return render_full_page(
        inputs[0],
        params["media_type"],
        params["name"],
        int(params.get("page") or 1),
        row=params.get("row"),
        view=params.get("view"),
        sha256=params.get("sha256"),
        url=params.get("url") or "",
        highlight=params.get("highlight"),
    ).as_json()


def diff(inputs: list[Path], params: dict[str, Any]) -> str:
    from cleanroom.airlock.inspect.previews import render_diff

    return render_diff(
        inputs[0],
        inputs[1],
        params["media_type"],
        params["name"],
        old_sha256=params.get("old_sha256"),
        new_sha256=params.get("new_sha256"),
    )


def pdf_inspect(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.pdf import inspect_pdf

    return inspect_pdf(inputs[0])


def pdf_pages(inputs: list[Path], params: dict[str, Any]) -> str:
    from cleanroom.airlock.inspect.previews.pdf import render_pdf_pages

    return render_pdf_pages(
        inputs[0], int(params["first"]), int(params["last"]), params.get("name", "")
    )


def table_recompute(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.tables.recompute import recompute_table

    return recompute_table(inputs[0], inputs[1], params)


def figure_inspect(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.figures import inspect_figure

    return inspect_figure(inputs[0])


def notebook_inspect(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.notebooks import inspect_notebook

    return inspect_notebook(inputs[0])


def model_inspect(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.models import inspect_model

    return inspect_model(inputs[0], params["media_type"])


def archive_inspect(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.airlock.inspect.archives import inspect_archive

    return inspect_archive(inputs[0])


def copied_records(inputs: list[Path], params: dict[str, Any]) -> dict[str, Any]:
    from cleanroom.tables.copied import find_copied

    return find_copied(inputs[0], inputs[1:], params)


JOBS: dict[str, Job] = {
    "media-type": media_type,
    "preview": preview,
    "diff": diff,
    "pdf-inspect": pdf_inspect,
    "pdf-pages": pdf_pages,
    "full-page": full_page,
    "probe": probe,
    "table-recompute": table_recompute,
    "figure-inspect": figure_inspect,
    "notebook-inspect": notebook_inspect,
    "model-inspect": model_inspect,
    "archive-inspect": archive_inspect,
    "copied-records": copied_records,
}
