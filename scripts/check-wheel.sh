#!/usr/bin/env bash
# The wheel smoke test: build the cleanroom wheel, check that it holds every file git tracks
# under src/cleanroom, install it with its dependencies into a new, empty virtual environment
# (from the package index, as a user would; nothing of .venv is visible there), and run the
# command line, the settings reference and the package-data look-ups (the policy input schema
# among them: a symbolic link in the repository, a file in the wheel) from a directory outside
# the repository. Changes nothing in the repository or in .venv; everything it makes lives in
# a temporary directory that is removed at the end.
#
# Usage: scripts/check-wheel.sh        (env PYTHON: the interpreter for the new environment)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== wheel: build"
# A copy of the tracked files, so that the build writes nothing (build/, *.egg-info) into the
# repository and builds what git holds plus the working tree's changes to tracked files.
mkdir "$work/source"
git -C "$REPO" ls-files -z | tar -C "$REPO" --null --files-from=- --ignore-failed-read -cf - |
  tar -C "$work/source" -xf -
"$REPO/.venv/bin/pip" wheel -q --no-deps --wheel-dir "$work/dist" "$work/source"
wheel="$(ls "$work"/dist/cleanroom-*.whl)"

echo "== wheel: every tracked file of src/cleanroom is in $(basename "$wheel")"
"$PYTHON" - "$REPO" "$wheel" <<'EOF'
import subprocess
import sys
import zipfile

repo, wheel = sys.argv[1:]
tracked = subprocess.run(
    ["git", "-C", repo, "ls-files", "src/cleanroom"], check=True, capture_output=True, text=True
).stdout.split()
expected = {path.removeprefix("src/") for path in tracked}
archive = zipfile.ZipFile(wheel)
present = set(archive.namelist())
missing = sorted(expected - present)
if missing:
    sys.exit("missing from the wheel:\n  " + "\n  ".join(missing))
print(f"{len(expected)} files present")
# Package data kept as a symbolic link to the one copy in the repository: the wheel must hold
# the file itself, with the same bytes.
for packaged, original in {"cleanroom/policy/input.schema.json": "policies/input.schema.json"}.items():
    with open(f"{repo}/{original}", "rb") as f:
        if archive.read(packaged) != f.read():
            sys.exit(f"{packaged} in the wheel is not the file {original}")
    print(f"{packaged} is {original}")
EOF

echo "== wheel: install with its dependencies into a new virtual environment"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"

echo "== wheel: run it from outside the repository"
mkdir "$work/elsewhere"
cd "$work/elsewhere"
env -u PYTHONPATH "$work/venv/bin/cleanroom" --help >/dev/null
env -u PYTHONPATH "$work/venv/bin/python" -m cleanroom.settings >/dev/null
env -u PYTHONPATH "$work/venv/bin/python" - <<'EOF'
from importlib.resources import files

import cleanroom

assert "/venv/" in cleanroom.__file__, f"imported the wrong copy: {cleanroom.__file__}"
package = files("cleanroom")
for path in (
    "host/nginx.conf.template",
    "hub/jupyterhub_config.py",
    "airlock/web/openapi.json",
    "catalog/migrations/env.py",
    "catalog/migrations/script.py.mako",
    "policy/input.schema.json",
):
    assert (package / path).is_file(), f"package data missing: {path}"
from cleanroom.policy import load_schema

assert load_schema()["properties"]["action"], "the policy input schema does not load"
for directory in (
    "hub/templates",
    "catalog/web/templates",
    "catalog/web/static",
    "airlock/web/templates",
    "airlock/web/static",
    "services/static",
    "catalog/migrations/versions",
):
    assert any((package / directory).iterdir()), f"package data missing: {directory}/"
print("cleanroom --help, python -m cleanroom.settings and the package data work")
EOF
