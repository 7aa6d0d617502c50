"""What the hub's web services share (the admin pages, ``cleanroom.catalog.web``, and the airlock,
``cleanroom.airlock``): page templates, route tables under the service's prefix, work handed
to a thread, and running until the hub stops the service.

Each service keeps its own handlers, scopes and templates; only the glue lives here.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import jinja2
from jupyterhub.services.auth import HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado.httpserver import HTTPServer
from tornado.web import StaticFileHandler

from cleanroom.core.units import human_size

T = TypeVar("T")
# The stylesheet every service's pages share, at <prefix>static/common/pages.css.
COMMON_STATIC = str(Path(__file__).resolve().parent / "static")


def page_templates(directory: Path, **filters: Callable[..., str]) -> jinja2.Environment:
    """Jinja templates from ``directory``, autoescaped, with the ``size`` filter and
    ``filters``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters.update(filters)
    return env


def service_routes(
    prefix: str,
    modules: Iterable[ModuleType],
    static_dir: Path,
    check_route_table: Callable[[list[tuple]], None],
) -> list[tuple]:
    """Every module's ``default_handlers`` under ``prefix`` (each table checked first: every
    handler method carries its auth decorator), then the OAuth callback, the common
    stylesheet and the service's own static files."""
    handlers: list[tuple] = []
    for module in modules:
        check_route_table(module.default_handlers)
        for pattern, handler, *rest in module.default_handlers:
            handlers.append((url_path_join(prefix, pattern) if pattern else prefix, handler, *rest))
    handlers += [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (url_path_join(prefix, r"static/common/(.*)"), StaticFileHandler, {"path": COMMON_STATIC}),
        (url_path_join(prefix, r"static/(.*)"), StaticFileHandler, {"path": str(static_dir)}),
    ]
    return handlers


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_origin_reason(method: str, headers: Any, host: str) -> str:
    """Why a cookie-signed request that changes something did not come from this origin
    (``''`` when it did). Pages on researchers' host names are same-site with the services,
    so their requests carry the services' cookies, and they may set an XSRF cookie of their
    own for the public host: only the browser's Origin and Sec-Fetch-Site tell them apart.
    The edge (nginx) refuses the same requests first; this holds behind any other proxy."""
    if method.upper() in SAFE_METHODS:
        return ""
    fetch_site = headers.get("Sec-Fetch-Site", "")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {fetch_site}"
    origin = headers.get("Origin", "")
    if origin and origin.split("://", 1)[-1] != host:
        return f"Origin {origin} is not this site"
    return ""


def cookie_settings(cookie_secret: bytes | None) -> dict[str, Any]:
    """Application settings for the services' cookies: a secret (a new one per process
    unless given), XSRF checks on forms, and a cookie scripts cannot read nor other sites
    send."""
    return {
        "cookie_secret": cookie_secret or secrets.token_bytes(32),
        "xsrf_cookies": True,
        "xsrf_cookie_kwargs": {"httponly": True, "samesite": "Strict"},
    }


def run_service(serve: Callable[[], Any]) -> int:
    """``python -m <service>``: log to stderr (the hub's log) and serve until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve())
    return 0


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` in a worker thread: databases, OPA and the audit log block."""
    return await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(func, *args, **kwargs)
    )


async def serve_until_stopped(server: HTTPServer) -> None:
    """Serve until the hub stops the service (SIGTERM or SIGINT), then stop listening."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
