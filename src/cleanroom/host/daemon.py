"""Start and stop one clean-room host: the hub (which runs the proxy) and nginx.

``python -m cleanroom.host.daemon up`` starts them; ``make up`` runs
``python -m cleanroom.demo.up``, which does this and then adds the demo accounts and project.
``python -m cleanroom.host.daemon down`` is ``make down``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.resources import files
from pathlib import Path

from cleanroom.host import nginx as edge
from cleanroom.host import prepare as host
from cleanroom.settings import Settings

# JupyterHub reads its configuration from a file: the one shipped in the package.
HUB_CONFIG = Path(str(files("cleanroom.hub") / "jupyterhub_config.py"))


def hub_pid(settings: Settings) -> int | None:
    try:
        pid = int((settings.state_path / "run" / "jupyterhub.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def hub_log(settings: Settings):
    return settings.state_path / "logs" / "jupyterhub.log"


def start_hub(settings: Settings, timeout: float = 90) -> bool:
    """Start JupyterHub in the background unless it already runs; wait until it answers.
    Return whether it was started now."""
    if hub_pid(settings):
        return False
    host.prepare_state_dir(settings)
    jupyterhub = os.path.join(os.path.dirname(sys.executable), "jupyterhub")
    with open(hub_log(settings), "ab") as log:
        subprocess.Popen(  # noqa: S603 - fixed argv
            [jupyterhub, "-f", str(HUB_CONFIG)],
            cwd=settings.state_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # the hub's database, secrets and logs are root's alone
            env={**os.environ, **settings.to_env()},
        )
    # Up means: the hub answers, and so does the policy service it started.
    urls = [f"http://127.0.0.1:{settings.proxy_port}/hub/api/", f"{settings.policy_url}/health"]
    deadline = time.monotonic() + timeout
    while urls and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urls[0], timeout=5):  # noqa: S310 - loopback
                urls.pop(0)
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    if not urls:
        return True
    tail = hub_log(settings).read_text(errors="replace").splitlines()[-30:]
    raise SystemExit(
        "{} did not answer within {:.0f} s. Last lines of {}:\n{}".format(
            urls[0], timeout, hub_log(settings), "\n".join(tail)
        )
    )


def stop_hub(settings: Settings, timeout: float = 60) -> None:
    pid = hub_pid(settings)
    if not pid:
        return
    os.kill(pid, signal.SIGTERM)  # the hub stops the servers and its proxy on the way out
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        # When we started the hub ourselves (tests), reap it, or it lingers as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up(settings: Settings) -> None:
    """The hub (and with it the proxy, OPA and the services) and nginx; no accounts, no data
    (``python -m cleanroom.demo.up`` adds the demo's)."""
    print("hub started" if start_hub(settings) else "hub already running")
    edge.start(settings)
    print(f"The clean room is up: {settings.public_url}")


def down(settings: Settings) -> None:
    edge.stop(settings)
    stop_hub(settings)
    host.teardown_host(settings)
    print("The clean room is stopped. Homes and the hub database stay in", settings.state_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cleanroom.host.daemon", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    up(settings) if args.action == "up" else down(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
