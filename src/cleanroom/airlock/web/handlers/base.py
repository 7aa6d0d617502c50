"""What every airlock handler shares: who is calling (from the hub), errors, headers.

A caller comes with a JupyterHub token (``Authorization: token ...``: a researcher's server
token) or the browser's OAuth cookie for this service. The hub says whose token it is and
which scopes it carries; the airlock's own service token then reads the person's groups and
their running server (its project) from the hub. Nothing in a body or a header the caller
controls is taken as a fact about them.

API handlers answer errors as ``{"error": "...", "reasons": [...]}``; page handlers as a page.
Every handler method carries ``@authenticated`` or ``@public``
(``cleanroom.services.handlers.check_route_table`` makes sure).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from tornado.web import HTTPError

from cleanroom.airlock.errors import AirlockError, InvalidInput, NotSignedIn
from cleanroom.airlock.permissions import Caller
from cleanroom.errors import CleanRoomError
from cleanroom.services.handlers import (  # noqa: F401 - check_route_table: the app's
    ServiceHandler,
    access_check,
    check_route_table,
)

log = logging.getLogger("cleanroom.airlock")

# Pages show researcher-made content (previews): no scripts at all, nothing from elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "sandbox allow-forms allow-same-origin allow-downloads allow-top-navigation",
    ]
)


async def _signed_in(handler: AirlockHandler) -> bool:
    if handler.caller is not None:
        return True
    if not handler.api and handler.request.method in ("GET", "HEAD"):
        handler.redirect(handler.get_login_url())
        return False
    raise NotSignedIn(
        "sign in first: send your JupyterHub token (Authorization: token ...) or open "
        "the airlock from the hub"
    )


# Every handler method carries this: no caller, no answer (401, or the hub's login).
authenticated = access_check("authenticated", _signed_in)


class AirlockHandler(ServiceHandler):
    """Application settings used: ``airlock`` (AirlockService), ``hub`` (facts.HubClient),
    ``hub_auth`` (a HubOAuth), ``templates``, ``prefix``, ``clean_room_subnet``,
    ``gateway``."""

    content_security_policy = CONTENT_SECURITY_POLICY
    tokens_skip_xsrf = True  # researchers' servers call the API with their token
    api = False
    caller: Caller | None = None
    server_project: str | None = None

    async def prepare(self) -> None:
        await self.identify()
        if self.request.method == "GET" and not self.api:
            self.xsrf_token  # noqa: B018 - set the cookie so that the next form can be checked

    async def identify(self) -> None:
        """Ask the hub who this is (token or cookie), then their groups and server."""
        try:
            model = await self.hub_auth.get_user(self, sync=False)
        except HTTPError:
            model = None
        if not model or model.get("kind", "user") != "user":
            self.caller = None
            return
        hub_user = await self.settings["hub"].user(model["name"])
        self.caller = Caller(
            name=model["name"],
            scopes=frozenset(model.get("scopes") or ()),
            groups=hub_user.groups,
        )
        self.server_project = hub_user.server_project

    # -- helpers -------------------------------------------------------------------------------

    @property
    def me(self) -> Caller:
        """The caller, in a method behind ``@authenticated`` (which answered already when
        there is none)."""
        if self.caller is None:
            raise NotSignedIn("sign in first")
        return self.caller

    @property
    def airlock(self):
        return self.settings["airlock"]

    def peer_in_clean_room(self) -> bool:
        """Whether the TCP peer is a researcher's container: an address in the researchers'
        subnet other than the host's own gateway address (from which the hub's proxy, and so
        every browser, comes). Headers such as X-Forwarded-For are never consulted."""
        try:
            peer = ipaddress.ip_address(self.request.remote_ip or "")
        except ValueError:
            return True  # unknown: fail closed
        subnet = ipaddress.ip_network(self.settings["clean_room_subnet"])
        gateway = ipaddress.ip_address(self.settings["gateway"])
        return peer in subnet and peer != gateway

    @property
    def inside(self) -> bool:
        """The call comes from inside the clean room (a researcher's server): the requester
        then sees all they wrote; from anywhere else, only what reviewers saw (visibility)."""
        return self.peer_in_clean_room()

    def json_body(self) -> dict:
        body = self.request.body or b"{}"
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise InvalidInput("the body must be a JSON object")
        return value

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(value))

    # -- errors --------------------------------------------------------------------------------

    def _error_parts(self, status_code: int, kwargs: dict) -> tuple[int, str, list[str]]:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        reasons: list[str] = []
        if isinstance(exc, AirlockError):
            return exc.status, str(exc), exc.reasons
        if isinstance(exc, CleanRoomError):  # the audit log or the catalog could not answer
            return 503, f"the airlock cannot do this now: {exc}", reasons
        if status_code >= 500:  # no internals: the log has them
            message = "something went wrong in the airlock; its log says what"
        elif isinstance(exc, HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        else:
            message = self._reason
        return status_code, message, reasons

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, AirlockError) and value.status < 500:
            log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value)
            return
        super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, AirlockError):
            status_code = exc.status
        elif isinstance(exc, CleanRoomError):
            status_code = 503
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, message, reasons = self._error_parts(status_code, kwargs)
        if self.api or not self.settings.get("templates"):
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            body: dict[str, Any] = {"error": message}
            if reasons:
                body["reasons"] = reasons
            self.finish(json.dumps(body))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        path = self.request.path.removeprefix(self.prefix)
        heading, next_step, links = error_guidance(status, path, self.caller, self.forged)
        template = self.settings["templates"].get_template("error.html")
        self.finish(
            template.render(
                code=status,
                heading=heading,
                message=message[:1].upper() + message[1:],
                reasons=reasons,
                next_step=next_step,
                links=[(self.prefix + target, label) for target, label in links],
                prefix=self.prefix,
                user=self.caller,
                here=None,
            )
        )


HEADINGS = {
    400: "Not done",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    503: "Not available right now",
}
TRY_AGAIN = (
    "Try again in a minute. If it keeps happening, tell an admin: the airlock's log has the "
    "details."
)


def error_guidance(
    status: int, path: str, caller: Caller | None, forged: bool = False
) -> tuple[str, str, list[tuple[str, str]]]:
    """An error page's heading, what to do next, and where to go (paths under the prefix)."""
    heading = HEADINGS.get(status, "Something went wrong" if status >= 500 else "Not done")
    parts = path.split("/")
    home = [("", "My requests")]
    if caller is not None and caller.may_review:
        home.append(("review", "Waiting for me"))
    if caller is not None and caller.is_admin:
        home.append(("admin", "All requests"))
    # From a form or a file of a request: back to that request's page.
    on_request = parts[0] == "requests" and len(parts) > 2
    back = [(f"requests/{parts[1]}", "Back to the request")] if on_request else home
    if status >= 500:
        return heading, TRY_AGAIN, back
    if status == 401:
        return heading, "Open the airlock from the hub and sign in there.", []
    if status == 403 and forged:
        step = "The form was sent from an old or a foreign page: reload the page and send it again."
        return heading, step, back
    if status == 403 and parts[0] == "admin":
        step = (
            "These pages are for admins: ask an admin to add you to the admin group on the hub, "
            "then sign in again."
        )
        return heading, step, home
    if status == 403:
        step = (
            "If you should have access, ask an admin to add you to the request's project or "
            "to give you the reviewer role in it."
        )
        return heading, step, home
    if status == 404:
        return (
            heading,
            "It may have been withdrawn, or the link is wrong: go to one of your lists below.",
            home,
        )
    if status == 409:
        step = (
            "Nothing was changed. The request may have moved on since you opened it: open it "
            "again to see where it is now, correct what the reasons say and try again."
        )
        return heading, step, back
    if status == 413:
        return heading, "Nothing was kept: send fewer or smaller files.", back
    return heading, "Nothing was changed: go back, correct what it says and try again.", back
