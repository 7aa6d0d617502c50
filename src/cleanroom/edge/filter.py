"""The edge filter: every request for a researcher's host name passes here, after nginx.

nginx terminates TLS, serves JupyterLab's static files from the image's own copy, and sends
everything else for ``<label>.<public host>`` to this process on 127.0.0.1. Here:

- the allow-list (``cleanroom.edge.routes``) decides; anything else is refused, whatever the
  server behind would answer;
- bodies are capped by kind of route, non-notebook writes must be text;
- every byte sent towards the browser (HTTP bodies and websocket messages) is counted in the
  display ledger (``cleanroom.edge.display``) before it goes, and paced by a per-researcher rate
  with a burst. When the quota is reached the channel closes with a message; when the count
  cannot be kept, it closes too.

Allowed requests go on to JupyterHub's proxy, which routes them to the researcher's server.
The hub runs this as a managed service (restarted if it exits); nginx answers 502 while it is
down, so the channel is closed then too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web
from yarl import URL

from cleanroom import origins
from cleanroom.audit import AuditLog
from cleanroom.edge import display
from cleanroom.edge import routes as edge_routes
from cleanroom.settings import Settings

log = logging.getLogger("cleanroom.edge.filter")

CHUNK = 256 * 1024
MAX_WS_MESSAGE = 32 * 1024 * 1024
# How much of a browser's kernel message is read to remember which cell is running.
MAX_PARSED_MESSAGE = 64 * 1024
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
    )
)
# Request headers only nginx may set, and those that would change what the server sends.
DROPPED_REQUEST = HOP_BY_HOP | {
    "host",
    "x-real-ip",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-cleanroom-host",
    "accept-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
}
SANDBOX = "sandbox"
QUOTA_MESSAGE = (
    "Display quota reached: your browser has received today's limit of {quota} from your "
    "clean-room server, so the edge stops sending output and file contents until midnight "
    "UTC. Work on without output (write results to files), or ask an admin."
)
LEDGER_MESSAGE = (
    "The display channel is closed: the clean room cannot count what it sends to your "
    "browser right now. Try again in a minute; an admin has been told in the edge's log."
)


def mib(count: int) -> str:
    return f"{count / (1024 * 1024):.0f} MiB"


class RateLimiter:
    """A token bucket that goes into debt: a sender takes what it sends, then waits until
    the bucket is back above zero. Whatever the pattern, a browser receives at most
    ``burst + rate * t`` bytes in ``t`` seconds."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.level = burst
        self.updated = clock()

    def delay(self, amount: int) -> float:
        now = self.clock()
        self.level = min(self.burst, self.level + (now - self.updated) * self.rate)
        self.updated = now
        self.level -= amount
        return max(0.0, -self.level / self.rate)


@dataclass
class DisplayChannel:
    """Per researcher: the rate, and the ledger's count, for every byte to their browser."""

    ledger: display.DisplayLedger
    rate: int
    burst: int
    limiters: dict[str, RateLimiter] = field(default_factory=dict)

    async def send(self, user: str, amount: int) -> None:
        """Wait until ``amount`` bytes may go to ``user``'s browser, counting them; raise
        QuotaReached or LedgerUnavailable when they may not."""
        if not self.ledger.spend_reserved(user, amount):
            await asyncio.to_thread(self.ledger.spend, user, amount)
        limiter = self.limiters.setdefault(user, RateLimiter(self.rate, self.burst))
        wait = limiter.delay(amount)
        if wait:
            await asyncio.sleep(wait)


def refusal(status: int, message: str) -> web.Response:
    """A refusal from the edge itself: short, never cached, never rendered as a page."""
    return web.json_response(
        {"message": message, "reason": "Refused by the clean room's edge"},
        status=status,
        headers={
            "X-Cleanroom-Edge": "refused",
            "Cache-Control": "no-store",
            "Content-Security-Policy": SANDBOX,
        },
    )


class EdgeFilter:
    def __init__(self, settings: Settings, channel: DisplayChannel, upstream: str) -> None:
        self.settings = settings
        self.channel = channel
        self.upstream = upstream.rstrip("/")
        self.caps = edge_routes.Caps(
            file=settings.contents_read_cap, notebook=settings.notebook_cap
        )
        self.session: aiohttp.ClientSession | None = None

    def label_of(self, user: str) -> str:
        return origins.user_host(self.settings, user).split(".", 1)[0]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.caps.notebook + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _app: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def _close(self, _app: web.Application) -> None:
        if self.session:
            await self.session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        label = origins.user_label(
            request.headers.get("X-Cleanroom-Host", ""), self.settings.public_host
        )
        if label is None:
            return refusal(404, edge_routes.NOT_HERE)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        decision = edge_routes.decide(
            request.method, request.raw_path, label, self.label_of, self.caps, upgrade
        )
        if not decision.allowed:
            log.info("refused %s %s: %s", request.method, request.raw_path, decision.message)
            return refusal(decision.status, decision.message)
        try:
            if decision.websocket:
                return await self.relay_websocket(request, decision)
            return await self.proxy_http(request, decision)
        except display.QuotaReached:
            return refusal(429, QUOTA_MESSAGE.format(quota=mib(self.settings.display_daily_quota)))
        except display.LedgerUnavailable as error:
            log.error("display ledger unavailable, refusing %s: %s", decision.user, error)
            return refusal(503, LEDGER_MESSAGE)
        except aiohttp.ClientError as error:
            log.warning("%s %s: %s", request.method, request.raw_path, error)
            return refusal(502, "The server cannot be reached right now; try again shortly.")

    def upstream_headers(self, request: web.Request, decision: edge_routes.Decision) -> dict:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_REQUEST}
        origin = origins.user_origin(self.settings, decision.user)
        headers["Host"] = origin.split("://", 1)[1]
        headers["X-Forwarded-For"] = request.headers.get("X-Real-IP", request.remote or "")
        headers["X-Forwarded-Proto"] = "https"
        return headers

    async def read_body(self, request: web.Request, cap: int) -> bytes | None:
        """The request body, or None when it is larger than ``cap`` (chunked ones too)."""
        body = bytearray()
        while True:
            chunk = await request.content.read(CHUNK)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > cap:
                return None

    async def proxy_http(
        self, request: web.Request, decision: edge_routes.Decision
    ) -> web.StreamResponse:
        body = await self.read_body(request, decision.request_cap)
        if body is None:
            return refusal(
                413,
                f"This is larger than the clean room accepts here ({mib(decision.request_cap)}).",
            )
        if body and decision.text_only_writes and request.method in ("PUT", "POST", "PATCH"):
            refused = _binary_write(body)
            if refused:
                return refusal(403, refused)
        assert self.session is not None
        user = decision.user
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self.session.request(
            request.method,
            url,
            headers=self.upstream_headers(request, decision),
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            length = upstream.content_length
            cap = decision.response_cap
            if length is not None and length > cap:
                return refusal(403, _too_large(decision, length, cap))
            first = await upstream.content.read(CHUNK) if length != 0 else b""
            head_size = 64 + sum(len(k) + len(v) + 4 for k, v in upstream.headers.items())
            # The whole answer when its length is known: a clear refusal before any byte.
            await self.channel.send(user, head_size + (length if length else len(first)))
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            if length is not None:
                response.content_length = length
            if decision.route is None or decision.route.kind != edge_routes.APP:
                response.headers["Content-Security-Policy"] = SANDBOX
            await response.prepare(request)
            sent = len(first)
            if first:
                await response.write(first)
            while sent <= cap:
                chunk = await upstream.content.read(CHUNK)
                if not chunk:
                    break
                sent += len(chunk)
                if sent > cap:
                    break
                if length is None:
                    try:
                        await self.channel.send(user, len(chunk))
                    except (display.QuotaReached, display.LedgerUnavailable) as error:
                        # The answer has begun: it can only be cut off.
                        log.warning("cut off %s for %s: %s", url.path, user, error)
                        _cut_off(request)
                        return response
                await response.write(chunk)
            if sent > cap:
                # No length was announced and the body ran past the cap: cut it off.
                log.warning("cut off %s %s for %s at %s bytes", request.method, url.path, user, cap)
                _cut_off(request)
                return response
            await response.write_eof()
            return response

    async def relay_websocket(
        self, request: web.Request, decision: edge_routes.Decision
    ) -> web.StreamResponse:
        assert self.session is not None
        user = decision.user
        await self.channel.send(user, 512)  # the handshake; refuses at once when over quota
        if request.headers.get("Sec-WebSocket-Protocol", "").strip():
            # The lab servers speak Jupyter's JSON kernel protocol only (their gateway client
            # enforces it). A browser that insists on a subprotocol (JupyterLab's first try)
            # is told no before anything is opened behind: it then connects without one. An
            # answer without the offered protocol would fail in the browser after the lab
            # server had already opened a connection to the kernels for nothing, and such
            # half-opened twins of a session raced the real one after kernel restarts.
            return refusal(400, "Connect without a websocket subprotocol.")
        url = URL(self.upstream + request.raw_path, encoded=True)
        try:
            upstream = await self.session.ws_connect(
                url,
                headers=self.upstream_headers(request, decision),
                max_msg_size=MAX_WS_MESSAGE,
                autoping=True,
                compress=0,
            )
        except aiohttp.WSServerHandshakeError as error:
            return refusal(
                error.status or 502, f"The server refused the websocket ({error.status})."
            )
        except aiohttp.ClientError as error:
            return refusal(502, f"The server cannot be reached ({error.__class__.__name__}).")
        browser = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, compress=False)
        await browser.prepare(request)
        cell = CellTracker(binary=upstream.protocol == V1_PROTOCOL)
        tasks = [
            asyncio.create_task(self._to_server(browser, upstream, cell)),
            asyncio.create_task(self._to_browser(upstream, browser, user, cell)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
            await browser.close()
        return browser

    async def _to_server(self, browser, upstream, cell: CellTracker) -> None:
        async for msg in browser:
            if msg.type == WSMsgType.TEXT:
                cell.seen(msg.data.encode())
                await upstream.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                cell.seen(msg.data)
                await upstream.send_bytes(msg.data)
            else:
                return

    async def _to_browser(self, upstream, browser, user: str, cell: CellTracker) -> None:
        async for msg in upstream:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return
            data = msg.data
            # Kernel messages are ASCII JSON: their length is their size in bytes.
            binary = msg.type == WSMsgType.BINARY
            size = len(data) if binary or data.isascii() else len(data.encode())
            try:
                await self.channel.send(user, size)
            except display.QuotaReached:
                quota = mib(self.settings.display_daily_quota)
                await _send(browser, cell.notice(QUOTA_MESSAGE.format(quota=quota)))
                await browser.close(code=1008, message=b"display quota reached")
                return
            except display.LedgerUnavailable as error:
                log.error("display ledger unavailable, closing %s's websocket: %s", user, error)
                await _send(browser, cell.notice(LEDGER_MESSAGE))
                await browser.close(code=1011, message=b"display channel closed")
                return
            await _send(browser, data)


async def _send(browser: web.WebSocketResponse, data: str | bytes) -> None:
    if isinstance(data, bytes):
        await browser.send_bytes(data)
    else:
        await browser.send_str(data)


def _binary_write(body: bytes) -> str:
    """Why a contents write of a non-notebook file is refused, or '' when it is text."""
    try:
        model = json.loads(body)
    except ValueError:
        return "The edge accepts only JSON file models here."
    if isinstance(model, dict) and model.get("format") not in (None, "text", "json"):
        return (
            "Uploading binary files into the clean room is off; only text files and notebooks "
            "can be saved from the browser."
        )
    return ""


def _cut_off(request: web.Request) -> None:
    """End an answer that has begun: close the connection (if it is not closed already)."""
    if request.transport is not None:
        request.transport.close()


def _too_large(decision: edge_routes.Decision, length: int, cap: int) -> str:
    what = "notebooks" if decision.file_path.lower().endswith(".ipynb") else "files"
    return (
        f"{decision.file_path or 'This answer'} is {mib(length)}; the clean room shows {what} "
        f"of up to {mib(cap)} in the browser. Work with it from a notebook (read it with "
        "pandas or DuckDB and show a summary)."
    )


V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"


class CellTracker:
    """Remembers the header of the last ``execute_request`` the browser sent, so that a notice
    from the edge appears under the cell whose output it stops."""

    def __init__(self, binary: bool) -> None:
        self.binary = binary
        self.parent: dict = {}

    def seen(self, data: bytes) -> None:
        if len(data) > MAX_PARSED_MESSAGE or b"execute_request" not in data:
            return
        try:
            if self.binary:
                count = struct.unpack_from("<Q", data)[0]
                offsets = struct.unpack_from(f"<{count}Q", data, 8)
                header = json.loads(data[offsets[1] : offsets[2]])
            else:
                header = json.loads(data).get("header") or {}
        except (ValueError, struct.error, IndexError, AttributeError, TypeError):
            return
        if isinstance(header, dict) and header.get("msg_type") == "execute_request":
            self.parent = header

    def notice(self, text: str) -> str | bytes:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "stream",
            "username": "cleanroom",
            "session": "cleanroom-edge",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "version": "5.3",
        }
        content = {"name": "stderr", "text": text + "\n"}
        if not self.binary:
            return json.dumps(
                {
                    "channel": "iopub",
                    "msg_id": msg_id,
                    "msg_type": "stream",
                    "header": header,
                    "parent_header": self.parent,
                    "metadata": {},
                    "content": content,
                    "buffers": [],
                }
            )
        parts = [
            b"iopub",
            json.dumps(header).encode(),
            json.dumps(self.parent).encode(),
            b"{}",
            json.dumps(content).encode(),
        ]
        # jupyter_server's layout: the number of offsets, the offsets (each part's start,
        # then the end), then the parts.
        position = 8 * (len(parts) + 2)
        offsets = [position]
        for part in parts:
            position += len(part)
            offsets.append(position)
        return struct.pack(f"<{len(offsets) + 1}Q", len(offsets), *offsets) + b"".join(parts)


def audit_writer(settings: Settings):
    audit = AuditLog.from_state_dir(settings.state_path)

    def write(event: str, actor: str, **details: object) -> None:
        audit.append(event, actor=actor, **details)

    return write


def build(settings: Settings) -> web.Application:
    ledger = display.DisplayLedger(
        display.ledger_path(settings.state_path),
        quota=settings.display_daily_quota,
        audit_threshold=settings.display_audit_threshold,
        audit=audit_writer(settings),
    )
    channel = DisplayChannel(ledger, settings.display_rate, settings.display_burst)
    edge = EdgeFilter(settings, channel, f"http://127.0.0.1:{settings.proxy_port}")
    return edge.app()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    web.run_app(
        build(settings),
        host="127.0.0.1",
        port=settings.edge_port,
        access_log=None,
        print=None,
        handle_signals=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
