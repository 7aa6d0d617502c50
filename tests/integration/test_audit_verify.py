"""The audit log and ``cleanroom audit verify`` on a real log: decisions taken by a real OPA
and hub-like events, then tampering the way someone with the database file would (dropping the
append-only triggers first), and concurrent appends from several processes."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cleanroom.audit import GENESIS, AuditLog, record_hash
from cleanroom.policy import PolicyClient, ProjectFacts, UserFacts

pytestmark = pytest.mark.opa
# The fixtures opa_binary, policies_copy and opa_server.
CLEANROOM = Path(sys.executable).with_name("cleanroom")
NOW = "2025-06-01T12:00:00Z"


def paths(root: Path) -> tuple[Path, Path, Path]:
    return root / "db" / "audit.sqlite", root / "anchor" / "head.json", root / "secrets" / "key"


@pytest.fixture
def real_log(opa_server, tmp_path) -> AuditLog:
    """A log of 12 records: sign-ins, spawns, stops and real policy decisions."""
    audit = AuditLog(*paths(tmp_path / "log"))
    client = PolicyClient(opa_server.url, audit=audit)
    for name, roles in [("alice", ("researcher",)), ("bob", ()), ("carol", ("researcher",))]:
        audit.append("hub.login", name, authenticator="native")
        decision = client.access(UserFacts(name, None, roles), None, now=NOW)
        if decision.allowed:
            audit.append("spawn.start", name, server="", input_digest=decision.input_digest)
            audit.append("spawn.stop", name, server="")
    client.access(UserFacts("alice", "uni-a", ("researcher",)), ProjectFacts("p1", None), now=NOW)
    audit.append("hub.logout", "alice")
    client.close()
    assert len(audit.records()) == 12
    return audit


def tamper(audit: AuditLog, *statements: str) -> None:
    """Edit the database as an attacker with file access: drop the triggers, then change it."""
    audit.close()
    conn = sqlite3.connect(audit.db_path)
    conn.execute("DROP TRIGGER audit_records_no_update")
    conn.execute("DROP TRIGGER audit_records_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def cli_verify(audit: AuditLog) -> subprocess.CompletedProcess:
    assert CLEANROOM.exists(), f"{CLEANROOM} missing: pip install -e '.[test]'"
    return subprocess.run(
        [
            str(CLEANROOM),
            "audit",
            "verify",
            "--db",
            str(audit.db_path),
            "--anchor",
            str(audit.anchor_path),
            "--key",
            str(audit.key_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_fails_at(audit: AuditLog, seq: int, words: str) -> None:
    fresh = AuditLog(audit.db_path, audit.anchor_path, audit.key_path, create_key=False)
    result = fresh.verify()
    assert not result.ok
    assert result.first_bad_seq == seq, result
    assert words in result.reason, result
    done = cli_verify(audit)
    assert done.returncode == 1, done
    assert f"FAILED at record {seq}:" in done.stderr, done.stderr


def test_verify_passes_on_a_real_log_and_the_cli_says_so(real_log):
    result = real_log.verify()
    assert result.ok and result.records == 12 and result.first_bad_seq is None
    decisions = [r for r in real_log.records() if r.event == "policy.decision"]
    assert len(decisions) == 4 and all(r.details["policy_revision"] for r in decisions)
    done = cli_verify(real_log)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ") and "12 records" in done.stdout


def test_editing_a_record_is_detected_and_named(real_log):
    tamper(real_log, """UPDATE audit_records SET details = '{"allowed":true}' WHERE seq = 5""")
    assert_fails_at(real_log, 5, "altered")


def test_editing_the_actor_is_detected(real_log):
    tamper(real_log, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 1")
    assert_fails_at(real_log, 1, "altered")


def test_deleting_a_record_in_the_middle_is_detected_and_named(real_log):
    tamper(real_log, "DELETE FROM audit_records WHERE seq = 7")
    assert_fails_at(real_log, 7, "missing")


def test_deleting_the_last_records_is_detected_by_the_anchor(real_log):
    tamper(real_log, "DELETE FROM audit_records WHERE seq > 9")
    assert_fails_at(real_log, 10, "missing from the end")


def test_deleting_the_last_record_alone_is_detected(real_log):
    tamper(real_log, "DELETE FROM audit_records WHERE seq = 12")
    assert_fails_at(real_log, 12, "missing from the end")


def test_rewriting_the_database_with_a_recomputed_chain_is_detected_and_named(real_log):
    """Change record 4 and recompute every hash after it, as someone without the key can."""
    rows = [(r.seq, r.ts, r.event, r.actor) for r in real_log.records()]
    tamper(real_log)
    conn = sqlite3.connect(real_log.db_path)
    prev = GENESIS
    for seq, ts, event, actor in rows:
        details = conn.execute("SELECT details FROM audit_records WHERE seq = ?", (seq,))
        details = details.fetchone()[0]
        if seq == 4:
            details = '{"allowed":true,"area":"access","note":"rewritten"}'
        digest = record_hash(seq, ts, event, actor, details, prev)
        conn.execute(
            "UPDATE audit_records SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (details, prev, digest, seq),
        )
        prev = digest
    conn.commit()
    conn.close()
    assert_fails_at(real_log, 4, "rewritten")


def test_replacing_the_database_with_a_shorter_valid_log_is_detected(real_log, tmp_path):
    """A log copied earlier (every record validly signed) put back in place of the real one."""
    early = tmp_path / "early.sqlite"
    source, conn = sqlite3.connect(real_log.db_path), sqlite3.connect(early)
    source.backup(conn)
    source.close()
    conn.execute("DROP TRIGGER audit_records_no_delete")
    conn.execute("DELETE FROM audit_records WHERE seq > 6")
    conn.commit()
    conn.close()
    real_log.close()
    shutil.copy(early, real_log.db_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{real_log.db_path}{suffix}").unlink(missing_ok=True)
    assert_fails_at(real_log, 7, "missing from the end")


def test_a_forged_anchor_is_detected(real_log):
    text = real_log.anchor_path.read_text().replace('"seq":12', '"seq":11')
    real_log.anchor_path.write_text(text)
    result = AuditLog(real_log.db_path, real_log.anchor_path, real_log.key_path).verify()
    assert not result.ok and "not validly signed" in result.reason
    assert cli_verify(real_log).returncode == 1


def test_a_missing_anchor_is_detected(real_log):
    real_log.anchor_path.unlink()
    result = AuditLog(real_log.db_path, real_log.anchor_path, real_log.key_path).verify()
    assert not result.ok and "anchor" in result.reason and result.first_bad_seq == 1


def test_a_missing_key_fails_verification_and_is_never_recreated(real_log):
    real_log.key_path.unlink()
    audit = AuditLog(real_log.db_path, real_log.anchor_path, real_log.key_path)
    result = audit.verify()
    assert not result.ok and "key" in result.reason
    with pytest.raises(Exception, match="key"):
        audit.append("hub.login", "alice")
    assert not real_log.key_path.exists()


# -- concurrency -------------------------------------------------------------------------------


def _append_many(db: str, anchor: str, key: str, worker: int, count: int) -> None:
    audit = AuditLog(db, anchor, key)
    for i in range(count):
        audit.append("test.concurrent", f"worker-{worker}", worker=worker, i=i)
    audit.close()


def test_concurrent_appends_from_several_processes_keep_one_chain(tmp_path):
    db, anchor, key = (str(p) for p in paths(tmp_path))
    AuditLog(db, anchor, key).append("test.start", None)  # creates the key once
    workers, per_worker = 6, 60
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append_many, args=(db, anchor, key, w, per_worker))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0

    audit = AuditLog(db, anchor, key)
    result = audit.verify()
    assert result.ok, result
    assert result.records == 1 + workers * per_worker and result.unanchored == 0
    records = audit.records()
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    for w in range(workers):
        mine = [r.details["i"] for r in records if r.actor == f"worker-{w}"]
        assert mine == list(range(per_worker))  # each writer's records in its own order
