"""The "Start here" notebook: copied from the image into a new home, once.

Read-only in the home (mode 0444: JupyterLab opens it read-only), deletable (the home is the
researcher's), and not copied again once deleted (a marker in the home's .cleanroom-lab folder
remembers it). The copy never follows a link the researcher's code may have left in its place.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = os.path.join(".cleanroom-lab", "start-here-copied")


def copy_start_here(source: str, home: str) -> Path | None:
    """Copy ``source`` into ``home`` under its own name unless it was copied before; return
    the copy, or None when nothing was copied."""
    if not source or not os.path.isfile(source):
        return None
    marker = Path(home) / MARKER
    if marker.exists() or marker.is_symlink() or marker.parent.is_symlink():
        return None
    marker.parent.mkdir(mode=0o700, exist_ok=True)
    target = Path(home) / Path(source).name
    content = Path(source).read_bytes()
    try:
        # O_EXCL with O_CREAT never follows a link and never replaces an existing file.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    except FileExistsError:
        target = None
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
    marker_fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(marker_fd)
    return target
