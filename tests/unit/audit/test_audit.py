"""cleanroom.audit without any service: appending, the chain, the anchor, the key, threads and
an interrupted append. (record_decision: policy/test_record.py. Tampering and several
processes: tests/integration/test_audit_verify.py.)"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading

import pytest

from cleanroom.audit import GENESIS, AuditError, AuditLog, record_hash


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "db" / "a.sqlite", tmp_path / "anchor" / "h.json", tmp_path / "k")


def test_an_empty_log_verifies(audit):
    result = audit.verify()
    assert result.ok and result.records == 0


def test_append_chains_records_and_returns_them(audit):
    first = audit.append("hub.login", "alice", ip="10.0.0.1")
    second = audit.append("spawn.start", "alice", server="")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS and second.prev_hash == first.hash
    assert first.hash == record_hash(
        1,
        first.ts,
        "hub.login",
        "alice",
        json.dumps({"ip": "10.0.0.1"}, separators=(",", ":")),
        GENESIS,
    )
    assert audit.records() == [first, second]
    assert audit.tail(1) == [second]
    result = audit.verify()
    assert result.ok and result.records == 2 and result.head_hash == second.hash


def test_the_anchor_holds_the_signed_head(audit):
    record = audit.append("hub.login", "alice")
    head = audit.head()
    assert head["seq"] == 1 and head["hash"] == record.hash and len(head["mac"]) == 64


def test_details_must_be_json(audit):
    with pytest.raises(TypeError):
        audit.append("x.y", None, when=object())
    with pytest.raises(ValueError):
        audit.append("", None)
    assert audit.verify().records == 0


def test_the_database_refuses_updates_and_deletes(audit):
    audit.append("hub.login", "alice")
    conn = sqlite3.connect(audit.db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_records SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_records")
    conn.close()


def test_the_key_is_created_once_private_and_apart(audit):
    audit.append("hub.login", "alice")
    mode = stat.S_IMODE(audit.key_path.stat().st_mode)
    assert mode == 0o600
    key = audit.key_path.read_text()
    AuditLog(audit.db_path, audit.anchor_path, audit.key_path).append("hub.logout", "alice")
    assert audit.key_path.read_text() == key


def test_a_missing_key_is_never_replaced_for_a_log_with_records(audit):
    audit.append("hub.login", "alice")
    audit.key_path.unlink()
    reopened = AuditLog(audit.db_path, audit.anchor_path, audit.key_path)
    with pytest.raises(AuditError, match="missing"):
        reopened.append("hub.login", "bob")
    assert not reopened.verify().ok


def test_a_wrong_key_fails_at_the_anchor(audit):
    audit.append("hub.login", "alice")
    audit.key_path.write_text("11" * 32)
    result = AuditLog(audit.db_path, audit.anchor_path, audit.key_path).verify()
    assert not result.ok and "not validly signed" in result.reason


def test_an_interrupted_append_is_reported_then_anchored_by_the_next(audit, monkeypatch):
    audit.append("hub.login", "alice")
    original = AuditLog._write_anchor

    def crash(self, *args):
        raise OSError("disk full")

    monkeypatch.setattr(AuditLog, "_write_anchor", crash)
    with pytest.raises(OSError):
        audit.append("spawn.start", "alice")
    monkeypatch.setattr(AuditLog, "_write_anchor", original)
    result = audit.verify()
    assert result.ok and result.records == 2 and result.unanchored == 1
    assert "after the anchor" in result.reason
    audit.append("spawn.stop", "alice")
    result = audit.verify()
    assert result.ok and result.records == 3 and result.unanchored == 0


def test_threads_share_one_chain(audit):
    def work(n: int) -> None:
        for i in range(25):
            audit.append("test.thread", f"t{n}", i=i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = audit.verify()
    assert result.ok and result.records == 100


def test_from_state_dir_keeps_the_three_files_apart(tmp_path):
    audit = AuditLog.from_state_dir(tmp_path)
    parents = {audit.db_path.parent, audit.anchor_path.parent, audit.key_path.parent}
    assert len(parents) == 3


def test_verify_on_a_missing_database_with_an_anchor_fails(audit):
    audit.append("hub.login", "alice")
    audit.close()
    audit.db_path.unlink()
    for suffix in ("-wal", "-shm"):
        audit.db_path.with_name(audit.db_path.name + suffix).unlink(missing_ok=True)
    result = AuditLog(audit.db_path, audit.anchor_path, audit.key_path).verify()
    assert not result.ok and "missing" in result.reason


def test_a_log_erased_entirely_is_detected_while_its_key_remains(audit):
    audit.append("hub.login", "alice")
    audit.close()
    for suffix in ("", "-wal", "-shm"):
        audit.db_path.with_name(audit.db_path.name + suffix).unlink(missing_ok=True)
    audit.anchor_path.unlink()
    fresh = AuditLog(audit.db_path, audit.anchor_path, audit.key_path)
    result = fresh.verify()
    assert not result.ok and "missing" in result.reason
    fresh.records()  # creates an empty database
    result = fresh.verify()
    assert not result.ok and result.first_bad_seq == 1 and "gone" in result.reason


def test_reading_a_fresh_log_before_any_append_leaves_it_verifiable(audit):
    assert audit.records() == [] and audit.tail() == []
    assert audit.verify().ok
