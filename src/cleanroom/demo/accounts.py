"""Demo accounts: an admin, a researcher, two reviewers and a data owner with generated passwords.

Passwords go into the hub database the way NativeAuthenticator stores them (bcrypt, already
authorised); JupyterHub users and group memberships go through the hub's REST API with the
admin service's token, so the running hub sees them at once.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import bcrypt
from nativeauthenticator.orm import UserInfo
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from cleanroom.host.prepare import admin_token
from cleanroom.hubapi import HubAPI
from cleanroom.settings import Settings

# user name -> global role groups
DEMO_USERS: dict[str, tuple[str, ...]] = {
    "admin": ("admin",),
    "researcher": ("researcher",),
    "reviewer": ("reviewer",),
    "checker": ("reviewer",),
    "owner": ("data-owner",),
}


def set_password(db_url: str, username: str, password: str) -> None:
    """Create or update a NativeAuthenticator login, authorised."""
    engine = create_engine(db_url)
    UserInfo.__table__.create(engine, checkfirst=True)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
    with Session(engine) as session:
        info = session.query(UserInfo).filter_by(username=username).first()
        if info is None:
            session.add(UserInfo(username=username, password=hashed, is_authorized=True))
        else:
            info.password = hashed
            info.is_authorized = True
        session.commit()
    engine.dispose()


def hub_api(settings: Settings) -> HubAPI:
    return HubAPI(f"http://127.0.0.1:{settings.proxy_port}", admin_token(settings))


def ensure_demo_users(settings: Settings) -> dict[str, str]:
    """Create the demo users once; later runs keep and return the same passwords."""
    store = settings.state_path / "secrets" / "demo-users.json"
    passwords: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    api = hub_api(settings)
    api.wait_until_up()
    db_url = f"sqlite:///{settings.state_path / 'jupyterhub.sqlite'}"
    for name, groups in DEMO_USERS.items():
        if name not in passwords:
            passwords[name] = secrets.token_urlsafe(12)
            set_password(db_url, name, passwords[name])
        api.ensure_user(name, groups)
    _write_private(store, json.dumps(passwords, indent=2))
    return passwords


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cleanroom.demo.accounts")
    parser.add_argument("action", choices=["demo"])
    parser.parse_args(argv)
    settings = Settings.from_env()
    passwords = ensure_demo_users(settings)
    width = max(map(len, passwords))
    for name, password in passwords.items():
        roles = ", ".join(DEMO_USERS.get(name, ()))
        print(f"  {name:<{width}}  {password}   ({roles})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
