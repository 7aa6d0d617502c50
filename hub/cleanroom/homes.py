"""Persistent, size-limited homes: one ext4 image file per home, loop-mounted on the host.

A quota that lives on the host's own filesystem is the only one a researcher cannot lift from
inside the container, and a full home then fills only its own image: the hub, the other
researchers and the host's disk keep working.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .errors import SpawnRefused

RESEARCHER_UID = 1000
RESEARCHER_GID = 100
MOUNT_OPTIONS = "loop,nosuid,nodev"


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


def home_key(username: str, project: str | None = None) -> str:
    """A file-system-safe name for one researcher's home (in one project, when given)."""
    raw = username if project is None else f"{username}--{project}"
    safe = re.sub(r"[^a-z0-9_.-]", lambda m: f"_{ord(m.group()):x}", raw.lower())
    return safe


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
