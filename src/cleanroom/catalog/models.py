"""The catalog's tables (SQLAlchemy 2, typed declarative). The data model is the design's
("Data model and roles"); the migrations in ``migrations/versions/`` create exactly these
tables, and a test compares the two.

- ``organisations``: depositing companies and every other body a person works for.
- ``users``: a JupyterHub user name and the one organisation the user belongs to (global
  roles stay JupyterHub's groups).
- ``datasets``: a name, the contributor column, a description; ``dataset_versions``: immutable
  versions 1, 2, ... (source file, format, schema, row count, SHA-256 of the source);
  ``contributors``: per version, each contributor value and the organisation it belongs to.
- ``projects``; ``members``: a user's project role (researcher or reviewer), one per project.
- ``grants``: a project may use a dataset version, optionally restricted to columns and a
  checked row filter, until an expiry; who granted it, when, why; revocation; and the
  materialisation key and status that the materialiser fills, and the organisations whose
  rows went into the materialised data (after the row filter; NULL: not known).
- ``mounts``: which grants the spawner mounted for a user's server in a project, and when;
  the airlock asks only the data owners of what a requester's servers had mounted.

Nothing here validates: :mod:`cleanroom.catalog.service` is the one write path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from cleanroom.catalog.enums import MaterialisationState, OrganisationKind, ProjectRole

ORGANISATION_KINDS = tuple(OrganisationKind)
FORMATS = ("parquet", "csv")
PROJECT_ROLES = tuple(ProjectRole)
MATERIALISATION_STATES = tuple(MaterialisationState)

NAME_LENGTH = 63
USER_LENGTH = 255
VALUE_LENGTH = 255

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always timezone-aware UTC in Python. SQLite keeps naive UTC text;
    PostgreSQL a ``timestamptz``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("catalog times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint(_in("kind", ORGANISATION_KINDS), name="kind"),)

    id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))


class User(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(USER_LENGTH), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(USER_LENGTH))

    organisation: Mapped[Organisation] = relationship()


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    contributor_column: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version"
    )


class DatasetVersion(Base):
    """One immutable version of a dataset: never updated once written."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
        CheckConstraint(_in("format", FORMATS), name="format"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    version: Mapped[int] = mapped_column(Integer)
    source_path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    # The schema, in column order: [[name, DuckDB type], ...].
    column_types: Mapped[list[list[str]]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    contributors: Mapped[list[Contributor]] = relationship(order_by="Contributor.value")


class Contributor(Base):
    """A contributor value of one version (a company or a plant) and its organisation."""

    __tablename__ = "contributors"

    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
    value: Mapped[str] = mapped_column(String(VALUE_LENGTH), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    row_count: Mapped[int] = mapped_column(BigInteger)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (CheckConstraint(_in("role", PROJECT_ROLES), name="role"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(USER_LENGTH))

    project: Mapped[Project] = relationship()


class Grant(Base):
    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint(
            _in("materialisation_status", MATERIALISATION_STATES), name="materialisation_status"
        ),
        Index("ix_grants_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    # The granted columns in the version's column order; NULL means all columns.
    columns: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # The row filter as the checker normalised it; NULL means all rows.
    row_filter: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(USER_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(USER_LENGTH), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    materialisation_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    materialisation_status: Mapped[str] = mapped_column(
        String(16), default=MaterialisationState.PENDING.value
    )
    materialisation_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The organisations whose rows are in the materialised data (after the row filter),
    # sorted; NULL: not known (e.g. made before they were recorded): every organisation of
    # the version counts.
    organisations: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)

    project: Mapped[Project] = relationship()
    version: Mapped[DatasetVersion] = relationship()


class Mount(Base):
    """The grants mounted for one start of a user's server in a project (written by the
    spawner before the server starts; never updated)."""

    __tablename__ = "mounts"
    __table_args__ = (Index("ix_mounts_user_project", "user_name", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(USER_LENGTH))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    # The ids of the grants mounted, sorted.
    grant_ids: Mapped[list[int]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())


TABLES = tuple(Base.metadata.sorted_tables)
