"""Sandbox jobs run in the test's own process, for the unit tier's coverage.

The sandbox runs a job in another process (under bubblewrap), where ``--cov`` does not see
it; the job's code is pure (``cleanroom.sandbox.jobs``), so the same scenarios are run a second
time here, in process, through the runner's own ``answer`` (the same JSON round trip and the
same "every failure is an error answer"). What these runs prove is the job's logic; what the
sandbox's walls hold is proven by the tests that run the same scenarios in the real sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cleanroom import sandbox
from cleanroom.sandbox.result import SandboxResult
from cleanroom.sandbox.runner import answer


def run_in_process(
    job: str, path: Path | Sequence[Path], params: dict[str, Any] | None = None, *_, **__
) -> SandboxResult:
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    reply = json.loads(json.dumps(answer(job, params or {}, paths)))
    if reply["ok"]:
        return SandboxResult(True, reply.get("value"))
    return SandboxResult.error(reply["message"])


@pytest.fixture
def jobs_in_process(monkeypatch):
    """Every sandbox job of the test runs in the test's own process."""
    monkeypatch.setattr(sandbox, "run", run_in_process)
    monkeypatch.setattr(sandbox, "run_warm", run_in_process)
