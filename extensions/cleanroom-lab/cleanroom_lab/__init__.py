"""cleanroom-lab: every way out of JupyterLab becomes "Request release".

The server part: release endpoints that read the chosen workspace files and send them to the
airlock with the researcher's own token (handlers.py), and refusals of the server's download
routes (guard.py). The contents manager that refuses large binary reads and uploads is
contents.GuardedContentsManager, set in the image's server configuration.
"""

from __future__ import annotations

import os

from ._version import __version__
from .config import CleanroomLab
from .guard import guard_handlers
from .handlers import LabState, lab_handlers
from .sources import Sources
from .starthere import copy_start_here
from .workspace import Workspace

__all__ = ["__version__", "CleanroomLab"]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "cleanroom-lab"}]


def _jupyter_server_extension_points():
    return [{"module": "cleanroom_lab"}]


def _load_jupyter_server_extension(serverapp):
    settings = CleanroomLab(parent=serverapp)
    root = serverapp.root_dir
    state = LabState(
        settings=settings,
        workspace=Workspace(root, settings.dataset_dirs, settings.limits),
        sources=Sources(os.path.join(root, ".cleanroom-lab", "sources.json")),
    )
    try:
        copied = copy_start_here(settings.start_here, root)
    except OSError as error:  # a full or odd home must not keep the server from starting
        serverapp.log.warning("cleanroom-lab: the Start here notebook was not copied: %s", error)
    else:
        if copied:
            serverapp.log.info("cleanroom-lab: copied %s into the new home", copied.name)
    web_app = serverapp.web_app
    web_app.settings["cleanroom_lab"] = state
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", guard_handlers(base_url) + lab_handlers(base_url))
    serverapp.log.info(
        "cleanroom-lab %s: release requests go to %s; /files, /view and /nbconvert are refused",
        __version__,
        settings.airlock_url or "(no airlock configured)",
    )
