"""The display channel's ledger: bytes each researcher's browser received, per UTC day.

What a browser shows can be read off the screen, so the edge filter counts every byte it sends
towards a researcher's browser and bounds it by a daily quota. The count lives in SQLite
(``<state_dir>/edge/display.sqlite``) and is written **before** the bytes are sent: the filter
reserves a slice of the quota (``RESERVE_BYTES`` at a time), then spends it. A restart of the
filter loses at most one unspent slice per researcher, counted as sent; when the database
cannot be written, nothing more is reserved, so the channel closes instead of opening.

Crossing the audit threshold, and reaching the quota, are written to the audit log once per
researcher per day, in the same step that commits the count.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cleanroom.core.sqlite import configure_sqlite
from cleanroom.errors import CleanRoomError

RESERVE_BYTES = 256 * 1024
BUSY_TIMEOUT_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS display_bytes (
    day TEXT NOT NULL,            -- UTC date, YYYY-MM-DD
    user TEXT NOT NULL,
    bytes INTEGER NOT NULL,       -- sent or reserved for sending that day
    audited INTEGER NOT NULL DEFAULT 0,      -- the threshold's audit record is written
    quota_reached INTEGER NOT NULL DEFAULT 0, -- the quota's audit record is written
    PRIMARY KEY (day, user)
);
"""


class LedgerUnavailable(CleanRoomError):
    """The count cannot be kept (the database cannot be written): the channel closes."""


class QuotaReached(CleanRoomError):
    """The researcher's browser received its daily quota; nothing more until midnight UTC."""


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "edge" / "display.sqlite"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class DayCount:
    day: str
    user: str
    bytes: int
    over_threshold: bool
    quota_reached: bool


class DisplayLedger:
    """Reserve bytes of a researcher's daily quota, durably, before they are sent.

    ``audit(event, actor, **details)`` writes an audit record; it is called inside the step
    that commits the count, so a failing audit log also closes the channel.
    """

    def __init__(
        self,
        path: Path,
        quota: int,
        audit_threshold: int,
        audit: Callable[..., object] | None = None,
        clock: Callable[[], str] = today,
    ) -> None:
        self.path = path
        self.quota = quota
        self.audit_threshold = audit_threshold
        self.audit = audit
        self.clock = clock
        self._lock = threading.Lock()
        # (day, user) -> bytes reserved in the database and not yet spent
        self._unspent: dict[tuple[str, str], int] = {}
        # (day, user) whose quota was reached: nothing more that day
        self._closed: set[tuple[str, str]] = set()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = self._connect()
        try:
            db.executescript(_SCHEMA)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        # A ledger of bytes sent: losing the last transactions in a power cut costs little.
        configure_sqlite(
            db,
            busy_timeout_ms=int(BUSY_TIMEOUT_S * 1000),
            synchronous="NORMAL",
            foreign_keys=False,
        )
        return db

    def spend_reserved(self, user: str, count: int) -> bool:
        """Account ``count`` bytes from what is already reserved, without touching the
        database; False when the reservation does not cover them (then call ``spend``)."""
        key = (self.clock(), user)
        with self._lock:
            unspent = self._unspent.get(key, 0)
            if unspent < count or key in self._closed:
                return False
            self._unspent[key] = unspent - count
            return True

    def spend(self, user: str, count: int) -> None:
        """Account ``count`` bytes about to go to ``user``'s browser; raise QuotaReached or
        LedgerUnavailable instead when they may not go. Blocks on the database now and then:
        call it from a worker thread."""
        day = self.clock()
        key = (day, user)
        with self._lock:
            if key in self._closed:
                raise QuotaReached(f"{user} reached the display quota for {day}")
            unspent = self._unspent.get(key, 0)
            if unspent < count:
                short = count - unspent
                try:
                    unspent += self._reserve(day, user, max(short, RESERVE_BYTES), short)
                except QuotaReached:
                    # Closed until the day ends, even for what the rest of the quota would
                    # cover: one refusal ends the day's channel.
                    self._closed = {k for k in self._closed if k[0] == day} | {key}
                    self._unspent.pop(key, None)
                    raise
            self._unspent = {k: v for k, v in self._unspent.items() if k[0] == day}
            self._unspent[key] = unspent - count

    def _reserve(self, day: str, user: str, wanted: int, needed: int) -> int:
        """Add up to ``wanted`` (at least ``needed``) to the day's count; return what was
        added."""
        try:
            db = self._connect()
        except sqlite3.Error as error:
            raise LedgerUnavailable(f"the display ledger cannot be opened: {error}") from error
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT bytes, audited, quota_reached FROM display_bytes "
                "WHERE day = ? AND user = ?",
                (day, user),
            ).fetchone()
            before, audited, quota_reached = row or (0, 0, 0)
            room = self.quota - before
            if quota_reached or room < needed:
                if not quota_reached:
                    self._write_audit(
                        "display.quota_reached", user, day=day, bytes=before, quota=self.quota
                    )
                    self._upsert(db, day, user, before, audited, 1)
                db.execute("COMMIT")
                raise QuotaReached(
                    f"{user} reached the display quota for {day} ({self.quota} bytes)"
                )
            added = min(wanted, room)
            after = before + added
            if after >= self.audit_threshold and not audited:
                self._write_audit(
                    "display.threshold_crossed",
                    user,
                    day=day,
                    bytes=after,
                    threshold=self.audit_threshold,
                )
                audited = 1
            self._upsert(db, day, user, after, audited, quota_reached)
            db.execute("COMMIT")
            return added
        except sqlite3.Error as error:
            raise LedgerUnavailable(f"the display ledger cannot be written: {error}") from error
        except Exception:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    @staticmethod
    def _upsert(
        db: sqlite3.Connection, day: str, user: str, count: int, audited: int, reached: int
    ) -> None:
        db.execute(
            "INSERT INTO display_bytes (day, user, bytes, audited, quota_reached) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, user) DO UPDATE SET "
            "bytes = excluded.bytes, audited = excluded.audited, "
            "quota_reached = excluded.quota_reached",
            (day, user, count, audited, reached),
        )

    def _write_audit(self, event: str, user: str, **details: object) -> None:
        if self.audit is None:
            return
        try:
            self.audit(event, user, **details)
        except Exception as error:  # noqa: BLE001 - any failure closes the channel
            raise LedgerUnavailable(f"the audit log cannot be written: {error}") from error


def day_counts(path: Path, threshold: int, quota: int, days: int = 14) -> list[DayCount]:
    """The last ``days`` days of counts, newest first (the admin pages show them)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        rows = db.execute(
            "SELECT day, user, bytes, quota_reached FROM display_bytes WHERE day IN "
            "(SELECT DISTINCT day FROM display_bytes ORDER BY day DESC LIMIT ?) "
            "ORDER BY day DESC, bytes DESC, user",
            (days,),
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [
        DayCount(day, user, n, n >= threshold, bool(reached) or n >= quota)
        for day, user, n, reached in rows
    ]
