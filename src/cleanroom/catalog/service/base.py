"""What the catalog service's parts share: its state, the session that turns database errors
into CatalogErrors, the commit that appends the audit record first, and the lookups that say
what to do when a row is missing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ...core.times import now as utc_now
from ...errors import CleanRoomError
from .. import convert, validate
from .. import models as m
from ..errors import (
    AlreadyExists,
    CatalogUnavailable,
    InvalidValue,
    UnknownDataset,
    UnknownGrant,
    UnknownOrganisation,
    UnknownProject,
    UnknownUser,
    UnknownVersion,
)
from ..records import GrantInfo, GrantSpec, Materialised, version_label

if TYPE_CHECKING:
    from ...audit import AuditLog

log = logging.getLogger(__name__)

# Returns the key, or the key with the contributors of the granted rows (Materialised).
Materialiser = Callable[[GrantSpec], str | Materialised]

GRANT_LOAD = (
    selectinload(m.Grant.project),
    selectinload(m.Grant.version).selectinload(m.DatasetVersion.dataset),
)


class ServiceBase:
    """The state and plumbing of :class:`cleanroom.catalog.service.CatalogService` (its
    parameters are documented there)."""

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
    def open(cls, url: str, audit: AuditLog, **kwargs: Any) -> Self:
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

    # -- a read the grants and the queries share ----------------------------------------------

    def _grant_infos(self, project: str | None, now: datetime | None) -> list[GrantInfo]:
        """Every grant (of ``project``) as of ``now`` (None: the clock), oldest first."""
        now = validate.moment(now, "time") if now is not None else self._now()
        with self._session() as s:
            query = select(m.Grant).order_by(m.Grant.id).options(*GRANT_LOAD)
            if project is not None:
                query = query.where(m.Grant.project_id == self._project(s, project).id)
            return [convert.grant_info(r, now) for r in s.scalars(query)]
