"""Organisations (list, add) and users' organisations (list, set)."""

from __future__ import annotations

from typing import Any

from cleanroom.catalog.errors import CatalogError
from cleanroom.catalog.models import ORGANISATION_KINDS as KINDS
from cleanroom.catalog.web.base import CatalogHandler, needs_admin
from cleanroom.catalog.web.forms import clean


class OverviewHandler(CatalogHandler):
    @needs_admin
    async def get(self) -> None:
        counts = await self.call(self.catalog.counts)
        self.page("overview.html", counts=counts, import_dir=self.settings["import_dir"])


class OrganisationsHandler(CatalogHandler):
    async def show_page(
        self, *, form: dict[str, Any] | None = None, error: str | None = None, status: int = 200
    ) -> None:
        organisations = await self.call(self.catalog.list_organisations)
        users = await self.call(self.catalog.list_users)
        members: dict[str, int] = {}
        for user in users:
            members[user.organisation] = members.get(user.organisation, 0) + 1
        self.page(
            "organisations.html",
            status=status,
            organisations=organisations,
            members=members,
            kinds=KINDS,
            form=form or {"kind": "depositor"},
            error=error,
        )

    @needs_admin
    async def get(self) -> None:
        await self.show_page()

    @needs_admin
    async def post(self) -> None:
        form = {
            "id": self.argument("id"),
            "name": self.argument("name"),
            "kind": self.argument("kind"),
        }
        try:
            org = await self.call(
                self.catalog.add_organisation,
                form["id"],
                form["name"],
                form["kind"],
                actor=self.actor,
            )
        except CatalogError as error:
            await self.show_page(form=form, error=str(error), status=400)
            return
        self.done(self.url("organisations"), f"Added organisation {org.id} ({org.name}).")


class UsersHandler(CatalogHandler):
    async def show_page(
        self, *, form: dict[str, Any] | None = None, error: str | None = None, status: int = 200
    ) -> None:
        users = await self.call(self.catalog.list_users)
        organisations = await self.call(self.catalog.list_organisations)
        self.page(
            "users.html",
            status=status,
            users=users,
            organisations=organisations,
            form=form or {},
            error=error,
        )

    @needs_admin
    async def get(self) -> None:
        await self.show_page(form={"user": clean(self.get_query_argument("user", ""))})

    @needs_admin
    async def post(self) -> None:
        form = {"user": self.argument("user"), "organisation": self.argument("organisation")}
        try:
            user = await self.call(
                self.catalog.set_user_organisation,
                form["user"],
                form["organisation"],
                actor=self.actor,
            )
        except CatalogError as error:
            await self.show_page(form=form, error=str(error), status=400)
            return
        self.done(self.url("users"), f"{user.name} belongs to {user.organisation}.")


default_handlers = [
    (r"", OverviewHandler),
    (r"organisations", OrganisationsHandler),
    (r"users", UsersHandler),
]
