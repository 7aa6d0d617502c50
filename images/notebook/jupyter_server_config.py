# System-wide defaults of the researcher's Jupyter server (/etc/jupyter/jupyter_server_config.py).
#
# These settings are a convenience and a second layer, never the wall: the researcher runs
# arbitrary code in the container and can override any of them. The controls that matter (no
# network egress, the airlock, the filtering edge) sit outside the container.
# ruff: noqa: F821  (`c` is provided by traitlets when this file is loaded)
import os

# No terminals by default: the researcher works in notebooks (a kernel can still run commands).
# A deployment that wants them sets CLEANROOM_TERMINALS=1 in the spawner's environment.
c.ServerApp.terminals_enabled = os.environ.get("CLEANROOM_TERMINALS", "0") == "1"

# Never try to reach the internet (there is no route; do not wait for timeouts either).
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
# The extension manager must not offer to install anything from PyPI.
c.LabApp.extension_manager = "readonly"

# Deleting a file deletes it (no hidden trash folder in $HOME holding copies).
c.FileContentsManager.delete_to_trash = False
# Hidden files stay hidden in the file browser and the contents API.
c.ContentsManager.allow_hidden = False

# The cleanroom-lab extension (extensions/cleanroom-lab): "Request release" instead of
# downloads. Its server part refuses /files/, /view/ and /nbconvert/; this contents manager
# refuses base64 reads of non-notebook files over a small size, and uploads.
c.ServerApp.jpserver_extensions = {"cleanroom_lab": True}
c.ServerApp.contents_manager_class = "cleanroom_lab.contents.GuardedContentsManager"
c.GuardedContentsManager.max_base64_read_bytes = 2 * 1024 * 1024

# Served behind the hub's proxy: never open a browser inside the container.
c.ServerApp.open_browser = False
