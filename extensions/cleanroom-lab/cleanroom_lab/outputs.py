"""A single cell output, sent by the browser as a PNG, CSV or HTML file, checked before release."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from .filetypes import OUTPUT_KINDS, PNG_SIGNATURE
from .workspace import Refused, human_size

# A plain name the airlock accepts: no folders, no dots in front, no control characters.
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    media_type: str
    data: bytes


def check_output(value: object, max_bytes: int) -> Output:
    """An :class:`Output` from the browser's ``{"name": ..., "data": <base64>}``, or ``Refused``."""
    if not isinstance(value, dict):
        raise Refused("Each cell output must be an object with a name and its data.", 400)
    name = value.get("name")
    if not isinstance(name, str) or not OUTPUT_NAME.match(name) or ".." in name:
        raise Refused(
            f"{name!r} is not a usable name for a cell output: use letters, digits, '.', '_', "
            "'-' and spaces.",
            400,
        )
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in OUTPUT_KINDS:
        kinds = ", ".join(sorted(OUTPUT_KINDS))
        raise Refused(f"A cell output is released as one of {kinds}; {name} is not.", 400)
    file_type, media_type = OUTPUT_KINDS[suffix]
    encoded = value.get("data")
    if not isinstance(encoded, str):
        raise Refused(f"The output {name} has no data.", 400)
    if len(encoded) > (max_bytes // 3 + 1) * 4:
        raise Refused(
            f"The output {name} is larger than {human_size(max_bytes)}, the limit per file.", 413
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"The output {name} is not valid base64.", 400) from None
    if not data:
        raise Refused(f"The output {name} is empty.", 400)
    if suffix == ".png" and not data.startswith(PNG_SIGNATURE):
        raise Refused(f"The output {name} is not a PNG image.", 400)
    if suffix != ".png":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"The output {name} is not UTF-8 text.", 400) from None
    return Output(name, file_type, media_type, data)
