#!/usr/bin/env bash
# Build every cleanroom image, in order, with no container registry needed:
#   1. cleanroom/base:bookworm   debootstrap + docker import (images/base/build.sh)
#   2. the cleanroom-lab wheel     extensions/cleanroom-lab/build-wheel.sh (Python + Node on the host)
#   3. cleanroom/notebook:latest the researcher's JupyterLab (images/notebook/Dockerfile)
#
# Environment:
#   BASE_IMAGE=debian:bookworm-slim  use an ordinary base image instead of building one
#                                    (where a registry is reachable); skips step 1
#   CLEANROOM_CA_BUNDLE=FILE         CA bundle for pip inside the build (a TLS-inspecting
#                                    proxy's CA); default /etc/ssl/certs/ca-certificates.crt.
#                                    Passed as a BuildKit secret: never stored in the image.
#   NOTEBOOK_IMAGE=NAME:TAG          default cleanroom/notebook:latest
#   FORCE=1                          rebuild the base image even if it exists
#   NO_CACHE=1                       build the notebook image without the build cache
#   DOCKER=PATH                      docker CLI; default /usr/bin/docker (Debian's 20.10, which
#                                    uses the engine's built-in BuildKit; a newer CLI without
#                                    the buildx plugin cannot do BuildKit builds)
# Extra arguments are passed to `docker build` of the notebook image.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -z ${DOCKER:-} ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi
export DOCKER
NOTEBOOK_IMAGE=${NOTEBOOK_IMAGE:-cleanroom/notebook:latest}
CA_BUNDLE=${CLEANROOM_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

die() { echo "images/build.sh: $*" >&2; exit 1; }

command -v "$DOCKER" >/dev/null || die "docker CLI '$DOCKER' not found (apt-get install -y docker.io)"
if ! err=$("$DOCKER" version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
    die "the Docker engine is not reachable with '$DOCKER': $err
Start dockerd (without systemd: dockerd >/var/log/dockerd.log 2>&1 &) and check 'docker info'."
fi

secret_args=()
if [[ -s $CA_BUNDLE ]]; then
    secret_args=(--secret "id=cacert,src=$CA_BUNDLE")
elif [[ -n ${CLEANROOM_CA_BUNDLE:-} ]]; then
    die "CLEANROOM_CA_BUNDLE=$CLEANROOM_CA_BUNDLE is not a readable, non-empty file"
else
    echo "images/build.sh: no CA bundle at $CA_BUNDLE; pip will use its own CA certificates"
fi

cache_args=()
[[ ${NO_CACHE:-0} == 1 ]] && cache_args=(--no-cache)

total_start=$SECONDS

# 1. The base image.
if [[ -n ${BASE_IMAGE:-} ]]; then
    echo "images/build.sh: using base image $BASE_IMAGE (no debootstrap)"
else
    BASE_IMAGE=cleanroom/base:bookworm
    if [[ ${FORCE:-0} != 1 ]] && "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "image $BASE_IMAGE already present, not rebuilt (FORCE=1 rebuilds it)"
    else
        start=$SECONDS
        BASE_TAG=$BASE_IMAGE FORCE=1 "$HERE/base/build.sh"
        echo "image $BASE_IMAGE built in $((SECONDS - start)) s"
    fi
fi

# 2. The JupyterLab extension's wheel, built on the host (Node stays out of the image); reused
#    when its sources have not changed.
start=$SECONDS
"$HERE/../extensions/cleanroom-lab/build-wheel.sh" "$HERE/notebook/wheels"
echo "cleanroom-lab wheel ready in $((SECONDS - start)) s"

# 3. The researcher's notebook image.
start=$SECONDS
DOCKER_BUILDKIT=1 "$DOCKER" build \
    --progress=plain \
    "${secret_args[@]}" \
    "${cache_args[@]}" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --tag "$NOTEBOOK_IMAGE" \
    "$@" \
    "$HERE/notebook"
echo "image $NOTEBOOK_IMAGE built in $((SECONDS - start)) s"

echo "images/build.sh: all images built in $((SECONDS - total_start)) s"
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' \
    | grep -E "^(${BASE_IMAGE//./\\.}|${NOTEBOOK_IMAGE//./\\.})"$'\t' || true
