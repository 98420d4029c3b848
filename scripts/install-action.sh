#!/usr/bin/env bash
# Install onnx-package's locked dependencies into an isolated venv and print `python=<venv>/bin/python`
# to $GITHUB_OUTPUT.
#
# What is installed is requirements/runner.txt: every package pinned, hash-checked, nothing resolved
# on the runner. uv (itself hash-locked in requirements/uv.txt, bootstrapped with pip) installs it;
# pip installs the same lock when uv cannot be had.
#
# The venv lives in the runner's tool cache ($RUNNER_TOOL_CACHE, else ~/.cache) under a key made of
# the lock's hash, the Python version, the OS and the architecture, so it is made once per runner and
# lock, and a cache restored from another run is used only when it was made for exactly this.
# entrypoint.py imports the code from the action's src/ folder, so a new version of the code with the
# same lock needs no reinstall. Concurrent jobs on one runner wait for each other (flock); a half-made
# venv is never used. Venvs no run has used for 30 days are removed.
#
#   scripts/install-action.sh            install (or reuse) and print python=...
#   scripts/install-action.sh --key      print the cache key and folders (for actions/cache), install nothing
set -euo pipefail
ACTION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ACTION_DIR/requirements/runner.txt"
SERVE_LOCK="$ACTION_DIR/src/onnx_serve/requirements.txt"  # the image's wheels, cached by the tool itself
SUPPORTED="3.11 3.12 3.13 3.14"
QUIET_PIP=(--quiet --disable-pip-version-check --no-input)

python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
full_version() { "$1" -c 'import platform; print(platform.python_version())'; }
supported() { [[ " $SUPPORTED " == *" $(python_version "$1") "* ]]; }

# ONNX_PACKAGE_PYTHON, else python3 when supported, else the newest supported python3.X on PATH or in
# the hosted runner's tool cache (ubuntu-22.04's python3 is 3.10; its tool cache has newer ones).
find_python() {
    if [ -n "${ONNX_PACKAGE_PYTHON:-}" ]; then
        supported "$ONNX_PACKAGE_PYTHON" && { echo "$ONNX_PACKAGE_PYTHON"; return; }
        fail "ONNX_PACKAGE_PYTHON=$ONNX_PACKAGE_PYTHON is Python $(python_version "$ONNX_PACKAGE_PYTHON"), not one of $SUPPORTED"
    fi
    local candidate version
    if command -v python3 >/dev/null && supported python3; then command -v python3; return; fi
    for version in $(echo "$SUPPORTED" | tr ' ' '\n' | sort -rV); do
        for candidate in "$(command -v "python$version" || true)" \
            "${RUNNER_TOOL_CACHE:-/opt/hostedtoolcache}"/Python/"$version".*/*/bin/python3; do
            if [ -x "$candidate" ] && supported "$candidate"; then echo "$candidate"; return; fi
        done
    done
    fail "no Python $SUPPORTED on this runner (python3 is $(python_version python3 || echo missing))"
}

fail() {
    echo "::error title=onnx-package::$1. Fix: add actions/setup-python (python-version: '3.12') before this step, or set ONNX_PACKAGE_PYTHON" >&2
    exit 1
}

# OS, architecture, the Python's full version, and the hash of both locks.
environment_key() {
    local python="$1" lock_hash
    lock_hash="$(cat "$LOCK" "$SERVE_LOCK" | sha256sum | cut -c1-16)"
    echo "$(uname -s)-$(uname -m)-py$(full_version "$python")-$lock_hash" | tr '[:upper:]' '[:lower:]'
}

# A venv restored from a cache is used only if its interpreter still runs here.
usable() { [ -f "$1/.complete" ] && "$1/bin/python" -c '' 2>/dev/null; }

install_into() {
    local venv="$1" python="$2" start=$SECONDS
    echo "::group::Install onnx-package's locked dependencies into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if "$venv/bin/python" -m pip install "${QUIET_PIP[@]}" --require-hashes --no-deps \
        -r "$ACTION_DIR/requirements/uv.txt" && [ -x "$venv/bin/uv" ]; then
        "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps --link-mode copy \
            -r "$LOCK"
    else
        echo "uv could not be installed: installing the same lock with pip"
        "$venv/bin/python" -m pip install "${QUIET_PIP[@]}" --require-hashes --no-deps -r "$LOCK"
    fi
    touch "$venv/.complete"
    echo "Installed $(grep -c '^[a-z]' "$LOCK") locked packages in $((SECONDS - start)) s"
    echo "::endgroup::"
}

prune_unused() {
    local root="$1" complete
    find "$root" -mindepth 2 -maxdepth 2 -name .complete -mtime +30 -print | while read -r complete; do
        echo "Removing $(dirname "$complete"), unused for 30 days"
        rm -rf "$(dirname "$complete")" "$(dirname "$complete").lock"
    done
}

# The action drives a Docker engine on the runner: GitHub's macOS and Windows runners have none it can use.
require_linux() {
    [ "$(uname -s)" = Linux ] && return
    echo "::error title=onnx-package::this action runs on Linux runners only (it builds and runs Linux images with the runner's Docker engine); this runner is $(uname -s). Fix: runs-on: ubuntu-latest (or a self-hosted Linux runner with Docker)" >&2
    exit 1
}

main() {
    local root venv python
    require_linux
    root="${RUNNER_TOOL_CACHE:-$HOME/.cache}/onnx-package-action"
    python="$(find_python)"
    venv="$root/$(environment_key "$python")"
    if [ "${1:-}" = "--key" ]; then  # what to cache (GITHUB_OUTPUT syntax): the venvs and the image's wheels
        printf 'key=onnx-package-%s\npath<<PATHS\n%s\n%s\nPATHS\n' "$(environment_key "$python")" "$root" \
            "${XDG_CACHE_HOME:-$HOME/.cache}/onnx-package"
        return
    fi
    mkdir -p "$root"
    exec 9>"$venv.lock"
    flock 9
    if usable "$venv"; then
        echo "Using onnx-package's environment $venv"
        touch "$venv/.complete"
    else
        install_into "$venv" "$python"
    fi
    prune_unused "$root"
    echo "python=$venv/bin/python" >> "${GITHUB_OUTPUT:-/dev/stdout}"
}

main "$@"
