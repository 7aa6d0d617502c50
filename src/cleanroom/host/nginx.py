"""The nginx entry point: the only public address. It terminates TLS, sends the public host to
JupyterHub's proxy and researchers' host names to the edge filter (``cleanroom.edge.filter``),
and serves JupyterLab's static files from a copy taken out of the notebook image.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from importlib.resources import files
from pathlib import Path
from string import Template

import docker

from cleanroom import origins
from cleanroom.settings import Settings

TEMPLATE = Path(str(files("cleanroom.host") / "nginx.conf.template"))
WORKER_USER = "www-data"  # Debian's nginx user
TEMP_DIRS = ("body", "proxy", "fastcgi", "uwsgi", "scgi")


def _plain_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Only files and folders with relative names that stay inside: what the data filter of
    newer Pythons (3.11.4+) allows, checked here for the interpreters that lack it."""
    members = []
    for member in tar.getmembers():
        name = Path(member.name)
        if not (member.isfile() or member.isdir()):
            raise RuntimeError(f"the image's static files hold {member.name!r}, not a plain file")
        if name.is_absolute() or ".." in name.parts:
            raise RuntimeError(f"the image's static files hold a path outside: {member.name!r}")
        member.mode &= 0o755
        members.append(member)
    return members


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
    # The public host and every researcher's host name under it.
    names = {f"DNS:{settings.public_host}", f"DNS:*.{settings.public_host}"}
    names_file = cert.with_suffix(".names")
    wanted = ",".join(sorted(names))
    if cert.exists() and key.exists() and _read(names_file) == wanted:
        return
    cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    names_file.write_text(wanted)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# Where the notebook image keeps JupyterLab's static files (images/notebook/Dockerfile's venv),
# and where the edge serves each from: /user/<name>/static/lab/, /lab/extensions/, /static/.
IMAGE_STATIC = {
    "lab": "/opt/venv/share/jupyter/lab/static",
    "labextensions": "/opt/venv/share/jupyter/labextensions",
    "server": "/opt/venv/lib/python3.11/site-packages/jupyter_server/static",
}


def lab_static_dir(settings: Settings, image_id: str) -> Path:
    return settings.state_path / "lab-static" / image_id.split(":")[-1][:16]


def extract_lab_static(settings: Settings) -> Path:
    """Copy JupyterLab's static files out of the notebook image, once per image ID, into a
    directory nginx's workers can read. Nothing is ever fetched from a running container."""
    client = docker.from_env()
    image = client.images.get(settings.image)
    target = lab_static_dir(settings, image.id)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.parent.chmod(0o755)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    container = client.containers.create(image.id, command=["true"], network_mode="none")
    try:
        for name, path in IMAGE_STATIC.items():
            stream, _stat = container.get_archive(path)
            with tempfile.TemporaryFile() as archive:
                for chunk in stream:
                    archive.write(chunk)
                archive.seek(0)
                with tarfile.open(fileobj=archive) as tar:
                    tar.extractall(partial, members=_plain_members(tar))  # noqa: S202 - checked
            (partial / Path(path).name).rename(partial / name)
        for entry in [partial, *partial.rglob("*")]:
            entry.chmod(0o755 if entry.is_dir() else 0o644)
        partial.rename(target)  # whole or not at all
    finally:
        container.remove(force=True)
        shutil.rmtree(partial, ignore_errors=True)
    # Copies of earlier images go: nginx is given the new one right after this.
    for old in target.parent.iterdir():
        if old != target and not old.name.startswith(".partial-"):
            shutil.rmtree(old, ignore_errors=True)
    return target


def hub_csp(settings: Settings) -> str:
    """The hub's pages: their own scripts and styles only, no frames from elsewhere, forms
    that go to this origin (and, after sign-in, on to the researcher's server)."""
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'self'; "
        f"form-action 'self' https://*.{settings.public_host}{port}"
    )


def render(settings: Settings, lab_static: Path | None = None) -> str:
    cert, key = tls_paths(settings)
    state = settings.state_path
    origin = origins.public_origin(settings)
    return Template(TEMPLATE.read_text()).substitute(
        state_dir=str(state),
        bind_address=settings.bind_address,
        https_port=settings.https_port,
        proxy_port=settings.proxy_port,
        edge_port=settings.edge_port,
        tls_cert=str(cert),
        tls_key=str(key),
        worker_user=WORKER_USER,
        public_host=settings.public_host,
        public_origin=origin,
        public_hostport=origin.split("://", 1)[1],
        hub_csp=hub_csp(settings),
        # A notebook at its cap, in a JSON model, with room to spare; the filter checks the
        # exact caps.
        max_body_size=f"{settings.notebook_cap + 1024 * 1024}",
        lab_static=str(lab_static or state / "lab-static" / "missing"),
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
    try:
        lab_static = extract_lab_static(settings)
    except docker.errors.ImageNotFound:
        # The hub starts, and says so; no researcher's server can start without the image.
        print(
            f"The notebook image {settings.image} is missing: build it (images/build.sh) and "
            "run this again. Until then JupyterLab's static files are not served.",
            file=sys.stderr,
        )
        lab_static = None
    nginx_dir = settings.state_path / "nginx"
    prepare_temp_dirs(nginx_dir)
    config_path(settings).write_text(render(settings, lab_static))
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
    parser = argparse.ArgumentParser(prog="python -m cleanroom.host.nginx", description=__doc__)
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
