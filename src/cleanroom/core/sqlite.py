"""The one SQLite connection setup: WAL (readers never wait for the writer), synchronous=FULL
(a committed transaction survives a power cut), foreign keys enforced, and a busy timeout.

    configure_sqlite(sqlite3.connect(path, isolation_level=None))

Works on a plain ``sqlite3`` connection and on the DBAPI connection SQLAlchemy passes to a
``connect`` event listener. Call it before anything else runs on the connection.
"""

from __future__ import annotations

import sqlite3

BUSY_TIMEOUT_MS = 30_000
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def configure_sqlite(
    conn: sqlite3.Connection,
    *,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    synchronous: str = "FULL",
    foreign_keys: bool = True,
) -> None:
    """Set the PRAGMAs on ``conn``. ``busy_timeout_ms``: how long a statement waits for a
    lock; ``synchronous``: one of OFF, NORMAL, FULL, EXTRA."""
    if synchronous not in _SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
    cursor = conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
    finally:
        cursor.close()
