"""onnx-package: turn a registered ONNX model into a pushed, self-contained serving image."""

__version__ = "0.1.0"
