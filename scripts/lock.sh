#!/usr/bin/env bash
# Regenerate the locks: every package pinned, with the hashes of all its files on PyPI.
#
#   src/onnx_serve/requirements.txt  the serving image (requirements/serve.in; any Python 3.11-3.14, Linux)
#   src/onnx_serve/requirements-grpc.txt  what `grpc: true` adds to the image (requirements/serve-grpc.in)
#   requirements/runner.txt          the action's venv on the runner (pyproject's dependencies), held to the
#                                    image's versions, so the smoke test runs the onnxruntime the image runs
#   requirements/uv.txt              the installer the action bootstraps with pip
#   requirements/test.txt            the test venv (runner + the test extras; Python 3.11, x86_64 Linux: CI)
#   requirements/kserve-client.txt   the KServe SDK, in a venv of its own (it pins an old protobuf), for
#                                    the interoperability tests (tests/server/test_clients.py)
#
# Pins already in a lock are kept; pass uv's --upgrade or --upgrade-package NAME to move them:
#   scripts/lock.sh                           # after editing serve.in or pyproject.toml
#   scripts/lock.sh --upgrade-package onnxruntime
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV="${UV:-$(command -v uv || echo .venv/bin/uv)}"
compile() { "$UV" pip compile --quiet --generate-hashes --annotation-style line --custom-compile-command scripts/lock.sh "$@"; }
universal=(--universal --python-version 3.11 --fork-strategy fewest)

lock() {  # the pins already in the output file are kept unless an --upgrade says otherwise
    local out="$1"
    shift
    compile "$@" -o "$out"
}

lock src/onnx_serve/requirements.txt "${universal[@]}" \
    --override requirements/serve-unused.txt requirements/serve.in "$@"
lock requirements/runner.txt "${universal[@]}" \
    -c src/onnx_serve/requirements.txt pyproject.toml "$@"
lock src/onnx_serve/requirements-grpc.txt "${universal[@]}" \
    -c src/onnx_serve/requirements.txt -c requirements/runner.txt requirements/serve-grpc.in "$@"
lock requirements/uv.txt "${universal[@]}" requirements/uv.in "$@"
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)  # this machine's CPU build of torch
lock requirements/test.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 "${find_links[@]}" \
    -c requirements/runner.txt -c requirements/uv.txt --extra test pyproject.toml "$@"
lock requirements/kserve-client.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    requirements/kserve-client.in "$@"
echo "locked: $(grep -chE '^[a-z]' src/onnx_serve/requirements.txt src/onnx_serve/requirements-grpc.txt \
    requirements/runner.txt requirements/uv.txt requirements/test.txt requirements/kserve-client.txt | paste -sd' ') \
    packages (serve serve-grpc runner uv test kserve-client)"
