"""The catalog service's mounts: which grants the spawner mounted for a user's server in a
project, recorded before the server starts, and read by the airlock to know whose data a
requester's files may hold."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from .. import models as m
from .. import validate
from ..errors import InvalidValue, UnknownGrant
from ..records import MountInfo
from .base import ServiceBase


class MountsMixin(ServiceBase):
    """Record a server's mounts; read what a user ever had mounted in a project."""

    def record_mount(
        self, project: str, user: str, grant_ids: Iterable[int | str], *, actor: str
    ) -> MountInfo:
        """Record that ``user``'s server for ``project`` is being started with ``grant_ids``
        mounted (each a grant of ``project``). The spawner calls this before the server
        starts and refuses to start it when this fails: a server whose mounts are not
        recorded could make files whose data owners nobody would ask."""
        user = validate.actor(user)
        actor = validate.actor(actor)
        ids = sorted({_grant_number(g) for g in grant_ids})
        now = self._now()
        with self._session() as s:
            p = self._project(s, project)
            known = set(s.scalars(select(m.Grant.id).where(m.Grant.project_id == p.id)))
            foreign = [g for g in ids if g not in known]
            if foreign:
                raise UnknownGrant(
                    f"project {project} has no grant {', '.join(map(str, foreign))}: only a "
                    "project's own grants can be mounted for it"
                )
            row = m.Mount(user_name=user, project_id=p.id, grant_ids=ids, started_at=now)
            s.add(row)
            self._commit(s, "catalog.mount.record", actor, project=project, user=user, grants=ids)
            return MountInfo(row.id, user, project, tuple(ids), now)

    def mounts_of(self, project: str, user: str) -> list[MountInfo]:
        """Every mount recorded for ``user``'s servers in ``project``, oldest first."""
        with self._session() as s:
            p = self._project(s, project)
            rows = s.scalars(
                select(m.Mount)
                .where(m.Mount.project_id == p.id, m.Mount.user_name == user)
                .order_by(m.Mount.id)
            )
            return [
                MountInfo(r.id, r.user_name, project, tuple(r.grant_ids), r.started_at)
                for r in rows
            ]

    def mounted_grant_ids(self, project: str, user: str) -> list[int] | None:
        """The ids of every grant ever mounted for ``user``'s servers in ``project``, or None
        when no mount of theirs was ever recorded (the caller must then assume every grant of
        the project: the files in a home may come from any earlier server)."""
        mounts = self.mounts_of(project, user)
        if not mounts:
            return None
        return sorted({g for mount in mounts for g in mount.grant_ids})


def _grant_number(value: int | str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1:
        raise InvalidValue(f"{value!r} is not a grant id: give its number")
    return number
