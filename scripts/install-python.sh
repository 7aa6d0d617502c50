#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install the cleanroom package with its
# test tools. Idempotent and quick when nothing changed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=$(date +%s)
[[ -x "$REPO/.venv/bin/python" ]] || python3 -m venv "$REPO/.venv"
stamp="$REPO/.venv/.installed-$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  "$REPO/.venv/bin/pip" install -q --upgrade pip
  "$REPO/.venv/bin/pip" install -q -e "$REPO[test]"
  rm -f "$REPO"/.venv/.installed-*
  touch "$stamp"
fi
echo "python environment ready ($(($(date +%s) - start)) s)"
