"""The admin pages (cleanroom.web) in-process, with the hub's OAuth replaced by a stand-in that
says who is signed in (a ``test-user`` cookie) and with which scopes."""

from __future__ import annotations

from cleanroom.web.base import ADMIN_SCOPE
from jupyterhub.services.auth import HubOAuth

PREFIX = "/services/catalog/"
ACCESS = "access:services!service=catalog"
USERS = {
    "adam": [ACCESS, ADMIN_SCOPE],  # the admin group
    "hubadmin": [ACCESS],  # a JupyterHub admin outside the admin group
    "rita": [],  # may not even reach the service
}


class StandInHubOAuth(HubOAuth):
    """Who is signed in comes from a test cookie instead of the hub."""

    async def _get_user(self, handler):
        name = handler.get_cookie("test-user")
        if name not in USERS:
            return None
        handler._cached_hub_user = {"name": name, "kind": "user", "scopes": USERS[name],
                                    "groups": [], "admin": False}  # fmt: skip
        return handler._cached_hub_user

    def _get_token_cookie(self, handler):
        return handler.get_cookie("test-user")
