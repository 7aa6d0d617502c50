"""cleanroom.policy.record: a policy decision in the audit log. (That cleanroom.audit imports
nothing of cleanroom.policy: test_imports.py.)"""

from __future__ import annotations

import pytest

from cleanroom.audit import AuditLog
from cleanroom.policy import Decision
from cleanroom.policy.record import record_decision


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "db" / "a.sqlite", tmp_path / "anchor" / "h.json", tmp_path / "k")


def test_record_decision_logs_digest_and_revision(audit):
    decision = Decision(False, ("no",), {"allow": False}, "rev123", "digest456", "access")
    record = record_decision(audit, "access", decision, actor="bob", project="p1")
    assert record.event == "policy.decision" and record.actor == "bob"
    assert record.details == {
        "area": "access",
        "allowed": False,
        "reasons": ["no"],
        "policy_revision": "rev123",
        "input_digest": "digest456",
        "project": "p1",
    }
    assert audit.verify().ok
