"""The catalog service's grants: make, revoke, extend, record materialisation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...errors import CleanRoomError
from .. import convert, validate
from .. import models as m
from ..enums import MaterialisationState
from ..errors import (
    AlreadyExists,
    CatalogError,
    GrantStateError,
    InvalidRowFilter,
    InvalidValue,
    MaterialisationFailed,
    UnknownColumn,
)
from ..records import GrantInfo, GrantSpec, Materialised, version_label
from .base import GRANT_LOAD, ServiceBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _GrantPlan:
    project_id: int
    version_id: int
    columns: list[str] | None
    row_filter: str | None
    expires_at: datetime | None
    spec: GrantSpec


class GrantsMixin(ServiceBase):
    """Grants: make (materialising first), revoke, extend, record a materialisation, read."""

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

    def _materialise(self, spec: GrantSpec) -> tuple[str | None, str, tuple[str, ...] | None]:
        """(key, status, the contributor values of the granted rows or None: not known)."""
        if self.materialiser is None:
            return None, MaterialisationState.PENDING, None
        try:
            made = self.materialiser(spec)
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
        key, contributors = (
            (made.key, made.contributors) if isinstance(made, Materialised) else (made, None)
        )
        if not isinstance(key, str) or not key or len(key) > 255:
            raise MaterialisationFailed(
                f"the grant was not made: the materialiser returned {key!r}, not a key"
            )
        return key, MaterialisationState.READY, contributors

    @staticmethod
    def _organisations_of(
        version: m.DatasetVersion, contributors: tuple[str, ...] | None
    ) -> list[str] | None:
        """The organisations of ``contributors`` (values of ``version``'s contributor column);
        None when not known, or when a value is not the version's (then every organisation of
        the version counts: asking more data owners is safe, fewer is not)."""
        if contributors is None:
            return None
        mapping = {c.value: c.organisation_id for c in version.contributors}
        unknown = [v for v in contributors if v not in mapping]
        if unknown:
            log.warning(
                "contributor values %r of %s are not the version's; every organisation of it "
                "counts for the grant",
                unknown[:5],
                version.dataset.name,
            )
            return None
        return sorted({mapping[v] for v in contributors})

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
        key, status, contributors = self._materialise(plan.spec)
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
                organisations=self._organisations_of(
                    self._version(s, dataset, plan.spec.version), contributors
                ),
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
                organisations=row.organisations,
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
        return self._grant_infos(project, now)
