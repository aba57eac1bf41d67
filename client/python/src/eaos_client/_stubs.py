"""The generated eaos.v1 protobuf and gRPC modules (built from proto/ when the package is built)."""

try:
    from eaos_client._gen.eaos.v1 import eaos_pb2, eaos_pb2_grpc
except ImportError as exc:  # pragma: no cover - only in a source tree that was never built
    raise ImportError(
        "eaos_client's generated stubs are missing: install the package with pip "
        "(pip install client/python), which runs grpcio-tools on proto/eaos/v1/eaos.proto"
    ) from exc

__all__ = ["eaos_pb2", "eaos_pb2_grpc"]
