"""The admin pages (cleanroom.catalog.web) in-process, with the hub's OAuth replaced by a
stand-in that says who is signed in (a ``test-user`` cookie) and with which scopes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jupyterhub.services.auth import HubOAuth
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from cleanroom.catalog.web import app as web_app
from cleanroom.catalog.web.base import ADMIN_SCOPE

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
        handler._cached_hub_user = {
            "name": name,
            "kind": "user",
            "scopes": USERS[name],
            "groups": [],
            "admin": False,
        }
        return handler._cached_hub_user

    def _get_token_cookie(self, handler):
        return handler.get_cookie("test-user")


def stand_in_auth() -> StandInHubOAuth:
    return StandInHubOAuth(
        api_token="t",
        api_url="http://127.0.0.1:9/hub/api/",
        oauth_client_id="service-catalog",
        base_url=PREFIX,
        access_scopes={ACCESS},
        login_url="http://127.0.0.1:9/hub/login",
    )


@contextmanager
def serving(catalog, **app_settings) -> Iterator[str]:
    """The admin pages over ``catalog`` on a free loopback port, in a thread of their own, with
    the stand-in sign-in; yields their URL (ending in PREFIX). ``app_settings`` go to
    ``cleanroom.catalog.web.app.make_app``."""
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    started, box = threading.Event(), {}

    async def serve():
        box["stop"] = asyncio.Event()
        app = web_app.make_app(catalog, prefix=PREFIX, hub_auth=stand_in_auth(), **app_settings)
        server = HTTPServer(app)
        server.add_sockets(sockets)
        box["loop"] = asyncio.get_running_loop()
        started.set()
        await box["stop"].wait()
        server.stop()
        app.settings["jobs"].shutdown()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)
