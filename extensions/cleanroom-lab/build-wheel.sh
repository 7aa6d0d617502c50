#!/usr/bin/env bash
# Build the cleanroom-lab wheel (front end + server extension) on the host, so that the
# notebook image build needs no Node.
#
# Needs only Python 3.11 and Node 20 (+ npm) on a fresh Debian machine: the build tools
# (jupyter-builder, which brings jlpm; hatchling; hatch-jupyter-builder) go into a venv under
# .cache/, the npm packages into node_modules/ (from yarn.lock). Idempotent: when no source
# changed since the last build (a hash stamp), the existing wheel is reused.
#
#   extensions/cleanroom-lab/build-wheel.sh [OUT_DIR]     (default: extensions/cleanroom-lab/dist)
#
# Environment: FORCE=1 rebuilds anyway; NODE_EXTRA_CA_CERTS (default: the system CA bundle,
# which holds a TLS-inspecting proxy's CA where there is one); PYTHON (default python3).
# Prints the wheel's path as its last line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mkdir -p "${1:-$HERE/dist}" && cd "${1:-$HERE/dist}" && pwd)
CACHE=$HERE/.cache
VENV=$CACHE/venv
PYTHON=${PYTHON:-python3}
BUILD_TOOLS=(jupyter-builder==1.3.0 hatchling==1.33.0 hatch-jupyter-builder==0.10.0 build==1.6.1)

die() { echo "build-wheel.sh: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is missing (Node 20: apt-get install -y nodejs npm)"
command -v "$PYTHON" >/dev/null || die "$PYTHON is missing"
if [[ -z ${NODE_EXTRA_CA_CERTS:-} && -s /etc/ssl/certs/ca-certificates.crt ]]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

cd "$HERE"
# Everything that goes into the wheel, and this script: any change means a rebuild.
sources_hash() {
    {
        find src schema style cleanroom_lab jupyter-config -type f \
            -not -path 'cleanroom_lab/labextension/*' -not -path 'cleanroom_lab/tests/*' \
            -not -name '*.pyc' -print0 \
            | sort -z | xargs -0 sha256sum
        sha256sum package.json yarn.lock tsconfig.json pyproject.toml install.json \
            .yarnrc.yml build-wheel.sh
    } | sha256sum | cut -c1-32
}
hash=$(sources_hash)
# The stamp lives beside the wheel it describes: each output folder knows what it holds.
stamp=$OUT/.cleanroom_lab-wheel.stamp
mkdir -p "$CACHE"
if [[ ${FORCE:-0} != 1 && -f $stamp ]]; then
    read -r stamped_hash wheel <"$stamp" || true
    if [[ ${stamped_hash:-} == "$hash" && -n ${wheel:-} && -f $OUT/$wheel ]]; then
        echo "build-wheel.sh: sources unchanged, reusing $OUT/$wheel"
        echo "$OUT/$wheel"
        exit 0
    fi
fi

start=$SECONDS
tools_stamp=$VENV/.tools-$(echo "${BUILD_TOOLS[*]}" | sha256sum | cut -c1-16)
if [[ ! -f $tools_stamp ]]; then
    [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${BUILD_TOOLS[@]}"
    rm -f "$VENV"/.tools-*
    touch "$tools_stamp"
fi
export PATH=$VENV/bin:$PATH

jlpm install --immutable
jlpm build:prod
rm -f "$OUT"/cleanroom_lab-*.whl "$stamp"
python -m build --wheel --no-isolation --outdir "$OUT" . >"$CACHE/wheel-build.log" 2>&1 \
    || { cat "$CACHE/wheel-build.log" >&2; die "the wheel did not build"; }
wheel=$(cd "$OUT" && ls cleanroom_lab-*.whl)
echo "$hash $wheel" >"$stamp"
echo "build-wheel.sh: built $OUT/$wheel in $((SECONDS - start)) s"
echo "$OUT/$wheel"
