"""Turn deployment settings into JupyterHub configuration (a pure function, unit-testable)."""

from __future__ import annotations

import os
import shutil
import sys

from traitlets.config import Config

from cleanroom import origins, scopes
from cleanroom.host import accounts
from cleanroom.hub import landing
from cleanroom.policy.opa import opa_service
from cleanroom.settings import Settings


def configure(c: Config, settings: Settings, admin_token: str, proxy_token: str = "") -> Config:
    """Fill ``c`` for one clean-room hub; touches nothing outside ``c``."""
    _state(c, settings)
    _addresses(c, settings, proxy_token)
    _accounts(c, settings)
    _roles(c)
    _services(c, settings, admin_token)
    _pages(c, settings)
    _spawner(c, settings)
    return c


def _service_environment(settings: Settings) -> dict[str, str]:
    return {**settings.to_env(), "PATH": os.environ.get("PATH", "")}


def _state(c: Config, settings: Settings) -> None:
    """Where the hub keeps its state."""
    state = settings.state_path
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "secrets" / "cookie_secret")
    c.JupyterHub.pid_file = str(state / "run" / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(state / "run" / "proxy.pid")


def _addresses(c: Config, settings: Settings, proxy_token: str) -> None:
    """The proxy only on loopback behind nginx; the hub API on the researchers' network
    gateway, the one place their containers may connect to."""
    c.JupyterHub.bind_url = f"http://127.0.0.1:{settings.proxy_port}/"
    c.JupyterHub.public_url = settings.public_url
    # Each researcher's server on a host name of its own (<label>.<public host>), so nothing a
    # researcher writes runs on the origin of the hub's, the airlock's and the admin pages;
    # the services stay on the public host. Cookies carry __Host-: a researcher's origin
    # cannot set one for the public host.
    c.JupyterHub.subdomain_host = origins.public_origin(settings)
    c.JupyterHub.subdomain_hook = origins.subdomain_hook
    c.JupyterHub.cookie_host_prefix_enabled = True
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    if proxy_token:
        c.ConfigurableHTTPProxy.auth_token = proxy_token
    c.JupyterHub.hub_bind_url = f"http://{settings.gateway}:{settings.hub_port}"
    c.JupyterHub.hub_connect_url = f"http://{settings.gateway}:{settings.hub_port}"
    proxy = shutil.which("configurable-http-proxy")
    if proxy:
        c.ConfigurableHTTPProxy.command = [proxy]


def _accounts(c: Config, settings: Settings) -> None:
    """Real accounts; sign-ups wait until an admin authorises them."""
    c.JupyterHub.authenticator_class = "cleanroom.hub.auth.CleanRoomAuthenticator"
    c.CleanRoomAuthenticator.audit_state_dir = str(settings.state_path)
    c.NativeAuthenticator.open_signup = False
    c.NativeAuthenticator.minimum_password_length = 12
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = 5
    c.NativeAuthenticator.seconds_before_next_try = 60
    c.Authenticator.admin_users = set(settings.admin_users.split(","))
    c.Authenticator.allow_all = True  # who may *do* anything is decided by groups and policy


def _roles(c: Config) -> None:
    """Global roles as groups that grant scopes (nothing per project here), and the
    services' own roles."""
    c.JupyterHub.custom_scopes = scopes.CUSTOM_SCOPES
    c.JupyterHub.load_roles = scopes.load_roles() + [
        {
            "name": "cleanroom-admin-service",
            "description": "The command line's service: manages users and groups.",
            "scopes": ["admin:users", "admin:servers", "admin:groups", "list:users"],
            "services": ["cleanroom-admin"],
        },
        {
            # The airlock reads who a caller is (groups) and the project of their running
            # server (user_options) from the hub: facts it never takes from a request body.
            "name": "cleanroom-airlock",
            "description": "Reads users, their groups and their servers' options.",
            "scopes": ["read:users", "read:servers", "list:users"],
            "services": ["airlock"],
        },
        {
            "name": "cleanroom-grant-watcher",
            "description": "Sees running servers and stops those whose grants are gone.",
            "scopes": ["admin:servers", "list:users", "read:users"],
            "services": ["grant-watcher"],
        },
    ]
    c.JupyterHub.load_groups = scopes.load_groups()
    c.JupyterHub.allow_named_servers = False


def _services(c: Config, settings: Settings, admin_token: str) -> None:
    """The services the hub runs and restarts: the grant watcher, the edge filter, the admin
    pages, the airlock and (unless one runs elsewhere) OPA. The watcher, the admin pages and
    the airlock run as system accounts of their own (cleanroom.host.accounts); only the hub
    itself holds the Docker socket."""
    c.JupyterHub.services = [
        {"name": "cleanroom-admin", "api_token": admin_token},
        {
            # Stops running servers whose grants no longer apply (cleanroom.hub.watcher).
            "name": "grant-watcher",
            "user": accounts.WATCHER,
            "command": [sys.executable, "-m", "cleanroom.hub.watcher"],
            "environment": _service_environment(settings),
        },
        {
            # The edge filter (cleanroom.edge.filter): nginx sends it every request for a
            # researcher's host name; it is restarted by the hub if it exits.
            "name": "edge",
            "command": [sys.executable, "-m", "cleanroom.edge.filter"],
            "environment": _service_environment(settings),
        },
        {
            # The admin pages (cleanroom.catalog.web), at /services/catalog/ through the proxy. Its
            # OAuth tokens carry the administer scope when the user holds it; it checks it.
            "name": "catalog",
            "user": accounts.CATALOG,
            "url": f"http://127.0.0.1:{settings.catalog_web_port}",
            "command": [sys.executable, "-m", "cleanroom.catalog.web"],
            "environment": _service_environment(settings),
            "oauth_client_allowed_scopes": [scopes.ADMINISTER],
            "oauth_no_confirm": True,
        },
        {
            # The airlock (cleanroom.airlock): release requests. It listens on the researchers'
            # gateway at the airlock port, which containers may reach; the proxy serves it to
            # browsers at /services/airlock/. Browser tokens carry at most these scopes.
            "name": "airlock",
            "user": accounts.AIRLOCK,
            "url": f"http://{settings.gateway}:{settings.airlock_port}",
            "command": [sys.executable, "-m", "cleanroom.airlock"],
            "environment": _service_environment(settings),
            "oauth_client_allowed_scopes": list(scopes.CUSTOM_SCOPES),
            "oauth_no_confirm": True,
        },
    ]
    if not settings.opa_url:
        # The hub starts OPA with itself, on loopback only, and restarts it if it exits.
        c.JupyterHub.services.append(
            opa_service(
                opa_binary=None,
                policies_dir=settings.policies_dir,
                addr=f"127.0.0.1:{settings.opa_port}",
            )
        )


def _pages(c: Config, settings: Settings) -> None:
    """Everyone lands on the hub's home after login, never on /hub/spawn (a 403 for all but
    researchers): JupyterHub's home.html extended (cleanroom/hub/templates/home.html), filled
    per role with facts from the catalog, the policies, the airlock and the audit log."""
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.template_paths = [str(landing.TEMPLATES)]
    c.JupyterHub.template_vars = {"cleanroom_home": landing.Home(settings)}


def _spawner(c: Config, settings: Settings) -> None:
    """The researchers' servers."""
    state = settings.state_path
    c.JupyterHub.spawner_class = "cleanroom.hub.spawner.CleanRoomSpawner"
    c.CleanRoomSpawner.image = settings.image
    c.CleanRoomSpawner.prefix = settings.container_prefix
    c.CleanRoomSpawner.network_name = settings.network
    c.CleanRoomSpawner.subnet = settings.subnet
    c.CleanRoomSpawner.bridge_name = settings.bridge
    c.CleanRoomSpawner.allowed_host_ports = (settings.hub_port, settings.airlock_port)
    # The researcher's limits are the kernel container's (their code); the lab container
    # keeps the spawner's own small defaults.
    c.CleanRoomSpawner.kernel_mem_limit = settings.mem_limit
    c.CleanRoomSpawner.kernel_cpu_limit = settings.cpu_limit
    c.CleanRoomSpawner.kernel_pids_limit = settings.pids_limit
    c.CleanRoomSpawner.home_size = settings.home_size
    c.CleanRoomSpawner.homes_dir = str(state / "homes")
    c.CleanRoomSpawner.policy_url = settings.policy_url
    c.CleanRoomSpawner.catalog_url = settings.catalog_database_url
    c.CleanRoomSpawner.grant_cache_dir = str(state / "grants")
    c.CleanRoomSpawner.sessions_dir = str(state / "sessions")
    c.CleanRoomSpawner.audit_state_dir = str(state)
    c.CleanRoomSpawner.airlock_url = (
        f"http://{settings.gateway}:{settings.airlock_port}/services/airlock/"
    )
    # The server's own token: report activity, be reached, and ask the airlock for releases
    # (a researcher's token gets the submit scope only when its owner holds it).
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        scopes.SUBMIT,
    ]
    # The lab server reads no configuration, extensions or settings from the home.
    c.Spawner.disable_user_config = True
    # How soon a server whose lab or kernel container died is noticed, and the other removed.
    c.Spawner.poll_interval = 10
    c.Spawner.default_url = "/lab"
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 180
