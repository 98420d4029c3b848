#!/usr/bin/env bash
# Prepare this machine for the test suite: Debian packages, a running Docker engine,
# the local base image, the repo's venv, the KServe client's venv and the Azurite npm packages.
# Idempotent: every step checks first and does nothing when it is already done.
#
#   VENV=/path/to/venv scripts/setup-machine.sh   # reuse a venv instead of ./.venv
#   KSERVE_VENV=/path/to/venv ...                 # the KServe SDK's venv instead of ./.venv-kserve
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
KSERVE_VENV="${KSERVE_VENV:-$REPO/.venv-kserve}"
BASE_IMAGE="onnx-package-test/base:bookworm"
TRIXIE_IMAGE="onnx-package-test/base:trixie"  # Python 3.13: the tests of a base with another Python
# mmdebstrap: the multi-platform tests (an arm64 base made without running arm64 code).
APT_PACKAGES=(docker.io docker-registry debootstrap apache2-utils curl mmdebstrap)
# The aarch64 emulator, from trixie's qemu-user (static, so it runs on bookworm): bookworm's QEMU 7.2 hands an
# aarch64 program the host's x86 /proc/cpuinfo, and onnxruntime's cpuinfo crashes on it (SIGSEGV in import).
QEMU_VERSION="10.0.13+ds-0+deb13u1"
QEMU_SHA256="ca6ede739327a20ae5a3498230c8a3a9a072c586e131bc6bcc1201eb1725e336"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/onnx-package-dockerd.log}"
export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { echo "[setup] $*"; }

# Run one named step and print how long it took.
step() {
    local name="$1" start ms
    shift
    start=$(date +%s%N)
    log "$name ..."
    "$@"
    ms=$((($(date +%s%N) - start) / 1000000))
    log "$name done in $((ms / 1000)).$((ms % 1000 / 100))s"
}

apt_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages already installed: ${APT_PACKAGES[*]}"
        return
    fi
    log "installing: ${missing[*]}"
    # Keep the packages' own services (dockerd, a registry on :5000) from starting: we start ours.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
    fi
    apt-get update -q -o Acquire::Retries=3 </dev/null
    apt-get install -y -q -o Acquire::Retries=3 "${missing[@]}" </dev/null
    [ -z "$added" ] || rm -f "$policy"
}

engine_answers() { timeout 10 docker version >/dev/null 2>&1; }

docker_engine() {
    if engine_answers; then
        log "the Docker engine answers"
        return
    fi
    # A pid file left by an engine that is gone stops dockerd from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    setsid nohup dockerd --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 60); do
        engine_answers && return
        sleep 1
    done
    log "dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:"
    tail -n 30 "$DOCKERD_LOG" >&2
    return 1
}

# The Debian mirror apt uses for bookworm (one-line or deb822 sources).
apt_mirror() {
    local files=() mirror
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && files+=("$f"); done
    if [ ${#files[@]} -gt 0 ]; then
        mirror=$(sed -E 's/\[[^]]*\]//' "${files[@]}" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
        [ -n "$mirror" ] && { echo "$mirror"; return; }
    fi
    files=()
    for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && files+=("$f"); done
    if [ ${#files[@]} -gt 0 ]; then
        mirror=$(awk 'BEGIN { RS = "" } {
            uris = ""; suites = ""
            n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^URIs:/) { uris = lines[i]; sub(/^URIs:[ \t]*/, "", uris) }
                if (lines[i] ~ /^Suites:/) { suites = lines[i]; sub(/^Suites:/, "", suites) }
            }
            if ((" " suites " ") ~ /[ \t]bookworm[ \t]/ && uris != "") { split(uris, u, " "); print u[1]; exit }
        }' "${files[@]}")
        [ -n "$mirror" ] && { echo "$mirror"; return; }
    fi
    echo "http://deb.debian.org/debian"
}

# debian_image SUITE IMAGE: debootstrap a minimal SUITE with python3 and docker-import it as IMAGE.
debian_image() {
    local suite="$1" image="$2"
    if docker image inspect "$image" >/dev/null 2>&1; then
        log "$image is present"
        return
    fi
    local mirror rootfs
    mirror="$(apt_mirror)"
    rootfs="$(mktemp -d /var/tmp/onnx-package-rootfs.XXXXXX)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
    trap "rm -rf '$rootfs' '$rootfs.log'" EXIT
    log "debootstrap $suite from $mirror into $rootfs"
    local attempt
    for attempt in 1 2; do  # a second try for a mirror hiccup
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 && break
        tail -n 30 "$rootfs.log" >&2
        [ "$attempt" -eq 1 ] || return 1
        log "debootstrap failed; trying again"
        rm -rf "$rootfs" && mkdir -p "$rootfs"
    done
    rm -f "$rootfs.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            - "$image" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    docker image inspect "$image" --format "$image: {{.Size}} bytes"
}

base_image() { debian_image bookworm "$BASE_IMAGE"; }
trixie_image() { debian_image trixie "$TRIXIE_IMAGE"; }

python_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
    fi
    # Reinstall only when a lock changed (the project itself is editable, so code changes need none).
    local stamp="$VENV/.onnx-package-installed" want locks=("$REPO/requirements/test.txt" "$REPO/requirements/uv.txt")
    want="$(cat "${locks[@]}" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "$VENV is up to date with the locks"
        return
    fi
    # The locks hold every package with its hashes: uv installs exactly them (--exact removes the rest).
    "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$REPO/requirements/uv.txt" </dev/null
    # test.txt locks torch's CPU build (2.13.0+cpu), which PyPI does not serve: this workplace keeps the file
    # in /opt/wheels; elsewhere (GitHub's runners) it comes from PyTorch's CPU index, by the same hash.
    local torch_source=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
    [ -d /opt/wheels ] && torch_source=(--find-links /opt/wheels)
    "$VENV/bin/uv" pip sync --python "$VENV/bin/python" --require-hashes "${torch_source[@]}" \
        "$REPO/requirements/test.txt" "$REPO/requirements/uv.txt" </dev/null
    "$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-deps --no-build-isolation -e "$REPO" </dev/null
    echo "$want" >"$stamp"
}

# The KServe SDK pins an old protobuf: it gets a venv of its own, which tests/server/test_clients.py
# drives in a subprocess. Reinstalled only when its lock changed.
kserve_venv() {
    local stamp="$KSERVE_VENV/.onnx-package-installed" want
    want="$(sha256sum "$REPO/requirements/kserve-client.txt" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "$KSERVE_VENV is up to date with its lock"
        return
    fi
    [ -x "$KSERVE_VENV/bin/python" ] || "$VENV/bin/uv" venv --quiet --python "$VENV/bin/python" "$KSERVE_VENV"
    "$VENV/bin/uv" pip sync --python "$KSERVE_VENV/bin/python" --require-hashes \
        "$REPO/requirements/kserve-client.txt" </dev/null
    echo "$want" >"$stamp"
}

azurite_npm() {
    local dir="$REPO/tests/sources"
    if [ ! -f "$dir/package.json" ]; then
        log "no tests/sources/package.json: nothing to install"
        return
    fi
    local stamp="$dir/node_modules/.onnx-package-installed" want
    want="$(cat "$dir/package.json" "$dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "tests/sources/node_modules is up to date"
        return
    fi
    if [ -f "$dir/package-lock.json" ]; then
        npm ci --prefix "$dir" --no-audit --no-fund </dev/null
    else
        npm install --prefix "$dir" --no-audit --no-fund </dev/null
    fi
    echo "$want" >"$stamp"
}

# QEMU user emulation of aarch64 in binfmt_misc, as docker/setup-qemu-action registers it (needs root):
# QEMU_VERSION's qemu-aarch64, registered with the F flag (the kernel opens it now, so containers need no copy).
qemu_binfmt() {
    local dir=/proc/sys/fs/binfmt_misc lib="/usr/local/lib/onnx-package/qemu-$QEMU_VERSION"
    local qemu="$lib/aarch64-binfmt-P"  # Debian's name for it: the -P tells QEMU that argv[0] is kept
    if [ -e "$dir/qemu-aarch64" ] && grep -qx "interpreter $qemu" "$dir/qemu-aarch64"; then
        echo 1 >"$dir/qemu-aarch64"  # enabled again, should a test have stopped while it was switched off
        log "aarch64 emulation is registered ($(head -n 1 "$dir/qemu-aarch64"), QEMU $QEMU_VERSION)"
        return
    fi
    if [ ! -x "$qemu" ]; then
        local deb url
        deb="$(mktemp /var/tmp/qemu-user.XXXXXX.deb)"
        url="$(apt_mirror)/pool/main/q/qemu/qemu-user_${QEMU_VERSION}_amd64.deb"
        log "downloading $url"
        curl -fsS --retry 3 -o "$deb" "$url" || { rm -f "$deb"; log "cannot download $url: update QEMU_VERSION and \
QEMU_SHA256 to trixie's qemu-user (apt-cache policy/show qemu-user with trixie in the sources)"; return 1; }
        echo "$QEMU_SHA256  $deb" | sha256sum -c --quiet || { rm -f "$deb"; log "$url is not QEMU_SHA256"; return 1; }
        rm -rf "$lib.partial" && mkdir -p "$lib.partial"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$lib.partial" \
            ./usr/bin/qemu-aarch64 ./usr/share/qemu/binfmt.d/qemu-aarch64.conf
        rm -f "$deb"
        mv "$lib.partial/usr/bin/qemu-aarch64" "$lib.partial/aarch64-binfmt-P"
        mv "$lib.partial/usr/share/qemu/binfmt.d/qemu-aarch64.conf" "$lib.partial/" && rm -rf "$lib.partial/usr"
        rm -rf "$lib" && mv "$lib.partial" "$lib"
    fi
    [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir" || {
        log "cannot mount binfmt_misc: the arm64 image is inspected, not run"
        return
    }
    [ ! -e "$dir/qemu-aarch64" ] || echo -1 >"$dir/qemu-aarch64"  # another QEMU's registration
    sed "s|:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:|:$qemu:|" "$lib/qemu-aarch64.conf" >"$dir/register" || {
        log "cannot register $qemu: the arm64 image is inspected, not run"
        return
    }
    log "registered $(head -n 1 "$dir/qemu-aarch64"): QEMU $QEMU_VERSION"
}

total_start=$(date +%s)
step "apt packages" apt_packages
step "docker engine" docker_engine
step "qemu binfmt" qemu_binfmt
step "base image" base_image
step "trixie base image" trixie_image
step "python venv" python_venv
step "kserve client venv" kserve_venv
step "azurite npm packages" azurite_npm
log "machine ready in $(($(date +%s) - total_start))s"
