"""Who may read and write which part of the state folder: the hub (root) and the services'
accounts (:mod:`cleanroom.host.accounts`). Run as root before the hub starts, at every start,
so that whatever an admin's command made as root since is handed over again.

==================================== ======================= ============ =================
path (under the state folder)        owner                   group        mode
==================================== ======================= ============ =================
``secrets/``                         root                    cleanroom    0710 (no listing)
``secrets/audit.key``                root                    cleanroom    0640
``audit/``, ``audit-anchor/``        root                    cleanroom    2770, files 0660
``catalog/`` (the default catalog)   root                    cleanroom    2770, files 0660
``airlock/`` (``airlock_dir``)       cleanroom-airlock       its own      0700
``grants/``                          cleanroom-catalog       airlock's    0710
``grants/airlock/``                  cleanroom-catalog       airlock's    2750 (its copies)
``grants/researcher/``, ``tmp/``,    cleanroom-catalog       its own      0700
``locks/``
``import/`` (``import_dir``)         cleanroom-catalog       its own      0700
``sessions/``                        root                    watcher's    2770
==================================== ======================= ============ =================

Everything else (the hub's database, cookie secret and tokens, homes, logs, TLS) stays
root's alone.
"""

from __future__ import annotations

import grp
import os
import shutil
from pathlib import Path

from cleanroom.audit import AuditLog
from cleanroom.host import accounts
from cleanroom.host.accounts import AIRLOCK, CATALOG, SHARED_GROUP, WATCHER, own, own_tree
from cleanroom.hub.mounts import SESSION_DIR_MODE
from cleanroom.settings import CATALOG_FILE, CATALOG_FOLDER, Settings

GRANT_SUBDIRS = {"researcher": 0o700, "airlock": 0o2750, "tmp": 0o700, "locks": 0o700}


def share_state(settings: Settings) -> None:
    state = settings.state_path
    _audit_log(state)
    if not settings.catalog_url:
        _catalog_folder(state)
    _own_folder(settings.airlock_path, AIRLOCK, 0o700)
    _grant_cache(state / "grants")
    _own_folder(settings.import_path, CATALOG, 0o700)
    _sessions(state / "sessions")


def _own_group(user: str) -> str:
    return grp.getgrgid(accounts.pwd.getpwnam(user).pw_gid).gr_name


def _shared_files(folder: Path) -> None:
    own(folder, "root", SHARED_GROUP, 0o2770)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            own(path, None, SHARED_GROUP, 0o660)


def _audit_log(state: Path) -> None:
    log = AuditLog.from_state_dir(state)
    log.prepare()
    log.close()
    own(log.key_path.parent, "root", SHARED_GROUP, 0o710)
    own(log.key_path, "root", SHARED_GROUP, 0o640)
    _shared_files(log.db_path.parent)
    _shared_files(log.anchor_path.parent)


def _catalog_folder(state: Path) -> None:
    folder = state / CATALOG_FOLDER
    folder.mkdir(exist_ok=True)
    # Before the folder, the catalog's file lay in the state folder itself.
    for suffix in ("", "-wal", "-shm"):
        old = state / f"{CATALOG_FILE}{suffix}"
        if old.exists() and not (folder / old.name).exists():
            shutil.move(old, folder / old.name)
    from cleanroom.catalog.db import upgrade

    upgrade(f"sqlite:///{folder / CATALOG_FILE}")  # made and migrated by root, then shared
    _shared_files(folder)


def _own_folder(folder: Path, user: str, mode: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    own_tree(folder, user)
    os.chmod(folder, mode)


def _grant_cache(cache: Path) -> None:
    cache.mkdir(exist_ok=True)
    for name, mode in GRANT_SUBDIRS.items():
        (cache / name).mkdir(exist_ok=True)
        os.chmod(cache / name, mode)
    own_tree(cache, CATALOG)
    own(cache, None, _own_group(AIRLOCK), 0o710)
    # The airlock's copies: its group may read them (and nothing else of the cache).
    airlock_copies = cache / "airlock"
    own_tree(airlock_copies, CATALOG, _own_group(AIRLOCK))
    for folder in [airlock_copies, *(p for p in airlock_copies.iterdir() if p.is_dir())]:
        os.chmod(folder, GRANT_SUBDIRS["airlock"] if folder == airlock_copies else 0o750)


def _sessions(sessions: Path) -> None:
    sessions.mkdir(exist_ok=True)
    watcher = _own_group(WATCHER)
    own(sessions, "root", watcher, SESSION_DIR_MODE)
    for session in sessions.iterdir():
        if session.is_dir() and not session.is_symlink():
            own(session, None, watcher, SESSION_DIR_MODE)
            for path in session.iterdir():
                if path.is_file() and not path.is_symlink():
                    os.chown(path, -1, accounts.gid(watcher))
