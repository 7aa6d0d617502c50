#!/usr/bin/env bash
# Bring the whole clean room up on this Debian host, with demo accounts; print where to log in.
# Safe to run again: every step skips what is already done.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
scripts/install-system.sh
scripts/start-docker.sh
scripts/install-python.sh
scripts/install-opa.sh
images/build.sh
.venv/bin/python -m cleanroom.demo.up
