"""Deployment settings, read from ``CLEANROOM_*`` environment variables.

Each setting is declared once, as a field of `Settings`: its type, its default (spelt as the
environment variable would be), the parser that checks a value, what a valid value looks like and
what it does. Reading the environment (`Settings.from_env`), writing it for a child process
(`Settings.to_env`), the listing of `python -m cleanroom.settings` (`describe`) and
docs/reference/settings.md (`python -m cleanroom.settings --markdown`) all come from those
fields. Every default works on a single Debian host.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from .core.units import parse_size
from .errors import SettingsError

# The catalog's SQLite file when no catalog_url is set: in a folder of its own, which the
# services' accounts may write (SQLite makes its -wal and -shm files beside the database).
CATALOG_FOLDER = "catalog"
CATALOG_FILE = "catalog.sqlite"


def default_catalog_url(state_dir: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(state_dir) / CATALOG_FOLDER / CATALOG_FILE}"


ENV_PREFIX = "CLEANROOM_"

T = TypeVar("T")


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
    parse_size(value)  # ValueError for what is not a size
    return value


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


@dataclass(frozen=True)
class Spec(Generic[T]):
    """How one setting is read from the environment and documented."""

    default: str  # as the environment variable spells it
    parse: Callable[[str], T]  # raises ValueError for a bad value
    expected: str  # what a valid value looks like, for error messages and docs
    help: str  # what the setting does


def setting(*, default: str, parse: Callable[[str], T], expected: str, help: str) -> T:
    """A `Settings` field: its default is ``parse(default)``, its `Spec` is in its metadata."""
    spec = Spec(default=default, parse=parse, expected=expected, help=help)
    return field(default=parse(default), metadata={"setting": spec})


def env_name(name: str) -> str:
    """The environment variable of a setting: ``CLEANROOM_<NAME>``."""
    return ENV_PREFIX + name.upper()


TERMINALS_REFUSED = (
    "CLEANROOM_TERMINALS=1 is refused: a terminal would run in the researcher's lab container, "
    "the trusted one that holds the server's hub token and enforces the clean room's limits, "
    "while the researcher's code runs in a separate kernel container (Jupyter's gateway client "
    "cannot put terminals there). Run commands from a notebook cell (!command), and unset "
    "CLEANROOM_TERMINALS."
)


@dataclass(frozen=True)
class Settings:
    """The deployment's settings; ``Settings()`` holds every default."""

    state_dir: str = setting(
        default="/var/lib/cleanroom",
        parse=_text,
        expected="an absolute path",
        help="Where the hub database, secrets, homes, TLS files and logs live.",
    )
    public_host: str = setting(
        default="localhost",
        parse=_text,
        expected="a host name or address",
        help="The name people use in their browser; part of the public URL.",
    )
    https_port: int = setting(
        default="443",
        parse=_port,
        expected="a port number 1-65535",
        help="The public TLS port of the nginx entry point.",
    )
    bind_address: str = setting(
        default="0.0.0.0",  # noqa: S104 - the public entry point
        parse=_text,
        expected="an IP address",
        help="Where the nginx entry point listens.",
    )
    proxy_port: int = setting(
        default="8000",
        parse=_port,
        expected="a port number 1-65535",
        help="JupyterHub's proxy, on 127.0.0.1 only; nginx forwards to it.",
    )
    proxy_api_port: int = setting(
        default="8001",
        parse=_port,
        expected="a port number 1-65535",
        help="The proxy's REST API, on 127.0.0.1 only.",
    )
    hub_port: int = setting(
        default="8081",
        parse=_port,
        expected="a port number 1-65535",
        help="The hub API, on the researchers' network gateway, which containers reach.",
    )
    airlock_port: int = setting(
        default="8082",
        parse=_port,
        expected="a port number 1-65535",
        help="Reserved for the airlock service: the second port containers reach.",
    )
    opa_port: int = setting(
        default="8181",
        parse=_port,
        expected="a port number 1-65535",
        help="The policy server, on 127.0.0.1 only; containers never reach it.",
    )
    subnet: str = setting(
        default="172.30.0.0/24",
        parse=_subnet,
        expected="a private IPv4 network such as 172.30.0.0/24",
        help="The researchers' internal Docker network; the hub listens on its first address.",
    )
    network: str = setting(
        default="cleanroom-researchers",
        parse=_name,
        expected="letters, digits, '.', '_' or '-'",
        help="Name of the researchers' internal Docker network.",
    )
    bridge: str = setting(
        default="br-cleanroom",
        parse=_bridge,
        expected="a lower-case interface name of at most 15 characters",
        help="Name of that network's bridge interface, which the host firewall rules match.",
    )
    image: str = setting(
        default="cleanroom/notebook:latest",
        parse=_text,
        expected="an image name",
        help="The researchers' notebook image (built by images/build.sh).",
    )
    container_prefix: str = setting(
        default="cleanroom",
        parse=_name,
        expected="letters, digits and dashes",
        help=(
            "Researchers' containers are named <prefix>-<user>. Two hubs on one Docker engine "
            "(tests beside a running system) need different ones."
        ),
    )
    mem_limit: str = setting(
        default="4G",
        parse=_size,
        expected="a size such as 512M or 4G",
        help="Memory limit of each server.",
    )
    cpu_limit: float = setting(
        default="1.0",
        parse=_positive_float,
        expected="a positive number of CPUs",
        help="CPU limit of each server.",
    )
    pids_limit: int = setting(
        default="512",
        parse=_positive_int,
        expected="a positive integer",
        help="Most processes and threads one server may run.",
    )
    home_size: str = setting(
        default="2G",
        parse=_size,
        expected="a size such as 512M or 2G",
        help="Size of each researcher's home; a full home stops only its owner.",
    )
    admin_users: str = setting(
        default="admin",
        parse=_users,
        expected="comma-separated lower-case user names",
        help="Users who are hub admins from the start.",
    )
    tls_cert: str = setting(
        default="",
        parse=_optional_path,
        expected="empty, or an absolute path to a PEM certificate",
        help="A real TLS certificate; empty means a generated self-signed one.",
    )
    tls_key: str = setting(
        default="",
        parse=_optional_path,
        expected="empty, or an absolute path to a PEM private key",
        help="The key of tls_cert.",
    )
    grant_check_interval: float = setting(
        default="30",
        parse=_positive_float,
        expected="a positive number of seconds",
        help="How often running servers' grants are checked again.",
    )
    policies_dir: str = setting(
        default="/etc/cleanroom/policies",
        parse=_text,
        expected="an absolute path",
        help="The Rego policies OPA loads and watches: edit them there, no restart. The "
        "Ansible role copies the project's policies/ there; scripts/up.sh uses the checkout's.",
    )
    opa_url: str = setting(
        default="",
        parse=_optional_url,
        expected="empty, or a URL such as http://127.0.0.1:8181",
        help="Use an OPA server run elsewhere; empty means the hub starts its own.",
    )
    catalog_url: str = setting(
        default="",
        parse=_optional_db_url,
        expected="empty, or a database URL such as postgresql://user@host/cleanroom",
        help=(
            "The catalog (datasets, projects, grants); empty means "
            "sqlite:///<state_dir>/catalog/catalog.sqlite (a folder of its own: the "
            "services' accounts share it, cleanroom.host.accounts)."
        ),
    )
    catalog_web_port: int = setting(
        default="8083",
        parse=_port,
        expected="a port number 1-65535",
        help=(
            "The admin pages (cleanroom.catalog.web), on 127.0.0.1 only; the hub's proxy serves "
            "them at /services/catalog/."
        ),
    )
    import_dir: str = setting(
        default="",
        parse=_optional_path,
        expected="empty, or an absolute path",
        help=(
            "Where the admin pages register dataset files from (only files under it); empty means"
            " <state_dir>/import."
        ),
    )
    upload_max_bytes: int = setting(
        default="20G",
        parse=parse_size,
        expected="a size such as 500M or 20G",
        help=(
            "The largest dataset file an admin may upload through the admin pages (refused at the"
            " start above it); the command line has no cap."
        ),
    )
    airlock_dir: str = setting(
        default="",
        parse=_optional_path,
        expected="empty, or an absolute path outside the homes",
        help=(
            "Where the airlock keeps release requests: their files by content hash and its "
            "database. Empty means <state_dir>/airlock; never under homes."
        ),
    )
    airlock_max_file_bytes: int = setting(
        default="2G",
        parse=parse_size,
        expected="a size such as 500M or 2G",
        help=(
            "The largest single file the airlock accepts (413 above it); the release policy may "
            "allow less per file type."
        ),
    )
    airlock_max_files: int = setting(
        default="50",
        parse=_positive_int,
        expected="a positive integer",
        help="Most files one release request may hold (413 above it).",
    )
    sandbox_uid: int = setting(
        default="65534",
        parse=_positive_int,
        expected="a uid other than 0",
        help=(
            "The user the airlock's sandbox runs parsing jobs as (previews, PDF pages and "
            "checks; docs/explanation/sandbox.md) when the airlock runs as root. 65534 is "
            "nobody; 0 is refused: the sandbox never runs as root."
        ),
    )
    sandbox_gid: int = setting(
        default="65534",
        parse=_positive_int,
        expected="a gid other than 0",
        help="The group of the airlock's sandbox jobs (65534 is nogroup; 0 is refused).",
    )
    terminals: bool = setting(
        default="0",
        parse=_on_off,
        expected="0 (off); 1 is refused",
        help=(
            "Terminals in JupyterLab. Always off: they would run in the trusted lab container, "
            "not with the kernels."
        ),
    )
    airlock_max_request_bytes: int = setting(
        default="4G",
        parse=parse_size,
        expected="a size such as 1G or 4G",
        help="Most bytes all files of one request may add up to (413).",
    )
    airlock_researcher_quota_bytes: int = setting(
        default="10G",
        parse=parse_size,
        expected="a size such as 2G or 10G",
        help=(
            "Storage quota per researcher: the most bytes of files the airlock holds in their "
            "requests that are open or approved but not yet released (every version counts). "
            "An upload past it is refused (413) before anything is stored."
        ),
    )
    airlock_project_quota_bytes: int = setting(
        default="50G",
        parse=parse_size,
        expected="a size such as 10G or 50G",
        help=(
            "Storage quota per project: as the researcher quota, for all requests of one "
            "project together. Keep the airlock's store on a file system of its own, so that "
            "the quotas together cannot fill the disk that holds the audit log."
        ),
    )
    airlock_max_drafts: int = setting(
        default="5",
        parse=_positive_int,
        expected="a whole number of requests, at least 1",
        help=(
            "Most draft requests one researcher may hold at once; a new one past it is "
            "refused (409) with what to do."
        ),
    )
    airlock_max_open_requests: int = setting(
        default="20",
        parse=_positive_int,
        expected="a whole number of requests, at least 1",
        help=(
            "Most open requests (draft, submitted, in review, returned) one researcher may "
            "hold at once."
        ),
    )
    edge_port: int = setting(
        default="8084",
        parse=_port,
        expected="a port number 1-65535",
        help=(
            "The edge filter (cleanroom.edge.filter), on 127.0.0.1 only: nginx sends it every "
            "request for a researcher's host name."
        ),
    )
    display_rate: int = setting(
        default="384K",
        parse=parse_size,
        expected="a size per second such as 256K or 1M",
        help=(
            "Bytes per second one researcher's browser may receive from their servers, on average"
            " (HTTP bodies and websocket messages together)."
        ),
    )
    display_burst: int = setting(
        default="12M",
        parse=parse_size,
        expected="a size such as 8M or 16M",
        help=(
            "Bytes one researcher's browser may receive at once, above the rate (opening a large "
            "notebook)."
        ),
    )
    display_daily_quota: int = setting(
        default="256M",
        parse=parse_size,
        expected="a size such as 128M or 1G",
        help=(
            "Bytes one researcher's browser may receive from their servers in a day (UTC); above "
            "it the display channel closes until midnight."
        ),
    )
    display_audit_threshold: int = setting(
        default="64M",
        parse=parse_size,
        expected="a size such as 32M or 128M",
        help=(
            "A researcher whose browser received this many bytes in a day is written to the audit"
            " log (once a day)."
        ),
    )
    contents_read_cap: int = setting(
        default="1M",
        parse=parse_size,
        expected="a size such as 512K or 2M",
        help=(
            "Largest file other than a notebook that JupyterLab may open or save (text or "
            "base64); larger ones are refused at the edge."
        ),
    )
    notebook_cap: int = setting(
        default="16M",
        parse=parse_size,
        expected="a size such as 8M or 32M",
        help="Largest notebook that JupyterLab may open or save through the edge.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``CLEANROOM_<NAME>``; raise SettingsError naming the fix."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, spec in SETTINGS.items():
            variable = env_name(name)
            raw = environ.get(variable, spec.default)
            try:
                values[name] = spec.parse(raw)
            except ValueError:
                raise SettingsError(
                    f"{variable}={raw!r} is not valid: set it to {spec.expected}, "
                    f"or unset it for the default {spec.default!r}."
                ) from None
        settings = cls(**values)
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise SettingsError(
                "CLEANROOM_TLS_CERT and CLEANROOM_TLS_KEY go together: set both, or neither "
                "for a generated self-signed certificate."
            )
        try:
            ipaddress.ip_address(settings.public_host)
        except ValueError:
            pass
        else:
            raise SettingsError(
                f"CLEANROOM_PUBLIC_HOST={settings.public_host!r} is an address: researchers' "
                "servers live on host names under the public one (<user>.<public host>), so "
                "set a DNS name with a wildcard entry (see docs/explanation/edge.md)."
            )
        if settings.terminals:
            raise SettingsError(TERMINALS_REFUSED)
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
        return {env_name(f.name): _env_text(getattr(self, f.name)) for f in fields(self)}

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
        return self.catalog_url or default_catalog_url(self.state_path)

    @property
    def import_path(self) -> Path:
        """Where the admin pages take dataset files from: import_dir, else <state_dir>/import."""
        return Path(self.import_dir) if self.import_dir else self.state_path / "import"

    @property
    def airlock_path(self) -> Path:
        """The airlock's state: airlock_dir, else <state_dir>/airlock."""
        return Path(self.airlock_dir) if self.airlock_dir else self.state_path / "airlock"


# Every setting's Spec, by name, in declaration order.
SETTINGS: dict[str, Spec[Any]] = {f.name: f.metadata["setting"] for f in fields(Settings)}


def describe(settings: Settings) -> str:
    """Every setting with the value in force, what it does, and its default."""
    lines = []
    for name, spec in SETTINGS.items():
        lines.append(
            f"{env_name(name)}={getattr(settings, name)}\n"
            f"    {spec.help} ({spec.expected}; default {spec.default!r})"
        )
    return "\n".join(lines)


def _markdown_text(text: str) -> str:
    # Help texts name placeholders such as <state_dir>, which Markdown would take for HTML.
    return text.replace("|", "\\|").replace("<", "\\<")


def _markdown_default(spec: Spec[Any]) -> str:
    if not spec.default:
        return "(empty)"
    return f"`{spec.default}`"


def markdown() -> str:
    """docs/reference/settings.md: every setting with its default (not the values in force)."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from cleanroom/settings.py by "
        "`python -m cleanroom.settings --markdown`; do not edit. -->",
        "",
        "Every setting is an environment variable. A bad value stops the process that reads it",
        "with a message naming the variable and what it should be. `python -m cleanroom.settings`",
        "prints the values in force.",
        "",
        "| Setting | Variable | Default | Valid values | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in SETTINGS.items():
        cells = [
            f"`{name}`",
            f"`{env_name(name)}`",
            _markdown_default(spec),
            _markdown_text(spec.expected),
            _markdown_text(spec.help),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cleanroom.settings",
        description="Print every setting with the value in force, read from the environment.",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print docs/reference/settings.md instead: the defaults, not the values in force",
    )
    if parser.parse_args(argv).markdown:
        print(markdown(), end="")
    else:
        print(describe(Settings.from_env()))


if __name__ == "__main__":
    main()
