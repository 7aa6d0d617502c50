#!/usr/bin/env bash
# Bring the whole clean room up on this Debian host, with demo accounts; print where to log in.
# Safe to run again: every step skips what is already done.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# Run from the checkout: OPA loads its policies/ and runs the binary scripts/install-opa.sh
# builds, unless the environment (e.g. Ansible's /etc/cleanroom.env) says otherwise.
export CLEANROOM_POLICIES_DIR="${CLEANROOM_POLICIES_DIR:-$REPO/policies}"
export CLEANROOM_OPA="${CLEANROOM_OPA:-$REPO/.cache/bin/opa}"
scripts/install-system.sh
scripts/start-docker.sh
scripts/install-python.sh
scripts/install-opa.sh
images/build.sh
.venv/bin/python -m cleanroom.demo.up
