"""What a check is given and what it answers: the shapes every check module shares.

Kept apart from ``checks`` (which imports every check module to list them) so that a check
module can import them at its top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanroom.airlock.enums import CheckStatus


@dataclass(frozen=True)
class CheckSubject:
    path: Path
    name: str
    type: str
    media_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CheckOutcome:
    check: str
    status: CheckStatus
    message: str
    # What the check found place by place, and the numbers it computed (the policy input's
    # check_result ``findings`` and ``metrics``).
    findings: tuple[Mapping[str, Any], ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
