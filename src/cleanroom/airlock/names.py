"""What a file name and a file type may be: checked before anything is stored."""

from __future__ import annotations

import unicodedata

from .errors import InvalidInput

MAX_NAME = 255
# The file types of the policy input schema (policies/input.schema.json, file.type); the
# release policy decides which of them may leave. tests/unit/airlock/test_file_types.py keeps
# this copy, the OpenAPI document's, release.rego's and the extension's in agreement.
FILE_TYPES = (
    "table",
    "figure",
    "model",
    "notebook",
    "text",
    "code",
    "report",
    "archive",
    "other",
)


def check_file_name(name: str) -> str:
    """A plain file name: no directories, no '..', no control or invisible format characters,
    no leading or trailing spaces, at most 255 characters. Returned unchanged when valid."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("a file needs a name, such as results.csv")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"file names are at most {MAX_NAME} characters long")
    if "/" in name or "\\" in name:
        raise InvalidInput(f"{name!r} is a path: give the plain file name, without directories")
    if name in (".", "..") or name.startswith(".."):
        raise InvalidInput(f"{name!r} is not a file name")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            raise InvalidInput(
                f"the file name contains the control character U+{ord(ch):04X}: use letters, "
                "digits, spaces and punctuation only"
            )
    if name != name.strip():
        raise InvalidInput("a file name may not start or end with spaces")
    return name


def check_file_type(value: str | None) -> str:
    if value not in FILE_TYPES:
        raise InvalidInput(
            f"the file type {value!r} is not known: give ?type= one of {', '.join(FILE_TYPES)}"
        )
    return value
