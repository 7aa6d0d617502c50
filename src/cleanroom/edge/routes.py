"""The edge's allow-list for researchers' servers: which requests reach ``/user/<name>/...``.

Everything not in ``ROUTES`` is refused at the edge, whatever the server behind it would
answer. Each route says why JupyterLab needs it. Matching is done on the raw request target
(still percent-encoded), against literal lower-case prefixes, so that the edge and the server
behind it cannot read one request two ways: any spelling that is not the plain one (an
encoded letter or slash, ``//``, ``/./``, ``..``, ``;`` parameters, another case, a named
server, a repeated query parameter) matches no route and is refused.

``decide`` is a pure function; the edge filter (``cleanroom.edge.filter``) enforces its answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

# Route kinds: what a response may hold, and so which cap applies to it.
APP = "app"  # JupyterLab's own HTML page (the only kind without a CSP sandbox)
API = "api"  # JSON of the Jupyter server and the cleanroom-lab extension
CONTENTS = "contents"  # files and notebooks: capped by what they are
WEBSOCKET = "websocket"  # kernel channels and the event bus: counted per message

ID = r"[0-9a-f-]{1,64}"  # kernel and session ids are UUIDs
NAME = r"[A-Za-z0-9_.-]{1,64}"  # kernel spec names
FILE_PATH = r"(/[^/?#]+)*/?"  # a contents path: segments checked again after decoding


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # on the target after /user/<name>/, without the query
    methods: frozenset[str]
    kind: str
    why: str

    def matches(self, rest: str) -> bool:
        return re.fullmatch(self.pattern, rest) is not None


def _route(name: str, pattern: str, methods: str, kind: str, why: str) -> Route:
    return Route(name, pattern, frozenset(methods.split()), kind, why)


ROUTES: tuple[Route, ...] = (
    _route("root", r"", "GET", APP, "The server's address; it redirects to JupyterLab."),
    _route(
        "lab",
        r"lab(/(tree|workspaces|doc)(/[^?#]*)?)?/?",
        "GET",
        APP,
        "JupyterLab's page (the application shell); the rest of the URL names a file or "
        "workspace for the page's own router.",
    ),
    _route(
        "oauth-callback",
        r"oauth_callback",
        "GET",
        API,
        "The end of the hub's sign-in (OAuth): sets the server's cookie.",
    ),
    _route(
        "logout",
        r"logout",
        "GET",
        API,
        "Signing out of the server; it sends the browser on to the hub's logout.",
    ),
    _route(
        "lab-settings",
        r"lab/api/settings(/[^/?#]+)*/?",
        "GET PUT",
        API,
        "JupyterLab's settings and their schemas (kept in the lab container, from the "
        "image's overrides).",
    ),
    _route(
        "lab-workspaces",
        r"lab/api/workspaces(/[^/?#]+)?/?",
        "GET PUT",
        API,
        "The layout JupyterLab restores: open tabs and panels.",
    ),
    _route(
        "lab-translations",
        r"lab/api/translations(/[^/?#]+)?/?",
        "GET",
        API,
        "The interface's language packs.",
    ),
    _route(
        "lab-themes",
        r"lab/api/themes(/[^/?#]+)+",
        "GET",
        API,
        "The theme stylesheets and fonts (from the image).",
    ),
    _route(
        "lab-listings",
        r"lab/api/listings(/[^/?#]+)+",
        "GET",
        API,
        "The extension manager's listings (empty here).",
    ),
    _route(
        "lab-build",
        r"lab/api/build",
        "GET",
        API,
        "Whether JupyterLab needs a rebuild (never here); asked at every start.",
    ),
    _route(
        "lsp-status",
        r"lsp/status",
        "GET",
        API,
        "Which language servers exist (none in the image); asked at every start.",
    ),
    _route(
        "config",
        r"api/config/[A-Za-z0-9_-]{1,100}",
        "GET",
        API,
        "Front-end configuration sections (the announcements switch), read only.",
    ),
    _route(
        "export-formats",
        r"api/nbconvert",
        "GET",
        API,
        "The names of the export formats JupyterLab asks for at start (the exports "
        "themselves, /nbconvert/, are refused).",
    ),
    _route(
        "contents",
        r"api/contents" + FILE_PATH,
        "GET PUT PATCH POST DELETE",
        CONTENTS,
        "The file browser and editors: list, open, save, rename, copy and delete files in "
        "the home, and their checkpoints; capped by what a file is (a notebook or not).",
    ),
    _route(
        "sessions",
        rf"api/sessions(/{ID})?",
        "GET POST PATCH DELETE",
        API,
        "Which notebook talks to which kernel.",
    ),
    _route(
        "kernels",
        rf"api/kernels(/{ID})?",
        "GET POST DELETE",
        API,
        "Start, list and shut down kernels.",
    ),
    _route(
        "kernel-action",
        rf"api/kernels/{ID}/(interrupt|restart)",
        "POST",
        API,
        "Interrupt and restart a kernel.",
    ),
    _route(
        "kernel-channels",
        rf"api/kernels/{ID}/channels",
        "GET",
        WEBSOCKET,
        "The kernel's messages: code in, output out (the display channel's main part).",
    ),
    _route(
        "kernelspecs",
        rf"api/kernelspecs(/{NAME})?",
        "GET",
        API,
        "Which kernels can be started (from the image only).",
    ),
    _route(
        "kernelspec-files",
        rf"kernelspecs/{NAME}/[A-Za-z0-9_.-]{{1,64}}",
        "GET",
        API,
        "Kernel logos (from the image only).",
    ),
    _route(
        "events",
        r"api/events/subscribe",
        "GET",
        WEBSOCKET,
        "The server's event bus (file saves, kernel state) that JupyterLab listens to.",
    ),
    _route(
        "server-info",
        r"api(/status|/me)?",
        "GET",
        API,
        "The server's version, status and who is signed in.",
    ),
    _route(
        "cleanroom-lab",
        r"cleanroom-lab/(settings|preview|requests)",
        "GET POST",
        API,
        'The cleanroom-lab extension: "Request release…" and the requests panel.',
    ),
    _route(
        "cleanroom-lab-datasets",
        r"cleanroom-lab/datasets",
        "GET",
        API,
        "The Datasets panel: the granted views' columns, row counts and grants (no data).",
    ),
    _route(
        "cleanroom-lab-request",
        r"cleanroom-lab/requests/[A-Za-z0-9_-]{1,64}(/withdraw|/resubmit)?",
        "GET POST",
        API,
        "One release request of the requests panel: its state, withdraw, resubmit.",
    ),
)

WEBSOCKET_KINDS = frozenset({WEBSOCKET})
# Characters a plain request target never holds in its path. Percent-escapes of '/', '\', '.'
# and control characters would let the server behind read another path than the edge did.
_FORBIDDEN_RAW = re.compile(r"[;\\\x00-\x20\x7f]|%(2[fFeE]|5[cC]|[01][0-9a-fA-F]|7[fF])")
_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


@dataclass(frozen=True)
class Caps:
    """Largest body, in bytes, by kind of route (see the settings contents_read_cap and
    notebook_cap)."""

    file: int = 1024 * 1024
    notebook: int = 16 * 1024 * 1024
    api: int = 4 * 1024 * 1024
    app: int = 1024 * 1024


@dataclass(frozen=True)
class Decision:
    """What the edge does with one request: refuse it (``status`` and ``message``), or pass it
    to ``user``'s server under ``route`` with a cap on each body."""

    status: int = 200
    message: str = ""
    user: str = ""
    route: Route | None = None
    response_cap: int = 0
    request_cap: int = 0
    # Writes of non-notebook files must be text (JupyterLab uploads use base64).
    text_only_writes: bool = False
    file_path: str = ""

    @property
    def allowed(self) -> bool:
        return self.route is not None

    @property
    def websocket(self) -> bool:
        return self.route is not None and self.route.kind in WEBSOCKET_KINDS


def refuse(status: int, message: str) -> Decision:
    return Decision(status=status, message=message)


NOT_HERE = (
    "This address is not part of JupyterLab in the clean room; the edge refuses it. "
    '(Downloads and other ways out are off: use "Request release…".)'
)


def decide(
    method: str,
    target: str,
    host_label: str,
    label_of: Callable[[str], str],
    caps: Caps = Caps(),
    upgrade: bool = False,
) -> Decision:
    """Decide one request for a researcher's host.

    ``target`` is the raw request target (path and query, as sent); ``host_label`` the first
    label of the host name; ``label_of(user)`` the label that user's server lives on.
    """
    path, _, query = target.partition("?")
    if "#" in target or _FORBIDDEN_RAW.search(path) or _BAD_ESCAPE.search(path):
        return refuse(400, "The address holds characters the edge does not accept.")
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "user":
        return refuse(403, NOT_HERE)
    try:
        user = unquote(parts[2], errors="strict")
        segments = [unquote(s, errors="strict") for s in parts[3:]]
    except UnicodeDecodeError:
        return refuse(400, "The address is not UTF-8.")
    if not user or label_of(user) != host_label:
        return refuse(404, "This server does not live on this host name.")
    rest = "/".join(parts[3:])
    if any(s in (".", "..") for s in segments) or "" in segments[:-1]:
        return refuse(400, "The address holds empty, '.' or '..' segments.")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return refuse(400, "The query string cannot be read.")
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        return refuse(400, "A query parameter is repeated.")
    for route in ROUTES:
        if not route.matches(rest):
            continue
        if method not in route.methods:
            return refuse(405, f"{method} is not allowed on this address.")
        if upgrade != (route.kind in WEBSOCKET_KINDS):
            return refuse(400, "This address is a websocket." if not upgrade else NOT_HERE)
        return _allowed(route, user, rest, caps)
    return refuse(403, NOT_HERE)


def _allowed(route: Route, user: str, rest: str, caps: Caps) -> Decision:
    if route.kind == CONTENTS:
        file_path = unquote(rest[len("api/contents") :], errors="strict").strip("/")
        cap = caps.notebook if file_path.lower().endswith(".ipynb") else caps.file
        return Decision(
            user=user,
            route=route,
            response_cap=cap,
            # A JSON model wraps the content: leave it a little room.
            request_cap=cap + 64 * 1024,
            text_only_writes=not file_path.lower().endswith(".ipynb"),
            file_path=file_path,
        )
    cap = caps.app if route.kind == APP else caps.api
    return Decision(user=user, route=route, response_cap=cap, request_cap=caps.api)
