"""The Open Inference Protocol over gRPC: imported only when ONNX_SERVE_GRPC_PORT is set (grpc: true)."""
