"""The hub takes a client's address from forwarded headers only when the proxy sent them.

JupyterHub serves with tornado's ``xheaders=True``: any peer's ``X-Real-Ip`` or
``X-Forwarded-For`` becomes ``request.remote_ip``, which the audit log records for every
sign-in. The hub API listens on the researchers' gateway, so without this a researcher's
container could write any address into the audit log. Here the headers count only on
connections from the host's own addresses (the proxy, which nginx feeds with the real client
address, and the services); on any other connection ``remote_ip`` is the peer's own address.

``install(trusted_peers)`` runs in the hub's process, from ``jupyterhub_config.py``, before the
hub builds its HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterable

import tornado.httpserver
from tornado import httputil

_TornadoHTTPServer = tornado.httpserver.HTTPServer


class ProxyOnlyXHeadersServer(_TornadoHTTPServer):
    """tornado's HTTPServer, but ``xheaders`` apply only to connections from
    :attr:`trusted_peers`."""

    trusted_peers: frozenset[str] = frozenset()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        peer = getattr(getattr(request_conn, "context", None), "remote_ip", None)
        if peer in self.trusted_peers:
            return super().start_request(server_conn, request_conn)
        # tornado's own start_request without the header-reading adapter.
        if isinstance(self.request_callback, httputil.HTTPServerConnectionDelegate):
            return self.request_callback.start_request(server_conn, request_conn)
        return tornado.httpserver._CallableAdapter(self.request_callback, request_conn)


def install(trusted_peers: Iterable[str]) -> None:
    """Make every HTTPServer this process builds from now on (JupyterHub builds one, in
    ``JupyterHub.start``) read forwarded headers from ``trusted_peers`` only."""
    ProxyOnlyXHeadersServer.trusted_peers = frozenset(trusted_peers)
    tornado.httpserver.HTTPServer = ProxyOnlyXHeadersServer  # type: ignore[misc]


def hub_trusted_peers(gateway: str) -> tuple[str, ...]:
    """The host's own addresses the proxy and the services connect from: loopback and the
    researchers' gateway (a connection from the host to the gateway's address comes from it)."""
    return ("127.0.0.1", "::1", gateway)
