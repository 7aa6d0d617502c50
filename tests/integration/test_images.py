"""The researcher image (cleanroom/notebook) against the real Docker engine.

One container runs the built image the way the spawner runs it (uid 1000, read-only root
filesystem, all capabilities dropped, no-new-privileges, tmpfs on /tmp, no network; a tmpfs on
$HOME stands in for the researcher's persistent volume); every check is an exec in it.

Build the image first with `images/build.sh`. A missing image is a failure, not a skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path

import docker
import docker.errors
import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "images" / "notebook"
IMAGE = os.environ.get("CLEANROOM_NOTEBOOK_IMAGE", "cleanroom/notebook:latest")
CA_BUNDLE = Path(os.environ.get("CLEANROOM_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
HOME = "/home/researcher"

# How the spawner runs a researcher's server (network_mode "none" here: these tests need none).
HARDENED = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "network_mode": "none",
    "tmpfs": {
        "/tmp": "rw,nosuid,nodev,size=512m",
        HOME: "rw,nosuid,nodev,size=128m,uid=1000,gid=100,mode=0700",
    },
    "mem_limit": "4g",
    "pids_limit": 512,
}

# Exfiltration conveniences and build tools that must not ship in the image.
FORBIDDEN_TOOLS = [
    "curl",
    "wget",
    "ssh",
    "scp",
    "sftp",
    "git",
    "nc",
    "netcat",
    "ncat",
    "socat",
    "telnet",
    "ftp",
    "rsync",
    "sudo",
    "doas",
    "gcc",
    "cc",
    "c++",
    "g++",
    "clang",
    "tcc",
    "ld",
    "as",
    "make",
]


def _pins(name: str) -> dict[str, str]:
    """Exact pins (`name==version`) of a requirements file, by normalised name."""
    pins = {}
    for line in (NOTEBOOK_DIR / name).read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


PINS = {**_pins("requirements-torch.txt"), **_pins("requirements.txt")}


def _hub_jupyterhub_pin() -> str | None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        m = re.match(r"^\s*jupyterhub\s*==\s*([^\s;,]+)", dep)
        if m:
            return m.group(1)
    return None


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as e:
        pytest.fail(
            f"Docker engine not reachable ({e}); start dockerd, then build the images with "
            "images/build.sh",
            pytrace=False,
        )
    yield c
    c.close()


def _get_image(client):
    try:
        return client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return None


MISSING = f"image {IMAGE} not found: build it with images/build.sh"


@pytest.fixture(scope="module")
def image(client):
    found = _get_image(client)
    if found is None:
        pytest.fail(MISSING, pytrace=False)
    return found


@pytest.fixture(scope="module")
def container(client, image):
    c = client.containers.run(
        image.id,
        command=["sleep", "infinity"],
        detach=True,
        labels={"cleanroom.test": "test_images"},
        **HARDENED,  # and the image's own USER: the point is to check it
    )
    try:
        c.reload()
        assert c.status == "running", c.logs().decode(errors="replace")
        yield c
    finally:
        c.remove(force=True)


def run(container, cmd, *, user: str = "", check: bool = True, env=None) -> tuple[int, str, str]:
    """Exec `cmd` in the container; returns (exit code, stdout, stderr)."""
    res = container.exec_run(cmd, demux=True, user=user, environment=env)
    out, err = (b.decode(errors="replace") if b else "" for b in res.output)
    if check:
        assert res.exit_code == 0, f"{cmd!r} exited {res.exit_code}\nstdout:\n{out}\nstderr:\n{err}"
    return res.exit_code, out, err


def run_python(container, script: str, *args: str, **kw) -> dict:
    """Run a Python script in the container; it prints one JSON document as its last line."""
    _, out, _ = run(container, ["python", "-c", script, *args], **kw)
    return json.loads(out.strip().splitlines()[-1])


def test_image_is_built(client):
    assert _get_image(client) is not None, MISSING


def test_image_config(image):
    cfg = image.attrs["Config"]
    assert cfg["User"] == "1000"
    assert cfg["WorkingDir"] == HOME
    assert cfg["Cmd"] == ["jupyterhub-singleuser"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        assert var not in env, f"{var} is set in the image: the build's CA must not leak into it"
    # Everything that caches or keeps runtime state writes under /tmp.
    for var in ("XDG_CACHE_HOME", "JUPYTER_RUNTIME_DIR", "MPLCONFIGDIR"):
        assert env.get(var, "").startswith("/tmp/"), (var, env.get(var))
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"


def test_runs_unprivileged(container):
    _, out, _ = run(container, ["id", "-u"])
    assert out.strip() == "1000"
    _, out, _ = run(container, ["id", "-g"])
    assert out.strip() == "100"
    status = run_python(
        container,
        "import json; print(json.dumps({p: dict(l.split(':\\t', 1) for l in "
        "open(f'/proc/{p}/status').read().splitlines() if ':\\t' in l) for p in ('1', 'self')}))",
    )
    for pid, st in status.items():
        assert st["Uid"].split()[0] == "1000", (pid, st["Uid"])
        assert int(st["CapEff"], 16) == 0, (pid, st["CapEff"])
        assert int(st["CapBnd"], 16) == 0, (pid, st["CapBnd"])
        assert st["NoNewPrivs"].strip() == "1", pid


def test_singleuser_matches_hub_version(container):
    _, out, _ = run(container, ["jupyterhub-singleuser", "--version"])
    version = out.strip().splitlines()[-1]
    assert version == PINS["jupyterhub"] == "5.5.4"
    hub_pin = _hub_jupyterhub_pin()
    assert hub_pin in (None, version), f"hub pins jupyterhub=={hub_pin}, image has {version}"


STACK_CHECK = r"""
import json, os, sys
from importlib.metadata import version

home = os.environ["HOME"]
home_before = sorted(os.listdir(home))

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import duckdb

df = pd.DataFrame({"company": ["a", "b", "a", "c"], "yield_": [0.9, 0.8, 0.95, 0.7]})
con = duckdb.connect()
q = "SELECT company, avg(yield_) FROM df GROUP BY company ORDER BY company"
rows = con.execute(q).fetchall()
assert rows[0][0] == "a" and abs(rows[0][1] - 0.925) < 1e-9, rows
tbl = pa.Table.from_pandas(df)
pq.write_table(tbl, "/tmp/t.parquet")
assert con.execute("SELECT count(*) FROM '/tmp/t.parquet'").fetchone()[0] == 4
assert con.execute("SELECT sum(yield_) FROM tbl").fetchone()[0] > 3.3
fcon = duckdb.connect("/tmp/t.duckdb")
fcon.execute("CREATE TABLE t AS SELECT * FROM '/tmp/t.parquet'")
fcon.close()

from sklearn.linear_model import LinearRegression
X = np.arange(20, dtype=float).reshape(-1, 1)
model = LinearRegression().fit(X, 3 * X.ravel() + 1)
assert abs(model.coef_[0] - 3) < 1e-9 and abs(model.intercept_ - 1) < 1e-9

import torch
t = torch.ones(2, 3) @ torch.ones(3, 2)
assert t.tolist() == [[3.0, 3.0], [3.0, 3.0]], t
torch.manual_seed(0)
net = torch.nn.Linear(1, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
xs = torch.linspace(-1, 1, 32).unsqueeze(1)
for _ in range(200):
    opt.zero_grad()
    loss = ((net(xs) - (2 * xs + 0.5)) ** 2).mean()
    loss.backward()
    opt.step()
assert loss.item() < 1e-3, loss.item()
torch.save(net.state_dict(), "/tmp/model.pt")

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [1, 4, 9])
fig.savefig("/tmp/figure.png")
with open("/tmp/figure.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"

print(json.dumps({
    "versions": {d: version(d) for d in sys.argv[1:]},
    "cuda": torch.cuda.is_available(),
    "home_before": home_before,
    "home_after": sorted(os.listdir(home)),
}))
"""


def test_python_stack_works_read_only(container):
    result = run_python(container, STACK_CHECK, *sorted(PINS))
    assert result["versions"] == PINS
    assert result["cuda"] is False
    # Libraries keep their caches and config in /tmp, not in the researcher's persistent home.
    assert result["home_after"] == result["home_before"]


def test_root_filesystem_is_read_only(container):
    result = run_python(
        container,
        r"""
import errno, json
out = {}
for d in ("/", "/etc", "/opt/venv", "/opt/venv/lib/python3.11/site-packages", "/usr/local/bin",
          "/var/tmp", "/etc/jupyter", "/tmp", "/home/researcher"):
    try:
        with open(d.rstrip("/") + "/.write-probe", "w") as f:
            f.write("x")
        out[d] = "writable"
    except OSError as e:
        out[d] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
""",
    )
    writable = {d for d, r in result.items() if r == "writable"}
    assert writable == {"/tmp", HOME}, result


def test_no_exfiltration_tools_or_setuid(container):
    _, out, _ = run(
        container,
        ["sh", "-c", 'for t in "$@"; do command -v "$t" || true; done', "sh", *FORBIDDEN_TOOLS],
        env={"PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert out.split() == [], f"forbidden tools in the image: {out.split()}"
    _, out, _ = run(
        container, ["find", "/", "-xdev", "-type", "f", "-perm", "/6000"], user="0", check=False
    )
    assert out.split() == [], f"setuid/setgid files: {out.split()}"


def _pem_digests(text: str) -> set[str]:
    return {
        hashlib.sha256(re.sub(r"\s+", "", body).encode()).hexdigest()
        for body in re.findall(
            r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S
        )
    }


CERT_SCAN = r"""
import hashlib, json, os, re
SUFFIXES = (".pem", ".crt", ".cer", ".cert", ".conf", ".cfg", ".ini", ".toml", ".txt", ".json")
found = {}
for root in ("/etc", "/root", "/usr/local", "/usr/share/ca-certificates", "/usr/lib/ssl",
             "/opt/venv", "/run", "/var/lib"):
    for dp, dns, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            try:
                if not os.path.isfile(p) or os.path.getsize(p) > 8 << 20:
                    continue
                if not (p.startswith(("/etc/", "/root/", "/run/")) or fn.endswith(SUFFIXES)):
                    continue
                text = open(p, "rb").read().decode("latin-1")
            except OSError:
                continue
            bodies = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                                text, re.S)
            if bodies:
                found[p] = sorted({hashlib.sha256(re.sub(r"\s+", "", b).encode()).hexdigest()
                                   for b in bodies})
secrets = sorted(os.listdir("/run/secrets")) if os.path.isdir("/run/secrets") else []
import subprocess
pipcfg = subprocess.run(["pip", "config", "list"], capture_output=True, text=True).stdout
print(json.dumps({"found": found, "secrets": secrets, "pip_config": pipcfg}))
"""


def test_build_ca_is_not_in_image(container):
    """The proxy CA given to the build as a secret is nowhere in the image."""
    # As uid 0 (still without capabilities) to also read /root.
    result = run_python(container, CERT_SCAN, user="0")
    assert result["secrets"] == [], result["secrets"]
    assert result["pip_config"].strip() == "", result["pip_config"]
    # The build's CA certificates that no distribution ships: the proxy's CA (on Debian, those
    # added under /usr/local/share/ca-certificates). None of them may be in the image.
    stock = Path("/usr/share/ca-certificates")
    # scripts/install-system.sh installs ca-certificates, so both are always there to compare.
    assert CA_BUNDLE.is_file() and stock.is_dir(), (
        f"{CA_BUNDLE} and {stock} are needed: apt-get install ca-certificates"
    )
    shipped = set().union(
        *(_pem_digests(f.read_text(errors="replace")) for f in stock.rglob("*.crt"))
    )
    local_cas = _pem_digests(CA_BUNDLE.read_text(errors="replace")) - shipped
    in_image = set().union(*map(set, result["found"].values())) if result["found"] else set()
    leaked = {p: sorted(set(v) & local_cas) for p, v in result["found"].items()}
    leaked = {p: v for p, v in leaked.items() if v}
    assert not leaked, f"local CA certificates of {CA_BUNDLE} found in the image: {leaked}"
    assert in_image, "expected at least certifi's bundle in the image"


SERVER_CHECK = r"""
import json, os, subprocess, time, urllib.error, urllib.request
from jupyter_client.manager import start_new_kernel

token = os.urandom(16).hex()
# As the two containers of a server have it: the gateway on a socket, the server talking to it.
os.makedirs("/tmp/kernels", mode=0o700)
env = {**os.environ, "CLEANROOM_KERNEL_SOCKET": "/tmp/kernels/gateway.sock"}
gateway = subprocess.Popen(["python3", "/opt/cleanroom/kernels_gateway.py"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
server = subprocess.Popen(
    ["jupyter", "server", "--ip=127.0.0.1", "--port=8888", f"--IdentityProvider.token={token}"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

def get(path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:8888" + path, method=method,
                                 data=b"{}" if method == "POST" else None,
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

result = {}
try:
    deadline = time.monotonic() + 60
    while True:
        try:
            result["status"] = get("/api/status")
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.3)
    while result["status"] != 200 and time.monotonic() < deadline:  # the gateway starting
        time.sleep(0.3)
        result["status"] = get("/api/status")
    result["gateway_kernel"] = get("/api/kernels", method="POST")
    result["terminals"] = get("/api/terminals")
    result["lab"] = get("/lab")
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        outputs = []
        reply = kc.execute_interactive(
            "import os; print(os.getuid())", timeout=60,
            output_hook=lambda m: outputs.append(m["content"].get("text", "")))
        result["kernel"] = [reply["content"]["status"], "".join(outputs).strip()]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
finally:
    server.terminate()
    log = server.communicate(timeout=30)[0]
    gateway.terminate()
    gateway.wait(timeout=30)
result["log_tail"] = log[-3000:]
print(json.dumps(result))
"""


def test_jupyter_server_and_kernel_run_read_only(container):
    result = run_python(container, SERVER_CHECK)
    log = result.pop("log_tail")
    assert result["status"] == 200, log
    assert result["terminals"] == 404, f"terminals must be disabled by /etc/jupyter config\n{log}"
    assert result["lab"] == 200, log
    assert result["gateway_kernel"] == 201, f"a kernel starts through the gateway\n{log}"
    assert result["kernel"] == ["ok", "1000"], log
    assert "Traceback" not in log, log
