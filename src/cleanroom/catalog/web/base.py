"""The base handler: sign-in through the hub, the admin check, security headers, pages.

    class ProjectsHandler(CatalogHandler):
        @needs_admin
        async def get(self):
            projects = await self.call(self.catalog.list_projects)
            self.page("projects.html", projects=projects)

Sign-in is JupyterHub's OAuth (``HubOAuthenticated``): a visitor without the service's cookie
is sent to the hub, which asks them to log in and refuses, with its own 403, anyone who lacks
``access:services!service=catalog`` (only the admin group has it). The token the service then
holds carries the scopes the user has among the service's allowed ones; :func:`needs_admin`
requires ``custom:cleanroom:administer`` in it, on every handler method, so a person who may
reach the service for another reason (a JupyterHub admin outside the admin group) gets this
service's 403 page and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyterhub.services.auth import UserNotAllowed
from tornado.web import HTTPError

from cleanroom import scopes
from cleanroom.catalog.errors import CatalogError
from cleanroom.services.handlers import (  # noqa: F401 - check_route_table: the app's
    ServiceHandler,
    access_check,
    check_route_table,
)

log = logging.getLogger("cleanroom.catalog.web")

ADMIN_SCOPE = scopes.ADMINISTER
NOTICE_COOKIE = "catalog-notice"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

NAVIGATION = (
    ("", "Overview"),
    ("organisations", "Organisations"),
    ("users", "Users"),
    ("datasets", "Datasets"),
    ("projects", "Projects"),
    ("display", "Display channel"),
)


def user_can_administer(user: dict | None) -> bool:
    """Whether a hub user model (from the service's OAuth token) may use these pages."""
    if not user:
        return False
    return ADMIN_SCOPE in (user.get("scopes") or ())


def check_user_can_administer(user: dict | None) -> None:
    """Raise the 403 that every page and form answers to someone who may not administer."""
    if not user:
        raise HTTPError(403, "Sign in first: open the catalog pages from the hub.")
    if not user_can_administer(user):
        raise HTTPError(
            403,
            f"You are signed in as {user.get('name')}, but the catalog pages are for admins: "
            f"they need the scope {ADMIN_SCOPE}, which members of the admin group hold. "
            "Ask an admin to add you to that group, then sign in again.",
        )


async def _may_administer(handler: CatalogHandler) -> bool:
    user = handler.current_user
    if not user and handler.request.method in ("GET", "HEAD"):
        # To the hub's login (raises 403 instead when the hub said "not allowed").
        handler.redirect(handler.get_login_url())
        return False
    check_user_can_administer(user)
    return True


# Every handler method carries this: no admin scope, no page and no change (403).
needs_admin = access_check("needs_admin", _may_administer)


class CatalogHandler(ServiceHandler):
    """What every page shares. Application settings used: ``catalog`` (CatalogService),
    ``jobs`` (cleanroom.catalog.web.jobs.JobRunner), ``templates`` (a Jinja2 Environment),
    ``import_dir``, ``state_dir``, ``prefix`` (the service's URL prefix) and optionally
    ``hub_auth`` (a HubOAuth; by default one configured from the hub's environment) and
    ``cleanroom_settings`` (the deployment's Settings; by default read from the environment)."""

    content_security_policy = CONTENT_SECURITY_POLICY

    async def prepare(self) -> None:
        # Ask the hub who this is without blocking the loop (the mixin's sync path would).
        if not hasattr(self, "_hub_auth_user_cache"):
            model = await self.hub_auth.get_user(self, sync=False)
            if model:
                try:
                    model = self.check_hub_user(model)
                except UserNotAllowed:
                    model = None

                    def refuse(*_args: Any, **_kwargs: Any) -> None:
                        raise HTTPError(403, "The hub does not let you use this service.")

                    self.redirect = refuse  # type: ignore[method-assign]
            self._hub_auth_user_cache = model
        if self.request.method == "GET":
            # Set the XSRF cookie on every page, so that the next form can be checked.
            self.xsrf_token  # noqa: B018

    # -- what handlers use ---------------------------------------------------------------------

    @property
    def catalog(self):
        return self.settings["catalog"]

    @property
    def jobs(self):
        return self.settings["jobs"]

    @property
    def actor(self) -> str:
        return self.current_user["name"]

    def url(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def argument(self, name: str) -> str:
        return (self.get_body_argument(name, "") or "").strip()

    def done(self, url: str, notice: str) -> None:
        """After a change: to ``url`` (303, so a reload does not post again), where
        ``notice`` says what was done (a signed cookie read once)."""
        self.set_signed_cookie(
            NOTICE_COOKIE, notice[:1000], expires_days=None, path=self.prefix, httponly=True
        )
        self.redirect(url, status=303)

    def _take_notice(self) -> str | None:
        value = self.get_signed_cookie(NOTICE_COOKIE, max_age_days=1)
        if value is None:
            return None
        self.clear_cookie(NOTICE_COOKIE, path=self.prefix)
        return value.decode("utf-8", "replace")

    def page(self, template: str, *, status: int = 200, **context: Any) -> None:
        """Render a page; ``error`` (text) is shown above everything, ``form`` holds the
        input to show again."""
        context.setdefault("error", None)
        context.setdefault("form", {})
        if not context.get("notice"):
            context["notice"] = self._take_notice()
        context.update(
            prefix=self.prefix,
            user=self.current_user,
            xsrf=self.xsrf_token.decode("ascii"),
            navigation=NAVIGATION,
            hub_url="/hub/home",
        )
        # The navigation's current item: the section this page is in (or a handler's choice).
        context.setdefault("here", self.request.path.removeprefix(self.prefix).split("/")[0])
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.settings["templates"].get_template(template).render(**context))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code >= 500:  # no internals: the log has them
            message = "Something went wrong on the server; the service's log says what."
        elif isinstance(exc, HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif isinstance(exc, CatalogError):
            message = str(exc)
        self.error_page(status_code, message)

    def error_page(self, status: int, message: str) -> None:
        """The error page: a heading, ``message``, what to do next and where to go."""
        # The user as the hub said in prepare (never asked again here, and maybe not yet).
        user = getattr(self, "_hub_auth_user_cache", None)
        admin = user_can_administer(user)
        path = self.request.path.removeprefix(self.prefix)
        heading, next_step, links = error_guidance(status, path, admin, self.forged)
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        template = self.settings["templates"].get_template("error.html")
        self.finish(
            template.render(
                code=status,
                heading=heading,
                message=message,
                next_step=next_step,
                links=[(self.prefix + target, label) for target, label in links],
                prefix=self.prefix,
                user=user,
                navigation=NAVIGATION if admin else (),
                here=None,
                hub_url="/hub/home",
                error=None,
                notice=None,
            )
        )


class NotFoundHandler(CatalogHandler):
    """Any other path: the error page (for admins; others are sent to sign in or refused)."""

    @needs_admin
    async def get(self, *_args: str) -> None:
        raise HTTPError(404, f"There is no page {self.request.path}.")


HEADINGS = {400: "Not done", 403: "Not allowed", 404: "Not found", 405: "Not possible"}
# The list to go to from a path's section (the first part of the path).
SECTIONS = {
    "datasets": "datasets",
    "uploads": "datasets",
    "projects": "projects",
    "grants": "projects",
    "organisations": "organisations",
    "users": "users",
}


def error_guidance(
    status: int, path: str, admin: bool, forged: bool = False
) -> tuple[str, str, list[tuple[str, str]]]:
    """An error page's heading, what to do next, and where to go (paths under the prefix)."""
    heading = HEADINGS.get(status, "Something went wrong" if status >= 500 else "Not done")
    if status == 403 and forged:  # refused before anyone was asked who they are
        step = "The form was sent from an old or a foreign page: reload the page and send it again."
        return heading, step, []
    if not admin:
        # Not an admin (or not known to be one): the pages stay closed, so only the hub's home.
        step = (
            "The catalog pages are for admins: ask an admin to add you to the admin group on "
            "the hub, then sign in again from the hub's home."
        )
        return heading, step, []
    section = SECTIONS.get(path.split("/")[0], "")
    labels = dict(NAVIGATION)
    links = [(section, labels[section])] if section else []
    links.append(("", "Overview"))
    if status >= 500:
        step = (
            "Try again in a minute. If it keeps happening, look in the catalog service's log "
            "(in the hub's log), which has the details, or tell whoever runs the server."
        )
    elif status == 404:
        step = "It may have been removed, or the link is wrong: go to the list and open it there."
    else:
        step = "Nothing was changed: go back, correct what it says and try again."
    return heading, step, links
