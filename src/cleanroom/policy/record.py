"""Recording a policy decision in the audit log: the policy side of the audit log, so that
:mod:`cleanroom.audit` knows nothing of policies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cleanroom.audit import AuditLog, AuditRecord
    from cleanroom.policy.client import Decision


def record_decision(
    audit: AuditLog,
    area: str,
    decision: Decision,
    actor: str | None = None,
    **context: Any,
) -> AuditRecord:
    """Record one policy decision: area, allowed, reasons, policy revision and input digest
    (not the input itself), plus ``context`` (e.g. project, request ids)."""
    return audit.append(
        "policy.decision",
        actor,
        area=area,
        allowed=decision.allowed,
        reasons=list(decision.reasons),
        policy_revision=decision.policy_revision,
        input_digest=decision.input_digest,
        **context,
    )
