"""No way out of a researcher's container, tested against the real engine, hub and firewall."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker
import pytest
import requests
from support.canary import Canary

pytestmark = pytest.mark.docker

PROBE = (Path(__file__).parents[1] / "support" / "probe.py").read_text()


def probe(container, plan: dict) -> dict:
    exit_code, output = container.exec_run(["python3", "-c", PROBE, json.dumps(plan)])
    assert exit_code == 0, output.decode(errors="replace")
    return json.loads(output.decode().strip().splitlines()[-1])


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    return [line.split()[3].split("/")[0] for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture(scope="module")
def bridge_canary(docker_client, notebook_image):
    """A container of the test's own on Docker's default bridge, serving HTTP."""
    container = docker_client.containers.run(
        notebook_image, ["python3", "-m", "http.server", "8000"], detach=True,
        network="bridge", remove=True, user="1000", read_only=True,
        name=f"cleanroom-canary-{id(docker_client) % 100000}",
    )
    container.reload()
    ip = container.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    yield ip
    container.remove(force=True)


@pytest.fixture(scope="module")
def running_bob(hub):
    return hub.start_server("bob")


def test_container_is_hardened_by_docker(hub, docker_client, running_alice):
    attrs = hub.container(docker_client, "alice").attrs
    config, host = attrs["Config"], attrs["HostConfig"]
    assert config["User"] == "1000:100"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 256
    assert host["Memory"] == 2 * 1024**3
    assert host["AutoRemove"] is True
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert set(mounts) == {"/home/researcher"}, "only the home is mounted (no docker socket)"
    assert list(attrs["NetworkSettings"]["Networks"]) == [hub.settings.network]


def test_container_is_hardened_from_inside(hub, docker_client, running_alice):
    container = hub.container(docker_client, "alice")
    script = r"""
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
print(json.dumps({
    'uid': os.getuid(), 'euid': os.geteuid(),
    'cap_eff': status['CapEff'].strip(), 'cap_bnd': status['CapBnd'].strip(),
    'no_new_privs': status['NoNewPrivs'].strip(),
    'root_writable': root_writable,
    'docker_sock': os.path.exists('/var/run/docker.sock') or os.path.exists('/run/docker.sock'),
    'mem_limit': read('/sys/fs/cgroup/memory/memory.limit_in_bytes'),
    'mem_max': read('/sys/fs/cgroup/memory.max'),
    'pids_max': read('/sys/fs/cgroup/pids/pids.max') if os.path.exists('/sys/fs/cgroup/pids')
                else read('/sys/fs/cgroup/pids.max'),
    'home_bytes': st.f_blocks * st.f_frsize,
}))
"""
    exit_code, output = container.exec_run(["python3", "-c", script])
    assert exit_code == 0, output
    facts = json.loads(output)
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


def test_no_way_out_by_the_network(hub, docker_client, running_alice, running_bob, canary,
                                   bridge_canary):
    alice = hub.container(docker_client, "alice")
    bob_ip = running_bob["servers"][""]["url"] and hub.container(docker_client, "bob").attrs[
        "NetworkSettings"]["Networks"][hub.settings.network]["IPAddress"]
    gateway = hub.settings.gateway
    s = hub.settings
    blocked_tcp = [[addr, canary.port] for addr in host_addresses()]
    blocked_tcp += [
        [gateway, s.https_port], [gateway, s.proxy_port], [gateway, s.proxy_api_port],
        [gateway, s.opa_port], [gateway, 22], [bridge_canary, 8000], [bob_ip, 8888],
    ]
    plan = {
        "tcp": [*blocked_tcp, [gateway, s.hub_port]],
        "udp": [[addr, canary.port] for addr in host_addresses()],
        "http": [f"GET http://{gateway}:{s.hub_port}/hub/api/"],
    }
    result = probe(alice, plan)
    # The probe works: the hub API answers from inside (positive control).
    assert result["tcp"][f"{gateway}:{s.hub_port}"] == "connected"
    assert result["http"][f"GET http://{gateway}:{s.hub_port}/hub/api/"] == 200
    # ... and the canaries answer when asked from the host itself.
    with __import__("socket").create_connection(("127.0.0.1", canary.port), timeout=3):
        pass
    assert requests.get(f"http://{bridge_canary}:8000/", timeout=5).status_code == 200
    # Nothing else answers.
    for host, port in blocked_tcp:
        assert result["tcp"][f"{host}:{port}"] != "connected", f"{host}:{port} reachable"
    import time

    time.sleep(1)
    container_ips = {alice.attrs["NetworkSettings"]["Networks"][s.network]["IPAddress"]}
    assert not container_ips & set(canary.tcp_contacts + canary.udp_contacts), (
        canary.tcp_contacts, canary.udp_contacts)


def test_no_outside_name_resolves(hub, docker_client, running_alice):
    assert subprocess.run(["getent", "hosts", "pypi.org"], capture_output=True).returncode == 0, (
        "the host itself must resolve the name, or this test proves nothing")
    container = hub.container(docker_client, "alice")
    names = ["pypi.org", "deb.debian.org"]
    result = probe(container, {"names": names, "resolvers": ["127.0.0.11", hub.settings.gateway]})
    for name in names:
        assert isinstance(result["names"][name], str), f"{name} resolved: {result['names'][name]}"
    for server, answers in result["resolvers"].items():
        for name, answer in answers.items():
            assert not (isinstance(answer, dict) and answer["answers"]), (server, name, answer)


def test_researcher_token_cannot_list_users_or_mint_tokens(hub, docker_client, running_alice):
    container = hub.container(docker_client, "alice")
    api = f"http://{hub.settings.gateway}:{hub.settings.hub_port}/hub/api"
    plan = {"http": [f"GET {api}/users", f"POST {api}/users/alice/tokens",
                     f"GET {api}/users/bob", f"POST {api}/users/bob/server",
                     f"GET {api}/user"]}
    result = probe(container, plan)["http"]
    assert result[f"GET {api}/user"] == 200, "the token works at all (positive control)"
    assert result[f"GET {api}/users"] == 403
    assert result[f"POST {api}/users/alice/tokens"] == 403
    assert result[f"GET {api}/users/bob"] in (403, 404)
    assert result[f"POST {api}/users/bob/server"] in (403, 404)


def test_researcher_session_cannot_reach_another_server_or_mint_tokens(hub, running_alice,
                                                                       running_bob):
    alice = hub.login("alice")
    lab = alice.get(f"{hub.url}/user/alice/lab", timeout=60)  # completes the OAuth dance
    assert lab.status_code == 200 and lab.url.startswith(f"{hub.url}/user/alice/lab"), lab.url
    own = alice.get(f"{hub.url}/user/alice/api/status", timeout=30)
    assert own.status_code == 200, "alice reaches her own server (positive control)"
    other = alice.get(f"{hub.url}/user/bob/api/status", timeout=30, allow_redirects=True)
    assert other.status_code in (403, 404) or "/user/bob/api/status" not in other.url
    assert '"started"' not in other.text
    assert hub.user_api(alice, "POST", "/users/alice/tokens", json={}).status_code == 403
    assert hub.user_api(alice, "GET", "/users").status_code == 403


def test_full_home_stops_only_its_owner(hub, docker_client, running_alice, running_bob):
    alice = hub.container(docker_client, "alice")
    exit_code, output = alice.exec_run(
        ["python3", "-c",
         "import os\n"
         "f = open('/home/researcher/fill', 'wb')\n"
         "try:\n"
         "    while True: f.write(b'x' * (1 << 20)); f.flush(); os.fsync(f.fileno())\n"
         "except OSError as e: print('stopped', e.errno)\n"]
    )
    assert b"stopped 28" in output, output  # ENOSPC
    bob = hub.container(docker_client, "bob")
    assert bob.exec_run(["sh", "-c", "echo ok > /home/researcher/still-works"]).exit_code == 0
    hub_answer = requests.get(f"{hub.url}/hub/api/", verify=hub.certificate, timeout=10)
    assert hub_answer.status_code == 200
    alice.exec_run(["rm", "-f", "/home/researcher/fill"])


def test_home_survives_a_restart(hub, docker_client, running_alice):
    alice = hub.container(docker_client, "alice")
    assert alice.exec_run(["sh", "-c", "echo kept > /home/researcher/note.txt"]).exit_code == 0
    hub.stop_server("alice")
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get("cleanroom-alice")  # removed on stop
    hub.start_server("alice")
    alice = hub.container(docker_client, "alice")
    assert alice.exec_run(["cat", "/home/researcher/note.txt"]).output.strip() == b"kept"
