"""The one base handler of the hub's tornado services (the airlock and the admin pages).

    class PagesHandler(ServiceHandler):
        content_security_policy = "default-src 'none'; ..."

        @public                      # open to anyone, said explicitly
        async def get(self): ...

Every handler method of a service's route table carries an access check: the service's own
decorator (the airlock's ``@authenticated``, the admin pages' ``@needs_admin``), each built
with :func:`access_check`, or :func:`public`. :func:`check_route_table` refuses to start a
service whose table has a method with neither.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuthenticated
from tornado.web import HTTPError, RequestHandler

from cleanroom.services.app import cross_origin_reason, in_thread

T = TypeVar("T")
VERBS = ("get", "head", "post", "put", "patch", "delete")
PUBLIC = "public"


def access_check(
    name: str, check: Callable[[Any], Awaitable[bool]]
) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """A decorator that runs ``await check(handler)`` before the method: when it answers
    False the method does not run (``check`` has answered the request, or raised). The
    method's ``access_check`` attribute is ``name`` (route tables and tests read it)."""

    def decorator(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not await check(self):
                return None
            result = method(self, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        checked.access_check = name  # type: ignore[attr-defined]
        return checked

    return decorator


def public(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler method as open to anyone, deliberately (e.g. the API's description)."""
    method.access_check = PUBLIC  # type: ignore[attr-defined]
    return method


def check_route_table(handlers: list[tuple]) -> None:
    """Refuse a route table in which a service handler's method has no access check."""
    for _pattern, handler, *_rest in handlers:
        if not (isinstance(handler, type) and issubclass(handler, ServiceHandler)):
            continue
        for verb in VERBS:
            method = handler.__dict__.get(verb)
            if method is not None and not getattr(method, "access_check", None):
                raise TypeError(
                    f"{handler.__name__}.{verb} has no access check: decorate it with the "
                    "service's check, or with @public if anyone may call it"
                )


class ServiceHandler(HubOAuthenticated, RequestHandler):
    """Sign-in through the hub (``hub_auth`` from the application settings when given, else
    the hub's environment), the security headers, and the cross-origin and XSRF checks.

    ``forged`` is True while a request's origin and XSRF token are unchecked or failed, so
    an error page can say to reload the form."""

    content_security_policy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    # A token in the Authorization header is not ambient authority (a browser never sends it
    # by itself): services that accept tokens check XSRF only for cookie sign-ins.
    tokens_skip_xsrf = False
    forged = False

    @property
    def prefix(self) -> str:
        return self.settings["prefix"]

    async def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` in a worker thread (databases, OPA and the audit log block)."""
        return await in_thread(func, *args, **kwargs)

    def initialize(self) -> None:
        if self.settings.get("hub_auth") is not None:  # tests give one; else from the env
            self.hub_auth = self.settings["hub_auth"]

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", self.content_security_policy)
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        if self.tokens_skip_xsrf and self.request.headers.get("Authorization"):
            return
        reason = cross_origin_reason(self.request.method, self.request.headers, self.request.host)
        self.forged = True  # until checked
        if reason:
            raise HTTPError(403, f"Refused: this request came from another site ({reason}).")
        super().check_xsrf_cookie()
        self.forged = False
