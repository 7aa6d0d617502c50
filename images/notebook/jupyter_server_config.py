# System-wide defaults of the researcher's Jupyter server (/etc/jupyter/jupyter_server_config.py).
#
# These settings are a convenience and a second layer, never the wall: the researcher runs
# arbitrary code in the container and can override any of them. The controls that matter (no
# network egress, the airlock, the filtering edge) sit outside the container.
# ruff: noqa: F821  (`c` is provided by traitlets when this file is loaded)

# No terminals: the researcher works in notebooks (a kernel can still run commands).
c.ServerApp.terminals_enabled = False

# Never try to reach the internet (there is no route; do not wait for timeouts either).
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
# The extension manager must not offer to install anything from PyPI.
c.LabApp.extension_manager = "readonly"

# Deleting a file deletes it (no hidden trash folder in $HOME holding copies).
c.FileContentsManager.delete_to_trash = False
# Hidden files stay hidden in the file browser and the contents API.
c.ContentsManager.allow_hidden = False

# Served behind the hub's proxy: never open a browser inside the container.
c.ServerApp.open_browser = False
