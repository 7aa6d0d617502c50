"""The lab server's side of the kernel channel: kernels run in another container.

The researcher's code runs in the *kernel* container, under Jupyter Kernel Gateway, which has
no network at all. The lab server reaches it through one Unix socket on a small tmpfs that the
hub mounts into both containers; jupyter_server's own ``GatewayClient`` does the talking
(``c.GatewayClient.url`` names a host that only ``KernelSocketResolver`` knows).

Everything that comes back through that socket is written by code the researcher controls, so
the lab server treats it as data:

- ``ImageKernelSpecManager`` lists and serves kernel specs (names, logos) from the lab image
  only; the gateway's own kernel specs are never read, so no file the kernel side makes is
  served through ``/kernelspecs/``.
- ``BoundedGatewayConnection`` forwards kernel messages to the browser through a byte and a
  message budget that the kernel side cannot change (jupyter_server's own output limits run in
  the kernel container under Kernel Gateway, where the researcher could switch them off).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import uuid

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.gateway.connections import GatewayWebSocketConnection
from jupyter_server.gateway.managers import GatewayKernelSpecManager, GatewayMappingKernelManager
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.netutil import DefaultLoopResolver, Resolver
from traitlets import Float, Int

#: The host name of the gateway in ``c.GatewayClient.url``; it resolves to the socket only.
GATEWAY_HOST = "cleanroom-kernels"
SOCKET_ENV = "CLEANROOM_KERNEL_SOCKET"
DEFAULT_SOCKET = "/run/cleanroom-kernels/gateway.sock"


def socket_path() -> str:
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


class KernelSocketResolver(Resolver):
    """Resolves ``GATEWAY_HOST`` to the kernel socket; every other name as tornado would.

    Installed for the whole lab process with ``Resolver.configure`` in the image's server
    configuration, so both jupyter_server's HTTP client and its websocket client use it.
    """

    def initialize(self) -> None:
        self._default = DefaultLoopResolver()

    def close(self) -> None:
        self._default.close()

    async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC):
        if host != GATEWAY_HOST:
            return await self._default.resolve(host, port, family)
        path = socket_path()
        # The kernel side can replace the socket with anything; connect only to a socket,
        # never follow a link it made to somewhere else in this container.
        try:
            mode = os.lstat(path).st_mode
        except OSError as error:
            raise OSError(f"the kernel container is not ready ({path}: {error})") from error
        if not stat.S_ISSOCK(mode):
            raise OSError(f"{path} is not a socket; refusing to connect")
        return [(socket.AF_UNIX, path)]


class LiveGatewayKernelManager(GatewayMappingKernelManager):
    """Answers a kernel's model from the gateway, not from memory.

    jupyter_server's gateway manager answers ``GET /api/kernels/<id>`` from its cache; after
    the kernel container restarts (its kernels are gone), the lab would go on reporting them.
    Asking the gateway makes them 404, so JupyterLab shows them dead and starts new ones.
    """

    async def kernel_model(self, kernel_id):
        kernel_id = str(kernel_id)
        manager = self.get_kernel(kernel_id)  # 404 for an id this server never started
        model = await manager.refresh_model()
        if model is None:
            self.remove_kernel(kernel_id)
            raise web.HTTPError(404, f"Kernel does not exist: {kernel_id}")
        return model


class ImageKernelSpecManager(GatewayKernelSpecManager):
    """Kernel specs as the lab image has them; the kernel container's are not consulted.

    The kernel container runs the same image, so the same kernels exist there.
    """

    def _local(self) -> KernelSpecManager:
        # Image paths only: the lab process's JUPYTER_PATH and data dir are the image's.
        return KernelSpecManager(parent=self)

    def _model(self, name: str, spec) -> dict:
        base_url = self.parent.base_url if self.parent else "/"
        resources = {
            entry: url_path_join(base_url, "kernelspecs", name, entry)
            for entry in sorted(os.listdir(spec.resource_dir))
            if entry.startswith("logo-")
        }
        return {"name": name, "spec": spec.to_dict(), "resources": resources}

    async def get_all_specs(self):
        local = self._local()
        return {
            name: self._model(name, local.get_kernel_spec(name))
            for name in local.find_kernel_specs()
        }

    async def list_kernel_specs(self):
        km = self.parent.kernel_manager if self.parent else None
        default = km.default_kernel_name if km else "python3"
        return {"default": default, "kernelspecs": await self.get_all_specs()}

    async def get_kernel_spec(self, kernel_name, **kwargs):
        return self._local().get_kernel_spec(kernel_name)

    async def get_kernel_spec_resource(self, kernel_name, path):
        try:
            spec = self._local().get_kernel_spec(kernel_name)
        except KeyError:
            return None  # jupyter_server then answers 404 (the name is unknown here too)
        name = os.path.basename(path)
        if name != path or not name.startswith("logo-"):
            return None
        full = os.path.join(spec.resource_dir, name)
        if not os.path.isfile(full):
            return None
        with open(full, "rb") as handle:
            return handle.read()


# Messages without which the notebook cannot follow a kernel (busy/idle, replies). They get a
# budget of their own, so that a flood of output never leaves a cell shown as running.
CONTROL_MESSAGES = frozenset(
    {
        "status",
        "execute_input",
        "execute_reply",
        "kernel_info_reply",
        "complete_reply",
        "inspect_reply",
        "history_reply",
        "is_complete_reply",
        "comm_info_reply",
        "shutdown_reply",
        "interrupt_reply",
        "input_request",
    }
)


class TokenBucket:
    """``rate`` units per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.at = clock()

    def take(self, amount: float) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class OutputBudget:
    """Decides, message by message, what reaches the browser; pure, so it is unit-tested."""

    def __init__(
        self,
        bytes_per_second: float,
        burst_bytes: float,
        messages_per_second: float,
        control_bytes_per_second: float,
        control_burst_bytes: float,
        clock=time.monotonic,
    ) -> None:
        self.output_bytes = TokenBucket(bytes_per_second, burst_bytes, clock)
        self.output_messages = TokenBucket(
            messages_per_second,
            messages_per_second * max(1.0, burst_bytes / bytes_per_second),
            clock,
        )
        self.control_bytes = TokenBucket(control_bytes_per_second, control_burst_bytes, clock)
        self.dropping = False
        self.dropped_bytes = 0

    def admit(self, msg_type: str, size: int) -> bool:
        if msg_type in CONTROL_MESSAGES:
            allowed = self.control_bytes.take(size)
        else:
            allowed = self.output_messages.take(1) and self.output_bytes.take(size)
        if not allowed:
            self.dropped_bytes += size
        return allowed


def _summary(message: str) -> tuple[str, str, dict]:
    """(channel, msg_type, parent_header) of a JSON kernel message; unknown parts empty."""
    try:
        msg = json.loads(message)
        header = msg.get("header") or {}
        parent = msg.get("parent_header") or {}
        return str(msg.get("channel", "")), str(header.get("msg_type", "")), parent
    except (ValueError, AttributeError, TypeError):
        return "", "", {}


class BoundedGatewayConnection(GatewayWebSocketConnection):
    """jupyter_server's gateway websocket, with output limits that live in the lab server.

    Output beyond the budget is dropped (as Jupyter does with its own rate limits), and the
    researcher is told once per episode on stderr. The limits come from the image's server
    configuration; nothing in the home or the kernel container can change them.
    """

    output_bytes_per_second = Float(
        1_000_000,
        config=True,
        help="Bytes of kernel output per second that reach the browser, on average.",
    )
    output_burst_bytes = Float(
        3_000_000, config=True, help="Bytes of kernel output that may arrive at once."
    )
    output_messages_per_second = Float(
        1000, config=True, help="Kernel output messages per second that reach the browser."
    )
    control_bytes_per_second = Float(
        200_000,
        config=True,
        help="Bytes per second of status and reply messages (their own, separate budget).",
    )
    control_burst_bytes = Float(
        2_000_000, config=True, help="Bytes of status and reply messages that may arrive at once."
    )
    classify_max_bytes = Int(
        256 * 1024,
        config=True,
        help="Largest kernel message read to tell status and replies from output; larger "
        "ones are counted as output unread.",
    )
    max_message_bytes = Int(
        16 * 1024 * 1024,
        config=True,
        help="Largest single kernel message passed to the browser; larger ones are dropped.",
    )

    _budget: OutputBudget | None = None

    @property
    def budget(self) -> OutputBudget:
        if self._budget is None:
            self._budget = OutputBudget(
                self.output_bytes_per_second,
                self.output_burst_bytes,
                self.output_messages_per_second,
                self.control_bytes_per_second,
                self.control_burst_bytes,
            )
        return self._budget

    def handle_outgoing_message(self, incoming_msg, *args) -> None:
        if isinstance(incoming_msg, bytes):
            incoming_msg = incoming_msg.decode("utf-8", "replace")
        size = len(incoming_msg)
        # Reading a message costs as much as its size, and a flood is mostly dropped: only
        # small messages are read to tell status and replies from output; larger ones count
        # as output, whatever they say they are.
        msg_type = _summary(incoming_msg)[1] if size <= self.classify_max_bytes else ""
        if size <= self.max_message_bytes and self.budget.admit(msg_type, size):
            if self.budget.dropping and msg_type not in CONTROL_MESSAGES:
                self.budget.dropping = False
            super().handle_outgoing_message(incoming_msg, *args)
            return
        if not self.budget.dropping:
            self.budget.dropping = True
            self.log.warning(
                "Kernel %s: output over the lab server's limits, dropping (%s bytes so far)",
                self.kernel_id,
                self.budget.dropped_bytes,
            )
            # Once per episode: the notice answers the cell whose output was cut.
            parent = _summary(incoming_msg)[2] if size <= self.max_message_bytes else {}
            super().handle_outgoing_message(self._notice(parent), *args)

    def _notice(self, parent: dict) -> str:
        text = (
            "Output rate exceeded: the clean room's lab server stops sending this kernel's "
            "output to your browser for a moment "
            f"(limit {self.output_bytes_per_second:.0f} bytes/s). Write large results to a "
            "file instead.\n"
        )
        msg_id = uuid.uuid4().hex
        # The shape of every message jupyter_server sends: msg_id and msg_type at the top too.
        return json.dumps(
            {
                "channel": "iopub",
                "msg_id": msg_id,
                "msg_type": "stream",
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "stream",
                    "username": "cleanroom",
                    "session": "cleanroom-lab",
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "version": "5.3",
                },
                "parent_header": parent,
                "metadata": {},
                "content": {"name": "stderr", "text": text},
                "buffers": [],
            }
        )
