"""Uploading a dataset file from the admin's browser, in chunks, into the import directory.

The page (``datasets/upload-file``) is the only one with a script (``static/upload.js``,
served by this service; its CSP allows ``script-src 'self'`` and ``connect-src 'self'``, no
inline script and no eval). The script talks to a small JSON API, every call with the admin
scope and the XSRF token as the ``X-XSRFToken`` header:

- ``POST uploads`` {filename, size, sha256, contributor_column, mapping, values_are_orgs}
  declares the upload (refused at once when too large or badly named) -> 201 {id, offset, ...}
- ``GET uploads/<id>`` -> {offset, state, message, file}: where to resume, how the check went
- ``PUT uploads/<id>?offset=N`` with the bytes -> {offset}; 409 with the server's offset if N
  is not it
- ``POST uploads/<id>/check`` once every byte is there -> 202; the check runs in a thread and
  ``GET uploads/<id>`` says ``done`` (with the file's name in the import directory) or
  ``refused`` (with why, the bytes removed).

The staging and checks are :mod:`cleanroom.catalog.uploads`; the catalog's own checks run
through :meth:`CatalogService.check_source`. Audit: ``catalog.upload.start``,
``catalog.upload.complete`` and ``catalog.upload.refuse``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.web import HTTPError

from cleanroom.catalog.errors import CatalogError
from cleanroom.catalog.uploads import (
    CHUNK_BYTES,
    STALE_AFTER_S,
    Upload,
    UploadError,
    parse_check,
)
from cleanroom.catalog.web.base import (
    CONTENT_SECURITY_POLICY,
    CatalogHandler,
    log,
    needs_admin,
)
from cleanroom.catalog.web.forms import parse_mapping

UPLOAD_PAGE_POLICY = CONTENT_SECURITY_POLICY + "; script-src 'self'; connect-src 'self'"


class UploadPageHandler(CatalogHandler):
    @needs_admin
    async def get(self) -> None:
        self.set_header("Content-Security-Policy", UPLOAD_PAGE_POLICY)
        store = self.settings["uploads"]
        self.page(
            "dataset_upload.html",
            import_dir=self.settings["import_dir"],
            max_bytes=store.max_bytes,
            chunk_bytes=CHUNK_BYTES,
            stale_hours=STALE_AFTER_S // 3600,
        )


class UploadApiHandler(CatalogHandler):
    """JSON in and out; every refusal is {"error": ..., "offset": ...} with its status."""

    @property
    def store(self):
        return self.settings["uploads"]

    def answer(self, data: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any] = {"error": self._reason}
        if isinstance(exc, HTTPError) and exc.log_message:
            body["error"] = exc.log_message % exc.args if exc.args else exc.log_message
        elif isinstance(exc, CatalogError):
            body["error"] = str(exc)
        elif status_code >= 500:
            body["error"] = "Something went wrong on the server; the service's log says what."
        if isinstance(exc, UploadError) and exc.offset is not None:
            body["offset"] = exc.offset
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, UploadError):
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        if isinstance(e, CatalogError):
            self.send_error(400, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def audit(self, event: str, upload: Upload, **details: Any) -> None:
        self.catalog.audit.append(
            event,
            self.actor,
            upload=upload.id,
            file=upload.filename,
            size=upload.size,
            sha256=upload.sha256,
            **details,
        )


class UploadsHandler(UploadApiHandler):
    @needs_admin
    async def post(self) -> None:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise UploadError("send the upload's description as JSON") from None
        if not isinstance(data, dict):
            raise UploadError("send the upload's description as a JSON object")
        check = parse_check(data)
        parse_mapping(check["mapping"])  # a mistake in the mapping is told before any byte
        try:
            upload = await self.call(
                self.store.start,
                data.get("filename"),
                data.get("size"),
                data.get("sha256"),
                actor=self.actor,
                check=check,
            )
        except UploadError as error:
            await self.call(
                self.catalog.audit.append,
                "catalog.upload.refuse",
                self.actor,
                file=str(data.get("filename"))[:255],
                reason=str(error),
            )
            raise
        await self.call(
            self.audit,
            "catalog.upload.start",
            upload,
            contributor_column=check["contributor_column"],
        )
        self.answer(upload.public(), 201)


class UploadHandler(UploadApiHandler):
    @needs_admin
    async def get(self, upload_id: str) -> None:
        upload = await self.call(self.store.get, upload_id, self.actor)
        self.answer(upload.public())

    @needs_admin
    async def put(self, upload_id: str) -> None:
        try:
            offset = int(self.get_query_argument("offset", ""))
        except ValueError:
            raise UploadError("say at which offset this chunk goes (?offset=N)") from None
        new = await self.call(
            self.store.write, upload_id, offset, self.request.body, actor=self.actor
        )
        self.answer({"id": upload_id, "offset": new})


class UploadCheckHandler(UploadApiHandler):
    @needs_admin
    async def post(self, upload_id: str) -> None:
        upload = await self.call(self.store.begin_check, upload_id, actor=self.actor)
        catalog, store, check = self.catalog, self.store, upload.check

        def checker(path, fmt):
            catalog.check_source(
                path,
                contributor_column=check["contributor_column"],
                mapping=parse_mapping(check["mapping"]),
                values_are_organisations=check["values_are_orgs"],
                format=fmt,
            )

        def run() -> None:
            try:
                ended = store.check(upload, checker)
            except Exception:
                log.exception("checking upload %s failed", upload.id)
                ended = upload
            try:
                if ended.state == "done":
                    self.audit("catalog.upload.complete", ended, placed=ended.file)
                else:
                    self.audit("catalog.upload.refuse", ended, reason=ended.message)
            except Exception:
                log.exception("cannot record the end of upload %s", upload.id)

        task = asyncio.ensure_future(self.call(run))
        self.settings.setdefault("upload_checks", set()).add(task)
        task.add_done_callback(self.settings["upload_checks"].discard)
        self.answer(upload.public(), 202)


default_handlers = [
    # "-" is never in a dataset's name, so this page cannot hide a dataset's.
    (r"datasets/upload-file", UploadPageHandler),
    (r"uploads", UploadsHandler),
    (r"uploads/([A-Za-z0-9_-]{1,64})", UploadHandler),
    (r"uploads/([A-Za-z0-9_-]{1,64})/check", UploadCheckHandler),
]
