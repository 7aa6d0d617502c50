"""The services' one base handler (cleanroom.services.handlers): route tables refuse a method
without an access check; an access check runs before the method, and stops it when it says no."""

from __future__ import annotations

import asyncio

import pytest
from tornado.web import RequestHandler

from cleanroom.services.handlers import (
    PUBLIC,
    ServiceHandler,
    access_check,
    check_route_table,
    public,
)


async def _yes(_handler) -> bool:
    return True


async def _no(_handler) -> bool:
    return False


signed_in = access_check("signed-in", _yes)
refused = access_check("signed-in", _no)


class Checked(ServiceHandler):
    @signed_in
    async def get(self):
        return "ran"

    @public
    def post(self):
        return "open"


class Unchecked(ServiceHandler):
    async def get(self):
        return "anyone"


class Foreign(RequestHandler):  # not a service handler: not the services' business
    async def get(self):
        return "x"


def test_a_route_table_without_a_check_on_a_method_is_refused():
    check_route_table([("a", Checked), ("b", Foreign)])
    with pytest.raises(TypeError, match=r"Unchecked.get has no access check.*@public"):
        check_route_table([("a", Checked), ("c", Unchecked)])
    assert Checked.get.access_check == "signed-in" and Checked.post.access_check == PUBLIC


def test_the_check_runs_first_and_stops_the_method_when_it_says_no():
    class Handler:
        pass

    @signed_in
    async def allowed(self):
        return "ran"

    @refused
    async def denied(self):
        raise AssertionError("the method ran although its check said no")

    assert asyncio.run(allowed(Handler())) == "ran"
    assert asyncio.run(denied(Handler())) is None
