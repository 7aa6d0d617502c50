#!/usr/bin/env bash
# The whole test suite: unit tests, policy tests, and integration and browser tests against a
# real Docker engine, OPA, JupyterHub, nginx and Chromium. Installs and starts what is missing
# first (each step skips what is already done), then runs everything; fails if anything fails.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

CLEANROOM_WITH_TEST_TOOLS=1 scripts/install-system.sh
scripts/start-docker.sh
scripts/start-postgres.sh
scripts/install-python.sh
scripts/install-opa.sh
images/build.sh

echo "== lint"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== JupyterLab extension (eslint, prettier, jest)"
(cd extensions/cleanroom-lab && PATH="$PWD/.cache/venv/bin:$PATH" jlpm lint:check && PATH="$PWD/.cache/venv/bin:$PATH" jlpm test)
echo "== policies"
scripts/check-policies.sh
echo "== pytest"
# The slowest tests are listed at the end, to see where the suite's time goes.
.venv/bin/pytest -p no:cacheprovider --durations=30 "$@" tests/unit tests/integration tests/browser
