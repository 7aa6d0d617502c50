"""The extension's settings (``c.CleanroomLab.*`` in the server's configuration)."""

from __future__ import annotations

import os

from traitlets import Int, List, Unicode, default
from traitlets.config import Configurable

from .workspace import Limits, MiB


class CleanroomLab(Configurable):
    airlock_url = Unicode(
        help="""Base URL of the airlock service as this container reaches it (the hub's
        spawner sets $CLEANROOM_AIRLOCK_URL). Empty: release requests are refused with a
        message saying the airlock is not configured.""",
    ).tag(config=True)

    @default("airlock_url")
    def _default_airlock_url(self):
        return os.environ.get("CLEANROOM_AIRLOCK_URL", "")

    api_token = Unicode(
        help="""The researcher's own hub token, sent to the airlock (default
        $JUPYTERHUB_API_TOKEN, whose scopes include submitting release requests).""",
    ).tag(config=True)

    @default("api_token")
    def _default_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    dataset_dirs = List(
        Unicode(),
        help="""Where project data is mounted in the container. Nothing under these folders
        can be put in a release request, whatever link points at it.""",
    ).tag(config=True)

    @default("dataset_dirs")
    def _default_dataset_dirs(self):
        dirs = ["/data"]
        catalog = os.environ.get("CLEANROOM_CATALOG")
        if catalog:
            dirs.append(os.path.dirname(catalog))
        return sorted(set(dirs))

    datasets_file = Unicode(
        help="""The facts about this server's datasets that the Datasets panel shows (columns,
        types, row counts, restrictions, expiry), written by the hub when it started the
        server and mounted read-only (the spawner sets $CLEANROOM_DATASETS). Empty or
        missing: the panel says no datasets are mounted.""",
    ).tag(config=True)

    @default("datasets_file")
    def _default_datasets_file(self):
        return os.environ.get("CLEANROOM_DATASETS", "")

    start_here = Unicode(
        "/opt/cleanroom/Start here.ipynb",
        help="""The read-only "Start here" notebook copied into a new home once (the
        researcher may delete it; it does not come back). Empty: none.""",
    ).tag(config=True)

    max_file_bytes = Int(
        100 * MiB, help="Largest file (or cell output) a release request can hold, in bytes."
    ).tag(config=True)
    max_request_bytes = Int(
        200 * MiB, help="Largest total size of the files of one release request, in bytes."
    ).tag(config=True)
    max_files = Int(50, help="Most files one release request can hold.").tag(config=True)
    airlock_timeout = Int(
        300, help="Seconds to wait for the airlock to answer one call (uploads included)."
    ).tag(config=True)

    @property
    def limits(self) -> Limits:
        return Limits(self.max_file_bytes, self.max_request_bytes, self.max_files)
