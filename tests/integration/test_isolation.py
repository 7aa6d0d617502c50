"""No way out of a researcher's container, tested against the real engine, hub and firewall.

Code runs in the researcher's kernel over the Jupyter websocket, through nginx, exactly as the
browser would send it. Every "cannot reach" is paired, in the same run, with the same probe
succeeding from a control of the test's own (a container on an ordinary Docker network, or
the host), so no test can pass because a canary was down or listening in the wrong place.
"""

from __future__ import annotations

import json
import time

import docker
import pytest
from support.canary import Canary
from support.kernel import KernelSession
from support.walls import host_addresses, in_container, in_kernel, ip_on, on_host

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture(scope="module")
def control(docker_client, notebook_image):
    """An ordinary Docker network of the test's own with a canary server and a control
    container on it. Yields (control container, canary container IP)."""
    name = f"cleanroom-ctl-{int(time.time() * 1000) % 10**8}"
    net = docker_client.networks.create(name, driver="bridge")
    common = dict(
        detach=True,
        network=name,
        user="1000",
        read_only=True,
        tmpfs={"/tmp": ""},
        labels={"org.cleanroom.test": "control"},
    )
    server = docker_client.containers.run(
        notebook_image,
        ["python3", "-m", "http.server", "8000", "-d", "/tmp"],
        name=f"{name}-canary",
        **common,
    )
    controller = docker_client.containers.run(
        notebook_image,
        ["python3", "-c", "import time; time.sleep(3600)"],
        name=f"{name}-control",
        **common,
    )
    try:
        yield controller, ip_on(server, name)
    finally:
        for container in (server, controller):
            container.remove(force=True)
        net.remove()


@pytest.fixture(scope="module")
def alice_kernel(hub, running_alice):
    kernel = KernelSession(hub, "alice")
    yield kernel
    kernel.close()


@pytest.fixture(scope="module")
def bob_kernel(hub):
    hub.start_server("bob")
    kernel = KernelSession(hub, "bob")
    yield kernel
    kernel.close()


def test_spawn_through_the_rest_api_with_user_options(hub):
    hub.add_user("uma", ("researcher",))
    session = hub.login("uma")
    response = hub.user_api(session, "POST", "/users/uma/server", json={})
    assert response.status_code in (201, 202), response.text
    model = hub.wait_ready("uma")
    assert model["servers"][""]["ready"]
    hub.stop_server("uma")


def test_lab_container_is_hardened_by_docker(hub, docker_client, running_alice):
    """The lab container (the Jupyter server); the kernel container's settings are checked in
    test_kernel_split.py."""
    attrs = hub.container(docker_client, "alice").attrs
    config, host = attrs["Config"], attrs["HostConfig"]
    assert config["User"] == "1000:100"
    assert config["WorkingDir"] == "/"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 128
    assert host["Memory"] == 1024**3
    assert host["AutoRemove"] is True
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    # The home (contents) and, read-only, the kernels' socket and the Datasets panel's facts
    # (the hub's description of the views); no data, no Docker socket.
    assert set(mounts) == {
        "/home/researcher",
        "/run/cleanroom-kernels",
        "/etc/cleanroom/datasets.json",
    }, mounts
    assert mounts["/home/researcher"]["RW"] is True
    assert mounts["/run/cleanroom-kernels"]["RW"] is False
    assert mounts["/etc/cleanroom/datasets.json"]["RW"] is False
    assert mounts["/etc/cleanroom/datasets.json"]["Source"].endswith("/datasets.json")
    assert not any("docker.sock" in m["Source"] for m in attrs["Mounts"])
    assert list(attrs["NetworkSettings"]["Networks"]) == [hub.settings.network]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["HOME"] == "/tmp" and env["PYTHONNOUSERSITE"] == "1"
    assert env["JUPYTER_CONFIG_DIR"].startswith("/tmp/")
    assert env["JUPYTER_DATA_DIR"].startswith("/tmp/")
    assert env["JUPYTERHUB_DISABLE_USER_CONFIG"] == "1"


HARDENING_FACTS = r"""
import json, os
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
def read(path):
    try:
        return open(path).read().strip()
    except OSError as e:
        return type(e).__name__
try:
    open('/usr/evil', 'w')
    root_writable = True
except OSError:
    root_writable = False
st = os.statvfs('/home/researcher')
pids = '/sys/fs/cgroup/pids/pids.max'
print(json.dumps({
    'uid': os.getuid(), 'euid': os.geteuid(),
    'cap_eff': status['CapEff'].strip(), 'cap_bnd': status['CapBnd'].strip(),
    'no_new_privs': status['NoNewPrivs'].strip(),
    'root_writable': root_writable,
    'docker_sock': os.path.exists('/var/run/docker.sock') or os.path.exists('/run/docker.sock'),
    'mem_limit': read('/sys/fs/cgroup/memory/memory.limit_in_bytes'),
    'mem_max': read('/sys/fs/cgroup/memory.max'),
    'pids_max': read(pids) if os.path.exists(pids) else read('/sys/fs/cgroup/pids.max'),
    'home_bytes': st.f_blocks * st.f_frsize,
}))
"""


def test_container_is_hardened_from_inside_the_kernel(alice_kernel):
    facts = json.loads(alice_kernel.run(HARDENING_FACTS))
    assert facts["uid"] == 1000 and facts["euid"] == 1000
    assert int(facts["cap_eff"], 16) == 0
    assert int(facts["cap_bnd"], 16) == 0
    assert facts["no_new_privs"] == "1"
    assert facts["root_writable"] is False
    assert facts["docker_sock"] is False
    limit = facts["mem_limit"] if facts["mem_limit"].isdigit() else facts["mem_max"]
    assert int(limit) == 2 * 1024**3
    assert facts["pids_max"] == "256"
    assert facts["home_bytes"] <= 256 * 1024**2


def test_no_tcp_or_udp_reaches_any_canary(hub, docker_client, alice_kernel, canary, control):
    controller, canary_container_ip = control
    targets = [[addr, canary.port] for addr in host_addresses()]
    plan = {"tcp": [*targets, [canary_container_ip, 8000]], "udp": targets}
    researcher = in_kernel(alice_kernel, plan)
    time.sleep(1)  # let stray datagrams arrive
    contacts_after_researcher = set(canary.tcp_contacts) | set(canary.udp_contacts)
    reference = in_container(controller, plan)
    time.sleep(1)

    for host, port in plan["tcp"]:
        key = f"{host}:{port}"
        assert reference["tcp"][key] == "connected", f"control could not reach {key}"
        assert researcher["tcp"][key] != "connected", f"researcher reached {key}"
    alice_ip = ip_on(hub.container(docker_client, "alice"), hub.settings.network)
    control_ip = ip_on(controller, controller.attrs["HostConfig"]["NetworkMode"])
    assert alice_ip not in contacts_after_researcher, "a packet from the researcher arrived"
    assert control_ip in canary.udp_contacts, "the control's datagrams arrived (canary works)"


def test_no_connection_to_another_researcher(hub, docker_client, alice_kernel, bob_kernel):
    bob_ip = ip_on(hub.container(docker_client, "bob"), hub.settings.network)
    plan = {"tcp": [[bob_ip, 8888]]}
    assert on_host(plan)["tcp"][f"{bob_ip}:8888"] == "connected", "bob's server is up"
    assert in_kernel(alice_kernel, plan)["tcp"][f"{bob_ip}:8888"] != "connected"


def test_the_hub_api_answers_the_lab_server_but_not_the_kernel(hub, docker_client, alice_kernel):
    gateway, s = hub.settings.gateway, hub.settings
    url = f"GET http://{gateway}:{s.hub_port}/hub/api/"
    lab = in_container(hub.container(docker_client, "alice"), {"http": [url]})
    assert lab["http"][url] == 200
    researcher = in_kernel(alice_kernel, {"http": [url]})
    assert researcher["http"][url] != 200, researcher


def test_no_outside_name_resolves(hub, alice_kernel, control):
    controller, _ = control
    names = ["pypi.org", "deb.debian.org"]
    plan = {"names": names, "resolvers": ["127.0.0.11"]}
    reference = in_container(controller, plan)
    researcher = in_kernel(alice_kernel, plan)
    for name in names:
        assert isinstance(reference["names"][name], list), f"control could not resolve {name}"
        assert isinstance(researcher["names"][name], str), (
            f"{name} resolved inside: {researcher['names'][name]}"
        )
        answer = researcher["resolvers"]["127.0.0.11"][name]
        assert not (isinstance(answer, dict) and answer["answers"]), answer
        assert reference["resolvers"]["127.0.0.11"][name]["answers"] > 0


def test_server_token_cannot_list_users_or_mint_tokens(hub, docker_client, running_alice):
    """The server's token lives in the lab container only; even there it can do little."""
    api = f"http://{hub.settings.gateway}:{hub.settings.hub_port}/hub/api"
    calls = [
        f"GET {api}/user",
        f"GET {api}/users",
        f"POST {api}/users/alice/tokens",
        f"GET {api}/users/bob",
        f"POST {api}/users/bob/server",
    ]
    result = in_container(hub.container(docker_client, "alice"), {"http": calls})["http"]
    assert result[f"GET {api}/user"] == 200, "the token works at all (positive control)"
    assert result[f"GET {api}/users"] == 403
    assert result[f"POST {api}/users/alice/tokens"] == 403
    assert result[f"GET {api}/users/bob"] in (403, 404)
    assert result[f"POST {api}/users/bob/server"] in (403, 404)


def test_researcher_session_cannot_reach_another_server_or_mint_tokens(
    hub, running_alice, bob_kernel
):
    alice = hub.login("alice")
    mine = hub.server_url("alice")
    lab = alice.get(f"{mine}/lab", timeout=60)  # completes the OAuth dance
    assert lab.status_code == 200 and lab.url.startswith(f"{mine}/lab"), lab.url
    own = alice.get(f"{mine}/api/status", timeout=30)
    assert own.status_code == 200, "alice reaches her own server (positive control)"
    bobs = hub.server_url("bob")
    for other_url in (f"{bobs}/api/status", f"{mine.rsplit('/user/', 1)[0]}/user/bob/api/status"):
        other = alice.get(other_url, timeout=30, allow_redirects=True)
        assert other.status_code in (403, 404) or "/user/bob/api/status" not in other.url
        assert '"started"' not in other.text
    assert hub.user_api(alice, "POST", "/users/alice/tokens", json={}).status_code == 403
    assert hub.user_api(alice, "GET", "/users").status_code == 403


FILL_HOME = """
import os
f = open('/home/researcher/fill', 'wb')
try:
    while True:
        f.write(b'x' * (1 << 20)); f.flush(); os.fsync(f.fileno())
except OSError as e:
    print('stopped', e.errno)
finally:
    try:
        f.close()
    except OSError:
        pass
    os.remove('/home/researcher/fill')
"""


def test_full_home_stops_only_its_owner(hub, alice_kernel, bob_kernel):
    assert "stopped 28" in alice_kernel.run(FILL_HOME)  # ENOSPC, inside alice's home only
    out = bob_kernel.run("open('/home/researcher/still-works', 'w').write('ok'); print('ok')")
    assert out.strip() == "ok"
    assert hub.api.call("GET", "/")["version"]


def test_home_survives_a_restart(hub, docker_client):
    hub.add_user("hana", ("researcher",))
    hub.start_server("hana")
    kernel = KernelSession(hub, "hana")
    kernel.run("open('/home/researcher/note.txt', 'w').write('kept')")
    kernel.close()
    hub.stop_server("hana")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(hub.container_name("hana"))  # removed on stop
    hub.start_server("hana")
    kernel = KernelSession(hub, "hana")
    assert kernel.run("print(open('/home/researcher/note.txt').read())").strip() == "kept"
    kernel.close()
    hub.stop_server("hana")


def test_large_notebooks_save_through_the_entry_point(hub, running_alice):
    """Saving a notebook sends its whole body through nginx (buffered to disk) and the edge
    filter; a text file over the edge's cap for files is refused there (the edge issue)."""
    session = hub.login("alice")
    server = hub.server_url("alice")
    session.get(f"{server}/lab", timeout=60).raise_for_status()
    headers = {"X-XSRFToken": hub.server_xsrf(session, "alice")}
    cell = {"cell_type": "markdown", "metadata": {}, "source": "x" * 2_000_000}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    body = {"type": "notebook", "format": "json", "content": notebook}
    saved = session.put(f"{server}/api/contents/big.ipynb", json=body, headers=headers, timeout=60)
    assert saved.status_code in (200, 201), saved.text[:300]
    read = session.get(f"{server}/api/contents/big.ipynb?content=0", timeout=60)
    assert read.json()["size"] > 2_000_000
    text = {"type": "file", "format": "text", "content": "x" * 2_000_000}
    refused = session.put(f"{server}/api/contents/big.txt", json=text, headers=headers, timeout=60)
    assert refused.status_code == 413 and refused.headers.get("X-Cleanroom-Edge") == "refused"
    listing = session.get(f"{server}/api/contents?content=1", timeout=60).json()
    assert "big.txt" not in {entry["name"] for entry in listing["content"]}
