"""What a sandboxed job gives back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SandboxResult:
    """``ok`` and the job's JSON ``value``; or not ok and a ``message`` saying why (the job
    raised, crashed, ran out of memory or time, or answered too much)."""

    ok: bool
    value: Any = None
    message: str = ""

    @classmethod
    def error(cls, message: str) -> SandboxResult:
        return cls(False, None, message)
