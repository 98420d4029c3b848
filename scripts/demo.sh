#!/usr/bin/env bash
# The demo: package the bundled example model, push it to a local registry, pull it back by
# digest, run it, and ask it the tutorial's question with curl.
#
#   bash scripts/demo.sh        # on a fresh machine: installs what it needs first
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
BASE_IMAGE="${BASE_IMAGE:-onnx-package-test/base:bookworm}"   # python:3.11-slim where Docker Hub is reachable
REGISTRY_PORT="${REGISTRY_PORT:-5000}"
SERVE_PORT="${SERVE_PORT:-8080}"
WORK="$(mktemp -d)"

bash "$REPO/scripts/setup-machine.sh"

cleanup() {
    docker rm -f onnx-package-demo >/dev/null 2>&1 || true
    [ -n "${REGISTRY_PID:-}" ] && kill "$REGISTRY_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== a local registry on 127.0.0.1:$REGISTRY_PORT"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$REGISTRY_PORT}
YAML
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null && break; sleep 0.2; done

echo "== onnx-package: examples/sentiment -> 127.0.0.1:$REGISTRY_PORT/demo/sentiment"
"$VENV/bin/onnx-package" --model-source local --model-path "$REPO/examples/sentiment" \
    --images "127.0.0.1:$REGISTRY_PORT/demo/sentiment" --tags demo --base-image "$BASE_IMAGE" | tee "$WORK/outputs"
digest=$(sed -n 's/^digest=//p' "$WORK/outputs")

echo "== pull 127.0.0.1:$REGISTRY_PORT/demo/sentiment@$digest and run it"
docker rmi "127.0.0.1:$REGISTRY_PORT/demo/sentiment:demo" >/dev/null
docker pull -q "127.0.0.1:$REGISTRY_PORT/demo/sentiment@$digest"
docker run -d --rm --name onnx-package-demo --read-only -p "127.0.0.1:$SERVE_PORT:8080" \
    "127.0.0.1:$REGISTRY_PORT/demo/sentiment@$digest" >/dev/null
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$SERVE_PORT/v2/health/ready" >/dev/null && break; sleep 0.2; done

echo "== the tutorial's request"
echo "\$ curl -X POST http://127.0.0.1:$SERVE_PORT/predict -H 'Content-Type: application/json' -d '[\"Containers are good\"]'"
answer=$(curl -s -X POST "http://127.0.0.1:$SERVE_PORT/predict" -H "Content-Type: application/json" -d '["Containers are good"]')
echo "$answer"
[ "$answer" = '{"positive":true}' ]
