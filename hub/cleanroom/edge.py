"""The nginx entry point: the only public address. It terminates TLS in front of the proxy.

For now it passes everything through to JupyterHub's proxy; the edge filtering comes later.
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path
from string import Template

from .settings import REPO_DIR, Settings

TEMPLATE = REPO_DIR / "hub" / "nginx" / "nginx.conf.template"
WORKER_USER = "www-data"  # Debian's nginx user
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def tls_paths(settings: Settings) -> tuple[Path, Path]:
    if settings.tls_cert:
        return Path(settings.tls_cert), Path(settings.tls_key)
    tls = settings.state_path / "tls"
    return tls / "selfsigned.crt", tls / "selfsigned.key"


def ensure_self_signed(settings: Settings) -> None:
    """Generate a self-signed certificate once, for the public host name."""
    if settings.tls_cert:
        return
    cert, key = tls_paths(settings)
    if cert.exists() and key.exists():
        return
    cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = {f"DNS:{settings.public_host}", "DNS:localhost", "IP:127.0.0.1"}
    if settings.public_host.replace(".", "").isdigit():
        names = {f"IP:{settings.public_host}", "DNS:localhost", "IP:127.0.0.1"}
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "825",
            "-subj",
            f"/CN={settings.public_host}",
            "-addext",
            "subjectAltName=" + ",".join(sorted(names)),
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)


def render(settings: Settings) -> str:
    cert, key = tls_paths(settings)
    state = settings.state_path
    return Template(TEMPLATE.read_text()).substitute(
        state_dir=str(state),
        bind_address=settings.bind_address,
        https_port=settings.https_port,
        proxy_port=settings.proxy_port,
        tls_cert=str(cert),
        tls_key=str(key),
        worker_user=WORKER_USER,
    )


def config_path(settings: Settings) -> Path:
    return settings.state_path / "nginx" / "nginx.conf"


def pid_path(settings: Settings) -> Path:
    return settings.state_path / "run" / "nginx.pid"


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(pid_path(settings).read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def prepare_temp_dirs(nginx_dir: Path) -> None:
    """nginx/tmp/* belong to the worker user; the directories above it only let it pass."""
    worker = pwd.getpwnam(WORKER_USER)
    nginx_dir.mkdir(parents=True, exist_ok=True)
    nginx_dir.chmod(0o711)
    for name in ("tmp", *(f"tmp/{d}" for d in TEMP_DIRS)):
        path = nginx_dir / name
        path.mkdir(exist_ok=True)
        os.chown(path, worker.pw_uid, worker.pw_gid)
        path.chmod(0o700)


def start(settings: Settings) -> None:
    """Write the configuration and start nginx, or reload it when it already runs."""
    ensure_self_signed(settings)
    nginx_dir = settings.state_path / "nginx"
    prepare_temp_dirs(nginx_dir)
    config_path(settings).write_text(render(settings))
    base = ["nginx", "-p", str(nginx_dir), "-c", str(config_path(settings))]
    subprocess.run([*base, "-t", "-q"], check=True)
    if running_pid(settings):
        subprocess.run([*base, "-s", "reload"], check=True)
    else:
        subprocess.run(base, check=True)


def stop(settings: Settings) -> None:
    pid = running_pid(settings)
    if pid:
        os.kill(pid, signal.SIGQUIT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cleanroom.edge", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "render"])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.action == "render":
        sys.stdout.write(render(settings))
    elif args.action == "start":
        start(settings)
    else:
        stop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
