"""The display channel's ledger (cleanroom.edge.display) over a real SQLite file in tmp_path.

- the count is written before the bytes go and survives a restart of the filter;
- ``spend_reserved`` only ever spends what is already reserved;
- the quota closes the channel; crossing the threshold and reaching the quota are audited
  once per researcher per day, in the step that commits the count;
- a failing audit log or a locked database closes the channel instead of opening it;
- a new UTC day starts from zero; researchers are counted apart.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from cleanroom.edge import display
from cleanroom.edge.display import (
    RESERVE_BYTES,
    DisplayLedger,
    LedgerUnavailable,
    QuotaReached,
    day_counts,
    ledger_path,
)

DAY = "2026-03-01"
NEXT_DAY = "2026-03-02"
BIG = 10**12


class Audit:
    """The audit callback: records what it is asked to write, or fails when told to."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict]] = []
        self.failing = False

    def __call__(self, event: str, actor: str, **details: object) -> None:
        if self.failing:
            raise OSError("audit log: no space left on device")
        self.records.append((event, actor, details))

    def events(self, event: str) -> list[tuple[str, dict]]:
        return [(actor, details) for name, actor, details in self.records if name == event]


class Clock:
    def __init__(self, day: str = DAY) -> None:
        self.day = day

    def __call__(self) -> str:
        return self.day


@pytest.fixture
def path(tmp_path) -> Path:
    return ledger_path(tmp_path / "state")


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ledger(path: Path, audit: Audit, clock: Clock, *, quota=BIG, threshold=BIG) -> DisplayLedger:
    return DisplayLedger(path, quota=quota, audit_threshold=threshold, audit=audit, clock=clock)


def stored(path: Path, user: str, day: str = DAY) -> int | None:
    """The count in the database itself (None: no row)."""
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT bytes FROM display_bytes WHERE day = ? AND user = ?", (day, user)
        ).fetchone()
    finally:
        db.close()
    return None if row is None else row[0]


def test_the_ledger_lives_under_the_state_dir(tmp_path, audit, clock):
    path = ledger_path(tmp_path / "state")
    assert path == tmp_path / "state" / "edge" / "display.sqlite"
    ledger(path, audit, clock)
    assert path.is_file()
    assert (path.parent.stat().st_mode & 0o777) == 0o700


def test_spend_within_the_quota_is_written_and_survives_a_restart(path, audit, clock):
    first = ledger(path, audit, clock, quota=10 * RESERVE_BYTES)
    spent = 0
    for count in (1000, 5000, RESERVE_BYTES, 3 * RESERVE_BYTES + 7, 1):
        first.spend("alice", count)
        spent += count
        # Written before the bytes go: at least what was spent, at most one slice more.
        assert spent <= stored(path, "alice") <= spent + RESERVE_BYTES
    count_before_restart = stored(path, "alice")

    # A restart (a new filter process): the count is where it was, the unspent slice is lost
    # (counted as sent), and the count goes on from there.
    second = ledger(path, audit, clock, quota=10 * RESERVE_BYTES)
    assert stored(path, "alice") == count_before_restart
    assert [(c.day, c.user, c.bytes) for c in day_counts(path, BIG, BIG)] == [
        (DAY, "alice", count_before_restart)
    ]
    assert not second.spend_reserved("alice", 1)
    second.spend("alice", 10)
    assert count_before_restart + 10 <= stored(path, "alice")
    assert stored(path, "alice") <= count_before_restart + RESERVE_BYTES
    assert audit.records == []


def test_spend_reserved_is_true_only_when_the_reservation_covers_it(path, audit, clock):
    ledger_ = ledger(path, audit, clock)
    assert ledger_.spend_reserved("alice", 1) is False  # nothing reserved yet
    assert ledger_.spend_reserved("alice", 0) is True
    ledger_.spend("alice", 1000)
    assert stored(path, "alice") == RESERVE_BYTES
    left = RESERVE_BYTES - 1000
    assert ledger_.spend_reserved("alice", left + 1) is False  # one byte too many
    assert ledger_.spend_reserved("alice", left - 10) is True
    assert ledger_.spend_reserved("alice", 10) is True
    assert ledger_.spend_reserved("alice", 1) is False  # all spent
    assert ledger_.spend_reserved("bob", 1) is False  # alice's slice is hers
    # Without touching the database.
    assert stored(path, "alice") == RESERVE_BYTES
    assert stored(path, "bob") is None


def test_the_quota_closes_the_channel_and_is_audited_once(path, audit, clock):
    quota = 1_000_000
    ledger_ = ledger(path, audit, clock, quota=quota)
    ledger_.spend("alice", 900_000)
    for _ in range(3):
        with pytest.raises(QuotaReached):
            ledger_.spend("alice", 200_000)
    assert stored(path, "alice") == 900_000
    assert audit.events("display.quota_reached") == [
        ("alice", {"day": DAY, "bytes": 900_000, "quota": quota})
    ]
    # Once refused, the day's channel is closed: not even what would still fit goes, nor
    # in the next filter process (the count survives its restart).
    with pytest.raises(QuotaReached):
        ledger_.spend("alice", 100_000)
    assert not ledger_.spend_reserved("alice", 1)
    with pytest.raises(QuotaReached):
        ledger(path, audit, clock, quota=quota).spend("alice", 1)
    assert stored(path, "alice") == 900_000
    # Not audited again.
    assert len(audit.events("display.quota_reached")) == 1
    [count] = day_counts(path, threshold=BIG, quota=quota)
    assert count.quota_reached and count.bytes == 900_000
    # The next day starts open.
    clock.day = "2026-12-04"
    ledger_.spend("alice", 100_000)


def test_the_quota_can_be_used_to_the_byte_with_a_slice_reserved(path, audit, clock):
    # A slice is reserved and partly spent; what is left of it and the room left in the
    # quota together cover the next spend, so it goes.
    quota = RESERVE_BYTES + 100_000
    ledger_ = ledger(path, audit, clock, quota=quota)
    ledger_.spend("alice", 1000)  # reserves a whole slice
    ledger_.spend("alice", RESERVE_BYTES)  # 1000 more than the slice holds
    ledger_.spend("alice", quota - RESERVE_BYTES - 1000)  # the rest of the quota
    assert stored(path, "alice") == quota
    with pytest.raises(QuotaReached):
        ledger_.spend("alice", 1)
    assert len(audit.events("display.quota_reached")) == 1


def test_crossing_the_threshold_is_audited_once(path, audit, clock):
    threshold = 2 * RESERVE_BYTES + 1
    ledger_ = ledger(path, audit, clock, threshold=threshold)
    ledger_.spend("alice", RESERVE_BYTES)
    ledger_.spend("alice", RESERVE_BYTES)
    assert audit.records == []
    ledger_.spend("alice", 1)  # the next slice crosses it
    assert audit.events("display.threshold_crossed") == [
        ("alice", {"day": DAY, "bytes": 3 * RESERVE_BYTES, "threshold": threshold})
    ]
    for _ in range(5):
        ledger_.spend("alice", RESERVE_BYTES)
    ledger(path, audit, clock, threshold=threshold).spend("alice", RESERVE_BYTES)
    assert len(audit.records) == 1
    [count] = day_counts(path, threshold=threshold, quota=BIG)
    assert count.over_threshold and not count.quota_reached


def test_a_failing_audit_log_closes_the_channel_and_nothing_is_committed(path, audit, clock):
    ledger_ = ledger(path, audit, clock, threshold=1)
    audit.failing = True
    for _ in range(2):
        with pytest.raises(LedgerUnavailable, match="audit log"):
            ledger_.spend("alice", 1000)
    assert stored(path, "alice") is None
    assert day_counts(path, threshold=1, quota=BIG) == []
    assert ledger_.spend_reserved("alice", 1) is False  # nothing was reserved either
    # Once the audit log works again, the crossing is written and the count with it.
    audit.failing = False
    ledger_.spend("alice", 1000)
    assert stored(path, "alice") == RESERVE_BYTES
    assert [event for event, _, _ in audit.records] == ["display.threshold_crossed"]


def test_a_failing_audit_log_at_the_quota_closes_the_channel_and_is_retried(path, audit, clock):
    ledger_ = ledger(path, audit, clock, quota=500_000)
    ledger_.spend("alice", 500_000)
    audit.failing = True
    with pytest.raises(LedgerUnavailable, match="audit log"):
        ledger_.spend("alice", 1)
    audit.failing = False
    # The refusal was not marked audited (rolled back), so the next one writes the record.
    with pytest.raises(QuotaReached):
        ledger_.spend("alice", 1)
    assert audit.events("display.quota_reached") == [
        ("alice", {"day": DAY, "bytes": 500_000, "quota": 500_000})
    ]


def test_a_locked_database_closes_the_channel_until_it_is_released(path, audit, clock, monkeypatch):
    monkeypatch.setattr(display, "BUSY_TIMEOUT_S", 0.05)
    ledger_ = ledger(path, audit, clock)
    ledger_.spend("alice", 1000)
    before = stored(path, "alice")

    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(LedgerUnavailable, match="locked"):
            ledger_.spend("alice", RESERVE_BYTES)  # more than is reserved
        assert time.monotonic() - started < 5
        with pytest.raises(LedgerUnavailable):
            ledger_.spend("bob", 1)
        # What is already reserved may still be spent: it is counted.
        assert ledger_.spend_reserved("alice", 10) is True
        other.execute("ROLLBACK")
    finally:
        other.close()

    assert stored(path, "alice") == before
    ledger_.spend("alice", RESERVE_BYTES)
    ledger_.spend("bob", 1)
    assert stored(path, "alice") == before + RESERVE_BYTES
    assert stored(path, "bob") == RESERVE_BYTES


def test_a_new_day_starts_from_zero(path, audit, clock):
    ledger_ = ledger(path, audit, clock, quota=RESERVE_BYTES, threshold=RESERVE_BYTES)
    ledger_.spend("alice", 1000)
    with pytest.raises(QuotaReached):
        ledger_.spend("alice", RESERVE_BYTES)
    clock.day = NEXT_DAY
    # Yesterday's slice is not today's.
    assert ledger_.spend_reserved("alice", 1) is False
    ledger_.spend("alice", RESERVE_BYTES)
    assert stored(path, "alice", NEXT_DAY) == RESERVE_BYTES
    assert stored(path, "alice", DAY) == RESERVE_BYTES
    # Each day audits for itself.
    assert [(event, details["day"]) for event, _, details in audit.records] == [
        ("display.threshold_crossed", DAY),
        ("display.quota_reached", DAY),
        ("display.threshold_crossed", NEXT_DAY),
    ]
    assert [(c.day, c.bytes) for c in day_counts(path, BIG, BIG)] == [
        (NEXT_DAY, RESERVE_BYTES),
        (DAY, RESERVE_BYTES),
    ]


def test_two_researchers_are_counted_apart(path, audit, clock):
    ledger_ = ledger(path, audit, clock, quota=2 * RESERVE_BYTES, threshold=RESERVE_BYTES)
    ledger_.spend("alice", 2 * RESERVE_BYTES)
    with pytest.raises(QuotaReached):
        ledger_.spend("alice", 1)
    ledger_.spend("bob", 10)
    assert stored(path, "alice") == 2 * RESERVE_BYTES
    assert stored(path, "bob") == RESERVE_BYTES
    assert [(event, actor) for event, actor, _ in audit.records] == [
        ("display.threshold_crossed", "alice"),
        ("display.quota_reached", "alice"),
        ("display.threshold_crossed", "bob"),
    ]
    assert ledger_.spend_reserved("bob", RESERVE_BYTES - 10) is True
    assert ledger_.spend_reserved("alice", 1) is False


def test_day_counts_reads_the_most_recent_days_newest_first(path, audit, clock):
    assert day_counts(path, threshold=1, quota=1) == []  # no ledger yet
    ledger_ = ledger(path, audit, clock)
    for day in ("2026-02-27", "2026-02-28", DAY):
        clock.day = day
        ledger_.spend("alice", 1)
        ledger_.spend("bob", 2 * RESERVE_BYTES)
    counts = day_counts(path, threshold=RESERVE_BYTES + 1, quota=2 * RESERVE_BYTES, days=2)
    assert [(c.day, c.user, c.bytes, c.over_threshold, c.quota_reached) for c in counts] == [
        (DAY, "bob", 2 * RESERVE_BYTES, True, True),
        (DAY, "alice", RESERVE_BYTES, False, False),
        ("2026-02-28", "bob", 2 * RESERVE_BYTES, True, True),
        ("2026-02-28", "alice", RESERVE_BYTES, False, False),
    ]
