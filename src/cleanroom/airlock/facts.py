"""Facts about people and projects, from the places the airlock trusts: the hub (who is
calling, their groups, the project of their running server) and the catalog (organisations,
project roles, the organisations whose data went into the grants mounted for a requester's
servers).

Nothing a caller sends in a body is a fact: a request's project is the project of the
requester's running server as the hub records it (its ``user_options["project"]``), read with
the airlock's own service token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from tornado.httpclient import HTTPClientError

from ..catalog.errors import NotFound as CatalogNotFound
from ..hubapi import AsyncHubAPI
from .errors import Unavailable


class Catalog(Protocol):  # what the airlock uses of cleanroom.catalog.service.CatalogService
    def user_organisation(self, user: str) -> str | None: ...
    def member_role(self, project: str, user: str) -> str | None: ...
    def grants_for(self, project: str): ...
    def get_version(self, dataset: str, version=None): ...
    def mounted_grant_ids(self, project: str, user: str) -> list[int] | None: ...


class CatalogFacts:
    """The catalog's answers, with "unknown" (None, []) for what it does not know."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def organisation(self, user: str) -> str | None:
        return self.catalog.user_organisation(user)

    def project_grants(self, project: str) -> list:
        """Every grant of ``project`` (ended ones too), with its dataset version; [] for a
        project the catalog does not know. As ``[(GrantInfo, VersionInfo)]``."""
        try:
            grants = self.catalog.grants_for(project)
        except CatalogNotFound:
            return []
        return [(g, self.catalog.get_version(g.dataset, g.version)) for g in grants]

    def project_role(self, project: str, user: str) -> str | None:
        try:
            return self.catalog.member_role(project, user)
        except CatalogNotFound:
            return None

    def contributing_organisations(self, project: str, requester: str | None = None) -> list[str]:
        """The organisations whose rows may be in an output of ``requester`` in ``project``:
        those of every grant ever mounted for the requester's servers in the project (the
        spawner records each start; a home keeps files across servers, so "ever", not
        "since the request was made"), each grant's own organisations (its rows after the
        row filter) or, when not known, every organisation of its dataset version.

        Fails closed to :meth:`project_organisations` (every organisation of every version
        ever granted to the project) when nothing is recorded for the requester, when a
        mounted grant is not the project's, or when the answer would be empty: asking more
        data owners is safe, asking fewer leaks."""
        everyone = self.project_organisations(project)
        if requester is None:
            return everyone
        try:
            mounted = self.catalog.mounted_grant_ids(project, requester)
            grants = {g.id: g for g in self.catalog.grants_for(project)}
        except CatalogNotFound:
            return everyone
        if mounted is None or any(g not in grants for g in mounted):
            return everyone
        organisations: set[str] = set()
        for grant_id in mounted:
            organisations.update(self._grant_organisations(grants[grant_id]))
        return sorted(organisations) or everyone

    def project_organisations(self, project: str) -> list[str]:
        """The organisations whose rows are in any dataset version ever granted to
        ``project`` (revoked and expired grants too: their data may be in an output)."""
        try:
            grants = self.catalog.grants_for(project)
        except CatalogNotFound:
            return []
        organisations: set[str] = set()
        for grant in grants:
            version = self.catalog.get_version(grant.dataset, grant.version)
            organisations.update(version.organisations)
        return sorted(organisations)

    def _grant_organisations(self, grant) -> list[str]:
        if grant.organisations is not None:
            return list(grant.organisations)
        return list(self.catalog.get_version(grant.dataset, grant.version).organisations)


@dataclass(frozen=True)
class HubUser:
    name: str
    groups: tuple[str, ...]
    # The project of the running (ready) default server, None without one.
    server_project: str | None
    server_running: bool


class HubClient:
    """The hub API with the airlock's own token (scopes: read:users, read:servers)."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api = AsyncHubAPI(api_url, token, timeout)

    async def user(self, name: str) -> HubUser:
        try:
            model = await self.api.call("GET", f"/users/{quote(name, safe='')}")
        except HTTPClientError as error:
            if error.code == 404:
                return HubUser(name, (), None, False)
            raise Unavailable(f"the hub did not answer about {name} ({error.code})") from None
        except OSError as error:
            raise Unavailable(f"the hub cannot be reached ({error})") from None
        return parse_user(model)


def parse_user(model: dict) -> HubUser:
    """A hub user model (``GET /hub/api/users/{name}``) as the facts the airlock uses."""
    server = (model.get("servers") or {}).get("")
    project = None
    running = bool(server and server.get("ready") and not server.get("stopped"))
    if running and server:
        options = server.get("user_options") or {}
        value = options.get("project")
        project = value if isinstance(value, str) and value else None
    return HubUser(
        name=model["name"],
        groups=tuple(model.get("groups") or ()),
        server_project=project,
        server_running=running,
    )
