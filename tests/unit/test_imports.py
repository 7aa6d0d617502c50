"""Which package may import which, read from the source with ast (so imports under
``if TYPE_CHECKING:`` and inside functions count too): the audit log knows nothing of
policies, core imports nothing else of the package, and nothing outside cleanroom.demo
imports the demo."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import cleanroom


def _modules() -> dict[str, Path]:
    """Every module of the package, by name, with its source file."""
    found = {}
    for info in pkgutil.walk_packages(cleanroom.__path__, "cleanroom."):
        spec = info.module_finder.find_spec(info.name, None)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            found[info.name] = Path(spec.origin)
    return found


def _imports(path: Path, module: str) -> set[str]:
    """The modules the file ``path`` of ``module`` imports, and ``module.name`` for each name
    it imports from one (relative imports made absolute)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _importers_of(package: str, *, among: list[str]) -> dict[str, list[str]]:
    modules = _modules()
    assert len(modules) > 50  # the walk found the package
    found = {}
    for name in among:
        hits = sorted(m for m in _imports(modules[name], name) if _within(m, package))
        if hits:
            found[name] = hits
    return found


def test_the_walk_resolves_relative_imports():
    modules = _modules()
    assert "cleanroom.errors" in _imports(modules["cleanroom.audit"], "cleanroom.audit")
    facts = _imports(modules["cleanroom.airlock.facts"], "cleanroom.airlock.facts")
    assert {"cleanroom.hubapi", "cleanroom.airlock.errors.Unavailable"} <= facts


def test_audit_imports_nothing_from_policy():
    among = [m for m in _modules() if _within(m, "cleanroom.audit")]
    assert among
    offenders = _importers_of("cleanroom.policy", among=among)
    assert not offenders, f"cleanroom.audit imports cleanroom.policy: {offenders}"


def test_nothing_outside_demo_imports_demo():
    among = [m for m in _modules() if not _within(m, "cleanroom.demo")]
    offenders = _importers_of("cleanroom.demo", among=among)
    assert not offenders, f"production modules import cleanroom.demo: {offenders}"


def test_core_imports_nothing_else_of_the_package():
    modules = _modules()
    among = [m for m in modules if _within(m, "cleanroom.core")]
    assert "cleanroom.core.duckdb_sandbox" in among
    outside = {
        name: sorted(
            m
            for m in _imports(modules[name], name)
            if _within(m, "cleanroom") and not _within(m, "cleanroom.core")
        )
        for name in among
    }
    assert not any(outside.values()), f"cleanroom.core imports the package: {outside}"
