"""cleanroom.policy.record: a policy decision in the audit log; and the audit log knows nothing
of policies (no import of cleanroom.policy, so the two packages do not import each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cleanroom.audit
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


def _imported_modules(path: Path, package: str) -> set[str]:
    """Every module an import statement in ``path`` names (relative ones made absolute),
    also those under ``if TYPE_CHECKING:`` and inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _audit_files() -> list[tuple[Path, str]]:
    """cleanroom.audit's source files, each with the package its relative imports start from
    (a module today; every file below it should it become a package)."""
    path = Path(cleanroom.audit.__file__)
    if path.name != "__init__.py":
        return [(path, "cleanroom")]
    return [
        (file, ".".join(["cleanroom", "audit", *file.relative_to(path.parent).parts[:-1]]))
        for file in sorted(path.parent.rglob("*.py"))
    ]


def test_audit_imports_nothing_from_policy():
    files = _audit_files()
    imported = set().union(*(_imported_modules(path, package) for path, package in files))
    assert "cleanroom.errors" in imported  # the walk does see the imports
    from_policy = {
        m for m in imported if m == "cleanroom.policy" or m.startswith("cleanroom.policy.")
    }
    assert not from_policy, f"cleanroom.audit imports {sorted(from_policy)}"
