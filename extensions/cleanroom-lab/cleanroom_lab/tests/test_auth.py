"""The JupyterLab extension template's auth check: every route the extension adds passes
jupyter_server's own check for endpoints without ``@tornado.web.authenticated`` (nor an explicit
``@allow_unauthenticated``), which warns with ``JupyterServerAuthWarning``; this package's
conftest.py makes that warning an error. The routes are the extension's own handler tables, as
_load_jupyter_server_extension adds them. (On a running server, anonymous requests to each of
them: test_server.py.)"""

from __future__ import annotations

import pytest
import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.serverapp import ServerWebApplication
from jupyter_server.utils import JupyterServerAuthWarning

from cleanroom_lab.guard import guard_handlers
from cleanroom_lab.handlers import lab_handlers


def _add_handlers(handlers: list[tuple]) -> None:
    """Add routes as the server adds an extension's, on an application that, like a server with
    ``allow_unauthenticated_access = False``, checks every method of every route."""
    app = ServerWebApplication.__new__(ServerWebApplication)
    tornado.web.Application.__init__(app, [], allow_unauthenticated_access=False)
    app.add_handlers(".*$", handlers)


class _Undecorated(APIHandler):
    def get(self):
        self.finish("anyone")


def test_every_route_of_the_extension_needs_a_signed_in_user():
    handlers = guard_handlers("/") + lab_handlers("/")
    assert handlers
    _add_handlers(handlers)  # a JupyterServerAuthWarning fails this test


def test_the_check_finds_a_route_without_authentication():
    with pytest.warns(JupyterServerAuthWarning, match="GET of _Undecorated"):
        _add_handlers([("/cleanroom-lab/anyone", _Undecorated)])
