"""One time convention: aware UTC in Python, RFC 3339 with ``Z`` on the wire.

    now()                      # datetime.now(UTC), aware
    rfc3339(moment)            # "2025-06-01T12:00:00.000000Z" (always six fraction digits)
    rfc3339(moment, timespec="auto")   # "2025-06-01T12:00:00Z" (fraction only when non-zero)

Naive database columns: SQLite (and the hub's own database) store datetimes without a zone.
Every naive datetime this package writes or reads is UTC; :func:`rfc3339` reads a naive
value as UTC, and code that compares a naive column with :func:`now` drops the zone of the
aware value (``now().replace(tzinfo=None)``), never converts the naive one to local time.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime | None = None, *, timespec: str = "microseconds") -> str:
    """``moment`` (now when None) in UTC as RFC 3339 with ``Z``. A naive ``moment`` is UTC.
    ``timespec`` as for :meth:`datetime.isoformat`: ``"microseconds"`` always writes six
    fraction digits, ``"auto"`` writes them only when they are not all zero."""
    if moment is None:
        moment = now()
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec=timespec) + "Z"
