"""CleanRoomSpawner: DockerSpawner with the clean room's walls as its defaults.

Each researcher's server is two containers. The *lab* container is DockerSpawner's own
(JupyterLab and the Jupyter server: trusted code, on the researchers' network, holding the
server's hub token). The *kernel* container runs Jupyter Kernel Gateway and the researcher's
kernels: no network at all, no token, the project's data mounted read-only, the researcher's
limits. They share the home and one small tmpfs holding the gateway's Unix socket
(cleanroom.hub.kernel_socket); the lab server reaches its kernels there with jupyter_server's own
GatewayClient. The spawner starts, watches, stops and removes both together.

Before every start it makes sure the walls that sit outside the containers are standing (the
internal network, the host firewall, the home's size limit) and refuses to start when one is not.
"""

from __future__ import annotations

import asyncio
import functools
import html
import time
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from dockerspawner import DockerSpawner
from traitlets import Float, Integer, Tuple, Unicode, default

from cleanroom.audit import AuditLog
from cleanroom.catalog.service import CatalogService
from cleanroom.errors import CleanRoomError, SpawnRefused
from cleanroom.host import firewall, homes, network
from cleanroom.hub import kernel_socket
from cleanroom.hub import mounts as projectdata
from cleanroom.policy import PolicyClient
from cleanroom.scopes import GLOBAL_ROLES

HOME_IN_CONTAINER = "/home/researcher"
# The lab server's own HOME and Jupyter directories: on its private tmpfs, never the home.
LAB_PRIVATE_DIR = "/tmp"  # noqa: S108 - the lab container's own tmpfs
KERNEL_GATEWAY_COMMAND = ["python3", "/opt/cleanroom/kernels_gateway.py"]


@functools.cache
def _audit_log(state_dir: str) -> AuditLog:
    return AuditLog.from_state_dir(state_dir)


@functools.cache
def _catalog(url: str, state_dir: str) -> CatalogService:
    return CatalogService.open(url, _audit_log(state_dir))


@functools.cache
def _policy_client(url: str, timeout: float, state_dir: str) -> PolicyClient:
    # One client per hub: it keeps its connection pool and logs every decision it takes.
    return PolicyClient(url, timeout=timeout, audit=_audit_log(state_dir))


class CleanRoomSpawner(DockerSpawner):
    """Spawns each researcher's JupyterLab in a hardened container with no way out."""

    subnet = Unicode(
        "172.30.0.0/24",
        help="""IPv4 subnet of the researchers' internal network. The hub API listens on its
        first address (the gateway), which is the only address containers can reach.""",
    ).tag(config=True)

    bridge_name = Unicode(
        "br-cleanroom",
        help="""Name of the bridge interface of the researchers' network (at most 15
        characters). The host firewall rules match on it.""",
    ).tag(config=True)

    allowed_host_ports = Tuple(
        (8081, 8082),
        help="""TCP ports on the gateway address that containers may reach: the hub API and
        the airlock service. Every other packet from the researchers' bridge to the host is
        dropped.""",
    ).tag(config=True)

    pids_limit = Integer(
        128,
        help="Most processes and threads of the lab container (the Jupyter server only).",
    ).tag(config=True)

    kernel_mem_limit = Unicode(
        "4G",
        help="""Memory limit of the kernel container: the researcher's code and data work.
        (``mem_limit`` and ``cpu_limit`` are the lab container's: the Jupyter server only.)""",
    ).tag(config=True)

    kernel_cpu_limit = Float(
        1.0, help="CPUs the kernel container (the researcher's code) may use."
    ).tag(config=True)

    kernel_pids_limit = Integer(
        512,
        help="Most processes and threads the researcher's kernels may run (a fork bomb "
        "stops there).",
    ).tag(config=True)

    kernel_start_timeout = Float(
        60.0,
        help="Seconds to wait for the kernel container's gateway to listen before giving up.",
    ).tag(config=True)

    tmp_size = Unicode(
        "1g",
        help="Size of the in-memory /tmp of each server (the root file system is read-only).",
    ).tag(config=True)

    home_size = Unicode(
        "2G",
        help="""Size limit of each researcher's home. Homes are ext4 image files on the host,
        so a full home stops only its owner.""",
    ).tag(config=True)

    homes_dir = Unicode(
        "/var/lib/cleanroom/homes",
        help="Host directory that holds the home images and their mount points.",
    ).tag(config=True)

    policy_url = Unicode(
        "http://127.0.0.1:8181",
        help="""The OPA server asked before every start. When it does not answer, or
        answers anything but an allow, the server is not started.""",
    ).tag(config=True)

    policy_timeout = Float(
        2.0, help="Seconds to wait for one policy decision before counting it a denial."
    ).tag(config=True)

    audit_state_dir = Unicode(
        "/var/lib/cleanroom",
        help="State directory whose audit log records every start, stop and decision.",
    ).tag(config=True)

    catalog_url = Unicode(
        "sqlite:////var/lib/cleanroom/catalog/catalog.sqlite",
        help="SQLAlchemy URL of the catalog of projects, members and grants.",
    ).tag(config=True)

    grant_cache_dir = Unicode(
        "/var/lib/cleanroom/grants",
        help="""Where grants' restricted data was materialised when they were made; each
        server mounts the directories of its project's applicable grants read-only.""",
    ).tag(config=True)

    sessions_dir = Unicode(
        "/var/lib/cleanroom/sessions",
        help="Host directory for each server's generated read-only DuckDB view catalog.",
    ).tag(config=True)

    airlock_url = Unicode(
        "",
        help="""The airlock's URL as a researcher's container reaches it (the researchers'
        gateway, the airlock port, /services/airlock/); given to the server as
        CLEANROOM_AIRLOCK_URL for the "Request release" extension. Empty: not set.""",
    ).tag(config=True)

    startup_check_timeout = Float(
        30.0,
        help="Seconds the checks before a start (Docker, image, network, firewall) may take.",
    ).tag(config=True)

    # -- DockerSpawner defaults, hardened ---------------------------------------------------

    @default("image")
    def _default_image(self):
        return "cleanroom/notebook:latest"

    @default("pull_policy")
    def _default_pull_policy(self):
        # There is no registry: an image is built on the host or it is missing.
        return "never"

    @default("network_name")
    def _default_network_name(self):
        return "cleanroom-researchers"

    @default("use_internal_ip")
    def _default_use_internal_ip(self):
        return True

    @default("remove")
    def _default_remove(self):
        return True

    @default("prefix")
    def _default_prefix(self):
        return "cleanroom"

    @default("notebook_dir")
    def _default_notebook_dir(self):
        return HOME_IN_CONTAINER

    @default("mem_limit")
    def _default_mem_limit(self):
        return "1G"

    @default("cpu_limit")
    def _default_cpu_limit(self):
        return 1.0

    @default("extra_create_kwargs")
    def _default_extra_create_kwargs(self):
        # Whatever the image says, the server runs as the unprivileged researcher, started
        # outside the home (Python puts the working directory on its path for some commands).
        return {"user": f"{homes.RESEARCHER_UID}:{homes.RESEARCHER_GID}", "working_dir": "/"}

    @default("extra_host_config")
    def _default_extra_host_config(self):
        return self.hardening_host_config()

    def hardening_host_config(self, mem_limit=None, pids_limit=None) -> dict:
        """The Docker host settings that make a container a cell, as one dictionary (the lab
        container's limits unless others are given)."""
        return {
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.tmp_size}"},  # noqa: S108
            "pids_limit": pids_limit or self.pids_limit,
            "memswap_limit": mem_limit or self.mem_limit,
            "ipc_mode": "private",
            "privileged": False,
            # No IPv6 inside: the network has none, and link-local must not reach the host.
            "sysctls": {"net.ipv6.conf.all.disable_ipv6": "1"},
        }

    # -- before every start -------------------------------------------------------------------

    def docker_client(self) -> docker.DockerClient:
        return docker.DockerClient(**{**docker.utils.kwargs_from_env(), **self.client_kwargs})

    @property
    def project(self) -> str | None:
        project = self.user_options.get("project")
        return project if isinstance(project, str) and project else None

    @property
    def home_key(self) -> str:
        # One home per researcher and project: projects never share files.
        return homes.home_key(self.user.name, self.project)

    @property
    def session_dir(self) -> Path:
        return Path(self.sessions_dir) / self.home_key

    def prepare_walls(self) -> Path:
        """Check Docker and the image, then make sure network, firewall and home stand.

        Blocking; runs in a thread. Raises SpawnRefused with a message for the researcher.
        """
        try:
            client = self.docker_client()
            client.ping()
        except DockerException as error:
            self.log.error("Docker engine unreachable: %s. Run scripts/start-docker.sh.", error)
            raise SpawnRefused(
                "The container engine is not running, so no server can start. "
                "Please tell an admin; the hub log says what to run."
            ) from error
        try:
            client.images.get(self.image)
        except ImageNotFound as error:
            self.log.error("Image %s is missing. Run images/build.sh.", self.image)
            raise SpawnRefused(
                f"The notebook image {self.image!r} is not installed on this host. "
                "Please tell an admin; the hub log says what to run."
            ) from error
        network.ensure_internal_network(client, self.network_name, self.subnet, self.bridge_name)
        firewall.ensure_rules(
            firewall.BridgeRules(
                bridge=self.bridge_name,
                gateway=network.gateway_of(self.subnet),
                allowed_tcp_ports=tuple(self.allowed_host_ports),
            )
        )
        owner = Path(self.homes_dir), self.user.name, self.project
        if homes.migrate_legacy_home(*owner, sessions_dir=Path(self.sessions_dir)):
            self.log.info("Moved %s's legacy home to %s", self._log_name, self.home_key)
        return homes.ensure_home(Path(self.homes_dir), self.home_key, self.home_size)

    @property
    def audit(self) -> AuditLog:
        return _audit_log(self.audit_state_dir)

    @property
    def catalog(self) -> CatalogService:
        return _catalog(self.catalog_url, self.audit_state_dir)

    @property
    def policy(self) -> PolicyClient:
        return _policy_client(self.policy_url, self.policy_timeout, self.audit_state_dir)

    async def _audit(self, event: str, **details) -> None:
        await asyncio.to_thread(self.audit.append, event, self.user.name, **details)

    def _roles(self) -> tuple[str, ...]:
        return tuple(sorted(g.name for g in self.user.groups if g.name in GLOBAL_ROLES))

    async def check_access(self) -> tuple[projectdata.AccessFacts, list[str]]:
        """Gather the facts, ask the access policy; return the facts and the grant ids that
        apply. Raise SpawnRefused with the policy's reasons unless it allows."""
        try:
            # In the thread: the first use opens (and may migrate) the catalog.
            facts = await asyncio.to_thread(
                lambda: projectdata.gather_facts(
                    self.catalog, self.user.name, self._roles(), self.project
                )
            )
        except CleanRoomError as error:
            raise SpawnRefused(f"Your server was not started: {error}") from error
        decision = await self.policy.aaccess(facts.user, facts.project, facts.grants)
        if not decision.allowed:
            reasons = "; ".join(decision.reasons) or "denied by policy"
            raise SpawnRefused(f"Your server was not started: {reasons}.")
        for excluded in decision.result.get("excluded_grants", []):
            self._report(20, f"Not mounted: grant {excluded['id']} ({excluded['reason']})")
        return facts, [str(g) for g in decision.result.get("grants", [])]

    # -- choosing a project ----------------------------------------------------------------------

    @default("options_form")
    def _default_options_form(self):
        return self.project_form

    async def project_form(self, spawner) -> str:
        """A project picker listing only the researcher's own projects, below why their last
        server was stopped, if it was (nothing at all: no form)."""
        projects = await asyncio.to_thread(lambda: self.catalog.projects_of(self.user.name))
        mine = [p for p in projects if p.role == "researcher"]
        notices = []
        for project in [None, *(p.name for p in mine)]:
            key = homes.home_key(self.user.name, project)
            notice = projectdata.stop_notice(Path(self.sessions_dir) / key)
            if notice:
                where = f"for project {project}" if project else "without a project"
                reasons = "; ".join(notice["reasons"])
                notices.append(
                    f'<div class="alert alert-warning" role="alert">Your server {where} was '
                    f"stopped at {html.escape(notice['at'])}: {html.escape(reasons)}</div>"
                )
        if not mine:
            return "".join(notices)
        options = "".join(
            f'<option value="{html.escape(p.name)}">{html.escape(p.name)}</option>' for p in mine
        )
        return "".join(notices) + (
            '<label for="project">Project</label>'
            f'<select class="form-control" name="project" id="project">{options}</select>'
        )

    def options_from_form(self, formdata):
        return {"project": (formdata.get("project") or [None])[0]}

    def _report(self, percent: int, message: str) -> None:
        self._progress_events.append({"progress": percent, "message": message})

    async def progress(self):
        """Tell the spawn page which step the start is at."""
        sent = 0
        while True:
            events = getattr(self, "_progress_events", [])
            while sent < len(events):
                yield events[sent]
                sent += 1
            await asyncio.sleep(0.25)

    # -- the kernel container --------------------------------------------------------------------

    @property
    def kernel_container_name(self) -> str:
        # Escaped user names never hold a bare "-" (DockerSpawner escapes it as "-2d"), so no
        # user's lab container can be called this.
        return f"{self.container_name}-kernels"

    @property
    def kernel_socket_dir(self) -> Path:
        return self.session_dir / "kernel-socket"

    def kernel_container_spec(self, home: Path, data_volumes: dict, data_env: dict) -> dict:
        """Everything ``docker create`` gets for the kernel container, as one dictionary
        (docker-py's ``containers.create`` keywords)."""
        volumes = {
            str(home): {"bind": HOME_IN_CONTAINER, "mode": "rw"},
            str(self.kernel_socket_dir): {"bind": kernel_socket.MOUNT_POINT, "mode": "rw"},
            **data_volumes,
        }
        host = self.hardening_host_config(self.kernel_mem_limit, self.kernel_pids_limit)
        return {
            "image": self.image,
            "command": KERNEL_GATEWAY_COMMAND,
            "name": self.kernel_container_name,
            "user": f"{homes.RESEARCHER_UID}:{homes.RESEARCHER_GID}",
            "working_dir": HOME_IN_CONTAINER,
            # No token, no hub address: only what the researcher's code needs.
            "environment": {
                **data_env,
                "HOME": HOME_IN_CONTAINER,
                "CLEANROOM_KERNEL_SOCKET": kernel_socket.SOCKET_IN_CONTAINER,
            },
            "volumes": volumes,
            # No network at all: the socket is the only way in or out.
            "network_mode": "none",
            "mem_limit": self.kernel_mem_limit,
            "nano_cpus": int(self.kernel_cpu_limit * 1e9),
            # A gateway killed from a kernel comes back; the lab server then sees the kernels
            # as dead and starts new ones. Removed with the lab container (stop, poll).
            "restart_policy": {"Name": "always"},
            "labels": {
                "org.cleanroom.role": "kernels",
                "org.cleanroom.user": self.user.name,
                "org.cleanroom.lab": self.container_name,
            },
            **host,
        }

    def lab_environment(self) -> dict:
        """The lab server's environment additions: everything Jupyter would read from a user's
        directories points at the lab container's private tmpfs instead (the home is only
        the contents root)."""
        return {
            "HOME": LAB_PRIVATE_DIR,
            "JUPYTER_CONFIG_DIR": f"{LAB_PRIVATE_DIR}/jupyter-config",
            "JUPYTER_DATA_DIR": f"{LAB_PRIVATE_DIR}/jupyter-data",
            "JUPYTER_RUNTIME_DIR": f"{LAB_PRIVATE_DIR}/jupyter-runtime",
            "PYTHONNOUSERSITE": "1",
            "CLEANROOM_KERNEL_SOCKET": kernel_socket.SOCKET_IN_CONTAINER,
        }

    def _start_kernel_container(self, spec: dict) -> None:
        client = self.docker_client()
        self._remove_kernel_container_sync(client)
        client.containers.create(**spec).start()

    def _remove_kernel_container_sync(self, client=None) -> None:
        client = client or self.docker_client()
        try:
            client.containers.get(self.kernel_container_name).remove(force=True, v=True)
        except NotFound:
            pass

    async def _wait_for_kernel_socket(self) -> None:
        deadline = time.monotonic() + self.kernel_start_timeout
        while not kernel_socket.socket_ready(self.kernel_socket_dir):
            if time.monotonic() > deadline:
                raise SpawnRefused(
                    "Your kernels did not start in time. Please try again; if it persists, "
                    "tell an admin (the hub log names the kernel container)."
                )
            await asyncio.sleep(0.1)

    async def kernel_container_state(self) -> str:
        """'running', 'restarting', or 'gone' (missing, exited, removing)."""

        def inspect():
            try:
                state = self.docker_client().containers.get(self.kernel_container_name).attrs
            except NotFound:
                return "gone"
            status = state["State"]
            if status.get("Running") and not status.get("Restarting"):
                return "running"
            return "restarting" if status.get("Restarting") else "gone"

        return await asyncio.to_thread(inspect)

    # -- start, poll, stop ---------------------------------------------------------------------

    async def start(self):
        self.user_options.pop("image", None)  # the image is the admin's choice, never the user's
        self._progress_events: list[dict] = []
        clock = time.monotonic()
        timings = {}

        def lap(step: str) -> None:
            nonlocal clock
            now = time.monotonic()
            timings[step] = round(now - clock, 3)
            clock = now

        try:
            self._report(10, "Checking your access")
            facts, grant_ids = await self.check_access()
            lap("access")
            self._report(30, "Preparing your isolated network and home")
            home = await asyncio.wait_for(
                asyncio.to_thread(self.prepare_walls), timeout=self.startup_check_timeout
            )
            lap("walls")
            self._report(40, "Preparing your project's read-only data")
            data_volumes, data_env = await asyncio.to_thread(
                projectdata.prepare_mounts,
                facts,
                grant_ids,
                Path(self.grant_cache_dir),
                self.session_dir,
            )
            if self.project:
                # Before the server starts: the airlock asks the data owners of what it mounts.
                await asyncio.to_thread(
                    projectdata.record_mounts,
                    self.catalog,
                    self.user.name,
                    self.project,
                    grant_ids,
                )
            await asyncio.to_thread(kernel_socket.ensure, self.kernel_socket_dir)
            lap("data")
        except Exception as error:
            await self._audit("spawn.refused", project=self.project, reason=str(error))
            raise
        # The lab container: the home (contents) and the kernel socket; never the data.
        # (and the datasets' facts for the Datasets panel).
        facts_volumes, facts_env = projectdata.lab_mounts(self.session_dir)
        self.volumes = {
            str(home): {"bind": HOME_IN_CONTAINER, "mode": "rw"},
            str(self.kernel_socket_dir): {"bind": kernel_socket.MOUNT_POINT, "mode": "ro"},
            **facts_volumes,
        }
        self.environment = {**self.environment, **self.lab_environment(), **facts_env}
        if self.airlock_url:
            self.environment["CLEANROOM_AIRLOCK_URL"] = self.airlock_url
        self._report(50, "Starting your kernels and your server")
        try:
            # Both containers at once: neither needs the other to start (the lab server
            # connects to the socket only when a kernel is asked for).
            # Both finish before anything is judged, so a failure of one never leaves the
            # other half-made after the clean-up below.
            outcomes = await asyncio.gather(
                asyncio.to_thread(
                    self._start_kernel_container,
                    self.kernel_container_spec(home, data_volumes, data_env),
                ),
                super().start(),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            result = outcomes[1]
            lap("containers")
            await self._wait_for_kernel_socket()
            lap("gateway")
        except Exception as error:
            # Leave nothing half-created: containers that were made but did not start go.
            await self._remove_leftovers()
            await self._audit("spawn.failed", reason=str(error))
            raise
        await self._audit(
            "spawn.started",
            container=self.container_name,
            kernel_container=self.kernel_container_name,
            image=self.image,
            project=self.project,
            grants=grant_ids,
        )
        projectdata.clear_stop_notice(self.session_dir)
        lap("audit")
        self.log.info("Start of %s took %s (seconds per step)", self._log_name, timings)
        return result

    async def _remove_leftovers(self) -> None:
        try:
            obj = await self.get_object()
            if obj is not None:
                await self.remove_object()
        except Exception:  # noqa: BLE001 - cleanup must not hide the original error
            self.log.exception("Could not remove the lab container of a failed start")
        await self._remove_kernel_side()

    async def _remove_kernel_side(self) -> None:
        try:
            await asyncio.to_thread(self._remove_kernel_container_sync)
        except Exception:  # noqa: BLE001 - cleanup must not hide the original error
            self.log.exception("Could not remove %s", self.kernel_container_name)
        await asyncio.to_thread(kernel_socket.release, self.kernel_socket_dir)

    async def poll(self):
        """None while both containers run. When the lab server is gone, its kernels go too;
        when the kernel container is gone for good, the server counts as stopped (the hub
        then stops the lab container)."""
        status = await super().poll()
        if status is not None:
            await self._remove_kernel_side()
            return status
        if await self.kernel_container_state() == "gone":
            self.log.warning("%s is gone; stopping the server", self.kernel_container_name)
            return "kernel container gone"
        return None

    async def stop(self, now=False):
        await super().stop(now=now)
        # The kernels go before the home is unmounted (they hold it open).
        await self._remove_kernel_side()
        await asyncio.to_thread(homes.release_home, Path(self.homes_dir), self.home_key)
        await self._audit(
            "spawn.stopped",
            container=self.container_name,
            kernel_container=self.kernel_container_name,
        )
