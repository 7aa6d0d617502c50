"""Project data inside a real spawned container: only what was granted is there, read-only.

Canary strings are planted in an ungranted column, in rows outside the grant's filter and in
another project's dataset. Then every byte readable inside the researcher's container is
searched (all files, all mounts; Parquet and DuckDB files also decoded): no canary appears,
while the granted values do (so the search works). Only the image's own files on the
read-only root, unchanged since before the canaries were made, are not read again (a
canary cannot be in them; the isolation tests show the root cannot be written). Revocation
and expiry reach the server.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from support.kernel import KernelSession
from support.testhub import opa_pid

from cleanroom.audit import AuditLog
from cleanroom.catalog.data_plane import grant_materialiser, grants_dir
from cleanroom.catalog.service import CatalogService

pytestmark = pytest.mark.docker

TAG = uuid.uuid4().hex[:12]
CANARY_COLUMN = f"CANARYCOL{TAG}"
CANARY_ROW = f"CANARYROW{TAG}"
CANARY_OTHER = f"CANARYOTHER{TAG}"
# The contributor column is not granted either: its values must not be inside.
PLANT = f"plant{TAG}"
GRANTED = f"GRANTEDVALUE{TAG}"
ADMIN = "adam"
STARTED = time.time()


def write_parquet(path, rows: list[tuple], columns: str) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({columns})")
    con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()


@pytest.fixture(scope="module")
def catalog(hub):
    audit = AuditLog.from_state_dir(hub.settings.state_dir)
    return CatalogService.open(
        hub.settings.catalog_database_url,
        audit,
        materialiser=grant_materialiser(grants_dir(hub.settings.state_dir)),
    )


@pytest.fixture(scope="module")
def fab(hub, catalog, tmp_path_factory):
    """Project ``fab`` (researcher petra) granted three columns of ``wafers`` for two plants;
    project ``yard`` (not petra's) granted all of ``welds``."""
    data = tmp_path_factory.mktemp("sources")
    for org in ("acme", "globex", "initech"):
        catalog.add_organisation(org, org.title(), actor=ADMIN)
    catalog.add_organisation("uni", "A university", kind="other", actor=ADMIN)
    rows = []
    for i in range(60):
        plant = (f"{PLANT}-acme1", f"{PLANT}-acme2", "globex-p1")[i % 3]
        note = CANARY_ROW if plant == "globex-p1" else f"{GRANTED}-{i}"
        rows.append((plant, f"LOT{i:04d}", 300.0 + i, f"{CANARY_COLUMN}-{i}", note))
    write_parquet(
        data / "wafers.parquet",
        rows,
        "plant VARCHAR, lot VARCHAR, temperature DOUBLE, recipe VARCHAR, note VARCHAR",
    )
    catalog.register_dataset(
        "wafers",
        data / "wafers.parquet",
        contributor_column="plant",
        actor=ADMIN,
        mapping={f"{PLANT}-acme1": "acme", f"{PLANT}-acme2": "acme", "globex-p1": "globex"},
    )
    write_parquet(
        data / "welds.parquet",
        [("initech", f"{CANARY_OTHER}-{i}") for i in range(20)],
        "yard VARCHAR, weld VARCHAR",
    )
    catalog.register_dataset(
        "welds",
        data / "welds.parquet",
        contributor_column="yard",
        actor=ADMIN,
        values_are_organisations=True,
    )
    for user in ("petra", "quinn"):
        hub.add_user(user, ("researcher",))
        catalog.set_user_organisation(user, "uni", actor=ADMIN)
    catalog.create_project("fab", actor=ADMIN)
    catalog.create_project("yard", actor=ADMIN)
    catalog.add_member("fab", "petra", "researcher", actor=ADMIN)
    catalog.add_member("yard", "quinn", "researcher", actor=ADMIN)
    grant = catalog.grant(
        "fab",
        "wafers",
        reason="yield study",
        actor=ADMIN,
        columns=["lot", "temperature", "note"],
        row_filter="plant <> 'globex-p1'",
    )
    catalog.grant("yard", "welds", reason="weld study", actor=ADMIN)
    return grant


def start_for_project(hub, name: str, project: str) -> list[str]:
    session = hub.login(name)
    response = hub.user_api(session, "POST", f"/users/{name}/server", json={"project": project})
    assert response.status_code in (201, 202), response.text
    hub.wait_ready(name)
    return []


SEARCH = r"""
import json, os, duckdb, pyarrow.parquet as pq
needles = {needles!r}
since = {since!r}
found, files, decoded, image_files = {{}}, 0, 0, 0
skip = ('/proc', '/sys', '/dev')
root_dev = os.stat('/').st_dev
def hit(text, where):
    for n in needles:
        if n in text:
            found.setdefault(n, where)
for root, dirs, names in os.walk('/', followlinks=False):
    if root.startswith(skip):
        dirs[:] = []
        continue
    for name in names:
        path = os.path.join(root, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        st = os.stat(path)
        if st.st_dev == root_dev and st.st_ctime < since:
            image_files += 1
            continue
        try:
            with open(path, 'rb') as f:
                files += 1
                tail = b''
                while chunk := f.read(1 << 20):
                    hit((tail + chunk).decode('latin-1'), path)
                    tail = chunk[-64:]
        except OSError:
            continue
        try:
            if name.endswith('.parquet'):
                hit(json.dumps(pq.read_table(path).to_pylist(), default=str), path + ' (decoded)')
                decoded += 1
            elif name.endswith('.duckdb'):
                con = duckdb.connect(path, read_only=True)
                tables = con.sql("select table_name from information_schema.tables")
                for (view,) in tables.fetchall():
                    rows = con.sql(f'select * from "{{view}}"').fetchall()
                    hit(json.dumps(rows, default=str), path + ':' + view)
                decoded += 1
        except Exception as error:
            found.setdefault('decode-error', f'{{path}}: {{error}}')
print(json.dumps({{'found': found, 'files': files, 'decoded': decoded,
                  'image_files': image_files}}))
"""

# In a fresh process: the kernel's own DuckDB connection must not shape what the search sees.
RUN_SEARCH = (
    "import subprocess, sys\n"
    "print(subprocess.run([sys.executable, '-c', {code!r}], capture_output=True, text=True,"
    " check=True).stdout)"
)


def test_only_granted_data_is_in_the_container(hub, fab):
    start_for_project(hub, "petra", "fab")
    kernel = KernelSession(hub, "petra")
    try:
        # The researcher's view: the granted columns, the granted rows.
        out = kernel.run(
            "import cleanroom, json\n"
            "con = cleanroom.connect()\n"
            "df = con.sql('select * from wafers').df()\n"
            "print(json.dumps({'columns': list(df.columns), 'rows': len(df),"
            " 'views': cleanroom.datasets()}))\n"
        )
        view = json.loads(out)
        assert view["columns"] == ["lot", "temperature", "note"]
        assert view["rows"] == 40
        assert view["views"] == ["wafers"]
        # The mount is read-only.
        out = kernel.run(
            "import os\n"
            "for p in ('/data/catalog.duckdb', '/data/x'):\n"
            "    try:\n"
            "        open(p, 'a').close(); print('writable', p)\n"
            "    except OSError as e:\n"
            "        print('refused', e.errno)\n"
        )
        assert "writable" not in out and out.count("refused") == 2, out
        # Every byte readable inside: no canary, and the granted values are found.
        needles = [CANARY_COLUMN, CANARY_ROW, CANARY_OTHER, PLANT, GRANTED]
        search = SEARCH.format(needles=needles, since=STARTED)
        result = json.loads(kernel.run(RUN_SEARCH.format(code=search), timeout=600))
    finally:
        kernel.close()
        hub.stop_server("petra")
    found = result["found"]
    assert GRANTED in found, f"the search must find the granted values: {result}"
    assert result["decoded"] >= 2, result
    assert "decode-error" not in found, found
    for canary in (CANARY_COLUMN, CANARY_ROW, CANARY_OTHER, PLANT):
        assert canary not in found, f"{canary} found at {found[canary]}"


def test_a_start_records_in_the_catalog_which_grants_it_mounted(hub, catalog, fab):
    """The airlock asks only the data owners of what a requester's servers mounted: the
    spawner records it before the server starts, and the grant knows whose rows it holds
    (globex's plant is filtered out)."""
    assert fab.organisations == ("acme",)
    before = len(catalog.mounts_of("fab", "petra"))
    start_for_project(hub, "petra", "fab")
    try:
        mounts = catalog.mounts_of("fab", "petra")
        assert len(mounts) == before + 1
        # fab's grant, unless a test before this one revoked it (then nothing is mounted)
        active = tuple(g.id for g in catalog.grants_for("fab") if g.active)
        assert mounts[-1].grant_ids == active
        assert fab.id in catalog.mounted_grant_ids("fab", "petra")
    finally:
        hub.stop_server("petra")


def test_another_project_cannot_be_opened(hub, fab):
    messages = []
    session = hub.login("petra")
    response = hub.user_api(session, "POST", "/users/petra/server", json={"project": "yard"})
    messages.append(response.text)
    progress = hub.user_api(session, "GET", "/users/petra/server/progress", stream=True)
    messages += [line.decode() for line in progress.iter_lines() if line.startswith(b"data:")]
    assert any("petra is not a member of project yard" in m for m in messages), messages


def test_expired_grant_refuses_the_spawn_with_a_reason(hub, catalog, fab):
    catalog.create_project("late", actor=ADMIN)
    hub.add_user("lena", ("researcher",))
    catalog.set_user_organisation("lena", "uni", actor=ADMIN)
    catalog.add_member("late", "lena", "researcher", actor=ADMIN)
    grant = catalog.grant(
        "late",
        "wafers",
        reason="short study",
        actor=ADMIN,
        columns=["lot"],
        expires_at=datetime.now(UTC) + timedelta(seconds=3),
    )
    time.sleep(4)
    session = hub.login("lena")
    response = hub.user_api(session, "POST", "/users/lena/server", json={"project": "late"})
    progress = hub.user_api(session, "GET", "/users/lena/server/progress", stream=True)
    messages = [response.text] + [line.decode() for line in progress.iter_lines()]
    assert any(f"grant {grant.id}: expired at" in m for m in messages), messages


def wait_stopped(hub, name: str, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not hub.api.call("GET", f"/users/{name}")["servers"]:
            return True
        time.sleep(0.5)
    return False


def test_a_revoked_grant_stops_its_server_while_opa_is_down_and_only_that_one(hub, catalog, fab):
    """The catalog's record is enough to withdraw a revoked grant; a server whose grants still
    hold (petra's, the control) keeps running while the policy cannot be asked."""
    catalog.create_project("dip", actor=ADMIN)
    hub.add_user("dora", ("researcher",))
    catalog.set_user_organisation("dora", "uni", actor=ADMIN)
    catalog.add_member("dip", "dora", "researcher", actor=ADMIN)
    grant = catalog.grant("dip", "wafers", reason="a short look", actor=ADMIN, columns=["lot"])
    start_for_project(hub, "petra", "fab")
    start_for_project(hub, "dora", "dip")
    pid = opa_pid(hub)
    os.kill(pid, signal.SIGSTOP)  # OPA hangs: every policy call times out
    try:
        catalog.revoke_grant(grant.id, reason="consent withdrawn", actor=ADMIN)
        assert wait_stopped(hub, "dora"), "dora's server still runs with OPA down"
        assert hub.api.call("GET", "/users/petra")["servers"], "petra's server was stopped too"
    finally:
        os.kill(pid, signal.SIGCONT)
        hub.stop_server("petra")
    events = AuditLog.from_state_dir(hub.settings.state_dir, create_key=False).records()
    withdrawn = [r for r in events if r.event == "grant.withdrawn" and r.actor == "dora"]
    assert withdrawn[-1].details["grants"] == [str(grant.id)], withdrawn
    assert f"grant {grant.id}: revoked" in withdrawn[-1].details["reasons"]


def test_the_watcher_reads_every_page_of_the_hubs_user_list(hub):
    """The hub answers at most 200 users a page (50 unasked): the watcher's listing goes on
    to the 250th and beyond."""
    names = [f"page{i:03d}" for i in range(260)]
    hub.api.call("POST", "/users", {"usernames": names})
    try:
        listed = [u["name"] for u in hub.api.every("/users")]
        first_page = hub.api.call("GET", "/users")
        assert set(names) <= set(listed) and len(listed) == len(set(listed))
        assert len(first_page) < len(listed)  # the control: one plain call misses users
    finally:
        for name in names:
            hub.api.call("DELETE", f"/users/{name}")


def test_revoking_a_grant_reaches_the_running_server(hub, catalog, fab):
    start_for_project(hub, "petra", "fab")
    catalog.revoke_grant(fab.id, reason="the depositor withdrew consent", actor=ADMIN)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not hub.api.call("GET", "/users/petra")["servers"]:
            break
        time.sleep(0.5)
    else:
        pytest.fail("petra's server still runs a minute after its grant was revoked")
    events = AuditLog.from_state_dir(hub.settings.state_dir, create_key=False).records()
    withdrawn = [r for r in events if r.event == "grant.withdrawn" and r.actor == "petra"]
    assert withdrawn and str(fab.id) in withdrawn[-1].details["grants"], withdrawn
    # The researcher is told why, where they go to start again.
    page = hub.login("petra").get(f"{hub.url}/hub/spawn", timeout=60)
    assert "Your server for project fab was stopped" in page.text, page.text
    assert f"grant {fab.id}: revoked" in page.text
