"""``make up``: the clean room on this host (:mod:`cleanroom.host.daemon`), then the demo
accounts and the demo project, printed with the addresses to log in at.

    python -m cleanroom.demo.up

Safe to run again: every step skips what is already done. ``make down`` is
``python -m cleanroom.host.daemon down``.
"""

from __future__ import annotations

import sys

from cleanroom import origins
from cleanroom.demo import accounts
from cleanroom.demo import setup as demo_setup
from cleanroom.host import daemon
from cleanroom.settings import Settings


def up(settings: Settings) -> None:
    daemon.up(settings)
    passwords = accounts.ensure_demo_users(settings)
    for step in demo_setup.ensure_demo_catalog(settings):
        print(f"demo: added {step}")
    print(f"\nThe clean room is up: {settings.public_url}")
    print("(the certificate is self-signed unless CLEANROOM_TLS_CERT is set)")
    example = origins.user_server_url(settings, "researcher")
    print(f"Researchers' servers: each on its own host name, e.g. {example}")
    print(f"Admin pages: {settings.public_url}services/catalog/\n")
    print(f"Project {demo_setup.PROJECT!r}: researcher works in it; reviewer and checker review")
    print(f"Release requests and reviews: {settings.public_url}services/airlock/")
    print("Demo accounts (stored in {}):".format(settings.state_path / "secrets"))
    width = max(map(len, passwords))
    for name, password in passwords.items():
        roles = ", ".join(accounts.DEMO_USERS.get(name, ()))
        print(f"  {name:<{width}}  {password}   ({roles})")


def main() -> int:
    up(Settings.from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main())
