"""A small client of the airlock's REST API (notes: airlock HTTP contract), with the
researcher's own hub token. Every answer that is not a success becomes an ``AirlockError``
that carries the airlock's own message and reasons."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

# A verified table's specification travels with its file in this header (base64url, no padding).
TABLE_SPEC_HEADER = "X-Cleanroom-Table-Spec"


class AirlockError(Exception):
    def __init__(self, status: int, message: str, reasons=(), body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reasons = list(reasons)
        self.body = body or {}


def _segment(value: str) -> str:
    return quote(value, safe="")


class AirlockClient:
    def __init__(self, base_url: str, token: str, timeout: float = 120.0):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.timeout = timeout

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        params=None,
        ctype=None,
        extra_headers: dict[str, str] | None = None,
    ):
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        headers.update(extra_headers or {})
        if ctype:
            headers["Content-Type"] = ctype
        if body is None and method in ("POST", "PUT"):
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as error:
            raise AirlockError(
                502, f"The airlock cannot be reached ({error}). Try again in a minute."
            ) from None
        if response.code == 599:
            raise AirlockError(
                502, f"The airlock cannot be reached ({response.error}). Try again in a minute."
            )
        payload: dict = {}
        if response.body:
            try:
                payload = json.loads(response.body)
            except ValueError:
                payload = {}
        if not 200 <= response.code < 300:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise AirlockError(
                response.code,
                message or f"The airlock refused this ({response.code} {response.reason}).",
                payload.get("reasons") or () if isinstance(payload, dict) else (),
                payload if isinstance(payload, dict) else None,
            )
        return payload

    async def create_request(self, justification: str, title: str | None = None) -> dict:
        body = {"justification": justification}
        if title:
            body["title"] = title
        return await self._call(
            "POST", "api/requests", json.dumps(body).encode(), ctype="application/json"
        )

    async def put_file(
        self,
        request_id: str,
        name: str,
        file_type: str,
        data: bytes,
        table_spec: bytes | None = None,
    ) -> dict:
        """Upload one file; ``table_spec``: the bytes of its verified-table specification, sent
        as they are (the airlock validates them)."""
        path = f"api/requests/{_segment(request_id)}/files/{_segment(name)}"
        extra = {}
        if table_spec is not None:
            extra[TABLE_SPEC_HEADER] = base64.urlsafe_b64encode(table_spec).rstrip(b"=").decode()
        return await self._call(
            "PUT",
            path,
            data,
            params={"type": file_type},
            ctype="application/octet-stream",
            extra_headers=extra,
        )

    async def submit(self, request_id: str, justification: str | None = None) -> dict:
        body = json.dumps({"justification": justification} if justification else {}).encode()
        path = f"api/requests/{_segment(request_id)}/submit"
        return await self._call("POST", path, body, ctype="application/json")

    async def withdraw(self, request_id: str) -> dict:
        return await self._call("POST", f"api/requests/{_segment(request_id)}/withdraw")

    async def list_requests(self) -> list[dict]:
        payload = await self._call("GET", "api/requests")
        return payload.get("requests", [])

    async def get_request(self, request_id: str) -> dict:
        return await self._call("GET", f"api/requests/{_segment(request_id)}")
