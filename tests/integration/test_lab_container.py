"""cleanroom-lab's server extension inside a real researcher container, through nginx and the
hub: the real dataset mount (/data), links the researcher makes with her own kernel, the
server's download routes, the contents API guard and terminals. User of this module: lxe.
"""

from __future__ import annotations

import hashlib

import pytest
from support.kernel import KernelSession

pytestmark = pytest.mark.docker

USER = "lxe"
CSV = b"plant_group,mean_yield\nA,97.1\n"


@pytest.fixture(scope="module")
def lab(hub):
    hub.add_user(USER, ("researcher",))
    hub.start_server(USER)
    kernel = KernelSession(hub, USER)
    kernel.run(
        "import os\n"
        f"open('t.csv', 'wb').write({CSV!r})\n"
        "open('big.bin', 'wb').write(os.urandom(3 * 1024 * 1024))\n"
        "os.symlink('/data/catalog.duckdb', 'catalog-link.duckdb')\n"
        "os.symlink('/data', 'data-link')\n"
        "os.symlink('/etc/passwd', 'passwd-link')\n"
    )
    session = kernel.session
    xsrf = hub.server_xsrf(session, USER)
    yield {"session": session, "base": kernel.base, "headers": {"X-XSRFToken": xsrf}}
    kernel.close()
    hub.stop_server(USER)


def preview(lab, *paths: str):
    return lab["session"].post(
        f"{lab['base']}/cleanroom-lab/preview",
        json={"paths": list(paths)},
        headers=lab["headers"],
        timeout=60,
    )


def test_the_extension_knows_the_airlock(lab):
    settings = lab["session"].get(f"{lab['base']}/cleanroom-lab/settings", timeout=60)
    assert settings.status_code == 200, settings.text
    assert settings.json()["airlock"] is True
    assert "table" in settings.json()["types"]


def test_a_workspace_file_is_previewed_with_its_hash(lab):
    answer = preview(lab, "t.csv")
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["files"]
    assert item["sha256"] == hashlib.sha256(CSV).hexdigest() and item["size"] == len(CSV)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("catalog-link.duckdb", "dataset mount /data"),
        ("data-link", "dataset mount /data"),
        ("passwd-link", "symbolic link to /etc/passwd"),
        ("../../data/catalog.duckdb", "outside your workspace"),
        ("/data/catalog.duckdb", "outside your workspace"),
    ],
)
def test_project_data_and_the_world_outside_are_refused(lab, path, words):
    answer = preview(lab, path)
    assert answer.status_code == 403, answer.text
    assert words in answer.json()["error"]


def test_download_routes_contents_guard_and_terminals(lab):
    session, base = lab["session"], lab["base"]
    for route in ("files/t.csv", "view/t.csv", "nbconvert/script/t.csv"):
        answer = session.get(f"{base}/{route}", timeout=60)
        assert answer.status_code == 403, route
        assert b"plant_group" not in answer.content
    big = session.get(f"{base}/api/contents/big.bin", params={"format": "base64"}, timeout=60)
    assert big.status_code == 403 and "Request release" in big.json()["message"]
    text = session.get(f"{base}/api/contents/t.csv", params={"format": "text"}, timeout=60)
    assert text.status_code == 200  # shown in JupyterLab: the display channel, by design
    upload = session.put(
        f"{base}/api/contents/in.bin",
        json={"type": "file", "format": "base64", "content": "aGVsbG8="},
        headers=lab["headers"],
        timeout=60,
    )
    # Refused at the edge before the lab server's own guard
    # (extensions/cleanroom-lab/cleanroom_lab/tests/test_server.py)
    assert upload.status_code == 403 and upload.headers.get("X-Cleanroom-Edge") == "refused"
    listing = session.get(f"{base}/api/contents", timeout=60).json()
    assert "in.bin" not in {entry["name"] for entry in listing["content"]}
    # Terminals: refused at the edge (and absent from the lab server behind it: 404 there,
    # extensions/cleanroom-lab/cleanroom_lab/tests/test_server.py).
    terminals = session.get(f"{base}/api/terminals", timeout=60)
    assert terminals.status_code == 403 and terminals.headers.get("X-Cleanroom-Edge") == "refused"
