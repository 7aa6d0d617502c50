"""What the catalog service returns: frozen, plain values (no database session behind them),
and the grant spec handed to the materialiser."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cleanroom.catalog.enums import GrantState
from cleanroom.core.jsoncanon import canonical_json

if TYPE_CHECKING:
    from ..policy import GrantFacts, ProjectFacts


def version_label(version: int) -> str:
    """How a version is named outside the catalog (policy input, views): ``v1``, ``v2``..."""
    return f"v{version}"


@dataclass(frozen=True)
class OrganisationInfo:
    id: str
    name: str
    kind: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class UserInfo:
    name: str
    organisation: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class VersionInfo:
    """One immutable dataset version. ``schema`` is column -> DuckDB type, in file order;
    ``contributors`` maps each contributor value to its organisation id, and
    ``contributor_rows`` counts the rows of each value."""

    dataset: str
    version: int
    source_path: str
    format: str
    schema: dict[str, str] = field(hash=False)
    row_count: int
    size_bytes: int
    content_sha256: str
    contributor_column: str
    contributors: dict[str, str] = field(hash=False)
    contributor_rows: dict[str, int] = field(hash=False)
    created_at: datetime
    created_by: str

    @property
    def label(self) -> str:
        return version_label(self.version)

    @property
    def organisations(self) -> tuple[str, ...]:
        """The organisations whose rows this version holds, sorted."""
        return tuple(sorted(set(self.contributors.values())))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    contributor_column: str
    description: str
    created_at: datetime
    created_by: str
    versions: tuple[VersionInfo, ...]

    @property
    def latest(self) -> VersionInfo:
        return self.versions[-1]


@dataclass(frozen=True)
class ProjectInfo:
    """A project. ``role`` is set by :meth:`CatalogService.projects_of`: the user's role."""

    name: str
    description: str
    created_at: datetime
    created_by: str
    role: str | None = None

    def to_facts(self) -> ProjectFacts:
        from ..policy import ProjectFacts

        return ProjectFacts(id=self.name, role=self.role, name=self.name)


@dataclass(frozen=True)
class MemberInfo:
    project: str
    user: str
    role: str
    organisation: str
    added_at: datetime
    added_by: str


@dataclass(frozen=True)
class GrantInfo:
    """A grant as the catalog holds it. ``columns`` None means all columns, ``row_filter``
    None all rows, ``expires_at`` None never. ``expired`` is as of the time the grant was
    read (the ``now`` of the query)."""

    id: int
    project: str
    dataset: str
    version: int
    columns: tuple[str, ...] | None
    row_filter: str | None
    expires_at: datetime | None
    granted_at: datetime
    granted_by: str
    reason: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    materialisation_key: str | None
    materialisation_status: str
    materialisation_error: str | None
    expired: bool
    # The organisations whose rows went into the grant's data (after the row filter);
    # None: not known, so every organisation of the version counts.
    organisations: tuple[str, ...] | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def active(self) -> bool:
        return not self.revoked and not self.expired

    @property
    def state(self) -> GrantState:
        """Revoked wins over expired: a revoked grant stays revoked whatever its date."""
        if self.revoked:
            return GrantState.REVOKED
        if self.expired:
            return GrantState.EXPIRED
        return GrantState.ACTIVE

    @property
    def version_label(self) -> str:
        return version_label(self.version)

    def to_facts(self) -> GrantFacts:
        """The grant as the access policy's input (cleanroom.policy.GrantFacts)."""
        from ..policy import GrantFacts

        return GrantFacts(
            id=str(self.id),
            project=self.project,
            dataset=self.dataset,
            version=self.version_label,
            expires_at=self.expires_at,
            revoked=self.revoked,
            columns=list(self.columns) if self.columns is not None else None,
            row_filter=self.row_filter,
        )


@dataclass(frozen=True)
class GrantSpec:
    """What a materialiser needs to build a grant's data: the version's source (verify its
    SHA-256 before reading), the granted columns (resolved: every column when the grant has
    no allow-list) and the checked row filter. The grant's id is not part of it: the data is
    a function of the version and the definition (see :meth:`definition_sha256`), so equal
    grants share one materialisation."""

    project: str
    dataset: str
    version: int
    source_path: str
    format: str
    content_sha256: str
    schema: dict[str, str] = field(hash=False)
    contributor_column: str
    columns: tuple[str, ...]
    all_columns: bool
    row_filter: str | None

    def definition_sha256(self) -> str:
        """SHA-256 of the version's content hash, the granted columns and the row filter."""
        body = canonical_json(
            [self.content_sha256, self.format, list(self.columns), self.row_filter]
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Materialised:
    """What a materialiser may return instead of the bare key: the key, and the distinct
    contributor values of the rows that went into the researcher's copy (after the row
    filter; None: not known). The catalog maps the values to organisations."""

    key: str
    contributors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MountInfo:
    """The grants mounted for one start of ``user``'s server in ``project``."""

    id: int
    user: str
    project: str
    grant_ids: tuple[int, ...]
    started_at: datetime
