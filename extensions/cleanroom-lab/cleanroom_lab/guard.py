"""The second layer inside the container: the server's own download routes answer 403.

``/files/``, ``/view/`` and ``/nbconvert/`` hand a workspace file (or a converted notebook) to
the browser as a download. Handlers added by an extension are matched before the server's
own, so these routes are refused whatever else is configured. The wall is the edge outside
the container; this layer only makes the refusal clear to someone using JupyterLab normally.
"""

from __future__ import annotations

import tornado.web
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join

REFUSED_ROUTES = ("files", "view", "nbconvert")

MESSAGE = (
    "Downloads are switched off in the clean room. To take a file out, use "
    '"Request release…" in JupyterLab: a reviewer checks it and releases it to you.'
)


class RefusedDownloadHandler(JupyterHandler):
    def _refuse(self, *args, **kwargs):
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(MESSAGE)

    @tornado.web.authenticated
    def get(self, *args, **kwargs):
        self._refuse()

    @tornado.web.authenticated
    def head(self, *args, **kwargs):
        self._refuse()

    @tornado.web.authenticated
    def post(self, *args, **kwargs):
        self._refuse()

    def check_xsrf_cookie(self):
        # A refusal changes nothing, so it needs no XSRF token: answer 403 either way.
        return None


def guard_handlers(base_url: str) -> list[tuple]:
    return [
        (url_path_join(base_url, route, "(.*)"), RefusedDownloadHandler) for route in REFUSED_ROUTES
    ] + [(url_path_join(base_url, route), RefusedDownloadHandler) for route in REFUSED_ROUTES]
