"""Who lives on which origin.

The hub, the airlock and the admin pages share the public host. Each researcher's server has a
host name of its own, ``<label>.<public host>``, so that nothing a researcher writes is ever
served on the origin of the reviewers' and admins' pages. ``<label>`` is JupyterHub's own
DNS-safe encoding of the user name (its "idna" subdomain hook), so the hub, the proxy and the
edge filter agree on it.
"""

from __future__ import annotations

from urllib.parse import quote

from jupyterhub.utils import subdomain_hook_idna

from .settings import Settings


def subdomain_hook(name: str, domain: str, kind: str) -> str:
    """JupyterHub's ``subdomain_hook``: users on their own host names, services (the airlock,
    the admin pages) on the public host itself."""
    if kind == "service":
        return domain
    return subdomain_hook_idna(name, domain, kind)


def _port_suffix(settings: Settings) -> str:
    return "" if settings.https_port == 443 else f":{settings.https_port}"


def public_origin(settings: Settings) -> str:
    """``https://<public host>[:port]``: the hub's, the airlock's and the admin pages' origin."""
    return f"https://{settings.public_host}{_port_suffix(settings)}"


def user_host(settings: Settings, name: str) -> str:
    """The host name of ``name``'s server, without the port."""
    return subdomain_hook(name, settings.public_host, "user")


def user_origin(settings: Settings, name: str) -> str:
    return f"https://{user_host(settings, name)}{_port_suffix(settings)}"


def user_server_url(settings: Settings, name: str) -> str:
    """Where ``name``'s server answers in a browser (with a trailing slash)."""
    return f"{user_origin(settings, name)}/user/{quote(name, safe='@~')}/"


def user_label(host: str, public_host: str) -> str | None:
    """The first label of a researcher's host name (``alice`` of ``alice.example.org``), or
    None when ``host`` is not exactly one label under the public host."""
    host = host.lower().rstrip(".")
    suffix = "." + public_host.lower()
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    if not label or "." in label:
        return None
    return label
