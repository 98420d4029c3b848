# The tool's own image: the onnx-package CLI with its hash-locked dependencies (the serving image it
# builds needs no Dockerfile: see src/onnx_package/image/build.py). Run it with the engine's socket:
#
#   docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD:/work" -w /work \
#     ghcr.io/<owner>/onnx-package-action:<version> --model-source local --model-path models/sentiment ...
#
# Behind a TLS-inspecting proxy or with a private PyPI mirror, put its CA at requirements/pip-ca.pem
# (git ignores it) before `docker build`: pip trusts it during the build only.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PATH=/opt/onnx-package/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNNER_TEMP=/tmp

COPY requirements/ /opt/onnx-package-src/requirements/
COPY pyproject.toml README.md /opt/onnx-package-src/
COPY src /opt/onnx-package-src/src

# Every dependency from the lock, by hash and without resolving; then the project itself, --no-deps.
RUN if [ -f /opt/onnx-package-src/requirements/pip-ca.pem ]; then \
        export PIP_CERT=/opt/onnx-package-src/requirements/pip-ca.pem; fi \
    && python3 -m venv /opt/onnx-package \
    && pip install --require-hashes --no-deps -r /opt/onnx-package-src/requirements/runner.txt \
    && pip install --no-deps /opt/onnx-package-src \
    && rm -rf /opt/onnx-package-src

WORKDIR /work
ENTRYPOINT ["onnx-package"]
CMD ["--help"]
