"""CleanRoomSpawner: DockerSpawner with the clean room's walls as its defaults.

It changes defaults and adds traits; the container life cycle is DockerSpawner's own. Before
every start it makes sure the walls that sit outside the container are standing (the internal
network, the host firewall, the home's size limit) and refuses to start when one is not.
"""

from __future__ import annotations

import asyncio
import functools
import html
import time
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from dockerspawner import DockerSpawner
from traitlets import Bool, Float, Integer, Tuple, Unicode, default

from . import firewall, homes, network, projectdata
from .audit import AuditLog
from .catalog.service import CatalogService
from .errors import CleanRoomError, SpawnRefused
from .policy import GLOBAL_ROLES, PolicyClient

HOME_IN_CONTAINER = "/home/researcher"


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
        512,
        help="Most processes and threads one server may run (a fork bomb stops there).",
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
        "sqlite:////var/lib/cleanroom/catalog.sqlite",
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

    allow_terminals = Bool(
        False,
        help="""Whether the researcher's JupyterLab offers terminals (CLEANROOM_TERMINALS in
        the container, which the image's server config reads). Off by default.""",
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
        return "4G"

    @default("cpu_limit")
    def _default_cpu_limit(self):
        return 1.0

    @default("extra_create_kwargs")
    def _default_extra_create_kwargs(self):
        # Whatever the image says, the server runs as the unprivileged researcher.
        return {"user": f"{homes.RESEARCHER_UID}:{homes.RESEARCHER_GID}"}

    @default("extra_host_config")
    def _default_extra_host_config(self):
        return self.hardening_host_config()

    def hardening_host_config(self) -> dict:
        """The Docker host settings that make the container a cell, as one dictionary."""
        return {
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.tmp_size}"},  # noqa: S108
            "pids_limit": self.pids_limit,
            "memswap_limit": self.mem_limit,
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
            lap("data")
        except Exception as error:
            await self._audit("spawn.refused", project=self.project, reason=str(error))
            raise
        self.volumes = {str(home): {"bind": HOME_IN_CONTAINER, "mode": "rw"}, **data_volumes}
        self.environment = {**self.environment, **data_env}
        if self.airlock_url:
            self.environment["CLEANROOM_AIRLOCK_URL"] = self.airlock_url
        self.environment["CLEANROOM_TERMINALS"] = "1" if self.allow_terminals else "0"
        self._report(50, "Starting your server")
        try:
            result = await super().start()
            lap("container")
        except Exception as error:
            # Leave nothing half-created: a container that was made but did not start goes.
            await self._remove_leftover_container()
            await self._audit("spawn.failed", reason=str(error))
            raise
        await self._audit(
            "spawn.started",
            container=self.container_name,
            image=self.image,
            project=self.project,
            grants=grant_ids,
        )
        projectdata.clear_stop_notice(self.session_dir)
        lap("audit")
        self.log.info("Start of %s took %s (seconds per step)", self._log_name, timings)
        return result

    async def _remove_leftover_container(self) -> None:
        try:
            obj = await self.get_object()
            if obj is not None:
                await self.remove_object()
        except Exception:  # noqa: BLE001 - cleanup must not hide the original error
            self.log.exception("Could not remove the container of a failed start")

    async def stop(self, now=False):
        await super().stop(now=now)
        await asyncio.to_thread(homes.release_home, Path(self.homes_dir), self.home_key)
        await self._audit("spawn.stopped", container=self.container_name)
