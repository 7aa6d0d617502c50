"""The airlock's application, and ``python -m cleanroom.airlock`` (run by the hub).

The hub gives the service its place (``JUPYTERHUB_SERVICE_URL``: the researchers' gateway
and the airlock port, which containers may reach; ``JUPYTERHUB_SERVICE_PREFIX``:
``/services/airlock/``, which the proxy forwards for browsers), its OAuth client and its API
token; the deployment's settings come as ``CLEANROOM_*``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import jinja2
from jupyterhub.utils import url_path_join
from tornado.httpserver import HTTPServer
from tornado.web import Application

from cleanroom.airlock.web.handlers import api, pages
from cleanroom.airlock.web.handlers.base import check_route_table, log
from cleanroom.services.app import (
    cookie_settings,
    page_templates,
    run_service,
    serve_until_stopped,
    service_routes,
)

HERE = Path(__file__).resolve().parent
MODULES = (api, pages)
# JSON bodies; the upload handler raises its own connection's limit to the file limit.
MAX_JSON_BODY = 1024 * 1024


def templates() -> jinja2.Environment:
    return page_templates(
        HERE / "templates", when=lambda text: (text or "-").replace("T", " ")[:16] + " UTC"
    )


def routes(prefix: str) -> list[tuple]:
    """Every module's route table under ``prefix``, the OAuth callback, the static files,
    and JSON 404s for unknown API paths."""
    return [
        *service_routes(prefix, MODULES, HERE / "static", check_route_table),
        (url_path_join(prefix, r"api/.*"), api.NotFoundHandler),
    ]


def make_app(
    airlock,
    hub,
    *,
    prefix: str,
    subnet: str,
    gateway: str,
    hub_auth=None,
    cookie_secret: bytes | None = None,
) -> Application:
    """The application over ``airlock`` (an AirlockService) and ``hub`` (a facts.HubClient)."""
    if not prefix.endswith("/"):
        prefix += "/"
    return Application(
        routes(prefix),
        airlock=airlock,
        hub=hub,
        hub_auth=hub_auth,
        templates=templates(),
        prefix=prefix,
        clean_room_subnet=subnet,
        gateway=gateway,
        **cookie_settings(cookie_secret),
        default_handler_class=pages.NotFoundPage,
    )


def open_service(settings):
    """The AirlockService of a deployment: its database and blobs under airlock_path."""
    from cleanroom.airlock.db import create_airlock_engine, session_factory
    from cleanroom.airlock.facts import CatalogFacts
    from cleanroom.airlock.service import AirlockService, Limits
    from cleanroom.airlock.store import BlobStore
    from cleanroom.audit import AuditLog
    from cleanroom.catalog.data_plane import grants_dir
    from cleanroom.catalog.service import CatalogService
    from cleanroom.policy import PolicyClient

    root = settings.airlock_path
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    audit = AuditLog.from_state_dir(settings.state_dir)
    catalog = CatalogService.open(settings.catalog_database_url, audit)
    database = root / "airlock.sqlite"
    return AirlockService(
        session_factory(create_airlock_engine(database)),
        BlobStore(root / "blobs"),
        PolicyClient(settings.policy_url, timeout=5.0, audit=audit),
        audit,
        CatalogFacts(catalog),
        Limits(
            max_file_bytes=settings.airlock_max_file_bytes,
            max_files=settings.airlock_max_files,
            max_request_bytes=settings.airlock_max_request_bytes,
            researcher_quota_bytes=settings.airlock_researcher_quota_bytes,
            project_quota_bytes=settings.airlock_project_quota_bytes,
            max_drafts=settings.airlock_max_drafts,
            max_open_requests=settings.airlock_max_open_requests,
        ),
        view_policy=PolicyClient(settings.policy_url, timeout=5.0),
        read_sessions=session_factory(create_airlock_engine(database, writer=False)),
        grants_dir=grants_dir(settings.state_dir),
    )


def main() -> int:
    return run_service(serve)


def _check_sandbox() -> None:
    """Say at start when the sandbox does not work: every preview would then be a note, every
    upload's media type unknown and every PDF check an error (nothing unchecked leaves)."""
    import tempfile

    from cleanroom import sandbox

    with tempfile.NamedTemporaryFile() as probe_input:
        result = sandbox.run("probe", Path(probe_input.name), {"probe": "whoami"})
    if result.ok:
        log.info("sandbox works: jobs run as uid %s", result.value["uid"])
    else:
        log.error(
            "the sandbox does not work (%s): no file can be previewed or checked; "
            "run `python -m cleanroom.sandbox check`",
            result.message,
        )


async def serve() -> None:
    from cleanroom.airlock.facts import HubClient
    from cleanroom.settings import Settings

    settings = Settings.from_env()
    airlock = await asyncio.to_thread(open_service, settings)
    resumed = await asyncio.to_thread(airlock.resume_submitted)
    await asyncio.to_thread(_check_sandbox)
    if resumed:
        log.info("%d request(s) left in 'submitted' went back to their researchers", resumed)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/airlock/")
    service_url = urlparse(
        os.environ.get(
            "JUPYTERHUB_SERVICE_URL", f"http://{settings.gateway}:{settings.airlock_port}"
        )
    )
    hub = HubClient(
        os.environ.get(
            "JUPYTERHUB_API_URL", f"http://{settings.gateway}:{settings.hub_port}/hub/api"
        ),
        os.environ.get("JUPYTERHUB_API_TOKEN", ""),
    )
    app = make_app(airlock, hub, prefix=prefix, subnet=settings.subnet, gateway=settings.gateway)
    # Upload bodies arrive in chunks of up to 1 MiB: fewer hand-offs to the writing thread.
    server = HTTPServer(
        app, max_body_size=MAX_JSON_BODY, idle_connection_timeout=300, chunk_size=1024 * 1024
    )
    # On the researchers' gateway: containers reach it there (the firewall lets them reach
    # this one port), and so does the hub's proxy for browsers.
    server.listen(service_url.port or settings.airlock_port, service_url.hostname)
    log.info(
        "airlock at %s (prefix %s), files in %s",
        service_url.geturl(),
        prefix,
        settings.airlock_path,
    )
    await serve_until_stopped(server)


if __name__ == "__main__":
    sys.exit(main())
