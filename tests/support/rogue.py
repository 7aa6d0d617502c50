"""A rogue "researcher's server" for edge tests: a tiny HTTP server, registered in the hub's
proxy under a user's route, that answers **every** path with data and floods every websocket.

It stands for a server that would hand anything out. The edge must refuse, cut off or count
whatever it sends, whatever the path.
"""

from __future__ import annotations

import asyncio
import threading

import requests
from aiohttp import web

from .testhub import TestHub, free_port

MARKER = b"VAULT-ROW-SECRET;"


def payload(size: int) -> bytes:
    """``size`` bytes of "vault rows", each starting with MARKER."""
    row = MARKER + b"plant-7,yield,0.9731\n"
    return (row * (size // len(row) + 1))[:size]


class RogueServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.bodies: list[bytes] = []  # request bodies it received
        self.paths: list[str] = []  # raw paths it was asked for
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RogueServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def cleanup():
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.raw_path)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.flood(request)
        self.bodies.append(await request.read())
        size = int(request.query.get("size", 64 * 1024))
        data = payload(size)
        if request.path.endswith("/lab"):
            return web.Response(body=ATTACK_PAGE, content_type="text/html")
        if "chunked" in request.query:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, size, 64 * 1024):
                await response.write(data[start : start + 64 * 1024])
            await response.write_eof()
            return response
        return web.Response(body=data, content_type="text/csv")

    async def flood(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=["v1.kernel.websocket.jupyter.org"])
        await ws.prepare(request)
        message = payload(int(request.query.get("message", 64 * 1024)))
        total = int(request.query.get("total", 64 * 1024 * 1024))
        sent = 0
        try:
            while sent < total and not ws.closed:
                await ws.send_bytes(message)
                sent += len(message)
        except (ConnectionError, RuntimeError):
            pass
        await ws.close()
        return ws


# The page a researcher could serve on their own origin (JupyterLab runs the HTML and scripts
# of the researcher's own outputs there): it tries to read the airlock and to post to it with
# the visitor's cookies, and writes what happened into the page.
ATTACK_PAGE = b"""<!doctype html><html><body><pre id="out"></pre><script>
const out = document.getElementById('out');
const hub = new URLSearchParams(location.search).get('hub');
const results = {};
async function attempt(name, f) {
  try { results[name] = await f(); } catch (e) { results[name] = 'blocked: ' + e.name; }
}
(async () => {
  // The probe works: this page reads its own origin's answers.
  await attempt('own', async () => {
    const own = location.pathname.replace(/lab$/, 'api/kernels');
    const r = await fetch(own, {credentials: 'include'});
    return 'read ' + r.status + ' ' + (await r.text()).length;
  });
  await attempt('read', async () => {
    const r = await fetch(hub + '/services/airlock/', {credentials: 'include'});
    return 'read ' + r.status + ' ' + (await r.text()).length;
  });
  // Cookie tossing: an XSRF cookie of our choosing for the public host, then a post with it.
  document.cookie = '_xsrf=2|deadbeef|cafebabe|1700000000; domain=' + new URL(hub).hostname
    + '; path=/; secure';
  await attempt('post', async () => {
    const token = '2|deadbeef|cafebabe|1700000000';
    const body = new URLSearchParams({_xsrf: token, decision: 'approve'});
    const r = await fetch(hub + '/services/airlock/requests/edge-probe/vote',
      {method: 'POST', credentials: 'include', mode: 'no-cors', body});
    return 'sent ' + r.type;
  });
  out.textContent = JSON.stringify(results);
  document.title = 'done';
})();
</script></body></html>"""


def register(hub: TestHub, name: str, target: str) -> None:
    """Route ``name``'s server address in the hub's proxy to ``target``, as the hub does for
    a real server (host-based routes: /<host>/user/<name>)."""
    from cleanroom import origins
    from cleanroom.host import prepare as host_setup

    token = host_setup.proxy_token(hub.settings)
    route = f"/{origins.user_host(hub.settings, name)}/user/{name}"
    response = requests.post(
        f"http://127.0.0.1:{hub.settings.proxy_api_port}/api/routes{route}",
        json={"target": target},
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    response.raise_for_status()
