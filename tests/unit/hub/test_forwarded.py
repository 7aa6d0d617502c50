"""Forwarded headers count only from the proxy's addresses: a real tornado server, real sockets."""

from __future__ import annotations

import asyncio

import pytest
import tornado.httpserver
import tornado.web
from tornado.httpclient import AsyncHTTPClient
from tornado.netutil import bind_sockets

from cleanroom.hub import forwarded


class Echo(tornado.web.RequestHandler):
    def get(self):
        self.write(self.request.remote_ip or "")


async def remote_ip_seen(trusted: set[str], headers: dict[str, str]) -> str:
    app = tornado.web.Application([("/", Echo)])
    server_class = type("Server", (forwarded.ProxyOnlyXHeadersServer,), {"trusted_peers": trusted})
    server = server_class(app, xheaders=True)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/", headers=headers)
        return response.body.decode()
    finally:
        server.stop()


FORGED = {"X-Real-Ip": "198.51.100.7", "X-Forwarded-For": "203.0.113.9"}


def test_a_peer_that_is_not_the_proxy_cannot_choose_its_recorded_address():
    assert asyncio.run(remote_ip_seen(set(), FORGED)) == "127.0.0.1"


def test_the_proxy_still_passes_on_the_client_address():
    # The control: the same request from a trusted peer is read as forwarded.
    assert asyncio.run(remote_ip_seen({"127.0.0.1"}, FORGED)) == "198.51.100.7"


def test_install_replaces_the_server_class_jupyterhub_builds(monkeypatch):
    monkeypatch.setattr(tornado.httpserver, "HTTPServer", tornado.httpserver.HTTPServer)
    monkeypatch.setattr(forwarded.ProxyOnlyXHeadersServer, "trusted_peers", frozenset())
    forwarded.install(forwarded.hub_trusted_peers("10.77.0.1"))
    assert tornado.httpserver.HTTPServer is forwarded.ProxyOnlyXHeadersServer
    assert forwarded.ProxyOnlyXHeadersServer.trusted_peers == {"127.0.0.1", "::1", "10.77.0.1"}


@pytest.mark.parametrize("peer", ["10.77.0.5", "172.17.0.2"])
def test_containers_addresses_are_not_trusted(peer):
    assert peer not in forwarded.hub_trusted_peers("10.77.0.1")
