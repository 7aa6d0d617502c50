"""The catalog service's organisations and users."""

from __future__ import annotations

from sqlalchemy import select

from .. import convert, validate
from .. import models as m
from ..errors import AlreadyExists, InvalidValue
from ..records import OrganisationInfo, UserInfo
from .base import ServiceBase


class OrganisationsMixin(ServiceBase):
    """Organisations and users: add, list, say who belongs where."""

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
