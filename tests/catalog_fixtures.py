"""Fixtures for the catalog's tests (imported by tests/unit/test_catalog_*.py and
tests/integration/test_catalog_postgres.py; not a conftest).

- ``sources`` (session): small deterministic source files: ``wafers.parquet`` (contributor
  column ``plant``: four plants of three companies), ``welds.csv`` (contributor column
  ``yard``, whose values are organisation ids), ``wafers_v2.parquet`` (a new plant) and
  ``wafers_noplant.parquet`` (no contributor column).
- ``catalog_url``: an empty, migrated SQLite catalog of its own (a copy of one migrated
  once per session). The PostgreSQL module overrides it.
- ``clock``: a settable clock (starts at ``NOW``); ``audit``: an audit log in tmp_path.
- ``catalog``: a CatalogService over ``catalog_url``, ``audit`` and ``clock``.
- ``seeded``: ``catalog`` holding organisations acme, bolt, cora (depositors) and uni
  (other); users alice, bob (uni) and rita (acme); dataset ``wafers`` v1 from wafers.parquet;
  project ``yield`` with alice as researcher and rita as reviewer.
- ``nothing_written(catalog)``: a context manager asserting that every catalog table and the
  audit log are exactly as before.
- ``PLANTS``: wafers.parquet's plant -> organisation mapping.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select, text

from cleanroom.audit import AuditLog
from cleanroom.catalog import models
from cleanroom.catalog.db import create_catalog_engine, session_factory, upgrade
from cleanroom.catalog.service import CatalogService

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLANTS = {"acme-fab1": "acme", "acme-fab2": "acme", "bolt-main": "bolt", "cora-east": "cora"}
WAFER_COLUMNS = ["lot", "plant", "year", "yield_pct", "recipe_secret"]


@dataclass(frozen=True)
class Sources:
    dir: Path
    wafers: Path
    wafers_v2: Path
    wafers_noplant: Path
    welds: Path

    def write(self, name: str, content: str | bytes) -> Path:
        """A new file in a fresh directory of its own (tests never change shared ones)."""
        target_dir = self.dir / "extra" / hashlib.sha256(str(content).encode()).hexdigest()[:16]
        target_dir.mkdir(parents=True, exist_ok=True)
        path = target_dir / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> Sources:
    base = tmp_path_factory.mktemp("catalog-sources")
    con = duckdb.connect()
    plants = list(PLANTS)
    con.execute(
        f"""COPY (
            SELECT i AS lot,
                   list_extract({plants!r}, (i % 4) + 1) AS plant,
                   2022 + (i % 3) AS year,
                   round(70 + (i * 7 % 30), 1)::DOUBLE AS yield_pct,
                   'SECRET-' || i AS recipe_secret
            FROM range(200) t(i)
        ) TO '{base / "wafers.parquet"}' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (
            SELECT i AS lot,
                   list_extract({[*plants, "dora-west"]!r}, (i % 5) + 1) AS plant,
                   2024 AS year,
                   80.0::DOUBLE AS yield_pct,
                   'SECRET-' || i AS recipe_secret
            FROM range(50) t(i)
        ) TO '{base / "wafers_v2.parquet"}' (FORMAT parquet)"""
    )
    con.execute(
        f"COPY (SELECT i AS lot, 1.0 AS yield_pct FROM range(10) t(i)) "
        f"TO '{base / 'wafers_noplant.parquet'}' (FORMAT parquet)"
    )
    con.close()
    welds = base / "welds.csv"
    lines = ["yard,seam,defects,inspector"]
    for i in range(30):
        lines.append(f"{['acme', 'bolt', 'cora'][i % 3]},S{i},{i % 4},insp{i % 5}")
    welds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Sources(
        base,
        base / "wafers.parquet",
        base / "wafers_v2.parquet",
        base / "wafers_noplant.parquet",
        welds,
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.sqlite"
    engine = create_catalog_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def catalog_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "catalog.sqlite"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    log = AuditLog.from_state_dir(tmp_path / "state")
    yield log
    log.close()


@pytest.fixture
def catalog(catalog_url: str, audit: AuditLog, clock: Clock) -> Iterator[CatalogService]:
    engine = create_catalog_engine(catalog_url)
    service = CatalogService(session_factory(engine, upgrade_schema=False), audit, clock=clock)
    yield service
    engine.dispose()


SEED_TABLES_WITH_SERIAL_IDS = ("datasets", "dataset_versions", "projects", "grants")


def seed(catalog: CatalogService, sources: Sources) -> None:
    """What ``seeded`` holds (see the module docstring)."""
    for org_id, name in (("acme", "Acme Semiconductor"), ("bolt", "Bolt Shipyards"),
                         ("cora", "Cora Robotics")):  # fmt: skip
        catalog.add_organisation(org_id, name, "depositor", actor="adam")
    catalog.add_organisation("uni", "University of Somewhere", "other", actor="adam")
    catalog.set_user_organisation("alice", "uni", actor="adam")
    catalog.set_user_organisation("bob", "uni", actor="adam")
    catalog.set_user_organisation("rita", "acme", actor="adam")
    catalog.register_dataset(
        "wafers",
        sources.wafers,
        contributor_column="plant",
        mapping=PLANTS,
        description="Wafer lots",
        actor="adam",
    )
    catalog.create_project("yield", description="Yield drivers", actor="adam")
    catalog.add_member("yield", "alice", "researcher", actor="adam")
    catalog.add_member("yield", "rita", "reviewer", actor="adam")


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, list[dict]]
    state_dir: Path


@pytest.fixture(scope="session")
def seeded_snapshot(tmp_path_factory, sources: Sources) -> Snapshot:
    """The seeded catalog built once through the service (every append audited), kept as
    rows and an audit log directory that each test copies."""
    base = tmp_path_factory.mktemp("catalog-seeded")
    engine = create_catalog_engine(f"sqlite:///{base / 'catalog.sqlite'}")
    upgrade(engine)
    log = AuditLog.from_state_dir(base / "state")
    seed(CatalogService(session_factory(engine, upgrade_schema=False), log, clock=Clock()),
         sources)  # fmt: skip
    log.close()
    with engine.connect() as connection:
        rows = {
            table.name: [dict(r._mapping) for r in connection.execute(select(table))]
            for table in models.Base.metadata.sorted_tables
        }
    engine.dispose()
    return Snapshot(rows, base / "state")


def restore(catalog: CatalogService, snapshot: Snapshot) -> None:
    """Put the snapshot's rows into an empty catalog and its audit log in place."""
    tables = models.Base.metadata.sorted_tables
    engine = catalog.sessions.kw["bind"]
    with engine.begin() as connection:
        for table in tables:
            if snapshot.rows[table.name]:
                connection.execute(table.insert(), snapshot.rows[table.name])
        if connection.dialect.name == "postgresql":
            for name in SEED_TABLES_WITH_SERIAL_IDS:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(max(id), 0) + 1 FROM {name}), false)"
                    )
                )
    audit = catalog.audit
    for source, target in (
        (snapshot.state_dir / "audit" / "audit.sqlite", audit.db_path),
        (snapshot.state_dir / "audit-anchor" / "head.json", audit.anchor_path),
        (snapshot.state_dir / "secrets" / "audit.key", audit.key_path),
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture
def seeded(catalog: CatalogService, seeded_snapshot: Snapshot) -> CatalogService:
    restore(catalog, seeded_snapshot)
    return catalog


def dump(catalog: CatalogService) -> dict[str, list[tuple]]:
    """Every row of every catalog table, as sorted tuples of text."""
    with catalog.sessions() as session:
        return {
            table.name: sorted(
                tuple(str(v) for v in row) for row in session.execute(select(table)).all()
            )
            for table in models.Base.metadata.sorted_tables
        }


def audit_count(catalog: CatalogService) -> int:
    return len(catalog.audit.records())


@contextmanager
def nothing_written(catalog: CatalogService) -> Iterator[None]:
    before, records = dump(catalog), audit_count(catalog)
    yield
    assert dump(catalog) == before, "the catalog changed"
    assert audit_count(catalog) == records, "the audit log changed"
