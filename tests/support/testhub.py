"""A real clean-room hub for tests: its own state directory, ports, network and bridge.

It runs the same code as ``make up`` (cleanroom.host.daemon), on addresses that do not collide
with a hub that may already run on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
import urllib3

from cleanroom import origins
from cleanroom.demo import accounts
from cleanroom.host import daemon
from cleanroom.host import nginx as edge
from cleanroom.host import prepare as host
from cleanroom.settings import Settings
from support.paths import REPO

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

# The test hubs' public host. Researchers' servers live on <label>.cleanroom.test: this process
# resolves the domain and every name under it to 127.0.0.1 (Chromium gets the same rule), and
# nothing else changes. ".test" is reserved: it never means a host on the network.
TEST_DOMAIN = "cleanroom.test"
_system_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode()
    if isinstance(host, str) and (host == TEST_DOMAIN or host.endswith("." + TEST_DOMAIN)):
        host = "127.0.0.1"
    return _system_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_subnet(client: docker.DockerClient) -> str:
    used = set()
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            used.add(cfg.get("Subnet"))
    for third in range(200, 250):
        subnet = f"172.31.{third}.0/24"
        if subnet not in used:
            return subnet
    raise RuntimeError("no free 172.31.x.0/24 subnet for the test network")


def test_settings(client: docker.DockerClient, **overrides: str) -> dict[str, str]:
    tag = os.urandom(3).hex()
    state = tempfile.mkdtemp(prefix="cleanroom-test-")
    # A copy of the policies of its own, so a test can change a rule while the hub runs.
    policies = Path(state) / "policies"
    shutil.copytree(REPO / "policies", policies)
    env = {
        "CLEANROOM_STATE_DIR": state,
        "CLEANROOM_PUBLIC_HOST": TEST_DOMAIN,
        "CLEANROOM_BIND_ADDRESS": "127.0.0.1",
        "CLEANROOM_HTTPS_PORT": str(free_port()),
        "CLEANROOM_PROXY_PORT": str(free_port()),
        "CLEANROOM_PROXY_API_PORT": str(free_port()),
        "CLEANROOM_HUB_PORT": str(free_port()),
        "CLEANROOM_AIRLOCK_PORT": str(free_port()),
        "CLEANROOM_OPA_PORT": str(free_port()),
        "CLEANROOM_CATALOG_WEB_PORT": str(free_port()),
        "CLEANROOM_EDGE_PORT": str(free_port()),
        "CLEANROOM_SUBNET": free_subnet(client),
        "CLEANROOM_NETWORK": f"cleanroom-test-{tag}",
        "CLEANROOM_BRIDGE": f"crt-{tag}",
        # Containers of their own: a test run beside another (or beside make up) never
        # removes the other's cleanroom-<user> container.
        "CLEANROOM_CONTAINER_PREFIX": f"crt{tag}",
        "CLEANROOM_MEM_LIMIT": "2G",
        "CLEANROOM_PIDS_LIMIT": "256",
        "CLEANROOM_HOME_SIZE": "256M",
        "CLEANROOM_GRANT_CHECK_INTERVAL": "2",
        "CLEANROOM_POLICIES_DIR": str(policies),
        # A storage quota that binds before the 2G file limit, so that tests reach it
        # without writing gigabytes (test_airlock_hub.py; a 1 GiB upload still fits).
        "CLEANROOM_AIRLOCK_RESEARCHER_QUOTA_BYTES": "1536M",
    }
    env.update(overrides)
    return env


@dataclass
class TestHub:
    env: dict[str, str]
    settings: Settings
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.settings.public_url.rstrip("/")

    def server_url(self, name: str) -> str:
        """``name``'s server as a browser reaches it: their own host name, /user/<name>
        (no trailing slash)."""
        return origins.user_server_url(self.settings, name).rstrip("/")

    def server_xsrf(self, session: requests.Session, name: str) -> str:
        """The XSRF token ``name``'s server set in ``session`` (after a visit to its /lab)."""
        host = origins.user_host(self.settings, name)
        return next(
            (c.value for c in session.cookies if c.name == "_xsrf" and c.domain == host), ""
        )

    @property
    def certificate(self) -> Path:
        """The hub's self-signed certificate: tests verify TLS against it."""
        return edge.tls_paths(self.settings)[0]

    @property
    def api(self) -> accounts.HubAPI:
        return accounts.hub_api(self.settings)

    def add_user(self, name: str, groups: tuple[str, ...]) -> str:
        password = f"pw-{name}-{os.urandom(6).hex()}"
        db_url = f"sqlite:///{self.settings.state_path / 'jupyterhub.sqlite'}"
        accounts.set_password(db_url, name, password)
        self.api.ensure_user(name, groups)
        self.passwords[name] = password
        return password

    def login(self, name: str) -> requests.Session:
        """Sign in through the real login form, over TLS through nginx."""
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override the certificate
        session.verify = str(self.certificate)
        page = session.get(f"{self.url}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        data = {"username": name, "password": self.passwords[name]}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        # Do not follow the redirect: the hub would go on to start the server.
        response = session.post(
            f"{self.url}/hub/login", data=data, timeout=30, allow_redirects=False
        )
        assert response.status_code == 302, f"login of {name} failed: {response.status_code}"
        assert any(c.name.endswith("jupyterhub-hub-login") for c in session.cookies), (
            f"login of {name} set no login cookie"
        )
        return session

    def user_api(self, session: requests.Session, method: str, path: str, **kwargs):
        # "__Host-_xsrf" on path / (the hub's cookies carry the __Host- prefix)
        xsrf = next((c.value for c in session.cookies if c.name.endswith("_xsrf")), None)
        headers = {"X-XSRFToken": xsrf} if xsrf else {}
        return session.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    @property
    def airlock_url(self) -> str:
        """The airlock as browsers reach it: nginx, then the hub's proxy."""
        return f"{self.url}/services/airlock/"

    @property
    def airlock_direct_url(self) -> str:
        """The airlock as researchers' containers reach it: the gateway and the airlock port."""
        return f"http://{self.settings.gateway}:{self.settings.airlock_port}/services/airlock/"

    def server_token(self, client: docker.DockerClient, name: str) -> str:
        """The API token the hub gave ``name``'s running server (its JUPYTERHUB_API_TOKEN)."""
        env = self.container(client, name).attrs["Config"]["Env"]
        return next(e.split("=", 1)[1] for e in env if e.startswith("JUPYTERHUB_API_TOKEN="))

    def start_server(self, name: str, timeout: float = 180, options: dict | None = None) -> dict:
        """Start ``name``'s server as they would (their own session) and wait until ready;
        ``options`` are the spawn options (``{"project": ...}``)."""
        session = self.login(name)
        # Spawn options go as user_options, the way scripts will choose a project later.
        response = self.user_api(session, "POST", f"/users/{name}/server", json=options or {})
        assert response.status_code in (201, 202), response.text
        return self.wait_ready(name, timeout)

    def spawn_messages(self, name: str, via_spawn_page: bool = False) -> list[str]:
        """Start ``name``'s server as they would and return every message they are shown:
        the start answer (or the spawn page) and each event of the progress bar."""
        session = self.login(name)
        if via_spawn_page:
            response = session.get(f"{self.url}/hub/spawn", timeout=60)
        else:
            response = self.user_api(session, "POST", f"/users/{name}/server", json={})
        messages = [response.text]
        progress = self.user_api(session, "GET", f"/users/{name}/server/progress", stream=True)
        for line in progress.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if event.get("failed") or event.get("ready"):
                    break
        return messages

    def wait_ready(self, name: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api.call("GET", f"/users/{name}")
            server = model["servers"].get("")
            if server and server.get("ready"):
                return model
            if not server or not server.get("pending"):
                if not server:
                    raise AssertionError(f"{name}'s server stopped while starting; see hub log")
            time.sleep(1)
        raise AssertionError(f"{name}'s server was not ready after {timeout} s")

    def stop_server(self, name: str) -> None:
        try:
            self.api.call("DELETE", f"/users/{name}/server")
        except Exception:  # noqa: BLE001 - already stopped is fine
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.api.call("GET", f"/users/{name}")["servers"]:
                return
            time.sleep(0.5)

    def container_name(self, name: str) -> str:
        """The Docker name of ``name``'s server container on this hub."""
        return f"{self.settings.container_prefix}-{name}"

    def container(self, client: docker.DockerClient, name: str):
        return client.containers.get(self.container_name(name))

    def hub_log_tail(self, lines: int = 80) -> str:
        log = daemon.hub_log(self.settings)
        if not log.exists():
            return "(no hub log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start_test_hub(client: docker.DockerClient, **overrides: str) -> TestHub:
    # The hub finds OPA through $CLEANROOM_OPA, as scripts/up.sh sets it: the checkout's pinned
    # binary (scripts/install-opa.sh), unless the environment already names one.
    os.environ.setdefault("CLEANROOM_OPA", str(Path(__file__).parents[2] / ".cache/bin/opa"))
    env = test_settings(client, **overrides)
    settings = Settings.from_env(env)
    test_hub = TestHub(env=env, settings=settings)
    try:
        daemon.start_hub(settings)
        edge.start(settings)
    except BaseException:
        stop_test_hub(test_hub)  # nothing of a hub that did not come up stays behind
        raise
    return test_hub


def stop_test_hub(hub: TestHub) -> None:
    settings = hub.settings
    edge.stop(settings)
    daemon.stop_hub(settings)
    host.teardown_host(settings)
    homes = settings.state_path / "homes"
    if homes.exists():
        for entry in homes.iterdir():
            if entry.is_dir() and os.path.ismount(entry):
                subprocess.run(["umount", str(entry)], check=False)
    shutil.rmtree(settings.state_path, ignore_errors=True)


def opa_pid(hub) -> int:
    """The OPA process a test hub started (found by its own port; the supervisor's command
    line holds OPA's too, but starts with python)."""
    out = subprocess.run(  # noqa: S603 - fixed argv
        ["pgrep", "-f", f"^[^ ]*/opa run .*127.0.0.1:{hub.settings.opa_port}"],  # noqa: S607
        capture_output=True,
        text=True,
    )
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 1, f"expected one OPA of this hub, found {pids}"
    return pids[0]
