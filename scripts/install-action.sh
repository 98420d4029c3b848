#!/usr/bin/env bash
# Install onnx-package's dependencies from the action's own folder into an isolated venv, and print
# `python=<venv>/bin/python` to $GITHUB_OUTPUT.
#
# The venv lives in the runner's tool cache ($RUNNER_TOOL_CACHE, else ~/.cache), keyed by
# pyproject.toml and the Python interpreter, so it is made once per runner (and per dependency
# change) and reused by every later run. entrypoint.py imports the code from the action's src/
# folder, so a new version of the code with the same dependencies needs no reinstall.
# Concurrent jobs on one runner wait for each other (flock); a half-made venv is never used.
# Venvs no run has used for 30 days are removed.
set -euo pipefail
ACTION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${ONNX_PACKAGE_PYTHON:-python3}"

environment_key() {
    { cat "$ACTION_DIR/pyproject.toml"; "$PYTHON" -c 'import sys; print(sys.executable, sys.version)'; } |
        sha256sum | cut -c1-16
}

install_into() {
    local venv="$1"
    echo "::group::Install onnx-package into $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$ACTION_DIR"
    touch "$venv/.complete"
    echo "::endgroup::"
}

prune_unused() {
    local root="$1" complete
    find "$root" -mindepth 2 -maxdepth 2 -name .complete -mtime +30 -print | while read -r complete; do
        echo "Removing $(dirname "$complete"), unused for 30 days"
        rm -rf "$(dirname "$complete")" "$(dirname "$complete").lock"
    done
}

main() {
    local root venv
    root="${RUNNER_TOOL_CACHE:-$HOME/.cache}/onnx-package-action"
    venv="$root/$(environment_key)"
    mkdir -p "$root"
    exec 9>"$venv.lock"
    flock 9
    if [ -f "$venv/.complete" ]; then
        echo "Using onnx-package's environment $venv"
        touch "$venv/.complete"
    else
        install_into "$venv"
    fi
    prune_unused "$root"
    echo "python=$venv/bin/python" >> "${GITHUB_OUTPUT:-/dev/stdout}"
}

main
