"""The catalog's one write path, and the queries the spawner and the admin pages need.

    sessions = cleanroom.catalog.db.session_factory(url)      # creates/migrates the tables
    catalog = CatalogService(sessions, AuditLog.from_state_dir(state_dir),
                             materialiser=None)                # part B's, injected by the caller

Every write method validates its arguments against the catalog and either commits its change
and appends one audit record (``catalog.*``), or raises a :class:`CatalogError` subclass
whose message says what to do, having written nothing to either. Each write is one database
transaction; the audit record is appended before the commit, so a change that is in the
catalog is in the audit log.

The argument checks are in :mod:`cleanroom.catalog.validate`, rows -> records in
:mod:`cleanroom.catalog.convert`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ...core.times import now as utc_now
from ...errors import CleanRoomError
from .. import convert, validate
from .. import models as m
from ..enums import MaterialisationState
from ..errors import (
    AlreadyExists,
    CatalogError,
    CatalogUnavailable,
    GrantStateError,
    InvalidRowFilter,
    InvalidValue,
    MaterialisationFailed,
    NotAMember,
    UnknownColumn,
    UnknownDataset,
    UnknownGrant,
    UnknownOrganisation,
    UnknownProject,
    UnknownUser,
    UnknownVersion,
    UnmappedContributors,
)
from ..records import (
    DatasetInfo,
    GrantInfo,
    GrantSpec,
    MemberInfo,
    OrganisationInfo,
    ProjectInfo,
    UserInfo,
    VersionInfo,
    version_label,
)
from ..source import Progress, SourceSummary, inspect_source
from ..validate import MAX_TEXT, MAX_UNMAPPED_SHOWN, parse_version

if TYPE_CHECKING:
    from ...audit import AuditLog
    from ...policy import GrantFacts, ProjectFacts

log = logging.getLogger(__name__)

__all__ = ["MAX_TEXT", "MAX_UNMAPPED_SHOWN", "CatalogService", "Materialiser", "parse_version"]

Materialiser = Callable[[GrantSpec], str]


GRANT_LOAD = (
    selectinload(m.Grant.project),
    selectinload(m.Grant.version).selectinload(m.DatasetVersion.dataset),
)


@dataclass(frozen=True)
class _GrantPlan:
    project_id: int
    version_id: int
    columns: list[str] | None
    row_filter: str | None
    expires_at: datetime | None
    spec: GrantSpec


class CatalogService:
    """The catalog's service layer (see the module docstring).

    session_factory: a sessionmaker bound to an upgraded catalog (cleanroom.catalog.db).
    audit: the audit log every change is recorded in.
    materialiser: optional ``materialiser(spec: GrantSpec) -> key``, called when a grant is
        made, after every check and before anything is written; it builds (or finds cached)
        the grant's restricted data and returns its key (non-empty text, at most 255
        characters), stored on the grant with status ``ready``. If it raises, the grant is not
        made (MaterialisationFailed carries its message). Without one, grants are stored
        with status ``pending`` and no key (see :meth:`record_materialisation`).
    clock: returns the current time (timezone-aware); tests pass a fixed one.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        audit: AuditLog,
        *,
        materialiser: Materialiser | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.sessions = session_factory
        self.audit = audit
        self.materialiser = materialiser
        self.clock = clock

    @classmethod
    def open(cls, url: str, audit: AuditLog, **kwargs: Any) -> CatalogService:
        """Create or migrate the catalog at ``url`` and return a service over it."""
        from ..db import session_factory

        return cls(session_factory(url), audit, **kwargs)

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Session]:
        session = self.sessions()
        try:
            yield session
        except DBAPIError as error:
            session.rollback()
            if isinstance(error, IntegrityError):
                raise AlreadyExists(
                    "the catalog refused the change because it conflicts with another made "
                    f"at the same time ({str(error.orig).splitlines()[0]}): list what is there "
                    "and try again"
                ) from None
            raise CatalogUnavailable(
                f"the catalog database failed ({str(error.orig).splitlines()[0]}): check that "
                "it is running and reachable, then try again; nothing was changed"
            ) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _commit(self, session: Session, event: str, actor: str, **details: Any) -> None:
        """Flush, record in the audit log, commit: an audit failure writes nothing."""
        session.flush()
        self.audit.append(event, actor, **details)
        try:
            session.commit()
        except DBAPIError:
            try:
                self.audit.append("catalog.commit_failed", actor, failed_event=event, **details)
            except CleanRoomError:
                log.exception("cannot record the failed commit of %s", event)
            raise

    def _now(self) -> datetime:
        return validate.moment(self.clock(), "clock's time")

    # -- lookups (raise NotFound with what to do) ---------------------------------------------

    def _organisation(self, s: Session, org_id: str) -> m.Organisation:
        row = s.get(m.Organisation, org_id)
        if row is None:
            raise UnknownOrganisation(
                f"there is no organisation {org_id!r}: add it first "
                "(cleanroom org add), or see cleanroom org list"
            )
        return row

    def _user(self, s: Session, name: str) -> m.User:
        row = s.get(m.User, name)
        if row is None:
            raise UnknownUser(
                f"the catalog does not know user {name!r}: set their organisation first "
                f"(cleanroom user set-org {name} ORGANISATION)"
            )
        return row

    def _dataset(self, s: Session, name: str) -> m.Dataset:
        row = s.scalar(
            select(m.Dataset)
            .where(m.Dataset.name == name)
            .options(selectinload(m.Dataset.versions).selectinload(m.DatasetVersion.contributors))
        )
        if row is None:
            raise UnknownDataset(
                f"there is no dataset {name!r}: register it first (cleanroom dataset "
                "register), or see cleanroom dataset list"
            )
        return row

    def _version(self, s: Session, dataset: str, version: Any = None) -> m.DatasetVersion:
        row = self._dataset(s, dataset)
        if version is None:
            return row.versions[-1]
        number = validate.parse_version(version)
        for candidate in row.versions:
            if candidate.version == number:
                return candidate
        have = ", ".join(version_label(v.version) for v in row.versions)
        raise UnknownVersion(
            f"dataset {dataset!r} has no version {version_label(number)}; it has {have}"
        )

    def _project(self, s: Session, name: str) -> m.Project:
        row = s.scalar(select(m.Project).where(m.Project.name == name))
        if row is None:
            raise UnknownProject(
                f"there is no project {name!r}: create it first (cleanroom project create), "
                "or see cleanroom project list"
            )
        return row

    def _grant(self, s: Session, grant_id: Any) -> m.Grant:
        try:
            number = int(grant_id)
        except (TypeError, ValueError):
            number = 0
        if isinstance(grant_id, bool) or number < 1:
            raise InvalidValue(f"{grant_id!r} is not a grant id: give its number")
        row = s.scalar(select(m.Grant).where(m.Grant.id == number).options(*GRANT_LOAD))
        if row is None:
            raise UnknownGrant(f"there is no grant {number}: see cleanroom grant list")
        return row

    # -- organisations and users --------------------------------------------------------------

    def add_organisation(
        self, org_id: str, name: str, kind: str = "depositor", *, actor: str
    ) -> OrganisationInfo:
        """Add an organisation: ``kind`` is depositor (its data is deposited) or other."""
        org_id = validate.slug(org_id, "organisation id")
        name = validate.text(name, "organisation's name", required=True)
        actor = validate.actor(actor)
        if kind not in m.ORGANISATION_KINDS:
            raise InvalidValue(
                f"{kind!r} is not a kind of organisation: use {' or '.join(m.ORGANISATION_KINDS)}"
            )
        with self._session() as s:
            if s.get(m.Organisation, org_id) is not None:
                raise AlreadyExists(f"organisation {org_id!r} exists already: pick another id")
            if s.scalar(select(m.Organisation).where(m.Organisation.name == name)):
                raise AlreadyExists(f"an organisation is already named {name!r}: pick another name")
            row = m.Organisation(
                id=org_id, name=name, kind=kind, created_at=self._now(), created_by=actor
            )
            s.add(row)
            self._commit(
                s, "catalog.organisation.add", actor, organisation=org_id, name=name, kind=kind
            )
            return convert.organisation_info(row)

    def list_organisations(self) -> list[OrganisationInfo]:
        with self._session() as s:
            rows = s.scalars(select(m.Organisation).order_by(m.Organisation.id))
            return [convert.organisation_info(r) for r in rows]

    def set_user_organisation(self, user: str, organisation: str, *, actor: str) -> UserInfo:
        """Say which organisation a JupyterHub user belongs to (adds the user if new)."""
        user = validate.user_name(user)
        organisation = validate.slug(organisation, "organisation id")
        actor = validate.actor(actor)
        with self._session() as s:
            self._organisation(s, organisation)
            row = s.get(m.User, user)
            previous = row.organisation_id if row is not None else None
            if previous == organisation:
                raise AlreadyExists(f"{user} already belongs to {organisation}: nothing to do")
            if row is None:
                row = m.User(name=user)
                s.add(row)
            row.organisation_id = organisation
            row.updated_at = self._now()
            row.updated_by = actor
            self._commit(
                s,
                "catalog.user.set_organisation",
                actor,
                user=user,
                organisation=organisation,
                previous=previous,
            )
            return convert.user_info(row)

    def list_users(self) -> list[UserInfo]:
        with self._session() as s:
            return [convert.user_info(r) for r in s.scalars(select(m.User).order_by(m.User.name))]

    def user_organisation(self, user: str) -> str | None:
        """The user's organisation id (None: the catalog does not know the user)."""
        with self._session() as s:
            row = s.get(m.User, user)
            return row.organisation_id if row is not None else None

    # -- datasets --------------------------------------------------------------------------------

    def _map_contributors(
        self,
        s: Session,
        summary: SourceSummary,
        mapping: Mapping[str, str],
        values_are_organisations: bool,
    ) -> dict[str, str]:
        """value -> organisation id for every contributor value in the source."""
        resolved: dict[str, str] = {}
        unmapped: list[str] = []
        for value in summary.contributor_rows:
            if value in mapping:
                resolved[value] = mapping[value]
            elif values_are_organisations:
                resolved[value] = value
            else:
                unmapped.append(value)
        if unmapped:
            raise UnmappedContributors(
                f"{len(unmapped)} contributor value(s) have no organisation: "
                f"{validate.sample(unmapped)}."
                " Map each to an organisation id (--map VALUE=ORG, or a mapping file), or add "
                "organisations with these ids and say the values are organisation ids",
                unmapped,
            )
        known = set(s.scalars(select(m.Organisation.id)))
        unknown = sorted({org for org in resolved.values() if org not in known})
        if unknown:
            raise UnknownOrganisation(
                f"the contributor values map to organisation(s) the catalog does not have: "
                f"{validate.sample(unknown)}. Add them first (cleanroom org add), or fix the "
                "mapping"
            )
        return resolved

    def _add_version_row(
        self,
        s: Session,
        dataset: m.Dataset,
        number: int,
        summary: SourceSummary,
        resolved: dict[str, str],
        actor: str,
    ) -> m.DatasetVersion:
        row = m.DatasetVersion(
            dataset=dataset,
            version=number,
            source_path=summary.path,
            format=summary.format,
            column_types=[[name, type_] for name, type_ in summary.schema.items()],
            row_count=summary.row_count,
            size_bytes=summary.size_bytes,
            content_sha256=summary.sha256,
            created_at=self._now(),
            created_by=actor,
        )
        s.add(row)
        for value, org in resolved.items():
            row.contributors.append(
                m.Contributor(
                    value=value, organisation_id=org, row_count=summary.contributor_rows[value]
                )
            )
        return row

    @staticmethod
    def _version_details(row: m.DatasetVersion, resolved: dict[str, str]) -> dict[str, Any]:
        return {
            "version": row.version,
            "source": row.source_path,
            "format": row.format,
            "sha256": row.content_sha256,
            "rows": row.row_count,
            "columns": len(row.column_types),
            "organisations": sorted(set(resolved.values())),
        }

    def check_source(
        self,
        source: str | Path,
        *,
        contributor_column: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[SourceSummary, dict[str, str]]:
        """The checks :meth:`register_dataset` makes of a file, without registering it (the
        admin pages' uploads run them before a file enters the import directory): the file
        reads as ``format``, has ``contributor_column``, and every contributor value maps to
        an organisation of the catalog. Returns the summary and value -> organisation id;
        raises what registering would raise, having written nothing."""
        if not isinstance(contributor_column, str) or not contributor_column:
            raise InvalidValue("name the contributor column (which company or plant a row is from)")
        mapping = validate.contributor_mapping(mapping)
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            resolved = self._map_contributors(s, summary, mapping, values_are_organisations)
        return summary, resolved

    def register_dataset(
        self,
        name: str,
        source: str | Path,
        *,
        contributor_column: str,
        actor: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        description: str = "",
        progress: Progress | None = None,
    ) -> VersionInfo:
        """Register a new dataset and its version 1 from a Parquet or CSV file.

        The file is hashed and read once (``progress(fraction, message)`` is called as that
        goes). ``contributor_column`` must be one of its columns; every value in it must map
        to a known organisation through ``mapping`` (value -> organisation id) or, with
        ``values_are_organisations``, by being an organisation id itself."""
        name = validate.dataset_name(name)
        actor = validate.actor(actor)
        description = validate.text(description, "description", required=False)
        if not isinstance(contributor_column, str) or not contributor_column:
            raise InvalidValue("name the contributor column (which company or plant a row is from)")
        mapping = validate.contributor_mapping(mapping)
        with self._session() as s:
            if s.scalar(select(m.Dataset.id).where(m.Dataset.name == name)) is not None:
                raise AlreadyExists(
                    f"dataset {name!r} exists already: add a version to it (cleanroom dataset "
                    "version), or pick another name"
                )
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            if s.scalar(select(m.Dataset.id).where(m.Dataset.name == name)) is not None:
                raise AlreadyExists(f"dataset {name!r} was registered meanwhile: pick another name")
            resolved = self._map_contributors(s, summary, mapping, values_are_organisations)
            dataset = m.Dataset(
                name=name,
                contributor_column=contributor_column,
                description=description,
                created_at=self._now(),
                created_by=actor,
            )
            s.add(dataset)
            row = self._add_version_row(s, dataset, 1, summary, resolved, actor)
            self._commit(
                s,
                "catalog.dataset.register",
                actor,
                dataset=name,
                contributor_column=contributor_column,
                **self._version_details(row, resolved),
            )
            return convert.version_info(row, dataset)

    def add_version(
        self,
        dataset: str,
        source: str | Path,
        *,
        actor: str,
        mapping: Mapping[str, str] | None = None,
        values_are_organisations: bool = False,
        format: str | None = None,
        progress: Progress | None = None,
    ) -> VersionInfo:
        """Add the next version of ``dataset`` from a file. Contributor values keep the
        previous version's organisations unless ``mapping`` says otherwise; new values must
        be mapped. A file identical to the latest version is refused."""
        dataset = validate.dataset_name(dataset)
        actor = validate.actor(actor)
        mapping = validate.contributor_mapping(mapping)
        with self._session() as s:
            row = self._dataset(s, dataset)
            contributor_column = row.contributor_column
        summary = inspect_source(
            source, contributor_column=contributor_column, format=format, progress=progress
        )
        with self._session() as s:
            row = self._dataset(s, dataset)
            latest = row.versions[-1]
            if latest.content_sha256 == summary.sha256:
                raise AlreadyExists(
                    f"{summary.path} is identical to {dataset} {version_label(latest.version)} "
                    "(same SHA-256): there is nothing new to add"
                )
            inherited = {c.value: c.organisation_id for c in latest.contributors}
            resolved = self._map_contributors(
                s, summary, {**inherited, **mapping}, values_are_organisations
            )
            version = self._add_version_row(s, row, latest.version + 1, summary, resolved, actor)
            self._commit(
                s,
                "catalog.dataset.version",
                actor,
                dataset=dataset,
                **self._version_details(version, resolved),
            )
            return convert.version_info(version, row)

    def list_datasets(self) -> list[DatasetInfo]:
        with self._session() as s:
            rows = s.scalars(
                select(m.Dataset)
                .order_by(m.Dataset.name)
                .options(
                    selectinload(m.Dataset.versions).selectinload(m.DatasetVersion.contributors)
                )
            )
            return [convert.dataset_info(r) for r in rows]

    def get_dataset(self, name: str) -> DatasetInfo:
        with self._session() as s:
            return convert.dataset_info(self._dataset(s, name))

    def get_version(self, dataset: str, version: int | str | None = None) -> VersionInfo:
        """One version of a dataset (None: the latest)."""
        with self._session() as s:
            row = self._version(s, dataset, version)
            return convert.version_info(row, row.dataset)

    # -- projects and members --------------------------------------------------------------------

    def create_project(self, name: str, *, actor: str, description: str = "") -> ProjectInfo:
        name = validate.slug(name, "project name")
        actor = validate.actor(actor)
        description = validate.text(description, "description", required=False)
        with self._session() as s:
            if s.scalar(select(m.Project.id).where(m.Project.name == name)) is not None:
                raise AlreadyExists(f"project {name!r} exists already: pick another name")
            row = m.Project(
                name=name, description=description, created_at=self._now(), created_by=actor
            )
            s.add(row)
            self._commit(s, "catalog.project.create", actor, project=name)
            return convert.project_info(row)

    def list_projects(self) -> list[ProjectInfo]:
        with self._session() as s:
            rows = s.scalars(select(m.Project).order_by(m.Project.name))
            return [convert.project_info(r) for r in rows]

    def add_member(self, project: str, user: str, role: str, *, actor: str) -> MemberInfo:
        """Make ``user`` (whose organisation the catalog knows) a researcher or reviewer of
        ``project``. A user has one role per project."""
        project = validate.slug(project, "project name")
        user = validate.user_name(user)
        actor = validate.actor(actor)
        if role not in m.PROJECT_ROLES:
            raise InvalidValue(
                f"{role!r} is not a project role: use {' or '.join(m.PROJECT_ROLES)}"
            )
        with self._session() as s:
            p = self._project(s, project)
            u = self._user(s, user)
            existing = s.get(m.Member, (p.id, user))
            if existing is not None:
                raise AlreadyExists(
                    f"{user} is already a {existing.role} of {project}: to change the role, "
                    "remove them and add them again"
                )
            row = m.Member(
                project=p, user_name=user, role=role, added_at=self._now(), added_by=actor
            )
            s.add(row)
            self._commit(s, "catalog.member.add", actor, project=project, user=user, role=role)
            return convert.member_info(row, u.organisation_id)

    def remove_member(self, project: str, user: str, *, actor: str) -> None:
        project = validate.slug(project, "project name")
        user = validate.user_name(user)
        actor = validate.actor(actor)
        with self._session() as s:
            p = self._project(s, project)
            row = s.get(m.Member, (p.id, user))
            if row is None:
                raise NotAMember(
                    f"{user} is not a member of {project}: see cleanroom member list {project}"
                )
            role = row.role
            s.delete(row)
            self._commit(s, "catalog.member.remove", actor, project=project, user=user, role=role)

    def list_members(self, project: str | None = None) -> list[MemberInfo]:
        """Members of ``project`` (None: of every project), by project then user."""
        with self._session() as s:
            query = (
                select(m.Member, m.User.organisation_id)
                .join(m.Project, m.Member.project_id == m.Project.id)
                .join(m.User, m.Member.user_name == m.User.name)
                .order_by(m.Project.name, m.Member.user_name)
                .options(selectinload(m.Member.project))
            )
            if project is not None:
                query = query.where(m.Member.project_id == self._project(s, project).id)
            return [convert.member_info(row, org) for row, org in s.execute(query)]

    # -- grants ----------------------------------------------------------------------------------

    def _check_columns(
        self, version: m.DatasetVersion, columns: Sequence[str] | None
    ) -> list[str] | None:
        if columns is None:
            return None
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidValue("give the granted columns as a list of column names")
        schema = [name for name, _type in version.column_types]
        if not columns:
            raise InvalidValue(
                "the column allow-list is empty: name at least one column, or grant all columns"
            )
        unknown = [c for c in dict.fromkeys(columns) if c not in schema]
        if unknown:
            noun = "column" if len(unknown) == 1 else "columns"
            raise UnknownColumn(
                f"{version.dataset.name} {version_label(version.version)} has no {noun} "
                f"{', '.join(map(repr, unknown))}; its columns are: {', '.join(schema)}"
            )
        wanted = set(columns)
        return [c for c in schema if c in wanted]

    def _check_row_filter(self, version: m.DatasetVersion, row_filter: str | None) -> str | None:
        if row_filter is None or (isinstance(row_filter, str) and not row_filter.strip()):
            return None
        if not isinstance(row_filter, str):
            raise InvalidValue("the row filter must be text (an SQL condition)")
        try:
            from cleanroom.grants.rowfilter import check_row_filter
        except ImportError:
            raise InvalidRowFilter(
                "row filters cannot be checked on this installation (cleanroom.grants.rowfilter is "
                "missing), so none can be granted: grant without a row filter, or install "
                "the complete clean room"
            ) from None
        schema = {name: type_ for name, type_ in version.column_types}
        try:
            checked = check_row_filter(row_filter, schema)
        except CleanRoomError as error:  # cleanroom.grants.rowfilter.RowFilterError
            raise InvalidRowFilter(str(error)) from error
        if not isinstance(checked, str) or not checked.strip():
            raise InvalidRowFilter(f"the row filter {row_filter!r} was not accepted by the checker")
        return checked

    def _plan_grant(
        self,
        s: Session,
        project: str,
        dataset: str,
        version: Any,
        columns: Sequence[str] | None,
        row_filter: str | None,
        expires_at: datetime | None,
        now: datetime,
    ) -> _GrantPlan:
        p = self._project(s, project)
        v = self._version(s, dataset, version)
        checked_columns = self._check_columns(v, columns)
        checked_filter = self._check_row_filter(v, row_filter)
        if expires_at is not None:
            expires_at = validate.moment(expires_at, "expiry")
            if expires_at <= now:
                raise InvalidValue(
                    f"the expiry {validate.stamp(expires_at)} is not in the future: give a later "
                    "date, or none for no expiry"
                )
        others = s.scalars(
            select(m.Grant)
            .join(m.DatasetVersion, m.Grant.version_id == m.DatasetVersion.id)
            .where(
                m.Grant.project_id == p.id,
                m.DatasetVersion.dataset_id == v.dataset_id,
                m.Grant.revoked_at.is_(None),
            )
            .options(*GRANT_LOAD)
        )
        for other in others:
            if not convert.is_expired(other, now):
                raise AlreadyExists(
                    f"project {project} already has grant {other.id} of dataset {dataset} "
                    f"({convert.describe_grant(other)}), which is in force; a project has one "
                    f"grant per dataset: revoke it first (cleanroom grant revoke {other.id}), then "
                    "grant again"
                )
        return _GrantPlan(
            project_id=p.id,
            version_id=v.id,
            columns=checked_columns,
            row_filter=checked_filter,
            expires_at=expires_at,
            spec=convert.grant_spec(p, v, checked_columns, checked_filter),
        )

    def _materialise(self, spec: GrantSpec) -> tuple[str | None, str]:
        if self.materialiser is None:
            return None, MaterialisationState.PENDING
        try:
            key = self.materialiser(spec)
        except CleanRoomError as error:
            raise MaterialisationFailed(
                f"the grant was not made: materialising its data failed: {error}"
            ) from error
        except Exception as error:
            log.exception("materialising %s failed", spec)
            raise MaterialisationFailed(
                f"the grant was not made: materialising its data failed "
                f"({type(error).__name__}: {error}); fix the cause and grant again"
            ) from error
        if not isinstance(key, str) or not key or len(key) > 255:
            raise MaterialisationFailed(
                f"the grant was not made: the materialiser returned {key!r}, not a key"
            )
        return key, MaterialisationState.READY

    def grant(
        self,
        project: str,
        dataset: str,
        *,
        reason: str,
        actor: str,
        version: int | str | None = None,
        columns: Sequence[str] | None = None,
        row_filter: str | None = None,
        expires_at: datetime | None = None,
    ) -> GrantInfo:
        """Grant ``project`` a version of ``dataset`` (None: the latest), optionally only
        ``columns`` (None: all), only rows matching ``row_filter`` (checked by
        cleanroom.grants.rowfilter; None: all) and until ``expires_at`` (None: no expiry).

        A project holds at most one grant in force per dataset. With a materialiser, the
        data is materialised before the grant is written; if that fails nothing is."""
        project = validate.slug(project, "project name")
        dataset = validate.dataset_name(dataset)
        reason = validate.text(reason, "reason for the grant", required=True)
        actor = validate.actor(actor)
        if columns is not None and not isinstance(columns, str):
            columns = list(columns)
        now = self._now()
        with self._session() as s:
            plan = self._plan_grant(
                s, project, dataset, version, columns, row_filter, expires_at, now
            )
        # Outside any transaction: materialising may take a while.
        key, status = self._materialise(plan.spec)
        with self._session() as s:
            again = self._plan_grant(
                s, project, dataset, version, columns, row_filter, expires_at, now
            )
            if again != plan:
                raise CatalogError(
                    "the catalog changed while the grant's data was being materialised: "
                    "look at it again (cleanroom grant list) and grant again"
                )
            row = m.Grant(
                project_id=plan.project_id,
                version_id=plan.version_id,
                columns=plan.columns,
                row_filter=plan.row_filter,
                expires_at=plan.expires_at,
                granted_at=now,
                granted_by=actor,
                reason=reason,
                materialisation_key=key,
                materialisation_status=status,
            )
            s.add(row)
            s.flush()
            s.refresh(row, ["project", "version"])
            self._commit(
                s,
                "catalog.grant.create",
                actor,
                grant=row.id,
                project=project,
                dataset=dataset,
                version=plan.spec.version,
                columns=plan.columns,
                row_filter=plan.row_filter,
                expires_at=plan.expires_at.isoformat() if plan.expires_at else None,
                reason=reason,
                materialisation_key=key,
            )
            return convert.grant_info(row, now)

    def revoke_grant(self, grant_id: int | str, *, reason: str, actor: str) -> GrantInfo:
        """Revoke a grant (for good: to give the data again, grant again)."""
        reason = validate.text(reason, "reason for revoking", required=True)
        actor = validate.actor(actor)
        now = self._now()
        with self._session() as s:
            row = self._grant(s, grant_id)
            if row.revoked_at is not None:
                raise GrantStateError(
                    f"grant {row.id} was already revoked at {validate.stamp(row.revoked_at)} by "
                    f"{row.revoked_by} ({row.revoke_reason}): nothing to do"
                )
            row.revoked_at, row.revoked_by, row.revoke_reason = now, actor, reason
            self._commit(
                s,
                "catalog.grant.revoke",
                actor,
                grant=row.id,
                project=row.project.name,
                dataset=row.version.dataset.name,
                version=row.version.version,
                reason=reason,
            )
            return convert.grant_info(row, now)

    def extend_grant(
        self, grant_id: int | str, expires_at: datetime, *, actor: str, reason: str = ""
    ) -> GrantInfo:
        """Move a grant's expiry later (an expired grant comes back into force)."""
        actor = validate.actor(actor)
        reason = validate.text(reason, "reason", required=False)
        expires_at = validate.moment(expires_at, "new expiry")
        now = self._now()
        with self._session() as s:
            row = self._grant(s, grant_id)
            if row.revoked_at is not None:
                raise GrantStateError(
                    f"grant {row.id} was revoked at {validate.stamp(row.revoked_at)}: a revoked "
                    "grant cannot be extended; grant the data again instead"
                )
            if row.expires_at is None:
                raise GrantStateError(f"grant {row.id} has no expiry: there is nothing to extend")
            if expires_at <= row.expires_at or expires_at <= now:
                raise InvalidValue(
                    f"the new expiry {validate.stamp(expires_at)} must be later than the current "
                    f"one ({validate.stamp(row.expires_at)}) and than now"
                )
            previous = row.expires_at
            row.expires_at = expires_at
            self._commit(
                s,
                "catalog.grant.extend",
                actor,
                grant=row.id,
                project=row.project.name,
                dataset=row.version.dataset.name,
                previous_expiry=previous.isoformat(),
                expires_at=expires_at.isoformat(),
                reason=reason,
            )
            return convert.grant_info(row, now)

    def record_materialisation(
        self,
        grant_id: int | str,
        *,
        status: str,
        actor: str,
        key: str | None = None,
        error: str | None = None,
    ) -> GrantInfo:
        """For a materialiser that runs apart from :meth:`grant` (e.g. re-materialising after a
        cache was cleared): set the grant's key and status (``ready`` needs a key; ``failed``
        takes an error message)."""
        actor = validate.actor(actor)
        if status not in m.MATERIALISATION_STATES:
            raise InvalidValue(
                f"{status!r} is not a materialisation status: use "
                f"{', '.join(m.MATERIALISATION_STATES)}"
            )
        if status == MaterialisationState.READY and (
            not isinstance(key, str) or not key or len(key) > 255
        ):
            raise InvalidValue("a ready materialisation needs its key (1-255 characters)")
        error = validate.text(error, "error", required=False) or None
        now = self._now()
        with self._session() as s:
            row = self._grant(s, grant_id)
            row.materialisation_status = status
            row.materialisation_key = key
            row.materialisation_error = error
            self._commit(
                s,
                "catalog.grant.materialisation",
                actor,
                grant=row.id,
                status=status,
                materialisation_key=key,
                error=error,
            )
            return convert.grant_info(row, now)

    def get_grant(self, grant_id: int | str, *, now: datetime | None = None) -> GrantInfo:
        now = validate.moment(now, "time") if now is not None else self._now()
        with self._session() as s:
            return convert.grant_info(self._grant(s, grant_id), now)

    def grant_spec(self, grant_id: int | str) -> GrantSpec:
        """What the materialiser needs for an existing grant (to rebuild its data)."""
        with self._session() as s:
            row = self._grant(s, grant_id)
            return convert.grant_spec(row.project, row.version, row.columns, row.row_filter)

    def list_grants(
        self, project: str | None = None, *, now: datetime | None = None
    ) -> list[GrantInfo]:
        """Every grant (of ``project``), revoked and expired ones too, oldest first."""
        now = validate.moment(now, "time") if now is not None else self._now()
        with self._session() as s:
            query = select(m.Grant).order_by(m.Grant.id).options(*GRANT_LOAD)
            if project is not None:
                query = query.where(m.Grant.project_id == self._project(s, project).id)
            return [convert.grant_info(r, now) for r in s.scalars(query)]

    # -- what the spawner asks ---------------------------------------------------------------

    def projects_of(self, user: str) -> list[ProjectInfo]:
        """The projects ``user`` is a member of, by name, each with the user's ``role``."""
        with self._session() as s:
            rows = s.execute(
                select(m.Project, m.Member.role)
                .join(m.Member, m.Member.project_id == m.Project.id)
                .where(m.Member.user_name == user)
                .order_by(m.Project.name)
            )
            return [convert.project_info(p, role) for p, role in rows]

    def member_role(self, project: str, user: str) -> str | None:
        """``user``'s role in ``project`` (None: not a member); UnknownProject if none."""
        with self._session() as s:
            p = self._project(s, project)
            return s.scalar(
                select(m.Member.role).where(m.Member.project_id == p.id, m.Member.user_name == user)
            )

    def project_facts(self, project: str, user: str) -> ProjectFacts:
        """``project`` with ``user``'s role in it, as the access policy's input."""
        with self._session() as s:
            p = self._project(s, project)
            role = s.scalar(
                select(m.Member.role).where(m.Member.project_id == p.id, m.Member.user_name == user)
            )
            return convert.project_info(p, role).to_facts()

    def grants_for(self, project: str, now: datetime | None = None) -> list[GrantInfo]:
        """All of ``project``'s grants, revoked and expired ones included (flags ``revoked``
        and ``expired`` as of ``now``, default the clock), with their materialisation keys."""
        return self.list_grants(project, now=now)

    def grant_facts(self, project: str, now: datetime | None = None) -> list[GrantFacts]:
        """:meth:`grants_for` as the access policy's input (cleanroom.policy.GrantFacts)."""
        return [g.to_facts() for g in self.grants_for(project, now)]

    # -- counting, for checks and tests --------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per catalog table."""
        with self._session() as s:
            return {
                table.name: s.scalar(select(func.count()).select_from(table)) or 0
                for table in m.TABLES
            }
