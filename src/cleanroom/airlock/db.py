"""The airlock's SQLite database: WAL, foreign keys, and write transactions that take the
write lock at BEGIN (``BEGIN IMMEDIATE``), so read-decide-write sequences (a vote and the
outcome it leads to) never interleave.

The schema is kept by Alembic (``airlock/migrations/``): a writer engine upgrades the file to
the newest revision when it is made, in one ``BEGIN IMMEDIATE`` transaction, so processes
starting together upgrade one after the other. A file made by ``create_all`` before the
airlock used migrations (its tables, no ``alembic_version``) is stamped at the first
revision, whose schema it has, and upgraded from there."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.orm import sessionmaker

from cleanroom.core.sqlite import configure_sqlite

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The revision whose schema ``Base.metadata.create_all`` made before the migrations.
BASELINE_REVISION = "0001"


def create_airlock_engine(path: Path | str, *, writer: bool = True) -> Engine:
    """An engine on the airlock's SQLite file. ``writer``: every transaction takes the write
    lock at its start (for the service's changes); otherwise transactions are plain reads
    that never wait for a writer (WAL)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        configure_sqlite(dbapi_connection, busy_timeout_ms=BUSY_TIMEOUT_MS)

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    if writer:
        upgrade(engine)
    if path.exists():
        os.chmod(path, 0o600)
    return engine


def _alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the airlock's tables or migrate them to ``revision`` (idempotent). ``engine``
    is a writer engine (its transactions begin with the write lock)."""
    from alembic import command

    with engine.begin() as connection:
        config = _alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "requests" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: not stamped or created yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this code ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
