#!/usr/bin/env bash
# Install the system packages the clean room needs on a Debian 12 host (as root). Idempotent:
# packages already present are not fetched again. Set CLEANROOM_WITH_TEST_TOOLS=1 to add the
# browser the test suite drives (Debian's chromium) and the PostgreSQL server the catalog
# tests use (scripts/start-postgres.sh).
set -euo pipefail
start=$(date +%s)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system.sh must run as root (it installs packages and the Docker engine)." >&2
  exit 1
fi

packages=(docker.io debootstrap nginx-light iptables e2fsprogs openssl ca-certificates
  python3-venv python3-pip util-linux procps
  bubblewrap poppler-utils)  # the airlock's parsing sandbox, and PDF pages rendered in it
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [[ "${CLEANROOM_WITH_TEST_TOOLS:-0}" == 1 ]]; then
  packages+=(chromium chromium-driver fonts-dejavu-core postgresql)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v configurable-http-proxy >/dev/null 2>&1; then
  echo "installing configurable-http-proxy (npm)"
  npm install -g --no-fund --no-audit configurable-http-proxy@4
fi

echo "system packages ready ($(($(date +%s) - start)) s)"
