"""The admin pages' application, and ``python -m cleanroom.catalog.web`` (run by the hub).

The hub gives the service its place (``JUPYTERHUB_SERVICE_URL``, where to listen, and
``JUPYTERHUB_SERVICE_PREFIX``, the path the proxy forwards, ``/services/catalog/``) and its
OAuth client; the deployment's settings come as ``CLEANROOM_*`` like everywhere else.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import jinja2
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.web import Application

from cleanroom.catalog.uploads import UploadStore
from cleanroom.catalog.web import datasets, display, jobs, organisations, projects, uploads
from cleanroom.catalog.web.base import NotFoundHandler, check_route_table, log
from cleanroom.services.app import (
    cookie_settings,
    page_templates,
    run_service,
    serve_until_stopped,
    service_routes,
)

if TYPE_CHECKING:
    from cleanroom.settings import Settings

HERE = Path(__file__).resolve().parent
MODULES = (organisations, uploads, datasets, projects, jobs, display)
DEFAULT_UPLOAD_MAX_BYTES = 20 * 1024**3
CLEAN_UPLOADS_EVERY_S = 3600


def templates() -> jinja2.Environment:
    return page_templates(
        HERE / "templates",
        when=lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-",
    )


def routes(prefix: str) -> list[tuple]:
    """Every module's route table under ``prefix``, the OAuth callback and the stylesheet
    (which is the only thing served without the admin check)."""
    return service_routes(prefix, MODULES, HERE / "static", check_route_table)


def make_app(
    catalog,
    *,
    prefix: str,
    state_dir: str,
    import_dir: str,
    cookie_secret: bytes | None = None,
    workers: int = 2,
    hub_auth=None,
    settings: Settings | None = None,
    upload_max_bytes: int | None = None,
) -> Application:
    """The application over ``catalog`` (a CatalogService) at ``prefix`` (ends with /).

    ``settings``: the deployment's (the display channel's limits); by default each page that
    needs them reads them from the environment. ``upload_max_bytes``: the largest upload
    (default the settings' upload_max_bytes, else 20 GiB)."""
    if not prefix.endswith("/"):
        prefix += "/"
    return Application(
        routes(prefix),
        catalog=catalog,
        jobs=jobs.JobRunner(workers),
        templates=templates(),
        prefix=prefix,
        state_dir=state_dir,
        import_dir=import_dir,
        uploads=UploadStore(
            import_dir,
            max_bytes=upload_max_bytes
            or (settings.upload_max_bytes if settings else DEFAULT_UPLOAD_MAX_BYTES),
        ),
        hub_auth=hub_auth,
        cleanroom_settings=settings,
        **cookie_settings(cookie_secret),
        default_handler_class=NotFoundHandler,
    )


def main() -> int:
    return run_service(serve)


async def serve() -> None:
    from cleanroom.audit import AuditLog
    from cleanroom.catalog.service import CatalogService
    from cleanroom.settings import Settings

    settings = Settings.from_env()
    import_dir = settings.import_path
    import_dir.mkdir(parents=True, exist_ok=True)
    catalog = CatalogService.open(
        settings.catalog_database_url, AuditLog.from_state_dir(settings.state_dir)
    )
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/catalog/")
    service_url = urlparse(
        os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{settings.catalog_web_port}")
    )
    app = make_app(
        catalog,
        prefix=prefix,
        state_dir=settings.state_dir,
        import_dir=str(import_dir),
        settings=settings,
    )
    server = HTTPServer(app)
    # Loopback only: the hub's proxy is the way in.
    server.listen(service_url.port or settings.catalog_web_port, "127.0.0.1")
    log.info(
        "catalog pages at %s (prefix %s), files from %s", service_url.geturl(), prefix, import_dir
    )
    # Partial uploads abandoned for a day: at the start, then every hour.
    cleaner = PeriodicCallback(lambda: _clean_uploads(app), CLEAN_UPLOADS_EVERY_S * 1000)
    _clean_uploads(app, starting=True)
    cleaner.start()
    # Airlock copies this service was writing in the background when it last stopped.
    finishing = asyncio.ensure_future(asyncio.to_thread(_finish_pending, catalog, settings))
    await serve_until_stopped(server)
    finishing.cancel()
    cleaner.stop()
    app.settings["jobs"].shutdown()


def _clean_uploads(app: Application, *, starting: bool = False) -> None:
    try:
        if starting:
            for upload_id in app.settings["uploads"].recover():
                log.info("upload %s was being checked when the service stopped", upload_id)
        removed = app.settings["uploads"].clean()
    except OSError:
        log.exception("could not clean the abandoned uploads")
        return
    if removed:
        log.info("removed abandoned upload files: %s", removed)


def _finish_pending(catalog, settings) -> None:
    from cleanroom.catalog.data_plane import finish_pending_airlock_copies, grants_dir

    try:
        finished = finish_pending_airlock_copies(catalog, grants_dir(settings.state_dir))
    except Exception:  # noqa: BLE001 - the pages still serve; the next start tries again
        log.exception("could not finish the airlock copies left pending")
        return
    if finished:
        log.info("finished %d airlock cop(ies) left pending: %s", len(finished), finished)


if __name__ == "__main__":
    sys.exit(main())
