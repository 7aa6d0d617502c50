"""The airlock's SQLite database: WAL, foreign keys, and write transactions that take the
write lock at BEGIN (``BEGIN IMMEDIATE``), so read-decide-write sequences (a vote and the
outcome it leads to) never interleave."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

from cleanroom.core.sqlite import configure_sqlite

from .models import Base

BUSY_TIMEOUT_MS = 30_000


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
        Base.metadata.create_all(engine)
    if path.exists():
        os.chmod(path, 0o600)
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
