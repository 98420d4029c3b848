"""onnx_serve: the inference server baked into the image (onnxruntime, numpy, tokenizers, Starlette).

Transport-free core (also imported by the packager for its smoke test):
    predictor.Predictor.load(model_dir)      # serve.json + the .onnx + tokenizer.json
    protocol.predict(predictor, body)        # the /predict contract (docs/ARCHITECTURE.md)
    v2.infer(predictor, body)                # Open Inference Protocol v2
    errors.RequestError                      # a bad request, with its HTTP status

Server: `python -m onnx_serve` (settings.Settings reads the ONNX_SERVE_* environment variables),
app.create_app(settings) builds the ASGI app, healthcheck is the image's HEALTHCHECK.
"""

import os

# onnxruntime reads this once, when it starts: no usage data leaves the machine.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
