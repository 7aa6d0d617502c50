"""Sizes in bytes, as people write and read them (binary units: 1K is 1024 bytes).

    human_size(1536)               # "1.5 KiB"
    human_size(1536, exact=True)   # "1.5 KiB (1,536 bytes)"
    parse_size("512M")             # 536870912

The JupyterLab extension keeps its own copy of :func:`human_size`: it runs in the
researcher's container, where this package is not installed.
"""

from __future__ import annotations

import re

_UNITS = ("KiB", "MiB", "GiB")
_SIZE = re.compile(r"([1-9][0-9]*)([KMGT]?)")


def human_size(count: int, *, exact: bool = False) -> str:
    """``count`` bytes in the largest binary unit up to GiB, with one decimal.

    Plain: ``"512 B"``, ``"1.5 KiB"``. ``exact``: the byte count too, with thousands
    separators: ``"512 bytes"``, ``"1.5 KiB (1,536 bytes)"``."""
    value = float(count)
    if value < 1024:
        return f"{count:,} bytes" if exact else f"{value:.0f} B"
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    text = f"{value:.1f} {unit}"
    return f"{text} ({count:,} bytes)" if exact else text


def parse_size(text: str) -> int:
    """``"512M"`` -> 536870912: a positive whole number with an optional K, M, G or T
    (powers of 1024). Raises ValueError for anything else."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size such as 512M or 4G")
    return int(match.group(1)) * 1024 ** "_KMGT".index(match.group(2) or "_")
