"""The REST API (docs: ``api/openapi.json``, kept in the repo as airlock/openapi.json).

Uploads stream: ``PUT api/requests/{id}/files/{name}`` writes each chunk to a temporary file in
the blob store as it arrives (hashing as it goes), never holding the whole file in memory; a
body over the limit is cut off with 413, and nothing of an upload that did not finish stays.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tornado.http1connection import HTTP1Connection
from tornado.web import stream_request_body

from cleanroom.airlock.errors import InvalidInput, NotFound, TooLarge
from cleanroom.airlock.inspect import sandboxed
from cleanroom.airlock.inspect.tables import SPEC_HEADER as TABLE_SPEC_HEADER
from cleanroom.airlock.inspect.tables import decode_header as decode_table_spec
from cleanroom.airlock.service import VoteInput
from cleanroom.airlock.states import State
from cleanroom.airlock.store import BlobWriter
from cleanroom.airlock.web.handlers.base import AirlockHandler, authenticated
from cleanroom.airlock.web.serialise import request_model
from cleanroom.services.handlers import public

HERE = Path(__file__).resolve().parents[1]  # airlock/web/
UPLOAD_SLACK = 2 * 1024 * 1024
OPENAPI_PATH = HERE / "openapi.json"


def detect_media_type(path: Path, name: str) -> str:
    """The media type from the content, found in the sandbox
    (cleanroom.airlock.inspect.mediatypes); ``application/octet-stream`` when it cannot tell:
    unknown, never a guess from the name."""
    return sandboxed.media_type(path, name)


class ApiHandler(AirlockHandler):
    api = True


class RequestsHandler(ApiHandler):
    @authenticated
    async def get(self):
        queue = self.get_query_argument("queue", "")
        if queue == "review":
            rows = await self.call(self.airlock.review_queue, self.me)
        elif queue == "all":
            state = self.get_query_argument("state", "") or None
            if state is not None and state not in {s.value for s in State}:
                raise InvalidInput(f"{state!r} is not a state")
            rows = await self.call(self.airlock.list_all, self.me, state)
        elif queue in ("", "mine"):
            rows = await self.call(self.airlock.list_mine, self.me)
        else:
            raise InvalidInput(f"queue={queue!r} is not known: use mine, review or all")
        self.write_json({"requests": [request_model(r, self.me, inside=self.inside) for r in rows]})

    @authenticated
    async def post(self):
        body = self.json_body()
        # Only these fields are read; a "project" or "requester" in the body is ignored:
        # the project is the one of the caller's running server, as the hub records it.
        request = await self.call(
            self.airlock.create,
            self.me,
            project=self.server_project,
            justification=body.get("justification"),
            title=body.get("title", ""),
        )
        self.write_json(request_model(request, self.me, inside=self.inside), 201)


class RequestHandler(ApiHandler):
    @authenticated
    async def get(self, request_id: str):
        request = await self.call(self.airlock.get, self.me, request_id)
        self.write_json(request_model(request, self.me, inside=self.inside))


class SubmitHandler(ApiHandler):
    @authenticated
    async def post(self, request_id: str):
        body = self.json_body()
        request = await self.call(
            self.airlock.submit, self.me, request_id, body.get("justification")
        )
        self.write_json(request_model(request, self.me, inside=self.inside))


class WithdrawHandler(ApiHandler):
    @authenticated
    async def post(self, request_id: str):
        request = await self.call(self.airlock.withdraw, self.me, request_id)
        self.write_json(request_model(request, self.me, inside=self.inside))


class RevokeHandler(ApiHandler):
    @authenticated
    async def post(self, request_id: str):
        body = self.json_body()
        request = await self.call(self.airlock.revoke, self.me, request_id, body.get("reason"))
        self.write_json(request_model(request, self.me, inside=self.inside))


def parse_votes(body: dict) -> list[VoteInput]:
    votes = body.get("votes")
    if not isinstance(votes, list) or not votes:
        raise InvalidInput('give "votes": [{"file": ..., "decision": ..., "comment": ...}]')
    parsed = []
    for vote in votes:
        if not isinstance(vote, dict) or not isinstance(vote.get("file"), str):
            raise InvalidInput('each vote is an object with "file", "decision" and "comment"')
        comment = vote.get("comment", "")
        if not isinstance(comment, str) or not isinstance(vote.get("decision"), str):
            raise InvalidInput('"decision" and "comment" are text')
        visible = vote.get("visible_to_requester", False)
        if not isinstance(visible, bool):
            raise InvalidInput('"visible_to_requester" is true or false')
        parsed.append(VoteInput(vote["file"], vote["decision"], comment, visible))
    return parsed


class VotesHandler(ApiHandler):
    @authenticated
    async def post(self, request_id: str):
        body = self.json_body()
        votes = parse_votes(body)
        seen = body.get("seen_comments")
        if seen is not None and (not isinstance(seen, int) or isinstance(seen, bool) or seen < 0):
            raise InvalidInput('"seen_comments" is the number of comments you were shown')
        request = await self.call(self.airlock.vote, self.me, request_id, votes, seen)
        self.write_json(request_model(request, self.me, inside=self.inside))


class CommentsHandler(ApiHandler):
    @authenticated
    async def post(self, request_id: str):
        body = self.json_body()
        file = body.get("file")
        visible = body.get("visible_to_requester", True)
        if file is not None and not isinstance(file, str) or not isinstance(visible, bool):
            raise InvalidInput('"file" is a file name or null, "visible_to_requester" a boolean')
        await self.call(self.airlock.comment, self.me, request_id, body.get("text"), file, visible)
        request = await self.call(self.airlock.get, self.me, request_id)
        self.write_json(request_model(request, self.me, inside=self.inside), 201)


@stream_request_body
class FileHandler(ApiHandler):
    """PUT streams a file in; DELETE removes it (draft or returned only)."""

    writer: BlobWriter | None = None
    table_spec: dict | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self.request.method != "PUT":
            return
        if self.me is None:
            return  # @authenticated answers 401 (the body is not read)
        request_id, name = self.path_kwargs["request_id"], self.path_kwargs["name"]
        type_ = self.get_query_argument("type", None)
        # A verified table's specification (cleanroom.sdc), sent by the lab server beside it.
        self.table_spec = decode_table_spec(self.request.headers.get(TABLE_SPEC_HEADER))
        # The size limits, the storage quotas and the specification, before a byte of the
        # body is read.
        allowance = await self.call(
            self.airlock.upload_allowance,
            self.me,
            request_id,
            name,
            type_,
            self.server_project,
            self.table_spec,
        )
        limit = allowance.bytes
        length = self.request.headers.get("Content-Length")
        if length is not None:
            if not length.isdigit():
                raise InvalidInput("Content-Length is not a number")
            if int(length) > limit:
                raise TooLarge(
                    f"the file is {length} bytes, but {allowance.limit}, so at most {limit} "
                    "bytes are accepted for it; nothing was stored"
                )
        # Some slack past the limit so that the writer sees the overflowing chunk and the
        # client gets a 413 (tornado itself would answer a bare 400).
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):  # else tornado's smaller default holds
            connection.set_max_body_size(limit + UPLOAD_SLACK)
        self.writer = await asyncio.to_thread(self.airlock.store.writer, limit, f"file {name}")

    async def data_received(self, chunk: bytes) -> None:
        if self.writer is None or self._finished:
            return
        try:
            await asyncio.to_thread(self.writer.write, chunk)
        except TooLarge as error:
            # A body without Content-Length that passed the limit: answer now (the writer
            # has already removed what it wrote); tornado closes the connection after.
            self.writer = None
            self.write_json({"error": str(error)}, error.status)

    def on_connection_close(self) -> None:
        # Cut off half-way: nothing of it stays.
        if self.writer is not None:
            self.writer.abort()
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.writer is not None:
            self.writer.abort()  # a no-op once committed

    @authenticated
    async def put(self, request_id: str, name: str):
        if self._finished:
            return  # answered while the body arrived (413)
        if self.writer is None:
            raise InvalidInput("no upload was started")
        blob = await asyncio.to_thread(self.writer.commit)
        path = self.airlock.store.blob_path(blob.sha256)
        media_type = await asyncio.to_thread(detect_media_type, path, name)
        type_ = self.get_query_argument("type", None)
        row = await self.call(
            self.airlock.put_file,
            self.me,
            request_id,
            name,
            type_,
            blob,
            media_type,
            project=self.server_project,
            table_spec=self.table_spec,
        )
        self.write_json(
            {
                "name": row.name,
                "type": row.type,
                "size": row.size,
                "sha256": row.sha256,
                "media_type": row.media_type,
                "version": row.version,
                "votes": [],
            },
            201,
        )

    @authenticated
    async def delete(self, request_id: str, name: str):
        await self.call(self.airlock.delete_file, self.me, request_id, name)
        self.set_status(204)
        self.finish()


class DownloadHandler(ApiHandler):
    """The approved bytes, for the requester, from outside the clean room only."""

    @authenticated
    async def get(self, request_id: str, name: str):
        row, path = await self.call(
            self.airlock.download,
            self.me,
            request_id,
            name,
            peer_in_clean_room=self.peer_in_clean_room(),
        )
        self.set_header("Content-Type", "application/octet-stream")
        ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in row.name)
        self.set_header("Content-Disposition", f'attachment; filename="{ascii_name}"')
        self.set_header("X-Content-SHA256", row.sha256)
        self.set_header("Content-Length", str(row.size))
        for chunk in self.airlock.store.read_verified(row.sha256):
            self.write(chunk)
            await self.flush()
        self.finish()


class OpenAPIHandler(ApiHandler):
    """The API's description; public (it holds no data)."""

    async def prepare(self) -> None:
        pass

    @public
    def get(self):
        document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
        document["servers"] = [{"url": self.prefix.rstrip("/")}]
        self.write_json(document)


class NotFoundHandler(ApiHandler):
    async def prepare(self) -> None:
        raise NotFound(f"there is no API endpoint {self.request.path}")


RID = r"(?P<request_id>[^/]+)"
NAME = r"(?P<name>[^/]+)"
default_handlers = [
    (r"api/requests", RequestsHandler),
    (rf"api/requests/{RID}", RequestHandler),
    (rf"api/requests/{RID}/submit", SubmitHandler),
    (rf"api/requests/{RID}/withdraw", WithdrawHandler),
    (rf"api/requests/{RID}/revoke", RevokeHandler),
    (rf"api/requests/{RID}/votes", VotesHandler),
    (rf"api/requests/{RID}/comments", CommentsHandler),
    (rf"api/requests/{RID}/files/{NAME}", FileHandler),
    (rf"api/requests/{RID}/files/{NAME}/download", DownloadHandler),
    (r"api/openapi.json", OpenAPIHandler),
]
