"""What kinds of file a release request can hold, and how a file's name suggests its kind.

One place for the rule: the dialog offers these types, the server checks them, the airlock
receives them (``?type=``) and its reviewers see them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

#: The airlock's file types (the contract's ``type`` query parameter), in the dialog's order.
FILE_TYPES: tuple[str, ...] = (
    "table",
    "figure",
    "model",
    "notebook",
    "text",
    "code",
    "report",
    "archive",
)

#: A file's suffix suggests its type; the researcher can change it in the dialog.
SUFFIX_TYPES: dict[str, str] = {
    ".csv": "table",
    ".tsv": "table",
    ".parquet": "table",
    ".xlsx": "table",
    ".json": "table",
    ".png": "figure",
    ".jpg": "figure",
    ".jpeg": "figure",
    ".svg": "figure",
    ".pdf": "figure",
    ".pt": "model",
    ".pth": "model",
    ".onnx": "model",
    ".safetensors": "model",
    ".joblib": "model",
    ".pkl": "model",
    ".ipynb": "notebook",
    ".py": "code",
    ".r": "code",
    ".sql": "code",
    ".txt": "text",
    ".md": "text",
    ".html": "text",
    ".zip": "archive",
}

#: What a single cell output may become: its file suffix, airlock type and media type.
OUTPUT_KINDS: dict[str, tuple[str, str]] = {
    ".png": ("figure", "image/png"),
    ".csv": ("table", "text/csv"),
    ".html": ("text", "text/html"),
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def suggest_type(name: str) -> str:
    """The type a file of this name most likely is (``text`` when nothing fits)."""
    return SUFFIX_TYPES.get(PurePosixPath(name).suffix.lower(), "text")


def check_type(value: object) -> str:
    """``value`` if it is one of :data:`FILE_TYPES`, else a ``ValueError`` that lists them."""
    if not isinstance(value, str) or value not in FILE_TYPES:
        raise ValueError(f"Unknown file type {value!r}: choose one of {', '.join(FILE_TYPES)}.")
    return value
