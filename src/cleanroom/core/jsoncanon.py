"""Canonical JSON: one text per JSON value (sorted keys, no spaces, UTF-8 kept as is, no NaN).

The audit log's hash chain and the policy input digests are computed over this text, so it
must never change: a different spelling of the same value would break every stored chain.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    """The canonical text of ``value``; raises TypeError or ValueError for what is not JSON
    (including NaN and infinities)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
