"""The JupyterHub REST API, called with a service's token: one place for its URL, its auth
header and its JSON.

    api = HubAPI("http://127.0.0.1:8000", token)               # the hub's root URL
    api.call("GET", "/users?state=active")                     # sync (urllib)
    hub = AsyncHubAPI("http://10.0.0.1:8081/hub/api", token)   # the API URL, as JupyterHub
    await hub.call("GET", "/users/alice")                      # gives services; async (tornado)

Two clients with one shape: the grant watcher and the command line are synchronous, the
airlock's handlers are asynchronous. A synchronous wrapper over the asynchronous client would
need an event loop per call in the watcher's thread (tornado's client is bound to its loop).

Errors are the transport's own: ``urllib.error.HTTPError`` / ``URLError`` (sync) and
``tornado.httpclient.HTTPClientError`` / ``OSError`` (async); callers decide what a 404 means.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

API_PATH = "/hub/api"
# Asked for with this Accept header, list endpoints answer one page with where the next starts.
PAGINATION = "application/jupyterhub-pagination+json"
PAGE_LIMIT = 200  # JupyterHub's api_page_max_limit default


def _headers(token: str, body: Any) -> dict[str, str]:
    """The service's token; the content type when there is a body (the sync client has always
    sent it)."""
    headers = {"Authorization": f"token {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return headers


def _encode(body: Any) -> bytes | None:
    return None if body is None else json.dumps(body).encode()


def _decode(payload: bytes) -> Any:
    return json.loads(payload) if payload else None


class HubAPI:
    """Synchronous calls to the hub API at ``<base_url>/hub/api``."""

    def __init__(self, base_url: str, token: str, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_api_url(cls, api_url: str, token: str, timeout: float = 30) -> HubAPI:
        """From the API URL (``JUPYTERHUB_API_URL``, ending in ``/hub/api``)."""
        return cls(api_url.rstrip("/").removesuffix(API_PATH), token, timeout)

    def call(
        self, method: str, path: str, body: dict | None = None, *, accept: str | None = None
    ) -> Any:
        """``method`` on ``/hub/api<path>`` with ``body`` as JSON; the answer's JSON, or None
        for an empty answer."""
        headers = _headers(self.token, body or {})
        if accept:
            headers["Accept"] = accept
        request = urllib.request.Request(  # noqa: S310 - the hub URL comes from settings
            f"{self.base_url}{API_PATH}{path}",
            data=_encode(body),
            method=method,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return _decode(response.read())

    def every(self, path: str, limit: int = PAGE_LIMIT) -> Iterator[Any]:
        """Every item of a paginated list (``/users?state=active``), page after page: a
        plain GET answers only the first page (50 by default)."""
        offset = 0
        separator = "&" if "?" in path else "?"
        while True:
            page = self.call(
                "GET", f"{path}{separator}offset={offset}&limit={limit}", accept=PAGINATION
            )
            yield from page["items"]
            following = (page.get("_pagination") or {}).get("next")
            if not following or not page["items"]:
                return
            offset = int(following["offset"])

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", "/")
                return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def ensure_user(self, name: str, groups: tuple[str, ...]) -> None:
        """Create the user unless it exists, and add it to ``groups``."""
        try:
            self.call("GET", f"/users/{name}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            self.call("POST", f"/users/{name}")
        for group in groups:
            self.call("POST", f"/groups/{group}/users", {"users": [name]})


class AsyncHubAPI:
    """Asynchronous calls to the hub API at ``api_url`` (ending in ``/hub/api``)."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def call(self, method: str, path: str, body: dict | None = None) -> Any:
        """As :meth:`HubAPI.call`; raises tornado's HTTPClientError for an error status and
        OSError when the hub cannot be reached."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        request = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            body=_encode(body),
            headers=_headers(self.token, body),
            request_timeout=self.timeout,
            connect_timeout=self.timeout,
        )
        response = await AsyncHTTPClient().fetch(request)
        return _decode(response.body)
