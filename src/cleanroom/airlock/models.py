"""The airlock's database: requests, file versions, check results, votes and comments.

One SQLite file of its own in the airlock's state directory (WAL). Rows are only added or
marked, never rewritten in a way that loses history: a changed file is a new ``FileVersion``,
a vote that no longer counts is marked ``superseded``. Every write transaction takes SQLite's
write lock first (``BEGIN IMMEDIATE``, see db.py), so two racing votes are decided one after
the other; a unique index allows one counting vote per reviewer and file version besides.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Request(Base):
    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    project: Mapped[str] = mapped_column(String(255), index=True)
    requester: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    justification: Mapped[str] = mapped_column(Text, default="")
    # How many times the request went to review; files added since carry round + 1.
    round: Mapped[int] = mapped_column(Integer, default=0)
    # The release policy's last answer.
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[list] = mapped_column(JSON, default=list)
    reviewers_required: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data_owner_approval: Mapped[list] = mapped_column(JSON, default=list)
    contributing_organisations: Mapped[list] = mapped_column(JSON, default=list)
    policy_revision: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    files: Mapped[list[FileVersion]] = relationship(
        back_populates="request", order_by="FileVersion.id", cascade="all, delete-orphan"
    )
    comments: Mapped[list[Comment]] = relationship(order_by="Comment.id")
    checks: Mapped[list[CheckRecord]] = relationship(order_by="CheckRecord.id")
    reviewed: Mapped[ReviewedText | None] = relationship(uselist=False)


class FileVersion(Base):
    """One version of one named file of a request. The current files are the newest version
    of each name that is not removed."""

    __tablename__ = "file_versions"
    __table_args__ = (UniqueConstraint("request_id", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    # The review round this version is (or was) reviewed in: request.round + 1 when added.
    round: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime)

    request: Mapped[Request] = relationship(back_populates="files")
    votes: Mapped[list[Vote]] = relationship(order_by="Vote.id")
    table: Mapped[TableSpecRecord | None] = relationship(
        lazy="selectin", uselist=False, cascade="all, delete-orphan"
    )

    @property
    def table_spec(self) -> dict | None:
        """The verified table's specification as uploaded with this version (None: the file
        was not made by ``cleanroom.sdc``)."""
        return self.table.spec if self.table is not None else None


class CheckRecord(Base):
    """One automatic check's result on a file version (or the request, file_id None)."""

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("file_versions.id"), nullable=True)
    check: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text, default="")
    round: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)

    details: Mapped[CheckDetails | None] = relationship(
        lazy="selectin", uselist=False, cascade="all, delete-orphan"
    )

    @property
    def findings(self) -> list[dict]:
        """What the check found, place by place (e.g. a table's failing cells)."""
        return list(self.details.findings) if self.details is not None else []

    @property
    def metrics(self) -> dict:
        """Numbers the check computed, and what it checked (e.g. a table's specification)."""
        return dict(self.details.metrics) if self.details is not None else {}


class CheckDetails(Base):
    """A check's findings and metrics (``check_result`` in the policy input's schema), when
    it has any. A table of its own: see migration 0003."""

    __tablename__ = "check_details"

    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"), primary_key=True)
    findings: Mapped[list] = mapped_column(JSON, default=list)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)


class TableSpecRecord(Base):
    """The specification a verified table was uploaded with (``cleanroom.tables.spec``), as
    the airlock checked it against the project's grants, and the grant it names."""

    __tablename__ = "table_specs"

    file_id: Mapped[int] = mapped_column(ForeignKey("file_versions.id"), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)
    grant_id: Mapped[int] = mapped_column(Integer)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        # One vote that counts per reviewer and file version: a second one is refused.
        Index(
            "one_counting_vote",
            "file_id",
            "reviewer",
            unique=True,
            sqlite_where=text("superseded = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("file_versions.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(255))
    decision: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    visible_to_requester: Mapped[bool] = mapped_column(Boolean, default=False)
    # The review policy's answer when the vote was cast.
    capacities: Mapped[list] = mapped_column(JSON, default=list)
    organisations: Mapped[list] = mapped_column(JSON, default=list)
    round: Mapped[int] = mapped_column(Integer)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(DateTime)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    by: Mapped[str] = mapped_column(String(255))
    file: Mapped[str | None] = mapped_column(String(255), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    visible_to_requester: Mapped[bool] = mapped_column(Boolean, default=True)
    at: Mapped[datetime] = mapped_column(DateTime)


class ReviewedText(Base):
    """The requester's text as reviewers last saw it: written when a review round ends
    (approved, rejected or returned), one row per request. Outside the clean room the
    requester is shown this, not what they wrote since (``visibility``)."""

    __tablename__ = "reviewed_text"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    # The review round that ended, and when: comments written up to then were in it.
    round: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    justification: Mapped[str] = mapped_column(Text)
    ended_at: Mapped[datetime] = mapped_column(DateTime)
