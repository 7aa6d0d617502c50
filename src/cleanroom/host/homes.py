"""Persistent, size-limited homes: one ext4 image file per home, loop-mounted on the host.

A quota that lives on the host's own filesystem is the only one a researcher cannot lift from
inside the container, and a full home then fills only its own image: the hub, the other
researchers and the host's disk keep working.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from cleanroom.errors import SpawnRefused

RESEARCHER_UID = 1000
RESEARCHER_GID = 100
MOUNT_OPTIONS = "loop,nosuid,nodev"


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


KEY_PREFIX_LENGTH = 60
KEY_DIGEST_LENGTH = 16
# What a home_key ends with; a legacy key that does too could be someone's current home.
_DIGEST_ENDING = re.compile(rf"(?:\A|-)[0-9a-f]{{{KEY_DIGEST_LENGTH}}}\Z")


def _escape(raw: str) -> str:
    """Lower-case, with every character outside [a-z0-9_.-] written as _<hex code>."""
    return re.sub(r"[^a-z0-9_.-]", lambda m: f"_{ord(m.group()):x}", raw.lower())


def home_key(username: str, project: str | None = None) -> str:
    """A file-system-safe name for one researcher's home (in one project, when given).

    Only [a-z0-9_.-], at most 77 characters: a readable prefix (the escaped user and project,
    cut short) and a digest of the pair. The digest is what keeps two pairs apart: the
    readable part alone is ambiguous (user names may contain "--", lower-casing merges
    "Alice" and "alice", long names are cut), and one home per key must mean one owner.
    """
    encoded = json.dumps([username, project]).encode()
    digest = hashlib.sha256(encoded).hexdigest()[:KEY_DIGEST_LENGTH]
    prefix = legacy_home_key(username, project)[:KEY_PREFIX_LENGTH].lstrip(".-")
    return f"{prefix}-{digest}" if prefix else digest


def legacy_home_key(username: str, project: str | None = None) -> str:
    """The key homes had before home_key took a digest; for migrate_legacy_home only.

    Not injective: ("alice--demo", None) and ("alice", "demo") share one.
    """
    return _escape(username if project is None else f"{username}--{project}")


def migrate_legacy_home(
    homes_dir: Path,
    username: str,
    project: str | None = None,
    *,
    sessions_dir: Path | None = None,
) -> bool:
    """Move a home kept under its legacy key to its home_key; return whether anything moved.

    The image <legacy>.ext4 becomes <key>.ext4 (one os.replace) unless <key>.ext4 exists.
    Its mount point, if still mounted (a server stopped before the upgrade left it so), is
    unmounted first, and refused if busy: one file system must never be mounted twice. The
    emptied directory is removed; ensure_home makes the new one. With sessions_dir, the
    server's session directory (why it was last stopped) moves the same way.

    Legacy keys are not injective, so the first of the colliding (user, project) pairs to
    start claims the legacy home and the later ones get new, empty homes; before, they
    shared it. A legacy key that ends like a home_key ("-" and 16 hex digits) is never
    moved: a user named after someone's current key would take that home. Such a rare home
    stays under its old name for an admin to move. Blocking; raises SpawnRefused when the
    home cannot be moved.
    """
    legacy, key = legacy_home_key(username, project), home_key(username, project)
    if legacy in ("", ".", "..") or _DIGEST_ENDING.search(legacy):
        return False
    moved = False
    image, legacy_image = homes_dir / f"{key}.ext4", homes_dir / f"{legacy}.ext4"
    legacy_mountpoint = homes_dir / legacy
    try:
        if legacy_image.is_file() and not image.exists():
            if os.path.ismount(legacy_mountpoint):
                _run("umount", str(legacy_mountpoint))
            moved = _move(legacy_image, image)
            if legacy_mountpoint.is_dir() and not os.path.ismount(legacy_mountpoint):
                try:
                    legacy_mountpoint.rmdir()
                except OSError:
                    pass  # not empty, so not an unmounted mount point: left for an admin
        if sessions_dir is not None:
            session, legacy_session = sessions_dir / key, sessions_dir / legacy
            if legacy_session.is_dir() and not session.exists():
                moved = _move(legacy_session, session) or moved
    except (subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise SpawnRefused(
            f"Your home could not be moved to its new name ({detail.strip()}). "
            "If a server of yours is still stopping, try again in a minute; otherwise an "
            "admin should check the hub log."
        ) from error
    return moved


def _move(source: Path, target: Path) -> bool:
    try:
        os.replace(source, target)
    except FileNotFoundError:
        return False  # a colliding pair's start moved it a moment ago: it is theirs now
    return True


def ensure_home(homes_dir: Path, key: str, size: str) -> Path:
    """Create (first time) and mount the home; return the mounted directory on the host."""
    homes_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    image = homes_dir / f"{key}.ext4"
    mountpoint = homes_dir / key
    try:
        if not image.exists():
            partial = image.with_suffix(".partial")
            _run("truncate", "-s", size, str(partial))
            _run(
                "mkfs.ext4",
                "-q",
                "-F",
                "-m",
                "0",
                "-E",
                f"root_owner={RESEARCHER_UID}:{RESEARCHER_GID}",
                str(partial),
            )
            # Only a complete file system gets the real name: a crash leaves no half home.
            os.replace(partial, image)
        mountpoint.mkdir(exist_ok=True, mode=0o700)
        if not os.path.ismount(mountpoint):
            _run("mount", "-o", MOUNT_OPTIONS, str(image), str(mountpoint))
            lost = mountpoint / "lost+found"
            if lost.is_dir() and not any(lost.iterdir()):
                lost.rmdir()
    except (subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise SpawnRefused(
            f"Your home could not be prepared ({detail.strip()}). "
            "An admin should check the hub log and the free space under the state directory."
        ) from error
    return mountpoint


def release_home(homes_dir: Path, key: str) -> None:
    """Unmount a home (its image stays: homes are persistent)."""
    mountpoint = homes_dir / key
    if os.path.ismount(mountpoint):
        subprocess.run(["umount", str(mountpoint)], check=False, capture_output=True)
