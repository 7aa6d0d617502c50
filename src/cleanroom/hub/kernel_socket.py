"""The kernel channel's directory on the host: a tiny tmpfs, one per running server.

The kernel container (no network) and the lab container share exactly one thing besides the
home: this directory, where Kernel Gateway in the kernel container creates its Unix socket
and the lab server connects to it. A tmpfs of fixed, small size and few inodes, because the
researcher's code can write into it: it must not be a way to fill the host's disk.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cleanroom.errors import SpawnRefused
from cleanroom.host.homes import RESEARCHER_GID, RESEARCHER_UID

#: Where both containers see the directory, and the socket in it.
MOUNT_POINT = "/run/cleanroom-kernels"
SOCKET_NAME = "gateway.sock"
SOCKET_IN_CONTAINER = f"{MOUNT_POINT}/{SOCKET_NAME}"
TMPFS_OPTIONS = (
    f"size=256k,nr_inodes=32,mode=0700,uid={RESEARCHER_UID},gid={RESEARCHER_GID},"
    "nosuid,nodev,noexec"
)


def ensure(directory: Path) -> Path:
    """Mount a fresh, empty tmpfs at ``directory`` (a stale one from a crash is replaced)."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        release(directory)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", TMPFS_OPTIONS, "cleanroom-kernels", str(directory)],
            check=True,
            capture_output=True,
            text=True,
        )
    except (subprocess.CalledProcessError, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise SpawnRefused(
            f"The channel to your kernels could not be prepared ({detail.strip()}). "
            "The hub must run as root; an admin should check the hub log."
        ) from error
    return directory


def release(directory: Path) -> None:
    """Unmount the directory's tmpfs, if mounted (lazily: a container may still hold it)."""
    while os.path.ismount(directory):
        done = subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)
        if done.returncode != 0:
            break


def socket_ready(directory: Path) -> bool:
    return (directory / SOCKET_NAME).is_socket()
