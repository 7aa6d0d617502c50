"""`import cleanroom` in the built notebook image, over materialised grants mounted read-only.

Two grants are materialised on this host with cleanroom.grants.materialise from demo data: the whole
``weld_inspections`` dataset, and three columns of ``wafer_lots`` without the rows of one company.
The wafer source carries canaries: ``recipe_secret`` (a column that is not granted) and the
``batch_ref`` values of the filtered-out rows, all unique random strings. One container runs the
image the way the spawner runs it (uid 1000, read-only root filesystem, all capabilities dropped,
no-new-privileges, no network, tmpfs on /tmp and $HOME) with the grants and the view catalog
bind-mounted read-only at /data (cleanroom.grants.materialise.container_mounts); every check is an
exec in it (inputs too big for a command line go in a read-only /test-inputs mount).

Build the image first with `images/build.sh`. A missing image is a failure, not a skip.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import textwrap

import docker
import docker.errors
import duckdb
import pytest

from cleanroom.demo import data as demo_data
from cleanroom.grants.materialise import (
    GrantSpec,
    build_view_catalog,
    container_mounts,
    materialise_grant,
)
from cleanroom.tables import spec as table_spec

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("CLEANROOM_NOTEBOOK_IMAGE", "cleanroom/notebook:latest")
HOME = "/home/researcher"
ROWS = 2000
EXCLUDED_COMPANY = "Nordwafer"
WAFER_COLUMNS = ("process_step", "die_yield_pct", "batch_ref")

# How the spawner runs a researcher's server.
HARDENED = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "network_mode": "none",
    "user": "1000",
    "tmpfs": {
        "/tmp": "rw,nosuid,nodev,size=512m",
        HOME: "rw,nosuid,nodev,size=128m,uid=1000,gid=100,mode=0700",
    },
    "mem_limit": "2g",
    "pids_limit": 256,
}


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"Docker engine not reachable ({e}); start dockerd", pytrace=False)
    try:
        c.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} not found: build it with images/build.sh", pytrace=False)
    yield c
    c.close()


@pytest.fixture(scope="module")
def grants(tmp_path_factory):
    """Materialised grants, their view catalog, and the canaries and granted values."""
    root = tmp_path_factory.mktemp("grants")
    demo = demo_data.generate(root / "demo", ROWS)
    con = duckdb.connect()
    con.execute("CREATE TABLE tokens (n BIGINT, recipe_secret VARCHAR, batch_ref VARCHAR)")
    con.executemany(
        "INSERT INTO tokens VALUES (?, ?, ?)",
        [(n, secrets.token_urlsafe(36), secrets.token_urlsafe(36)) for n in range(ROWS)],
    )
    wafer_source = root / "wafer_lots_with_canaries.parquet"
    con.execute(
        f"""COPY (
              SELECT w.*, t.recipe_secret, t.batch_ref
              FROM (SELECT *, row_number() OVER () - 1 AS n
                    FROM read_parquet('{demo.datasets["wafer_lots"].paths["parquet"]}')) w
              JOIN tokens t USING (n) ORDER BY n
            ) TO '{wafer_source}' (FORMAT parquet)"""
    )
    rows = con.execute(
        f"SELECT company, recipe_secret, batch_ref FROM read_parquet('{wafer_source}')"
    ).fetchall()
    con.close()
    canaries = [r[1] for r in rows] + [r[2] for r in rows if r[0] == EXCLUDED_COMPANY]
    granted = [r[2] for r in rows if r[0] != EXCLUDED_COMPANY]
    assert len(granted) < ROWS and len(canaries) > ROWS

    cache = root / "cache"
    wafer = materialise_grant(
        GrantSpec(
            dataset_version_id="wafer_lots@1",
            source_path=wafer_source,
            source_format="parquet",
            columns=WAFER_COLUMNS,
            row_filter=f"company <> '{EXCLUDED_COMPANY}'",
            contributor_column="plant",
        ),
        cache,
    )
    weld = materialise_grant(
        GrantSpec(
            dataset_version_id="weld_inspections@1",
            source_path=demo.datasets["weld_inspections"].paths["csv"],
            source_format="csv",
            columns=None,
            row_filter=None,
            contributor_column="yard",
        ),
        cache,
    )
    views = {"wafer_lots": wafer.key, "weld_inspections": weld.key}
    catalog = build_view_catalog(views, root / "catalogs" / "project.duckdb", cache_dir=cache)
    inputs = root / "test-inputs"  # what the tests hand to scripts in the container
    inputs.mkdir(mode=0o755)
    return {
        "views": views,
        "mounts": container_mounts(views, cache, catalog),
        "inputs": inputs,
        "wafer": wafer,
        "weld": weld,
        "canaries": canaries,
        "granted": granted,
    }


@pytest.fixture(scope="module")
def container(client, grants):
    c = client.containers.run(
        IMAGE,
        command=["sleep", "infinity"],
        detach=True,
        labels={"cleanroom.test": "test_client_image"},
        volumes={
            **grants["mounts"],
            str(grants["inputs"]): {"bind": "/test-inputs", "mode": "ro"},
        },
        **HARDENED,
    )
    try:
        c.reload()
        assert c.status == "running", c.logs().decode(errors="replace")
        yield c
    finally:
        c.remove(force=True)


def run_python(container, script: str) -> str:
    code, output = container.exec_run(["python", "-c", textwrap.dedent(script)], user="1000")
    text = output.decode(errors="replace")
    assert code == 0, text
    return text


def test_views_are_listed_and_queried_into_pandas(container, grants):
    out = run_python(
        container,
        """
        import json, cleanroom
        con = cleanroom.connect()
        df = con.sql(
            "SELECT process_step, count(*) AS n, avg(die_yield_pct) AS y "
            "FROM wafer_lots GROUP BY ALL ORDER BY 1"
        ).df()
        welds = con.sql(
            "SELECT count(*) AS n, count(DISTINCT company) AS c FROM weld_inspections"
        ).df()
        print(json.dumps({
            "datasets": cleanroom.datasets(),
            "type": type(df).__module__ + "." + type(df).__name__,
            "wafer_rows": int(df["n"].sum()),
            "steps": df["process_step"].tolist(),
            "weld_rows": int(welds["n"][0]),
            "weld_companies": int(welds["c"][0]),
        }))
        """,
    )
    result = json.loads(out)
    assert result["datasets"] == ["wafer_lots", "weld_inspections"]
    assert result["type"] == "pandas.DataFrame"
    assert result["wafer_rows"] == grants["wafer"].rows == len(grants["granted"])
    assert len(result["steps"]) == 7
    assert result["weld_rows"] == ROWS
    assert result["weld_companies"] >= 12


def test_ungranted_columns_and_rows_are_absent(container, grants):
    out = run_python(
        container,
        f"""
        import json, cleanroom
        con = cleanroom.connect()
        columns = [r[0] for r in con.execute("DESCRIBE wafer_lots").fetchall()]
        errors = {{}}
        for column in ("recipe_secret", "plant", "company", "lot_id"):
            try:
                con.sql(f"SELECT {{column}} FROM wafer_lots").fetchall()
                errors[column] = None
            except Exception as error:
                errors[column] = type(error).__name__
        raw = con.execute(
            "SELECT * FROM read_parquet('/data/{grants["wafer"].key}/data.parquet') LIMIT 1"
        ).description
        print(json.dumps({{"columns": columns, "errors": errors,
                          "raw": [d[0] for d in raw]}}))
        """,
    )
    result = json.loads(out)
    assert result["columns"] == list(WAFER_COLUMNS)
    assert result["raw"] == list(WAFER_COLUMNS)  # the file itself, not only the view
    assert result["errors"] == {c: "BinderException" for c in result["errors"]}


def test_no_canary_in_any_byte_under_data(container, grants):
    # Random values are searched by 8-letter pieces: Parquet's Snappy pages may turn 4 letters
    # of a value into a back-reference (see tests/unit/grants/test_materialise.py). A canary
    # counts as found if any piece is there; a granted value if 4 of its 6 pieces are.
    pieces = {
        "canaries": [[v[i : i + 8] for i in range(0, 48, 8)] for v in grants["canaries"]],
        "granted": [[v[i : i + 8] for i in range(0, 48, 8)] for v in grants["granted"]],
    }
    (grants["inputs"] / "pieces.json").write_text(json.dumps(pieces))
    out = run_python(
        container,
        """
        import json, os
        pieces = json.load(open("/test-inputs/pieces.json"))
        blob = b""
        files = []
        for top, dirs, names in os.walk("/data"):
            for name in names:
                path = os.path.join(top, name)
                files.append(path)
                with open(path, "rb") as f:
                    blob += f.read()
        found = sum(any(p.encode() in blob for p in v) for v in pieces["canaries"])
        shown = sum(sum(p.encode() in blob for p in v) >= 4 for v in pieces["granted"])
        print(json.dumps({"files": sorted(files), "bytes": len(blob),
                          "canaries_found": found, "granted_found": shown}))
        """,
    )
    result = json.loads(out)
    wafer, weld = grants["wafer"].key, grants["weld"].key
    assert result["files"] == sorted(
        ["/data/catalog.duckdb", f"/data/{wafer}/data.parquet", f"/data/{weld}/data.parquet"]
    )
    assert result["canaries_found"] == 0
    # The search works: granted values are there. (With pages of ~1,700 random values, two
    # values share 4 letters now and then, and Snappy replaces the repeat by a back-reference;
    # a value with two such repeats loses more than two pieces. That is the few percent.)
    assert result["granted_found"] >= 0.95 * len(grants["granted"])


def test_writing_is_refused(container, grants):
    key = grants["wafer"].key
    out = run_python(
        container,
        f"""
        import json, duckdb, cleanroom
        outcome = {{}}
        con = cleanroom.connect()
        for name, sql in {{
            "create_table": "CREATE TABLE t AS SELECT 1 AS a",
            "drop_view": "DROP VIEW wafer_lots",
            "copy_into_data": "COPY (SELECT 1 AS a) TO '/data/{key}/x.parquet'",
        }}.items():
            try:
                con.execute(sql)
                outcome[name] = "allowed"
            except Exception as error:
                outcome[name] = str(error).splitlines()[0]
        for name, path in {{"file_in_grant": "/data/{key}/x", "file_in_data": "/data/x",
                           "overwrite": "/data/{key}/data.parquet"}}.items():
            try:
                open(path, "ab").close()
                outcome[name] = "allowed"
            except OSError as error:
                outcome[name] = error.strerror
        try:
            duckdb.connect("/data/catalog.duckdb").execute("CREATE TABLE t (a INT)")
            outcome["read_write_open"] = "allowed"
        except Exception as error:
            outcome["read_write_open"] = type(error).__name__
        mounts = [line.split() for line in open("/proc/mounts")]
        outcome["mount_options"] = sorted(
            {{m[1]: m[3].split(",")[0] for m in mounts if m[1].startswith("/data")}}.items()
        )
        print(json.dumps(outcome))
        """,
    )
    outcome = json.loads(out)
    assert "allowed" not in outcome.values(), outcome
    assert "read-only" in outcome["create_table"]
    assert "read-only" in outcome["drop_view"].lower() or "read only" in outcome["drop_view"]
    assert outcome["file_in_grant"] == "Read-only file system"
    assert outcome["overwrite"] in ("Read-only file system", "Permission denied")
    assert {m[1] for m in outcome["mount_options"]} == {"ro"}
    assert len(outcome["mount_options"]) == 3


def test_without_data_the_error_says_what_to_do(client):
    c = client.containers.run(
        IMAGE,
        command=["python", "-c", "import cleanroom; cleanroom.connect()"],
        detach=True,
        labels={"cleanroom.test": "test_client_image"},
        **HARDENED,
    )
    try:
        status = c.wait(timeout=60)
        logs = c.logs().decode(errors="replace")
    finally:
        c.remove(force=True)
    assert status["StatusCode"] == 1
    assert "NoDataMounted: No datasets are mounted in this server" in logs


def test_the_client_does_not_shadow_anything_in_the_image(container):
    out = run_python(
        container,
        """
        import json, importlib.metadata, cleanroom
        dist = importlib.metadata.distribution("cleanroom-client")
        print(json.dumps({"file": cleanroom.__file__,
                          "files": sorted(str(f) for f in dist.files
                                          if not str(f).startswith("cleanroom_client-"))}))
        """,
    )
    result = json.loads(out)
    assert result["file"].startswith("/opt/venv/lib/")
    # one package and its bytecode: no other top-level name
    sources = [f for f in result["files"] if not f.endswith(".pyc")]
    assert sources == ["cleanroom/__init__.py", "cleanroom/sdc.py", "cleanroom/tablespec.py"]
    assert all(
        f.startswith("cleanroom/__pycache__/") for f in result["files"] if f.endswith(".pyc")
    )


def test_a_verified_table_made_in_the_image_is_what_the_airlock_recomputes(container, grants):
    """cleanroom.sdc in the image writes a table and its specification in the home; on this
    host the hub's package reads the specification and recomputes the table over the
    airlock's copy of the grant (with the contributor column), cell for cell."""
    out = run_python(
        container,
        """
        import json, os, duckdb, cleanroom
        from cleanroom import sdc
        t = sdc.summary("wafer_lots", "process_step", "die_yield_pct", ("count", "mean"),
                        rounding={"decimals": 2})
        csv_path = t.save("outputs/yield.csv")
        parquet_path = t.save("outputs/yield.parquet")
        counts = sdc.frequency("wafer_lots", "process_step", filter="die_yield_pct > 50")
        refusals = {}
        for name, call in {
            "callable": lambda: sdc.table("wafer_lots", "process_step", [(sum, "die_yield_pct")]),
            "ungranted": lambda: sdc.frequency("wafer_lots", "plant"),
            "outside_home": lambda: counts.save("/tmp/counts.csv"),
        }.items():
            try:
                call()
                refusals[name] = None
            except ValueError as error:
                refusals[name] = str(error)
        con = duckdb.connect()
        parquet = con.execute(f"SELECT * FROM read_parquet('{parquet_path}')")
        print(json.dumps({
            "csv_path": csv_path,
            "csv": open(csv_path, encoding="utf-8").read(),
            "spec": open(csv_path + ".table.json", encoding="utf-8").read(),
            "parquet_header": [d[0] for d in parquet.description],
            "parquet_rows": [[sdc.tablespec.cell_text(v) for v in r] for r in parquet.fetchall()],
            "df": [list(t.df.columns), len(t.df), type(t.df).__name__],
            "html": "<table>" in t._repr_html_(),
            "counts": [list(r) for r in counts.rows],
            "proposal": cleanroom.request_release([csv_path])._repr_mimebundle_()[
                cleanroom.RELEASE_MIME]["paths"],
            "refusals": refusals,
            "home": sorted(os.listdir("outputs")),
        }))
        """,
    )
    result = json.loads(out)
    assert result["csv_path"] == f"{HOME}/outputs/yield.csv"
    assert result["home"] == [
        "yield.csv",
        "yield.csv.table.json",
        "yield.parquet",
        "yield.parquet.table.json",
    ]
    parsed = table_spec.parse_spec(result["spec"])
    assert parsed.grant == grants["wafer"].key and parsed.dataset == "wafer_lots"
    assert parsed.rounding.as_json() == {"decimals": 2}
    airlock_copy = grants["wafer"].wait_for_airlock(timeout=120)
    con = duckdb.connect()
    try:
        assert "plant" in [
            d[0]
            for d in con.execute(
                f"SELECT * FROM read_parquet('{airlock_copy}') LIMIT 0"
            ).description
        ]
        long_rows = con.execute(
            table_spec.long_query(parsed, f"read_parquet('{airlock_copy}')", parsed.filter)
        ).fetchall()
    finally:
        con.close()
    header, rows = table_spec.shape(parsed, long_rows)
    expected = [header] + [[table_spec.cell_text(v) for v in r] for r in rows]
    written = list(csv.reader(io.StringIO(result["csv"], newline="")))
    assert written == expected
    assert [result["parquet_header"], *result["parquet_rows"]] == expected
    assert result["df"] == [header, len(rows), "DataFrame"] and result["html"]
    con = duckdb.connect()
    try:
        filtered = con.execute(
            f"SELECT process_step, count(*) FROM read_parquet('{grants['wafer'].researcher_path}') "
            "WHERE die_yield_pct > 50 GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert result["counts"] == [list(r) for r in filtered]
    assert result["proposal"] == ["outputs/yield.csv"]
    assert "is a Python function: refused" in result["refusals"]["callable"]
    assert "has no column 'plant'" in result["refusals"]["ungranted"]
    assert "is not in your home" in result["refusals"]["outside_home"]
