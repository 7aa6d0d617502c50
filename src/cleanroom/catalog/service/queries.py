"""What the spawner and the airlock ask the catalog: a user's projects, role and
organisation, a project's grants (and counts, for checks and tests)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from .. import convert
from .. import models as m
from ..records import GrantInfo, ProjectInfo
from .base import ServiceBase

if TYPE_CHECKING:
    from ...policy import GrantFacts, ProjectFacts


class QueriesMixin(ServiceBase):
    """The reads the spawner and the airlock make, and the table counts."""

    def user_organisation(self, user: str) -> str | None:
        """The user's organisation id (None: the catalog does not know the user)."""
        with self._session() as s:
            row = s.get(m.User, user)
            return row.organisation_id if row is not None else None

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
        return self._grant_infos(project, now)

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
