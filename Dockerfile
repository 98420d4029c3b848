# The serving image onnx-package builds. The tool fills the build context:
#   deps/   the serving dependencies, resolved on the runner (no network needed in the build)
#   app/    the onnx_serve server code
#   model/  the model, tokenizer, config and serve.json
# Layers go from least to most often changed, so a new model version rebuilds only the last one.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONPATH=/opt/onnx-serve/deps:/opt/onnx-serve/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORT_DISABLE_TELEMETRY=1 \
    ONNX_SERVE_MODEL_DIR=/opt/onnx-serve/model \
    PORT=8080

COPY deps/ /opt/onnx-serve/deps/
COPY app/ /opt/onnx-serve/app/
COPY model/ /opt/onnx-serve/model/

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-m", "onnx_serve.healthcheck"]
ENTRYPOINT ["python3", "-m", "onnx_serve"]
