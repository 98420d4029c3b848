"""onnx-package: turn a registered ONNX model into a pushed, self-contained serving image."""

import os

# onnxruntime reads this once, when it starts: no usage data leaves the machine.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
