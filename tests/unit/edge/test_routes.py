"""The edge's allow-list (cleanroom.edge.routes): what JupyterLab needs passes, every other
spelling is refused. The same requests go through the real edge in
tests/integration/test_edge_walls.py."""

from __future__ import annotations

import pytest
from jupyterhub.utils import subdomain_hook_idna

from cleanroom.edge import routes as edge_routes
from cleanroom.edge.routes import Caps, decide

KERNEL = "0b7c8b0e-5a0c-4a8e-9d4e-6b1f3f2a9c11"


def label_of(user: str) -> str:
    return subdomain_hook_idna(user, "cleanroom.test", "user").split(".", 1)[0]


def check(method: str, target: str, host: str = "alice", upgrade: bool = False):
    return decide(method, target, host, label_of, Caps(), upgrade=upgrade)


ALLOWED = [
    ("GET", "/user/alice/"),
    ("GET", "/user/alice/lab"),
    ("GET", "/user/alice/lab/tree/work/analysis.ipynb"),
    ("GET", "/user/alice/lab/workspaces/auto-b"),
    ("GET", "/user/alice/oauth_callback?code=abc&state=xyz"),
    ("GET", "/user/alice/lab/api/settings?1700000000"),
    ("PUT", "/user/alice/lab/api/settings/@jupyterlab/notebook-extension:tracker"),
    ("GET", "/user/alice/lab/api/translations/default"),
    ("PUT", "/user/alice/lab/api/workspaces/default"),
    ("GET", "/user/alice/api/contents?content=1&hash=0"),
    ("GET", "/user/alice/api/contents/work/my%20file.csv?type=file&format=text&content=1"),
    ("GET", "/user/alice/api/contents/r%C3%A9sum%C3%A9.ipynb?type=notebook&content=1"),
    ("PUT", "/user/alice/api/contents/work/new.ipynb"),
    ("PATCH", "/user/alice/api/contents/old.csv"),
    ("DELETE", "/user/alice/api/contents/old.csv"),
    ("POST", "/user/alice/api/contents/work/a.ipynb/checkpoints"),
    ("GET", f"/user/alice/api/sessions/{KERNEL}"),
    ("POST", "/user/alice/api/sessions"),
    ("POST", f"/user/alice/api/kernels/{KERNEL}/restart"),
    ("DELETE", f"/user/alice/api/kernels/{KERNEL}"),
    ("GET", "/user/alice/api/kernelspecs"),
    ("GET", "/user/alice/kernelspecs/python3/logo-64x64.png"),
    ("GET", "/user/alice/api/me"),
    ("GET", "/user/alice/api"),
    ("GET", "/user/alice/api/nbconvert?1796275093854"),
    ("GET", "/user/alice/lsp/status?1796275093854"),
    ("GET", "/user/alice/lab/api/build?1796275093854"),
    ("GET", "/user/alice/api/config/jupyterlabapputilsextensionannouncements?1796275093854"),
    ("GET", "/user/alice/api/contents/a.ipynb?content=1&hash=0&type=notebook&1796275093854"),
    ("POST", "/user/alice/cleanroom-lab/requests"),
    ("POST", "/user/alice/cleanroom-lab/requests/r-12ab/withdraw"),
    ("GET", "/user/alice/cleanroom-lab/datasets"),
]


@pytest.mark.parametrize(("method", "target"), ALLOWED)
def test_jupyterlab_routes_pass(method, target):
    decision = check(method, target)
    assert decision.allowed, decision.message
    assert decision.user == "alice"


@pytest.mark.parametrize(
    "target",
    [f"/user/alice/api/kernels/{KERNEL}/channels?session_id=x", "/user/alice/api/events/subscribe"],
)
def test_websockets_pass_only_as_websockets(target):
    assert check("GET", target, upgrade=True).websocket
    assert not check("GET", target).allowed
    assert not check("GET", "/user/alice/api/contents/x.csv", upgrade=True).allowed


REFUSED = [
    # downloads and conversions: a file as it is, out of the browser
    "/user/alice/files/data.csv",
    "/user/alice/view/data.html",
    "/user/alice/nbconvert/html/a.ipynb",
    "/user/alice/api/terminals",
    "/user/alice/terminals/websocket/1",
    "/user/alice/tree",
    "/user/alice/edit/data.csv",
    "/user/alice/lab/api/extensions",
    # odd spellings of allowed routes
    "/user/alice/%66iles/data.csv",
    "/user/alice/%61pi/contents/data.csv",
    "/user/alice/api%2Fcontents/data.csv",
    "/user/alice/api%2fcontents/data.csv",
    "/user/alice/API/contents/data.csv",
    "/user/alice/Api/Contents/data.csv",
    "/user/alice//api/contents/data.csv",
    "/user/alice/./api/contents/data.csv",
    "/user/alice/api/./contents/data.csv",
    "/user/alice/api/contents/../../files/data.csv",
    "/user/alice/api/contents/%2e%2e/x",
    "/user/alice/api/contents/a%2F..%2Fb",
    "/user/alice/api;x=1/contents/data.csv",
    "/user/alice/api/contents/data.csv;.ipynb",
    "/user/alice/api/contents\\data.csv",
    "/user/alice/api/contents/%00",
    "/user/alice/api/contents/%zz",
    "/user/alice/api/contents/data.csv?type=file&type=notebook",
    "/user/alice/api/contents/data.csv?content=1&content=0",
    "/user/alice/api/contents/data.csv#x",
    # named servers, other users, other places
    "/user/alice/second/api/contents/data.csv",
    "/user/bob/api/contents/data.csv",
    "/user/Alice/api/contents/data.csv",
    "/user/alice%2Fbob/api/contents/data.csv",
    "/hub/api/users",
    "/services/airlock/",
    "/",
    "/user/alice",
]


@pytest.mark.parametrize("target", REFUSED)
def test_everything_else_is_refused(target):
    decision = check("GET", target)
    assert not decision.allowed
    assert decision.status in (400, 403, 404, 405)
    assert decision.message


def test_export_formats_are_listed_but_exports_refused():
    assert not check("POST", "/user/alice/api/nbconvert").allowed
    assert check("PATCH", "/user/alice/api/config/notebook").status == 405


def test_methods_are_part_of_the_route():
    assert check("DELETE", "/user/alice/lab/api/settings").status == 405
    assert check("POST", "/user/alice/api/kernelspecs").status == 405
    assert check("PUT", "/user/alice/").status == 405


def test_host_must_be_the_users_own():
    assert check("GET", "/user/alice/api/status", host="bob").status == 404
    # A name that is not a DNS label lives under JupyterHub's escaped label, and only there.
    name = "j.smith"
    label = label_of(name)
    assert label != name
    assert check("GET", "/user/j.smith/api/status", host=label).allowed
    assert not check("GET", "/user/j.smith/api/status", host="j").allowed


def test_contents_caps_depend_on_what_the_file_is():
    caps = Caps(file=1000, notebook=5000)
    notebook = decide("GET", "/user/alice/api/contents/a/B.IPYNB", "alice", label_of, caps)
    other = decide("GET", "/user/alice/api/contents/a/b.csv?type=notebook", "alice", label_of, caps)
    assert notebook.response_cap == 5000 and not notebook.text_only_writes
    assert other.response_cap == 1000 and other.text_only_writes
    assert other.file_path == "a/b.csv"
    assert notebook.request_cap >= 5000 and 1000 <= other.request_cap < notebook.request_cap


def test_every_route_says_why():
    for route in edge_routes.ROUTES:
        assert len(route.why) > 20, route.name
        assert route.methods <= {"GET", "PUT", "PATCH", "POST", "DELETE"}, route.name
    assert len({route.name for route in edge_routes.ROUTES}) == len(edge_routes.ROUTES)
