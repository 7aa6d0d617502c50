"""Prepare the host before the hub starts: state directories, the network, the firewall.

The hub API binds to the researchers' network gateway, so that network must exist (and be
walled off by the firewall) before JupyterHub opens its sockets.
"""

from __future__ import annotations

import os
import secrets

import docker

from cleanroom.host import accounts, firewall, network, shares
from cleanroom.settings import Settings

STATE_SUBDIRS = ("secrets", "run", "logs", "homes", "tls", "nginx")


def prepare_state_dir(settings: Settings) -> None:
    settings.state_path.mkdir(parents=True, exist_ok=True, mode=0o711)
    # Others may pass through (nginx's workers reach their temp directory) but not list it.
    settings.state_path.chmod(0o711)
    for name in STATE_SUBDIRS:
        (settings.state_path / name).mkdir(exist_ok=True, mode=0o700)
    for database in settings.state_path.glob("*.sqlite*"):
        database.chmod(0o600)  # password hashes and tokens: root's alone
    if os.geteuid() == 0:
        # The services run as accounts of their own, each given only its part of the state.
        accounts.ensure_accounts()
        shares.share_state(settings)


def bridge_rules(settings: Settings) -> firewall.BridgeRules:
    return firewall.BridgeRules(
        bridge=settings.bridge,
        gateway=settings.gateway,
        allowed_tcp_ports=(settings.hub_port, settings.airlock_port),
    )


def prepare_host(settings: Settings) -> None:
    prepare_state_dir(settings)
    client = docker.from_env()
    network.ensure_internal_network(client, settings.network, settings.subnet, settings.bridge)
    firewall.ensure_rules(bridge_rules(settings))


def teardown_host(settings: Settings) -> None:
    """Remove the network and the firewall rules (``make down``); homes stay."""
    client = docker.from_env()
    for net in client.networks.list(names=[settings.network]):
        if net.name == settings.network:
            net.reload()
            for container in net.containers:
                container.remove(force=True)
            net.remove()
    firewall.remove_rules(bridge_rules(settings))


def admin_token(settings: Settings) -> str:
    """The token of the hub's admin service (created once, readable by root only)."""
    return _secret(settings, "admin_token")


def proxy_token(settings: Settings) -> str:
    """The token of the proxy's REST API (created once, readable by root only): kept in a
    file so that a restarted hub finds the routes of the proxy that kept running."""
    return _secret(settings, "proxy_token")


def _secret(settings: Settings, name: str) -> str:
    path = settings.state_path / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()
