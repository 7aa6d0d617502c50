"""The hub's services run as system accounts of their own, each reaching only its part.

Checked on the real test hub: the airlock, the admin pages and the grant watcher are found
in /proc under their accounts, with no capabilities and not in the docker group. Then the
attacks are made with exactly their credentials (uid, gid and groups read from /proc): each
reaches its own state (the control, in the same run) and not the Docker socket, the hub's
database and secrets, or (the airlock) the researchers' copies of the grants.
"""

from __future__ import annotations

import grp
import json
import pwd
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService
from cleanroom.grants.cache import airlock_copy
from cleanroom.host import accounts

pytestmark = pytest.mark.docker

SERVICES = {
    "airlock": ("cleanroom.airlock", accounts.AIRLOCK),
    "catalog": ("cleanroom.catalog.web", accounts.CATALOG),
    "grant-watcher": ("cleanroom.hub.watcher", accounts.WATCHER),
}
DOCKER_SOCKET = "/var/run/docker.sock"


def service_pid(hub, module: str) -> int:
    """The process of this hub's service running ``python -m module``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        state = f"CLEANROOM_STATE_DIR={hub.settings.state_dir}".encode()
        if b"-m" in argv and module.encode() in argv and state in environ:
            found.append(int(proc.name))
    assert len(found) == 1, f"expected one {module} of this hub, found {found}"
    return found[0]


def credentials(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return {
        "uids": {int(v) for v in fields["Uid"]},
        "gids": {int(v) for v in fields["Gid"]},
        "groups": sorted(int(v) for v in fields["Groups"]),
        "capabilities": int(fields["CapEff"][0], 16),
    }


PROBE = r"""
import json, os, socket, sys
out = {}
for path in json.loads(sys.argv[1]):
    try:
        if path.endswith(".sock"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
        elif os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        out[path] = "ok"
    except OSError as error:
        out[path] = type(error).__name__
print(json.dumps(out))
"""


def attempt(pid: int | None, paths: list[str]) -> dict[str, str]:
    """Open each path with the credentials of process ``pid`` (None: root, the control)."""
    argv = [sys.executable, "-c", PROBE, json.dumps(paths)]
    if pid is not None:
        c = credentials(pid)
        uid, gid = next(iter(c["uids"])), next(iter(c["gids"]))
        groups = ",".join(map(str, c["groups"])) or "-"
        argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={groups}", *argv]
        if groups == "-":
            argv[3] = "--clear-groups"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def granted(hub, tmp_path_factory) -> tuple[Path, Path]:
    """One grant materialised by the catalog into the hub's cache: (researcher copy, the
    airlock's copy)."""
    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    catalog = CatalogService.open(
        hub.settings.catalog_database_url,
        audit,
        materialiser=grant_materialiser(grants_dir(hub.settings.state_dir)),
    )
    source = tmp_path_factory.mktemp("accounts") / "kilns.parquet"
    duckdb.sql(f"COPY (SELECT 'acc-' || (i % 2) AS org, i AS t FROM range(20) r(i)) TO '{source}'")
    catalog.add_organisation("acc-0", "Acc Zero", actor="adam")
    catalog.add_organisation("acc-1", "Acc One", actor="adam")
    catalog.register_dataset(
        "kilns", source, contributor_column="org", values_are_organisations=True, actor="adam"
    )
    catalog.create_project("kilnwork", actor="adam")
    grant = catalog.grant("kilnwork", "kilns", reason="accounts test", actor="adam")
    info = next(g for g in catalog.grants_for("kilnwork") if g.id == grant.id)
    cache = grants_dir(hub.settings.state_dir)
    researcher = cache / "researcher" / info.materialisation_key / "data.parquet"
    airlock = airlock_copy(cache, info.materialisation_key, timeout=120)  # written after
    assert researcher.is_file() and airlock.is_file()
    return researcher, airlock


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_runs_as_its_own_account_without_privileges(hub, service):
    module, account = SERVICES[service]
    c = credentials(service_pid(hub, module))
    entry = pwd.getpwnam(account)
    assert c["uids"] == {entry.pw_uid} and c["gids"] == {entry.pw_gid}, c
    assert c["capabilities"] == 0, c
    assert grp.getgrnam("docker").gr_gid not in c["groups"], c
    assert 0 not in c["uids"] | c["gids"] | set(c["groups"])


def test_the_airlock_reaches_its_state_and_copies_but_not_docker_secrets_or_researcher_copies(
    hub, granted
):
    researcher_copy, airlock_copy = granted
    state = Path(hub.settings.state_dir)
    mine = [str(hub.settings.airlock_path), str(airlock_copy), str(state / "secrets/audit.key")]
    walls = [
        DOCKER_SOCKET,
        str(state / "jupyterhub.sqlite"),
        str(state / "secrets/cookie_secret"),
        str(state / "secrets/admin_token"),
        str(researcher_copy),
        str(state / "grants/researcher"),
        str(state / "import"),
    ]
    pid = service_pid(hub, "cleanroom.airlock")
    assert attempt(None, mine + walls) == {p: "ok" for p in mine + walls}  # the control: root
    seen = attempt(pid, mine + walls)
    assert {p: seen[p] for p in mine} == {p: "ok" for p in mine}, seen
    assert {p: seen[p] for p in walls} == {p: "PermissionError" for p in walls}, seen


def test_the_admin_pages_and_the_watcher_reach_neither_docker_nor_the_hubs_secrets(hub, granted):
    state = Path(hub.settings.state_dir)
    walls = [DOCKER_SOCKET, str(state / "jupyterhub.sqlite"), str(state / "secrets/cookie_secret")]
    catalog_pid = service_pid(hub, "cleanroom.catalog.web")
    watcher_pid = service_pid(hub, "cleanroom.hub.watcher")
    # Controls: each reaches what it works with.
    catalog_own = [str(granted[0]), str(state / "import"), str(state / "catalog/catalog.sqlite")]
    watcher_own = [str(state / "sessions"), str(state / "catalog/catalog.sqlite")]
    assert attempt(catalog_pid, catalog_own) == {p: "ok" for p in catalog_own}
    assert attempt(watcher_pid, watcher_own) == {p: "ok" for p in watcher_own}
    for pid in (catalog_pid, watcher_pid):
        assert attempt(pid, walls) == {p: "PermissionError" for p in walls}
    watcher_walls = [str(granted[0]), str(hub.settings.airlock_path), str(state / "import")]
    assert attempt(watcher_pid, watcher_walls) == {p: "PermissionError" for p in watcher_walls}
