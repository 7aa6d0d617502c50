#!/usr/bin/env bash
# Stop the clean room: nginx, the hub, its proxy and every researcher's server; remove the
# researchers' network and the project's firewall rules. Homes and the database stay.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/.venv/bin/python" -m cleanroom.host.daemon down
