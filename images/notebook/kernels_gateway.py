"""The kernel container's one process: Jupyter Kernel Gateway, listening on a Unix socket.

The kernel container has no network at all (Docker's ``none``), so the only way in is the
socket on a small tmpfs that the hub mounts into this container and, read-only, into the
researcher's lab container, whose jupyter_server talks to it with its own ``GatewayClient``.
Kernel Gateway 3 listens only on TCP; this subclass binds the socket instead and changes
nothing else about it.

Everything here runs as the researcher, beside the researcher's code: it holds no secret and
the lab server trusts nothing it says (see cleanroom_lab.kernels).
"""

import os
import sys

from kernel_gateway.gatewayapp import KernelGatewayApp
from kernel_gateway.services.kernels.manager import SeedingMappingKernelManager
from tornado import httpserver, netutil
from traitlets import Type, Unicode

DEFAULT_SOCKET = "/run/cleanroom-kernels/gateway.sock"


class WorkingDirKernelManager(SeedingMappingKernelManager):
    """Starts each kernel in its notebook's folder, as a local Jupyter server would.

    jupyter_server's GatewayClient sends the folder as KERNEL_WORKING_DIR; Kernel Gateway
    itself ignores it.
    """

    async def start_kernel(self, *args, **kwargs):
        wanted = (kwargs.get("env") or {}).get("KERNEL_WORKING_DIR")
        if wanted and kwargs.get("path") is None:
            root = os.path.realpath(self.root_dir)
            target = os.path.realpath(wanted)
            if target.startswith(root + os.sep):
                kwargs["path"] = os.path.relpath(target, root)
        return await super().start_kernel(*args, **kwargs)


class SocketKernelGatewayApp(KernelGatewayApp):
    socket_path = Unicode(
        os.environ.get("CLEANROOM_KERNEL_SOCKET", DEFAULT_SOCKET),
        config=True,
        help="Unix socket the gateway listens on (CLEANROOM_KERNEL_SOCKET).",
    )

    kernel_manager_class = Type(
        default_value=WorkingDirKernelManager,
        klass=SeedingMappingKernelManager,
        config=True,
        help="The kernel manager: Kernel Gateway's own, starting kernels in their folder.",
    )

    def init_http_server(self):
        self.http_server = httpserver.HTTPServer(self.web_app, xheaders=False)
        # Only this uid (the researcher's, which the lab server shares) may connect.
        listener = netutil.bind_unix_socket(self.socket_path, mode=0o600)
        self.http_server.add_socket(listener)
        self.port = 0
        self.ip = f"unix:{self.socket_path}"


def main() -> None:
    # Kernels get this process's environment (the spawner's: data paths, HOME, limits), which
    # holds no secret; Kernel Gateway passes only the names listed here.
    names = ",".join(sorted(os.environ))
    os.environ.setdefault("KG_ENV_PROCESS_WHITELIST", names)
    argv = [
        # The lab server lists kernels to show them in JupyterLab.
        "--JupyterWebsocketPersonality.list_kernels=True",
        "--KernelGatewayApp.default_kernel_name=python3",
        *sys.argv[1:],
    ]
    SocketKernelGatewayApp.launch_instance(argv=argv)


if __name__ == "__main__":
    main()
