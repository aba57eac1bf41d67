"""Python client of eaos-serve: entity / aspect / opinion / sentiment extraction over gRPC.

    from eaos_client import Client
    with Client(target="dns:///eaos.ml.svc.cluster.local:50051") as client:
        results = client.annotate(["Chương trình rất hay!"])

Spark helpers are in ``eaos_client.spark``; the batch job is ``python -m eaos_client.batch``.
"""

from eaos_client._stubs import eaos_pb2
from eaos_client.client import Client, encode_text, shared_client
from eaos_client.errors import EaosError
from eaos_client.options import ClientOptions, RetryPolicy, TlsOptions, service_config
from eaos_client.results import result_json, result_record
from eaos_client.streaming import StreamResult

__version__ = "0.1.0"

__all__ = [
    "Client",
    "ClientOptions",
    "EaosError",
    "RetryPolicy",
    "StreamResult",
    "TlsOptions",
    "eaos_pb2",
    "encode_text",
    "result_json",
    "result_record",
    "service_config",
    "shared_client",
]
