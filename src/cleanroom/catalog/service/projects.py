"""The catalog service's projects and their members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import convert, validate
from .. import models as m
from ..errors import AlreadyExists, InvalidValue, NotAMember
from ..records import MemberInfo, ProjectInfo
from .base import ServiceBase


class ProjectsMixin(ServiceBase):
    """Projects and their members."""

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
