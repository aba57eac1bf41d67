"""Client options: target, TLS, deadlines, retries, chunking; and the gRPC service config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import grpc

SERVICE_NAME = "eaos.v1.EaosService"
SEGMENTER_SETTINGS = ("auto", "none", "pyvi", "underthesea")
RETRYABLE_CODES: frozenset[grpc.StatusCode] = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


@dataclass(frozen=True)
class TlsOptions:
    """TLS towards the server. All paths are PEM files read when the channel is created.

    root_ca_file: CA bundle that signed the server's certificate (None: the system roots).
    client_cert_file / client_key_file: both or neither; set for mutual TLS.
    server_name_override: the name checked against the server certificate, when it differs from
    the target's host (tests, IP targets).
    """

    root_ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    server_name_override: str | None = None

    def __post_init__(self) -> None:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("TLS: client_cert_file and client_key_file go together (mTLS)")

    def credentials(self) -> grpc.ChannelCredentials:
        """grpc.ssl_channel_credentials from the files."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read_optional(self.root_ca_file),
            private_key=_read_optional(self.client_key_file),
            certificate_chain=_read_optional(self.client_cert_file),
        )


def _read_optional(path: str | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff on UNAVAILABLE and RESOURCE_EXHAUSTED.

    Two layers use it: gRPC's own retries (service config; at most 5 attempts per call, fast and
    transparent) and the client's retries around whole calls and streams (max_attempts), which
    outlast a server restart. Backoff n (from 0) sleeps a random time in
    [backoff/2, backoff] with backoff = min(initial_backoff * multiplier**n, max_backoff).
    """

    max_attempts: int = 10
    initial_backoff: float = 0.25
    max_backoff: float = 8.0
    multiplier: float = 2.0
    grpc_max_attempts: int = 4

    def backoff(self, attempt: int) -> float:
        """Upper bound of the sleep before retry number ``attempt`` (0-based)."""
        return min(self.initial_backoff * self.multiplier**attempt, self.max_backoff)


@dataclass(frozen=True)
class ClientOptions:
    """Everything a Client needs; frozen and hashable, so Spark tasks can share one per process.

    target: a gRPC target: "host:port", "dns:///name:port" (every address of the name, spread by
    round_robin: a headless Kubernetes service), "ipv4:a:p,b:p", "unix:path".
    timeout: deadline in seconds of each unary call (None: no deadline).
    stream_timeout: deadline of each stream (None: none).
    max_items_per_call / max_request_bytes: how Predict calls and stream messages are chunked.
    concurrency: unary calls in flight at once for Client.annotate.
    wait_for_ready: calls wait (within their deadline) for a server instead of failing fast.
    segmenter: word segmentation before sending (eaos_client.segment): "auto" (the default) asks
    the server once (GetModelInfo) which segmenter its model was trained with and uses it, if any;
    "none" never segments; "pyvi" or "underthesea" segment with that package whatever the model
    declares. Spans always come back in offsets of the caller's own text.
    """

    target: str = "127.0.0.1:50051"
    tls: TlsOptions | None = None
    timeout: float | None = 60.0
    stream_timeout: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_items_per_call: int = 256
    max_request_bytes: int = 4 << 20
    max_message_bytes: int = 64 << 20
    concurrency: int = 4
    wait_for_ready: bool = False
    load_balancing: str = "round_robin"
    reconnect_backoff: tuple[float, float] = (0.2, 5.0)
    segmenter: str = "auto"

    def __post_init__(self) -> None:
        if self.segmenter not in SEGMENTER_SETTINGS:
            raise ValueError(
                f"segmenter must be one of {', '.join(SEGMENTER_SETTINGS)}, not {self.segmenter!r}"
            )
        if self.max_items_per_call < 1 or self.concurrency < 1:
            raise ValueError("max_items_per_call and concurrency must be >= 1")
        if self.max_request_bytes < 1024:
            raise ValueError("max_request_bytes must be >= 1024")


def service_config(options: ClientOptions) -> str:
    """The JSON service config: load balancing policy and gRPC's retry policy."""
    retry = options.retry
    method = {
        "name": [{"service": SERVICE_NAME}],
        "retryPolicy": {
            "maxAttempts": max(2, min(retry.grpc_max_attempts, 5)),
            "initialBackoff": f"{retry.initial_backoff:.3f}s",
            "maxBackoff": f"{retry.max_backoff:.3f}s",
            "backoffMultiplier": retry.multiplier,
            "retryableStatusCodes": sorted(code.name for code in RETRYABLE_CODES),
        },
    }
    config = {"loadBalancingConfig": [{options.load_balancing: {}}], "methodConfig": [method]}
    return json.dumps(config)


def channel_options(options: ClientOptions) -> list[tuple[str, object]]:
    """grpc channel arguments for these options."""
    initial, maximum = options.reconnect_backoff
    result: list[tuple[str, object]] = [
        ("grpc.service_config", service_config(options)),
        ("grpc.enable_retries", 1),
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", int(initial * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(initial * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(maximum * 1000)),
    ]
    if options.tls is not None and options.tls.server_name_override:
        result.append(("grpc.ssl_target_name_override", options.tls.server_name_override))
    return result
