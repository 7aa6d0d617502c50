#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install the cleanroom package with its
# test tools. Idempotent and quick when nothing changed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$(date +%s)
# The hub runs its services as system accounts of their own (cleanroom.host.accounts), so the
# environment's interpreter must be one every account may run: Debian's, not one under a
# home directory. An environment made from another interpreter is made again.
python=${CLEANROOM_PYTHON:-/usr/bin/python3}
[[ -x "$python" ]] || python=$(command -v python3)
home=$(dirname "$(readlink -f "$python")")
if [[ -x "$REPO/.venv/bin/python" ]] && ! grep -qx "home = $home" "$REPO/.venv/pyvenv.cfg"; then
  echo "the environment was made from another interpreter than $python: making it again"
  rm -rf "$REPO/.venv"
fi
[[ -x "$REPO/.venv/bin/python" ]] || "$python" -m venv "$REPO/.venv"
stamp="$REPO/.venv/.installed-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  "$REPO/.venv/bin/pip" install -q --upgrade pip
  "$REPO/.venv/bin/pip" install -q -e "$REPO[test]"
  rm -f "$REPO"/.venv/.installed-*
  touch "$stamp"
fi
echo "python environment ready ($(($(date +%s) - start)) s)"
