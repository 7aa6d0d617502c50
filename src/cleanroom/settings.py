"""Deployment settings: one documented table, read from ``CLEANROOM_*`` environment variables.

Every setting has a default that works on a single Debian host. The table below is the
reference: ``python -m cleanroom.settings`` prints it with the values in force.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import SettingsError

REPO_DIR = Path(__file__).resolve().parents[2]


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError
    return port


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError
    return number


def _size(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", value):
        raise ValueError
    return value


def _bytes(value: str) -> int:
    match = re.fullmatch(r"([1-9][0-9]*)([KMGT]?)", value)
    if not match:
        raise ValueError
    return int(match.group(1)) * 1024 ** "_KMGT".index(match.group(2) or "_")


def _subnet(value: str) -> str:
    net = ipaddress.IPv4Network(value, strict=True)
    if net.prefixlen > 28 or not net.is_private:
        raise ValueError
    return str(net)


def _bridge(value: str) -> str:
    # Linux interface names are at most 15 characters.
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,14}", value):
        raise ValueError
    return value


def _name(value: str) -> str:
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", value):
        raise ValueError
    return value


def _text(value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError
    return value


def _optional_url(value: str) -> str:
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError
    return value


def _optional_path(value: str) -> str:
    if value and not Path(value).is_absolute():
        raise ValueError
    return value


def _optional_db_url(value: str) -> str:
    if value and not re.fullmatch(r"(sqlite|postgresql|postgres)(\+\w+)?://\S*", value):
        raise ValueError
    return value


def _on_off(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError
    return value == "1"


def _users(value: str) -> str:
    names = [n for n in value.split(",") if n]
    if not names or not all(re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", n) for n in names):
        raise ValueError
    return ",".join(names)


def _env_text(value: object) -> str:
    """A parsed value written back as its setting reads it (booleans as 1 and 0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# name -> (parser, default, what a valid value looks like, what it does)
# fmt: off
SETTINGS: dict[str, tuple[Callable[[str], object], str, str, str]] = {
    "state_dir": (_text, "/var/lib/cleanroom", "an absolute path",
                  "Where the hub database, secrets, homes, TLS files and logs live."),
    "public_host": (_text, "localhost", "a host name or address",
                    "The name people use in their browser; part of the public URL."),
    "https_port": (_port, "443", "a port number 1-65535",
                   "The public TLS port of the nginx entry point."),
    "bind_address": (_text, "0.0.0.0", "an IP address",  # noqa: S104 - public entry
                     "Where the nginx entry point listens."),
    "proxy_port": (_port, "8000", "a port number 1-65535",
                   "JupyterHub's proxy, on 127.0.0.1 only; nginx forwards to it."),
    "proxy_api_port": (_port, "8001", "a port number 1-65535",
                       "The proxy's REST API, on 127.0.0.1 only."),
    "hub_port": (_port, "8081", "a port number 1-65535",
                 "The hub API, on the researchers' network gateway, which containers reach."),
    "airlock_port": (_port, "8082", "a port number 1-65535",
                     "Reserved for the airlock service: the second port containers reach."),
    "opa_port": (_port, "8181", "a port number 1-65535",
                 "The policy server, on 127.0.0.1 only; containers never reach it."),
    "subnet": (_subnet, "172.30.0.0/24", "a private IPv4 network such as 172.30.0.0/24",
               "The researchers' internal Docker network; the hub listens on its first address."),
    "network": (_name, "cleanroom-researchers", "letters, digits, '.', '_' or '-'",
                "Name of the researchers' internal Docker network."),
    "bridge": (_bridge, "br-cleanroom", "a lower-case interface name of at most 15 characters",
               "Name of that network's bridge interface, which the host firewall rules match."),
    "image": (_text, "cleanroom/notebook:latest", "an image name",
              "The researchers' notebook image (built by images/build.sh)."),
    "container_prefix": (_name, "cleanroom", "letters, digits and dashes",
                         "Researchers' containers are named <prefix>-<user>. Two hubs on one "
                         "Docker engine (tests beside a running system) need different ones."),
    "mem_limit": (_size, "4G", "a size such as 512M or 4G", "Memory limit of each server."),
    "cpu_limit": (_positive_float, "1.0", "a positive number of CPUs", "CPU limit of each server."),
    "pids_limit": (_positive_int, "512", "a positive integer",
                   "Most processes and threads one server may run."),
    "home_size": (_size, "2G", "a size such as 512M or 2G",
                  "Size of each researcher's home; a full home stops only its owner."),
    "admin_users": (_users, "admin", "comma-separated lower-case user names",
                    "Users who are hub admins from the start."),
    "tls_cert": (_optional_path, "", "empty, or an absolute path to a PEM certificate",
                 "A real TLS certificate; empty means a generated self-signed one."),
    "tls_key": (_optional_path, "", "empty, or an absolute path to a PEM private key",
                "The key of tls_cert."),
    "grant_check_interval": (_positive_float, "30", "a positive number of seconds",
                             "How often running servers' grants are checked again."),
    "policies_dir": (_text, str(REPO_DIR / "policies"), "an absolute path",
                     "The Rego policies OPA loads and watches: edit them there, no restart."),
    "opa_url": (_optional_url, "", "empty, or a URL such as http://127.0.0.1:8181",
                "Use an OPA server run elsewhere; empty means the hub starts its own."),
    "catalog_url": (_optional_db_url, "",
                    "empty, or a database URL such as postgresql://user@host/cleanroom",
                    "The catalog (datasets, projects, grants); empty means "
                    "sqlite:///<state_dir>/catalog.sqlite."),
    "catalog_web_port": (_port, "8083", "a port number 1-65535",
                         "The admin pages (cleanroom.catalog.web), on 127.0.0.1 only; the hub's "
                         "proxy serves them at /services/catalog/."),
    "import_dir": (_optional_path, "", "empty, or an absolute path",
                   "Where the admin pages register dataset files from (only files under it); "
                   "empty means <state_dir>/import."),
    "upload_max_bytes": (_bytes, "20G", "a size such as 500M or 20G",
                         "The largest dataset file an admin may upload through the admin "
                         "pages (refused at the start above it); the command line has no cap."),
    "airlock_dir": (_optional_path, "", "empty, or an absolute path outside the homes",
                    "Where the airlock keeps release requests: their files by content hash "
                    "and its database. Empty means <state_dir>/airlock; never under homes."),
    "airlock_max_file_bytes": (_bytes, "2G", "a size such as 500M or 2G",
                               "The largest single file the airlock accepts (413 above it); the "
                               "release policy may allow less per file type."),
    "terminals": (_on_off, "0", "0 (off); 1 is refused",
                  "Terminals in JupyterLab. Always off: they would run in the trusted lab "
                  "container, not with the kernels."),
    "airlock_max_files": (_positive_int, "50", "a positive integer",
                          "Most files one release request may hold (413 above it)."),
    "airlock_max_request_bytes": (_bytes, "4G", "a size such as 1G or 4G",
                                  "Most bytes all files of one request may add up to (413)."),
    "edge_port": (_port, "8084", "a port number 1-65535",
                  "The edge filter (cleanroom.edge.filter), on 127.0.0.1 only: nginx sends it "
                  "every request for a researcher's host name."),
    "display_rate": (_bytes, "384K", "a size per second such as 256K or 1M",
                     "Bytes per second one researcher's browser may receive from their "
                     "servers, on average (HTTP bodies and websocket messages together)."),
    "display_burst": (_bytes, "12M", "a size such as 8M or 16M",
                      "Bytes one researcher's browser may receive at once, above the rate "
                      "(opening a large notebook)."),
    "display_daily_quota": (_bytes, "256M", "a size such as 128M or 1G",
                            "Bytes one researcher's browser may receive from their servers in "
                            "a day (UTC); above it the display channel closes until midnight."),
    "display_audit_threshold": (_bytes, "64M", "a size such as 32M or 128M",
                                "A researcher whose browser received this many bytes in a day "
                                "is written to the audit log (once a day)."),
    "contents_read_cap": (_bytes, "1M", "a size such as 512K or 2M",
                          "Largest file other than a notebook that JupyterLab may open or save "
                          "(text or base64); larger ones are refused at the edge."),
    "notebook_cap": (_bytes, "16M", "a size such as 8M or 32M",
                     "Largest notebook that JupyterLab may open or save through the edge."),
}
# fmt: on


TERMINALS_REFUSED = (
    "CLEANROOM_TERMINALS=1 is refused: a terminal would run in the researcher's lab container, "
    "the trusted one that holds the server's hub token and enforces the clean room's limits, "
    "while the researcher's code runs in a separate kernel container (Jupyter's gateway client "
    "cannot put terminals there). Run commands from a notebook cell (!command), and unset "
    "CLEANROOM_TERMINALS."
)


@dataclass(frozen=True)
class Settings:
    state_dir: str
    public_host: str
    https_port: int
    bind_address: str
    proxy_port: int
    proxy_api_port: int
    hub_port: int
    airlock_port: int
    opa_port: int
    subnet: str
    network: str
    bridge: str
    image: str
    container_prefix: str
    mem_limit: str
    cpu_limit: float
    pids_limit: int
    home_size: str
    admin_users: str
    tls_cert: str
    tls_key: str
    grant_check_interval: float
    policies_dir: str
    opa_url: str
    catalog_url: str
    catalog_web_port: int
    import_dir: str
    upload_max_bytes: int
    airlock_dir: str
    airlock_max_file_bytes: int
    airlock_max_files: int
    terminals: bool
    airlock_max_request_bytes: int
    edge_port: int
    display_rate: int
    display_burst: int
    display_daily_quota: int
    display_audit_threshold: int
    contents_read_cap: int
    notebook_cap: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``CLEANROOM_<NAME>``; raise SettingsError naming the fix."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, (parse, default, expected, _help) in SETTINGS.items():
            env_name = f"CLEANROOM_{name.upper()}"
            raw = environ.get(env_name, default)
            try:
                values[name] = parse(raw)
            except ValueError:
                raise SettingsError(
                    f"{env_name}={raw!r} is not valid: set it to {expected}, "
                    f"or unset it for the default {default!r}."
                ) from None
        if bool(values["tls_cert"]) != bool(values["tls_key"]):
            raise SettingsError(
                "CLEANROOM_TLS_CERT and CLEANROOM_TLS_KEY go together: set both, or neither "
                "for a generated self-signed certificate."
            )
        try:
            ipaddress.ip_address(values["public_host"])
        except ValueError:
            pass
        else:
            raise SettingsError(
                f"CLEANROOM_PUBLIC_HOST={values['public_host']!r} is an address: researchers' "
                "servers live on host names under the public one (<user>.<public host>), so "
                "set a DNS name with a wildcard entry (see docs/edge.md)."
            )
        if values["terminals"]:
            raise SettingsError(TERMINALS_REFUSED)
        settings = cls(**values)
        homes = (settings.state_path / "homes").resolve()
        if settings.airlock_path.resolve().is_relative_to(homes):
            raise SettingsError(
                f"CLEANROOM_AIRLOCK_DIR={settings.airlock_dir!r} is inside the researchers' "
                f"homes ({homes}): put the airlock's files elsewhere, or unset it for "
                "<state_dir>/airlock."
            )
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process (the hub) read these same settings."""
        return {
            f"CLEANROOM_{f.name.upper()}": _env_text(getattr(self, f.name)) for f in fields(self)
        }

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def gateway(self) -> str:
        """The host's address on the researchers' network, where the hub API listens."""
        return str(next(ipaddress.IPv4Network(self.subnet).hosts()))

    @property
    def public_url(self) -> str:
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.public_host}{port}/"

    @property
    def policy_url(self) -> str:
        return self.opa_url or f"http://127.0.0.1:{self.opa_port}"

    @property
    def catalog_database_url(self) -> str:
        """The catalog's SQLAlchemy URL: catalog_url, else the SQLite file in state_dir."""
        return self.catalog_url or f"sqlite:///{self.state_path / 'catalog.sqlite'}"

    @property
    def import_path(self) -> Path:
        """Where the admin pages take dataset files from: import_dir, else <state_dir>/import."""
        return Path(self.import_dir) if self.import_dir else self.state_path / "import"

    @property
    def airlock_path(self) -> Path:
        """The airlock's state: airlock_dir, else <state_dir>/airlock."""
        return Path(self.airlock_dir) if self.airlock_dir else self.state_path / "airlock"


def describe(settings: Settings) -> str:
    lines = []
    for field in fields(Settings):
        _parse, default, expected, help_text = SETTINGS[field.name]
        lines.append(
            f"CLEANROOM_{field.name.upper()}={getattr(settings, field.name)}\n"
            f"    {help_text} ({expected}; default {default!r})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(Settings.from_env()))
