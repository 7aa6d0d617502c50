#!/usr/bin/env bash
# The whole test suite: installs and starts what is missing (make deps; each step skips what is
# already done), runs every static check (make check), then the unit tests and the lab
# extension's server tests with branch coverage of the package and its floor (make coverage),
# then the integration and browser tests against a real Docker engine, OPA, PostgreSQL,
# JupyterHub, nginx and Chromium. Fails if anything fails. Arguments go to the integration and
# browser pytest run (-k, -x, ...).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# The checkout's OPA (scripts/install-opa.sh) for every hub and OPA the tests start; each test hub
# and OPA fixture loads its own copy of policies/ (tests/support/testhub.py, tests/fixtures/opa.py).
export CLEANROOM_OPA="${CLEANROOM_OPA:-$REPO/.cache/bin/opa}"

make deps
make check
echo "== pytest: unit tests and the lab extension's server tests, with coverage"
make coverage
echo "== pytest: integration and browser tests"
# The slowest tests are listed at the end, to see where the suite's time goes.
.venv/bin/pytest -p no:cacheprovider --durations=30 "$@" tests/integration tests/browser
