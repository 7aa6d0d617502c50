"""The audit log: one append-only, hash-chained record that every component writes through.

Three files, kept apart::

    AuditLog(db_path, anchor_path, key_path)

- ``db_path``: SQLite (WAL). Table ``audit_records``: seq (1, 2, 3, ... with no gaps), ts,
  event, actor, details (canonical JSON), prev_hash, hash, mac. ``hash`` is the SHA-256 of the
  record's canonical form including ``prev_hash`` (the previous record's hash; 64 zeros for the
  first), so editing, inserting or deleting a record breaks the chain after it. ``mac`` is an
  HMAC-SHA256 of ``hash`` under the key, so a chain recomputed by someone without the key is
  detected at the first rewritten record. Triggers refuse UPDATE and DELETE.
- ``anchor_path``: the chain's head (seq and hash) outside the database, HMAC-signed, replaced
  atomically after every append. Cutting records off the end, or replacing the database with
  an older copy or another chain, no longer matches it.
- ``key_path``: 32 random bytes (hex), created with mode 0600 when a new log is started. Keep it
  where the database's writers can read it but not where the database is backed up or copied
  (e.g. /etc/cleanroom/audit.key); whoever holds it can forge records.

One write path: :meth:`AuditLog.append`. It takes an exclusive file lock (``<anchor>.lock``),
then ``BEGIN IMMEDIATE``, reads the head, inserts, commits, and rewrites the anchor, so appends
from many processes and threads form one unbroken chain. :meth:`AuditLog.verify` (and
``cleanroom audit verify``) checks every record, the chain and the anchor, and names the first
bad record.

What this does not prevent: someone who holds the key, or who can replace the database, the
anchor and nothing else with an older consistent copy of both. Copy the head
(``cleanroom audit head``) to a place they cannot write (another host, a WORM store) to cover
that too.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core.jsoncanon import canonical_json
from .core.sqlite import configure_sqlite
from .core.times import rfc3339
from .errors import CleanRoomError

GENESIS = "0" * 64
SCHEMA_VERSION = "1"
ANCHOR_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def _open_shared(path: Path, flags: int) -> int:
    """Open (creating) a file that every appending account shares: mode 0660 whatever the
    umask, its group the folder's (setgid; cleanroom.host.accounts)."""
    fd = os.open(path, flags, 0o660)
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, 0o660)
    return fd


class AuditError(CleanRoomError):
    """The audit log cannot be opened or written; the message says why and what to do."""


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: str
    event: str
    actor: str | None
    details: dict = field(hash=False)
    prev_hash: str
    hash: str
    mac: str


@dataclass(frozen=True)
class VerifyResult:
    """ok: the whole log checks out. records: how many records were read. first_bad_seq: the
    first record that is missing, altered or unanchored (None when ok, or when the problem is
    not one record's, e.g. a missing key). reason: what is wrong (or a summary when ok)."""

    ok: bool
    records: int
    first_bad_seq: int | None
    reason: str
    head_hash: str = ""
    unanchored: int = 0


def record_hash(
    seq: int, ts: str, event: str, actor: str | None, details: str, prev_hash: str
) -> str:
    """The hash of one record: SHA-256 of the canonical JSON of its fields (details is the
    stored canonical JSON text), chained by prev_hash."""
    body = canonical_json([seq, ts, event, actor, details, prev_hash])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class AuditLog:
    """The audit log (see the module docstring). Safe to share between threads; each process
    (also after fork) opens its own SQLite connection.

    create_key: when the key file is missing and the log is empty, create a new key. A key that
        is missing for a log that already has records is an error, never silently replaced.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        anchor_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        *,
        create_key: bool = True,
    ):
        self.db_path = Path(db_path)
        self.anchor_path = Path(anchor_path)
        self.key_path = Path(key_path)
        self.lock_path = self.anchor_path.with_name(self.anchor_path.name + ".lock")
        self.create_key = create_key
        self._thread_lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._key: bytes | None = None

    @classmethod
    def from_state_dir(cls, state_dir: str | os.PathLike[str], **kwargs: Any) -> AuditLog:
        """The deployment's default layout: ``<state>/audit/audit.sqlite``,
        ``<state>/audit-anchor/head.json`` and ``<state>/secrets/audit.key``."""
        state = Path(state_dir)
        return cls(
            state / "audit" / "audit.sqlite",
            state / "audit-anchor" / "head.json",
            state / "secrets" / "audit.key",
            **kwargs,
        )

    # -- plumbing ----------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.db_path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            configure_sqlite(conn, busy_timeout_ms=BUSY_TIMEOUT_MS)
            conn.executescript(_SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _file_lock(self, exclusive: bool) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_shared(self.lock_path, os.O_RDWR | os.O_CREAT)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def prepare(self) -> None:
        """Create the database, the key (when this log may) and the lock file now, so that the
        host can hand them to the accounts that append (cleanroom.host.accounts)."""
        with self._thread_lock, self._file_lock(exclusive=True):
            first = self._connection().execute("SELECT seq FROM audit_records LIMIT 1")
            self._load_key(may_create=self.create_key and first.fetchone() is None)

    def _load_key(self, *, may_create: bool) -> bytes:
        if self._key is not None:
            return self._key
        try:
            text = self.key_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if not may_create:
                raise AuditError(
                    f"the audit key {self.key_path} is missing; restore it from where it is "
                    "kept (without it no record can be checked or written)"
                ) from None
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            text = secrets.token_hex(32)
            tmp = self.key_path.with_name(f".{self.key_path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, self.key_path)  # never replace a key another process just made
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            text = self.key_path.read_text(encoding="ascii").strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) < 32:
            raise AuditError(f"the audit key {self.key_path} is not 32+ bytes of hex")
        self._key = key
        return key

    def _mac(self, key: bytes, message: str) -> str:
        return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def _anchor_mac(self, key: bytes, seq: int, head: str) -> str:
        return self._mac(key, f"cleanroom-audit-anchor:{ANCHOR_VERSION}:{seq}:{head}")

    def _write_anchor(self, key: bytes, seq: int, head: str) -> None:
        anchor = {
            "version": ANCHOR_VERSION,
            "seq": seq,
            "hash": head,
            "updated_at": rfc3339(),
            "mac": self._anchor_mac(key, seq, head),
        }
        self.anchor_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.anchor_path.with_name(f".{self.anchor_path.name}.{os.getpid()}.tmp")
        fd = _open_shared(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(canonical_json(anchor) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.anchor_path)
        dir_fd = os.open(self.anchor_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _read_anchor(self) -> dict | None:
        try:
            return json.loads(self.anchor_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    # -- the one write path ------------------------------------------------------------------

    def append(self, event: str, actor: str | None = None, **details: Any) -> AuditRecord:
        """Append one record and return it. ``event`` is a dotted name (``hub.login``,
        ``spawn.start``, ``policy.decision``, ...); ``details`` must be JSON values.

        Raises AuditError (or TypeError for details that are not JSON); never loses a
        record it returned.
        """
        if not event or not isinstance(event, str):
            raise ValueError("an audit event needs a name")
        details_text = canonical_json(details)
        with self._thread_lock, self._file_lock(exclusive=True):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                key = self._load_key(may_create=self.create_key and row is None)
                seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
                ts = rfc3339()
                digest = record_hash(seq, ts, event, actor, details_text, prev)
                mac = self._mac(key, digest)
                conn.execute(
                    "INSERT INTO audit_records"
                    " (seq, ts, event, actor, details, prev_hash, hash, mac)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, ts, event, actor, details_text, prev, digest, mac),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            # Committed: now move the anchor (still under the file lock, so anchors only
            # move forward). A crash between the two leaves a record after the anchor,
            # which verify reports; the next append anchors it.
            self._write_anchor(key, seq, digest)
        return AuditRecord(seq, ts, event, actor, details, prev, digest, mac)

    # -- reading -----------------------------------------------------------------------------

    def records(self, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        """Records with seq > after, oldest first."""
        sql = "SELECT seq, ts, event, actor, details, prev_hash, hash, mac FROM audit_records"
        sql += " WHERE seq > ? ORDER BY seq"
        params: tuple = (after,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._thread_lock:
            rows = self._connection().execute(sql, params).fetchall()
        return [
            AuditRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7]) for r in rows
        ]

    def tail(self, count: int = 20) -> list[AuditRecord]:
        """The last ``count`` records, oldest first."""
        with self._thread_lock:
            row = self._connection().execute("SELECT MAX(seq) FROM audit_records").fetchone()
        last = row[0] or 0
        return self.records(after=max(0, last - count))

    def head(self) -> dict | None:
        """The signed anchor (seq, hash, mac), to copy somewhere the log's writers cannot."""
        return self._read_anchor()

    def verify(self) -> VerifyResult:
        """Check every record, the chain and the anchor; name the first bad record."""
        with self._thread_lock, self._file_lock(exclusive=False):
            return self._verify()

    def _verify(self) -> VerifyResult:
        started = self.anchor_path.exists() or self.key_path.exists()
        if not self.db_path.exists():
            if started:
                return VerifyResult(
                    False, 0, 1, f"the database {self.db_path} is missing (the log was started)"
                )
            return VerifyResult(True, 0, None, "empty audit log (no database yet)")
        try:
            conn = self._connection()
            total = conn.execute("SELECT COUNT(*) FROM audit_records").fetchone()[0]
            rows = conn.execute(
                "SELECT seq, ts, event, actor, details, prev_hash, hash, mac"
                " FROM audit_records ORDER BY seq"
            )
        except sqlite3.Error as error:
            return VerifyResult(False, 0, None, f"the database cannot be read: {error}")
        anchor = self._read_anchor()
        if total == 0 and not started:
            return VerifyResult(True, 0, None, "empty audit log")
        try:
            key = self._load_key(may_create=False)
        except AuditError as error:
            return VerifyResult(False, 0, None, str(error))

        if anchor is not None:
            try:
                anchor_seq, anchor_hash = int(anchor["seq"]), str(anchor["hash"])
                anchor_ok = hmac.compare_digest(
                    str(anchor["mac"]), self._anchor_mac(key, anchor_seq, anchor_hash)
                )
            except (KeyError, TypeError, ValueError):
                anchor_ok = False
            if not anchor_ok:
                return VerifyResult(
                    False, 0, None, f"the anchor {self.anchor_path} is not validly signed"
                )

        count, prev, expected_seq = 0, GENESIS, 1

        def bad(seq: int, reason: str) -> VerifyResult:
            return VerifyResult(False, count, seq, reason)

        hashes_at: dict[int, str] = {}
        for seq, ts, event, actor, details, prev_hash, digest, mac in rows:
            count += 1
            if seq != expected_seq:
                gap = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}-{seq - 1}"
                return bad(
                    expected_seq,
                    f"record {gap} is missing: the log jumps from {expected_seq - 1} to {seq} "
                    "(deleted)",
                )
            if prev_hash != prev:
                return bad(
                    seq,
                    f"record {seq} does not chain to record {seq - 1} (prev_hash differs)",
                )
            if record_hash(seq, ts, event, actor, details, prev_hash) != digest:
                return VerifyResult(
                    False, count, seq, f"record {seq} was altered (its hash does not match)"
                )
            if not hmac.compare_digest(mac, self._mac(key, digest)):
                return bad(
                    seq,
                    f"record {seq} was rewritten (its MAC does not match: the chain was "
                    "recomputed without the key)",
                )
            if anchor is not None and seq == anchor_seq:
                hashes_at[seq] = digest
            prev, expected_seq = digest, seq + 1
        last = expected_seq - 1

        if anchor is None:
            if count == 0:
                return bad(
                    1, "the log was started (its key exists) but its records and anchor are gone"
                )
            return VerifyResult(
                False, count, 1, f"the anchor {self.anchor_path} is missing for {count} records"
            )
        if last < anchor_seq:
            return bad(
                last + 1,
                f"records {last + 1}-{anchor_seq} are missing from the end (the anchor says "
                f"the log reaches {anchor_seq}, the database stops at {last})",
            )
        if hashes_at.get(anchor_seq) != anchor_hash:
            return bad(
                anchor_seq,
                f"record {anchor_seq} is not the anchored one (the database was replaced or "
                "rewritten)",
            )
        unanchored = last - anchor_seq
        reason = f"{count} records, chain intact, head {prev[:16]} anchored at {anchor_seq}"
        if unanchored:
            reason += (
                f"; {unanchored} record(s) after the anchor (an append was interrupted before "
                "it moved the anchor; each is validly signed)"
            )
        return VerifyResult(True, count, None, reason, prev, unanchored)

    def close(self) -> None:
        with self._thread_lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
