"""The release endpoints under ``<base_url>cleanroom-lab/``, for the JupyterLab front end.

Every handler is ``@tornado.web.authenticated`` (the researcher's own session) and answers
JSON; errors are ``{"error": "...", "reasons": [...]}`` like the airlock's own.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .airlock import AirlockClient, AirlockError
from .config import CleanroomLab
from .datasets import read_datasets
from .filetypes import FILE_TYPES, check_type
from .outputs import check_output
from .sources import Sources
from .workspace import TABLE_SPEC_SUFFIX, Refused, Workspace, human_size

REQUEST_ID = r"(?P<request_id>[A-Za-z0-9][A-Za-z0-9._-]{0,99})"
# The airlock's caps (cleanroom.airlock.service.Limits), refused here first.
MAX_JUSTIFICATION = 4000
MAX_TITLE = 120


@dataclass
class LabState:
    settings: CleanroomLab
    workspace: Workspace
    sources: Sources

    def airlock(self) -> AirlockClient:
        if not self.settings.airlock_url or not self.settings.api_token:
            raise AirlockError(
                503,
                "Release requests are not available on this server: the airlock is not "
                "configured (CLEANROOM_AIRLOCK_URL or the hub token is missing). Ask an "
                "administrator.",
            )
        return AirlockClient(
            self.settings.airlock_url, self.settings.api_token, self.settings.airlock_timeout
        )


def answers_errors(method):
    """Turn refusals and airlock errors into the JSON error shape."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except Refused as refused:
            self.reply(refused.status, {"error": refused.message})
        except AirlockError as error:
            status = error.status if 400 <= error.status < 600 else 502
            body = {"error": error.message}
            if error.reasons:
                body["reasons"] = error.reasons
            self.reply(status, body)

    return wrapper


class LabHandler(APIHandler):
    @property
    def lab(self) -> LabState:
        return self.settings["cleanroom_lab"]

    def reply(self, status: int, body) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Refused("The request body is not valid JSON.", 400) from None
        if not isinstance(data, dict):
            raise Refused("The request body must be a JSON object.", 400)
        return data

    async def _submit(self, airlock, request_id, justification, created=False):
        try:
            request = await airlock.submit(request_id, justification)
        except AirlockError as error:
            if error.status != 409:
                raise
            body = {"error": error.message, "reasons": error.reasons}
            body["request"] = await airlock.get_request(request_id)
            self.reply(409, body)
            return
        self.reply(201 if created else 200, request)


def _text(data: dict, key: str, limit: int, required: bool) -> str | None:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Refused(f"Say why these files should leave the clean room ({key}).", 400)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Refused(f"The {key} must be text of at most {limit} characters.", 400)
    return value.strip()


class SettingsHandler(LabHandler):
    @tornado.web.authenticated
    async def get(self):
        limits = self.lab.settings.limits
        self.reply(
            200,
            {
                "types": list(FILE_TYPES),
                "max_file_bytes": limits.max_file_bytes,
                "max_request_bytes": limits.max_request_bytes,
                "max_files": limits.max_files,
                "airlock": bool(self.lab.settings.airlock_url),
            },
        )


class DatasetsHandler(LabHandler):
    """The project's granted views as the hub described them (the Datasets panel)."""

    @tornado.web.authenticated
    async def get(self):
        self.reply(200, read_datasets(self.lab.settings.datasets_file))


class PreviewHandler(LabHandler):
    """What exactly a request for these paths would send: each file, its size and hash."""

    @tornado.web.authenticated
    @answers_errors
    async def post(self):
        workspace = self.lab.workspace
        files = workspace.expand(self.body().get("paths"))
        self.reply(
            200,
            {
                "files": [
                    {
                        "path": f.path,
                        "name": f.name,
                        "size": f.size,
                        "size_text": human_size(f.size),
                        "sha256": workspace.digest(f),
                        "type": f.suggested_type,
                        "table_spec": _spec_summary(f.name, workspace.table_spec(f)),
                    }
                    for f in files
                ],
                "total": sum(f.size for f in files),
            },
        )


def _spec_summary(name: str, spec: bytes | None) -> dict | None:
    """What the preview says of a table's specification (sent with it, never on its own)."""
    if spec is None:
        return None
    return {"name": name + TABLE_SPEC_SUFFIX, "size": len(spec)}


def _typed_paths(data: dict) -> tuple[list[str], list[str]]:
    files = data.get("files", [])
    if not isinstance(files, list):
        raise Refused("files must be a list of {path, type}.", 400)
    paths, types = [], []
    for item in files:
        if not isinstance(item, dict):
            raise Refused("files must be a list of {path, type}.", 400)
        try:
            types.append(check_type(item.get("type")))
        except ValueError as error:
            raise Refused(str(error), 400) from None
        paths.append(item.get("path"))
    return paths, types


class RequestsHandler(LabHandler):
    @tornado.web.authenticated
    @answers_errors
    async def get(self):
        self.reply(200, {"requests": await self.lab.airlock().list_requests()})

    @tornado.web.authenticated
    @answers_errors
    async def post(self):
        """Create a request with the chosen files and cell outputs, send them, submit it."""
        data = self.body()
        justification = _text(data, "justification", MAX_JUSTIFICATION, required=True)
        title = _text(data, "title", MAX_TITLE, required=False)
        paths, types = _typed_paths(data)
        raw_outputs = data.get("outputs", [])
        if not isinstance(raw_outputs, list):
            raise Refused("outputs must be a list.", 400)
        if not paths and not raw_outputs:
            raise Refused("Choose at least one file or cell output to release.", 400)
        workspace = self.lab.workspace
        limits = workspace.limits
        files = workspace.expand(paths) if paths else []
        if len(files) != len(paths):
            raise Refused("Name each file on its own (open folders in the dialog first).", 400)
        outputs = [check_output(o, limits.max_file_bytes) for o in raw_outputs]
        if len(files) + len(outputs) > limits.max_files:
            raise Refused(f"A release request holds at most {limits.max_files} files.", 413)
        workspace.check_names(
            [f.name for f in files] + [o.name for o in outputs],
            [f.path for f in files] + [f"cell output {o.name}" for o in outputs],
        )
        workspace.check_total(sum(f.size for f in files) + sum(len(o.data) for o in outputs))
        # Read before anything is sent, so that a refused specification sends nothing.
        specs = [workspace.table_spec(f) for f in files]

        airlock = self.lab.airlock()
        request = await airlock.create_request(justification, title)
        request_id = request["id"]
        try:
            for checked, file_type, spec in zip(files, types, specs, strict=True):
                data = workspace.read(checked)
                await airlock.put_file(request_id, checked.name, file_type, data, spec)
            for output in outputs:
                await airlock.put_file(request_id, output.name, output.type, output.data)
        except BaseException:
            # Nothing half-sent stays open: the draft is withdrawn, the error reported.
            try:
                await airlock.withdraw(request_id)
            except AirlockError:
                self.log.warning("cleanroom-lab: could not withdraw draft %s", request_id)
            raise
        self.lab.sources.remember(request_id, {f.name: f.path for f in files})
        await self._submit(airlock, request_id, None, created=True)


class RequestHandler(LabHandler):
    @tornado.web.authenticated
    @answers_errors
    async def get(self, request_id):
        self.reply(200, await self.lab.airlock().get_request(request_id))


class WithdrawHandler(LabHandler):
    @tornado.web.authenticated
    @answers_errors
    async def post(self, request_id):
        self.reply(200, await self.lab.airlock().withdraw(request_id))


class ResubmitHandler(LabHandler):
    """After "returned for changes": send each file's current bytes again, then submit."""

    @tornado.web.authenticated
    @answers_errors
    async def post(self, request_id):
        data = self.body()
        justification = _text(data, "justification", MAX_JUSTIFICATION, required=False)
        airlock = self.lab.airlock()
        request = await airlock.get_request(request_id)
        if request.get("state") not in ("returned", "draft"):
            raise Refused(
                f"This request is {request.get('state')}: only a request returned for changes "
                "can be resubmitted.",
                409,
            )
        workspace = self.lab.workspace
        sources = self.lab.sources.of(request_id)
        resent = []
        for item in request.get("files", []):
            path = sources.get(item.get("name"))
            if path is None:
                continue  # a cell output: it stays as it was sent
            [checked] = workspace.expand([path])
            data, spec = workspace.read(checked), workspace.table_spec(checked)
            await airlock.put_file(request_id, item["name"], item["type"], data, spec)
            resent.append(item["name"])
        self.log.info("cleanroom-lab: resubmitting %s with %s", request_id, resent)
        await self._submit(airlock, request_id, justification)


def lab_handlers(base_url: str) -> list[tuple]:
    def route(path: str) -> str:
        return url_path_join(base_url, "cleanroom-lab", path)

    return [
        (route("settings"), SettingsHandler),
        (route("datasets"), DatasetsHandler),
        (route("preview"), PreviewHandler),
        (route("requests"), RequestsHandler),
        (route(f"requests/{REQUEST_ID}"), RequestHandler),
        (route(f"requests/{REQUEST_ID}/withdraw"), WithdrawHandler),
        (route(f"requests/{REQUEST_ID}/resubmit"), ResubmitHandler),
    ]
