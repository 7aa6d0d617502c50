#!/usr/bin/env bash
# Build the minimal Debian base image cleanroom/base:bookworm without a container registry:
# debootstrap a minbase bookworm root filesystem from Debian's archive and `docker import` it.
#
# Environment:
#   BASE_TAG         image to produce             (default cleanroom/base:bookworm)
#   SUITE            Debian suite                  (default bookworm)
#   MIRROR           Debian archive URL            (default: the one the host's apt uses,
#                                                   else http://deb.debian.org/debian)
#   SECURITY_MIRROR  Debian security archive URL   (default: the host's, else
#                                                   http://deb.debian.org/debian-security)
#   FORCE=1          rebuild even if the image already exists
#   DOCKER           docker CLI to use             (default /usr/bin/docker if present)
#
# Needs root (debootstrap, device nodes) and the debootstrap package.
set -euo pipefail

BASE_TAG=${BASE_TAG:-cleanroom/base:bookworm}
SUITE=${SUITE:-bookworm}
FORCE=${FORCE:-0}
if [[ -z ${DOCKER:-} ]]; then
    if [[ -x /usr/bin/docker ]]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
fi

die() { echo "base/build.sh: $*" >&2; exit 1; }

# The first archive URI the host's apt uses for a given suite (one-line .list and deb822
# .sources formats; files with other extensions, e.g. *.disabled, are ignored by apt and here).
host_mirror() {
    local suite=$1 files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    ((${#files[@]})) || return 0
    awk -v suite="$suite" '
        function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" suite "[ \t]") && uris != "") {
                split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
            }
            types = ""; uris = ""; suites = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        # one-line format: deb [opts] URI SUITE COMPONENTS...
        /^[ \t]*deb[ \t]/ {
            line = $0; sub(/\[[^]]*\]/, "", line); n = split(line, f, /[ \t]+/)
            i = (f[1] == "") ? 2 : 1
            if (f[i] == "deb" && f[i+2] == suite) { print f[i+1]; found = 1; exit }
            next
        }
        /^[ \t]*$/ { flush(); next }
        /^Types:/  { sub(/^Types:[ \t]*/, "");  types = $0;  next }
        /^URIs:/   { sub(/^URIs:[ \t]*/, "");   uris = $0;   next }
        /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0; next }
        END { if (!found) flush() }
    ' "${files[@]}"
}

MIRROR=${MIRROR:-$(host_mirror "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(host_mirror "$SUITE-security")}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
MIRROR=${MIRROR%/}
SECURITY_MIRROR=${SECURITY_MIRROR%/}

"$DOCKER" info >/dev/null 2>&1 \
    || die "cannot reach the Docker engine with '$DOCKER' (is dockerd running, and may this user use it?)"

if [[ $FORCE != 1 ]] && "$DOCKER" image inspect "$BASE_TAG" >/dev/null 2>&1; then
    echo "base/build.sh: $BASE_TAG already exists, skipping (FORCE=1 rebuilds it)"
    exit 0
fi

command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
[[ $(id -u) == 0 ]] || die "debootstrap needs root"

ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/cleanroom-rootfs.XXXXXX")
cleanup() { rm -rf --one-file-system "$ROOTFS"; }
trap cleanup EXIT

echo "base/build.sh: debootstrap --variant=minbase $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR"

# apt sources like the ones of debian:bookworm-slim: the release, its updates and security,
# so that images built on this base install current, patched packages.
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Same trimming as the official slim images: no recommends, no package caches or lists.
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF
# Like the slim images: no documentation, manual pages or translations (copyright files stay).
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian/*
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
# The host's resolver and hostname do not belong in an image (docker provides its own).
: >"$ROOTFS/etc/resolv.conf"
echo localhost >"$ROOTFS/etc/hostname"

echo "base/build.sh: importing as $BASE_TAG"
tar --numeric-owner -C "$ROOTFS" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE $MIRROR" \
    - "$BASE_TAG"
echo "base/build.sh: built $BASE_TAG"
