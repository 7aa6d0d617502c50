#!/usr/bin/env bash
# Install the pinned Open Policy Agent binary into <repo>/.cache/bin/opa.
#
# No OPA download site is reachable from the build machines, but the Go module proxy is, so OPA
# is built from source with `go install` at the pinned version. Idempotent: when the binary is
# already there at the pinned version, nothing is rebuilt. Prints the time taken.
#
# Usage: scripts/install-opa.sh            (env OPA_VERSION overrides the pin, GO the go binary)
set -euo pipefail

OPA_VERSION="${OPA_VERSION:-v1.22.3}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$REPO/.cache/bin"
OPA="$BIN_DIR/opa"
GO="${GO:-go}"
start=$(date +%s)

installed_version() {
  # `opa version` prints "Version: 1.22.3" (no leading v).
  "$OPA" version 2>/dev/null | awk -F': ' '/^Version:/ {print "v"$2; exit}'
}

if [[ -x "$OPA" && "$(installed_version)" == "$OPA_VERSION" ]]; then
  echo "opa $OPA_VERSION already installed at $OPA ($(($(date +%s) - start)) s)"
  exit 0
fi

if ! command -v "$GO" >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    GO=/usr/local/go/bin/go
  else
    echo "install-opa: no Go toolchain found (need go >= 1.24 to build OPA $OPA_VERSION)" >&2
    exit 1
  fi
fi

mkdir -p "$BIN_DIR"
echo "building opa $OPA_VERSION with $("$GO" version) into $BIN_DIR ..."
# CGO off: a static binary, no C toolchain needed at run time.
CGO_ENABLED=0 GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -trimpath" \
  "$GO" install "github.com/open-policy-agent/opa@$OPA_VERSION"

got="$(installed_version)"
if [[ "$got" != "$OPA_VERSION" ]]; then
  echo "install-opa: built binary reports version '$got', expected $OPA_VERSION" >&2
  exit 1
fi
echo "opa $OPA_VERSION installed at $OPA ($(($(date +%s) - start)) s)"
