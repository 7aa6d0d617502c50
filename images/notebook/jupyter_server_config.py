# The researcher's lab server (/etc/jupyter/jupyter_server_config.py): JupyterLab, the Jupyter
# server and the cleanroom-lab extension, in the *lab* container, where no researcher code runs.
#
# These settings are walls: the researcher's code runs in the *kernel* container, which cannot
# write here, signal this server or reach its port; and the spawner points HOME,
# JUPYTER_CONFIG_DIR and JUPYTER_DATA_DIR at the lab container's own tmpfs and sets
# PYTHONNOUSERSITE, so this server reads configuration, extensions, settings, kernel specs and
# templates only from the image. The researcher's home is the contents root and nothing else.
# ruff: noqa: F821  (`c` is provided by traitlets when this file is loaded)
from tornado.netutil import Resolver

# Kernels run in the kernel container under Jupyter Kernel Gateway, reached through a Unix
# socket (cleanroom_lab.kernels). No kernel ever runs in this container.
Resolver.configure("cleanroom_lab.kernels.KernelSocketResolver")
c.GatewayClient.url = "http://cleanroom-kernels"
c.GatewayClient.request_timeout = 120.0
c.GatewayClient.connect_timeout = 30.0
# Kernel specs from this image only; kernel messages through the lab server's own limits.
c.ServerApp.kernel_spec_manager_class = "cleanroom_lab.kernels.ImageKernelSpecManager"
c.ServerApp.kernel_manager_class = "cleanroom_lab.kernels.LiveGatewayKernelManager"
c.ServerApp.kernel_websocket_connection_class = "cleanroom_lab.kernels.BoundedGatewayConnection"
c.BoundedGatewayConnection.output_bytes_per_second = 1_000_000
c.BoundedGatewayConnection.output_burst_bytes = 3_000_000

# No terminals: they would run here, in the trusted container. (The hub refuses to turn them on.)
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

# The cleanroom-lab extension (extensions/cleanroom-lab): "Request release" instead of
# downloads. Its server part refuses /files/, /view/ and /nbconvert/; this contents manager
# refuses base64 reads of non-notebook files over a small size, and uploads.
c.ServerApp.jpserver_extensions = {"cleanroom_lab": True}
c.ServerApp.contents_manager_class = "cleanroom_lab.contents.GuardedContentsManager"
c.GuardedContentsManager.max_base64_read_bytes = 2 * 1024 * 1024

# Served behind the hub's proxy: never open a browser inside the container.
c.ServerApp.open_browser = False
