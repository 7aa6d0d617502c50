"""The Datasets panel's facts: what the hub wrote about this server's mounted views.

The lab container holds no data. When the hub starts the server it describes each granted view
(columns and types, row count, what the grant restricts, its expiry) in a small JSON file that
is mounted here read-only; this module only reads it back. Nothing the researcher's code can
write is read here: the kernels cannot reach this file.
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # hundreds of views with hundreds of columns fit easily

NO_DATASETS = (
    "No datasets are mounted in this server. Datasets appear when the server is started for a "
    "project that has been granted data; if yours should have some, ask its administrator."
)


def read_datasets(path: str) -> dict:
    """``{"datasets": [...], "message": str}``: the views, or none with the reason why."""
    if not path:
        return {"datasets": [], "message": NO_DATASETS}
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ValueError("too large")
        views = json.loads(raw)["datasets"]
        if not isinstance(views, list):
            raise ValueError("not a list")
    except FileNotFoundError:
        return {"datasets": [], "message": NO_DATASETS}
    except (OSError, ValueError, KeyError, TypeError):
        return {
            "datasets": [],
            "message": "The list of datasets could not be read. Restart your server; if it "
            "persists, tell an administrator.",
        }
    return {"datasets": views, "message": "" if views else NO_DATASETS}
