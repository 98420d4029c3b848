#!/usr/bin/env bash
# Install onnx-package from the action's own folder into an isolated venv, reused between runs
# on the same runner (keyed by the package's version and dependencies).
set -euo pipefail
ACTION_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
key=$(cat "$ACTION_DIR/pyproject.toml" "$ACTION_DIR/src/onnx_package/__init__.py" | sha256sum | cut -c1-16)
VENV="${RUNNER_TOOL_CACHE:-$HOME/.cache}/onnx-package-action/$key"
if [ ! -x "$VENV/bin/onnx-package" ]; then
    echo "Installing onnx-package into $VENV"
    python3 -m venv "$VENV.tmp.$$"
    "$VENV.tmp.$$/bin/pip" install --quiet --disable-pip-version-check "$ACTION_DIR"
    rm -rf "$VENV" && mv "$VENV.tmp.$$" "$VENV"
fi
echo "python=$VENV/bin/python" >> "${GITHUB_OUTPUT:-/dev/stdout}"
