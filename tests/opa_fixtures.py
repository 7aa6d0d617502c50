"""Fixtures and helpers for tests against a real OPA process (imported by the policy and
audit test modules; not a conftest, so it is loaded only where it is used).

- ``opa_binary`` (session): the pinned opa binary; FAILS (never skips) when it is missing,
  saying to run scripts/install-opa.sh.
- ``policies_copy``: a temporary copy of ``policies/`` that a test may change.
- ``opa_server``: OPA started from ``opa_binary`` on a free loopback port, watching
  ``policies_copy``. Its log is printed at teardown; pytest shows that output only for a
  test that failed.
- ``write_policy(dir, name, text)``: replace a policy file atomically (as an operator should).
- ``wait_for(predicate, timeout)``: poll until true, else fail with a message.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cleanroom.policy.opa import OpaNotFound, OpaProcess, find_opa_binary

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"

# An access policy an operator might roll out during maintenance.
DENY_ALL = """package access

# METADATA
# description: Nobody may start a server (maintenance).
decision := {
\t"allow": false,
\t"reasons": ["the clean room is closed for maintenance"],
\t"grants": [],
\t"excluded_grants": [],
}
"""


@pytest.fixture(scope="session")
def opa_binary() -> str:
    try:
        return find_opa_binary()
    except OpaNotFound as error:
        pytest.fail(f"{error}. Run scripts/install-opa.sh first.", pytrace=False)


@pytest.fixture
def policies_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def opa_server(opa_binary: str, policies_copy: Path, tmp_path: Path):
    log_path = tmp_path / "opa.log"
    server = OpaProcess(policies_copy, opa_binary=opa_binary, log_path=log_path).start()
    try:
        yield server
    finally:
        server.stop()
        dump_opa_log(log_path)


def dump_opa_log(log_path: Path) -> None:
    if log_path.exists():
        print(f"---- OPA log {log_path} ----")
        print(log_path.read_text(errors="replace")[-8000:])


def write_policy(policies_dir: Path, name: str, text: str) -> None:
    """Write a policy file the way an operator should: a temp file, then a rename."""
    target = policies_dir / name
    tmp = policies_dir / f".{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
