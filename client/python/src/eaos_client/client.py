"""Client of eaos.v1.EaosService: unary and streaming calls with deadlines, retries and chunking.

One Client holds one gRPC channel, created lazily on first use and re-created in a forked child
(PySpark forks its Python workers from a daemon): a channel never crosses a fork. The client is
thread-safe; ``shared_client(options)`` gives one per process and per options.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from eaos_client._stubs import eaos_pb2, eaos_pb2_grpc
from eaos_client.errors import EaosError
from eaos_client.options import RETRYABLE_CODES, ClientOptions, RetryPolicy, channel_options
from eaos_client.results import local_error
from eaos_client.segment import Segmented, Segmenter, resolve
from eaos_client.streaming import StreamResult, run_streams

T = TypeVar("T")
ItemLike = eaos_pb2.Item | tuple[str, "str | bytes | None"] | Mapping[str, Any]
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def encode_text(text: str | bytes) -> bytes:
    """UTF-8 bytes for Item.text; lone surrogates pass, so the server rejects that item only."""
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", errors="surrogatepass")


def to_item(obj: ItemLike) -> tuple[eaos_pb2.Item, str | None]:
    """(Item, problem) from an Item, an (id, text) pair or a mapping with "id" and "text".

    ``problem`` is None for a sendable item, else why the item cannot be sent (a null or
    non-string text); such items get a local INVALID_ARGUMENT result with that message.
    """
    if isinstance(obj, eaos_pb2.Item):
        return obj, None
    if isinstance(obj, Mapping):
        item_id, text = obj.get("id"), obj.get("text")
    else:
        item_id, text = obj
    item_id = "" if item_id is None else str(item_id)
    if text is None:
        return eaos_pb2.Item(id=item_id), "text is null"
    if not isinstance(text, (str, bytes)):
        return eaos_pb2.Item(id=item_id), f"text must be a string, not {type(text).__name__}"
    return eaos_pb2.Item(id=item_id, text=encode_text(text)), None


def segment_item(
    item: eaos_pb2.Item, segmenter: Segmenter | None
) -> tuple[eaos_pb2.Item, Segmented | None]:
    """The item to send (its text segmented, as a new Item) and how to map its spans back; the
    item itself and None when there is no segmenter or the text is not valid UTF-8."""
    if segmenter is None:
        return item, None
    try:
        text = item.text.decode("utf-8")
    except UnicodeDecodeError:
        return item, None  # the server answers it INVALID_ARGUMENT
    prepared = segmenter.prepare(text)
    if prepared.segmented is None:
        return item, None
    return eaos_pb2.Item(id=item.id, text=prepared.segmented.encode("utf-8")), prepared


def predict_options(threshold: float | None) -> eaos_pb2.PredictOptions:
    """PredictOptions with the confidence threshold (None: the server's default)."""
    if threshold is None:
        return eaos_pb2.PredictOptions()
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} outside [0, 1]")
    return eaos_pb2.PredictOptions(confidence_threshold=threshold)


def split_chunks(
    items: Sequence[tuple[int, eaos_pb2.Item]], options: ClientOptions
) -> list[list[tuple[int, eaos_pb2.Item]]]:
    """Calls of at most ``max_items_per_call`` items and about ``max_request_bytes`` each."""
    limit_items, limit_bytes = options.max_items_per_call, options.max_request_bytes
    out: list[list[tuple[int, eaos_pb2.Item]]] = []
    current: list[tuple[int, eaos_pb2.Item]] = []
    size = 0
    for entry in items:
        item_size = entry[1].ByteSize() + 8
        if current and (len(current) >= limit_items or size + item_size > limit_bytes):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += item_size
    if current:
        out.append(current)
    return out


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """The sleep before retry ``attempt`` (0-based): random in [backoff/2, backoff]."""
    bound = policy.backoff(attempt)
    return random.uniform(bound / 2, bound)


def retry_message(code: grpc.StatusCode | None, delay: float, attempt: int, attempts: int) -> str:
    """"server unavailable, retrying in 2 s (attempt 3/10)" (busy: RESOURCE_EXHAUSTED)."""
    what = "server unavailable" if code == grpc.StatusCode.UNAVAILABLE else "server busy"
    seconds = f"{delay:.1f}" if delay < 1 else f"{delay:.0f}"
    return f"{what}, retrying in {seconds} s (attempt {attempt}/{attempts})"


def id_text_pairs(
    texts: Sequence[str | bytes | None], ids: Sequence[str] | None
) -> Iterable[tuple[str, str | bytes | None]]:
    """(id, text) pairs for annotate(): ids default to "0", "1", ...; ValueError on a count
    mismatch."""
    if ids is None:
        ids = [str(i) for i in range(len(texts))]
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
    return zip(ids, texts)


def is_retryable(error: grpc.RpcError) -> bool:
    """UNAVAILABLE and RESOURCE_EXHAUSTED, except a message over the size limit."""
    code = error.code() if hasattr(error, "code") else None
    if code not in RETRYABLE_CODES:
        return False
    details = (error.details() if hasattr(error, "details") else "") or ""
    return "larger than max" not in details


def _encode_health_request(service: str) -> bytes:
    raw = service.encode("utf-8")
    if not raw:
        return b""
    return b"\x0a" + _varint(len(raw)) + raw


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _decode_health_response(data: bytes) -> str:
    # HealthCheckResponse { ServingStatus status = 1; }: one varint field, absent when UNKNOWN.
    if len(data) >= 2 and data[0] == 0x08:
        return HEALTH_STATUSES.get(data[1], str(data[1]))
    return "UNKNOWN"


_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _forget_channels_after_fork() -> None:
    for client in list(_live_clients):
        client._forget_after_fork()


os.register_at_fork(after_in_child=_forget_channels_after_fork)


class Client:
    """Thread-safe eaos-serve client. Errors after retries are raised as EaosError."""

    def __init__(self, options: ClientOptions | None = None, **overrides: Any) -> None:
        base = options or ClientOptions()
        if overrides:
            base = ClientOptions(**{**base.__dict__, **overrides})
        self.options = base
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._channel: grpc.Channel | None = None
        self._stub: eaos_pb2_grpc.EaosServiceStub | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Called (from any thread) before each client-level retry with a line such as
        # "server unavailable, retrying in 2 s (attempt 3/10)"; None: retries are silent.
        self.on_retry: Callable[[str], None] | None = None
        # The word segmenter (options.segmenter; "auto": from GetModelInfo, asked once).
        self._segmenter_lock = threading.Lock()
        self._segmenter: Segmenter | None = None
        self._segmenter_known = False
        _live_clients.add(self)

    # -- channel lifecycle -------------------------------------------------------------------

    def _forget_after_fork(self) -> None:
        # The parent's channel and threads are unusable here; drop them without closing.
        self._lock = threading.Lock()
        self._segmenter_lock = threading.Lock()
        self._channel, self._stub, self._executor = None, None, None
        self._pid = os.getpid()

    def _ensure_channel(self) -> eaos_pb2_grpc.EaosServiceStub:
        if self._pid != os.getpid():
            self._forget_after_fork()
        with self._lock:
            if self._stub is None:
                self._channel = self._make_channel()
                self._stub = eaos_pb2_grpc.EaosServiceStub(self._channel)
            return self._stub

    def _make_channel(self) -> grpc.Channel:
        options = channel_options(self.options)
        if self.options.tls is not None:
            credentials = self.options.tls.credentials()
            return grpc.secure_channel(self.options.target, credentials, options=options)
        return grpc.insecure_channel(self.options.target, options=options)

    @property
    def channel(self) -> grpc.Channel:
        """The process's channel (created on first use)."""
        self._ensure_channel()
        assert self._channel is not None
        return self._channel

    @property
    def stub(self) -> eaos_pb2_grpc.EaosServiceStub:
        return self._ensure_channel()

    def close(self) -> None:
        """Closes the channel and the worker threads; the next call opens a new channel."""
        with self._lock:
            channel, executor = self._channel, self._executor
            self._channel, self._stub, self._executor = None, None, None
        if executor is not None and self._pid == os.getpid():
            executor.shutdown(wait=False, cancel_futures=True)
        if channel is not None and self._pid == os.getpid():
            channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- retries -----------------------------------------------------------------------------

    def sleep_backoff(
        self,
        attempt: int,
        stop: threading.Event | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        """Sleeps before retry ``attempt`` (0-based): random in [backoff/2, backoff].

        ``code`` is what failed (None: items refused with RESOURCE_EXHAUSTED); it words the
        ``on_retry`` line.
        """
        delay = backoff_delay(self.options.retry, attempt)
        if self.on_retry is not None:
            self.on_retry(retry_message(code, delay, attempt + 2, self.options.retry.max_attempts))
        if stop is None:
            time.sleep(delay)
        else:
            stop.wait(delay)

    def with_retries(self, call: Callable[[], T]) -> T:
        """Runs ``call`` again with backoff while it fails UNAVAILABLE or RESOURCE_EXHAUSTED."""
        attempts = self.options.retry.max_attempts
        for attempt in range(attempts):
            try:
                return call()
            except grpc.RpcError as error:
                if not is_retryable(error) or attempt + 1 >= attempts:
                    raise EaosError.from_rpc_error(error, attempt + 1) from None
                code = error.code() if hasattr(error, "code") else None
            self.sleep_backoff(attempt, code=code)
        raise AssertionError("unreachable")

    # -- small calls -------------------------------------------------------------------------

    def get_model_info(self, timeout: float | None = None) -> eaos_pb2.ModelInfo:
        """The server's model, labels and batching limits."""
        deadline = timeout if timeout is not None else self.options.timeout
        return self.with_retries(
            lambda: self.stub.GetModelInfo(
                eaos_pb2.GetModelInfoRequest(),
                timeout=deadline,
                wait_for_ready=self.options.wait_for_ready,
            )
        )

    def segmenter(self) -> Segmenter | None:
        """The word segmenter texts are sent through (None: texts are sent as they are).

        With ``segmenter="auto"`` the first call asks GetModelInfo which segmenter the model was
        trained with; the answer is kept for the life of the client. Raises
        SegmenterUnavailable (naming the ``pip install``) when that package is not installed.
        """
        if self._segmenter_known:
            return self._segmenter
        with self._segmenter_lock:
            if not self._segmenter_known:
                setting = self.options.segmenter
                info = self._model_info_for_segmenter() if setting == "auto" else None
                self._segmenter = resolve(setting, info)
                self._segmenter_known = True
            return self._segmenter

    def _model_info_for_segmenter(self) -> eaos_pb2.ModelInfo | None:
        try:
            return self.get_model_info()
        except EaosError as error:
            if error.code == grpc.StatusCode.UNIMPLEMENTED:  # a server without GetModelInfo
                return None
            raise

    def health(self, service: str = "", timeout: float = 5.0) -> str:
        """grpc.health.v1 status of ``service``: "SERVING", "NOT_SERVING", ... (no retries)."""
        check = self.channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=_encode_health_request,
            response_deserializer=_decode_health_response,
        )
        try:
            return check(service, timeout=timeout)
        except grpc.RpcError as error:
            raise EaosError.from_rpc_error(error) from None

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Polls health until SERVING; raises EaosError(DEADLINE_EXCEEDED) after ``timeout``."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                last = self.health(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
                if last == "SERVING":
                    return
            except EaosError as error:
                last = str(error)
            time.sleep(0.1)
        raise EaosError(grpc.StatusCode.DEADLINE_EXCEEDED, f"server not SERVING: {last}")

    # -- unary -------------------------------------------------------------------------------

    def _predict_options(self, threshold: float | None) -> eaos_pb2.PredictOptions:
        return predict_options(threshold)

    def chunks(
        self, items: Sequence[tuple[int, eaos_pb2.Item]]
    ) -> list[list[tuple[int, eaos_pb2.Item]]]:
        """Splits items into calls of at most max_items_per_call items and ~max_request_bytes."""
        return split_chunks(items, self.options)

    def _predict_chunk(
        self, chunk: Sequence[tuple[int, eaos_pb2.Item]], options: eaos_pb2.PredictOptions
    ) -> list[eaos_pb2.ItemResult]:
        request = eaos_pb2.PredictRequest(items=[item for _, item in chunk], options=options)
        response = self.with_retries(
            lambda: self.stub.Predict(
                request, timeout=self.options.timeout, wait_for_ready=self.options.wait_for_ready
            )
        )
        if len(response.results) != len(chunk):
            raise EaosError(
                grpc.StatusCode.INTERNAL, f"{len(response.results)} results for {len(chunk)} items"
            )
        return list(response.results)

    def predict(
        self,
        items: Iterable[ItemLike],
        threshold: float | None = None,
        concurrency: int | None = None,
    ) -> list[eaos_pb2.ItemResult]:
        """Annotates items with Predict calls (chunked, ``concurrency`` in flight); request order.

        An item whose text is None or not a string gets an INVALID_ARGUMENT result without being
        sent.
        """
        results: list[eaos_pb2.ItemResult | None] = []
        sendable: list[tuple[int, eaos_pb2.Item]] = []
        segmented: dict[int, Segmented] = {}
        segmenter: Segmenter | None = None
        for index, obj in enumerate(items):
            item, problem = to_item(obj)
            results.append(None if problem is None else local_error(item.id, problem))
            if problem is None:
                if not sendable:
                    segmenter = self.segmenter()
                item, prepared = segment_item(item, segmenter)
                if prepared is not None:
                    segmented[index] = prepared
                sendable.append((index, item))
        chunks = self.chunks(sendable)
        options = self._predict_options(threshold)
        for chunk, answers in zip(chunks, self._run_chunks(chunks, options, concurrency)):
            for (index, _), answer in zip(chunk, answers):
                prepared = segmented.get(index)
                results[index] = answer if prepared is None else prepared.restore(answer)
        return results  # type: ignore[return-value]

    def annotate(
        self,
        texts: Sequence[str | bytes | None],
        ids: Sequence[str] | None = None,
        threshold: float | None = None,
        concurrency: int | None = None,
    ) -> list[eaos_pb2.ItemResult]:
        """Annotates texts (ids default to "0", "1", ...); one result per text, in order."""
        return self.predict(id_text_pairs(texts, ids), threshold=threshold, concurrency=concurrency)

    def _run_chunks(
        self,
        chunks: list[list[tuple[int, eaos_pb2.Item]]],
        options: eaos_pb2.PredictOptions,
        concurrency: int | None,
    ) -> list[list[eaos_pb2.ItemResult]]:
        workers = concurrency or self.options.concurrency
        if workers <= 1 or len(chunks) <= 1:
            return [self._predict_chunk(chunk, options) for chunk in chunks]
        executor = self._pool(workers)
        limiter = threading.Semaphore(workers)

        def run(chunk: list[tuple[int, eaos_pb2.Item]]) -> list[eaos_pb2.ItemResult]:
            with limiter:  # this call's concurrency, even on a larger shared pool
                return self._predict_chunk(chunk, options)

        futures: list[Future[list[eaos_pb2.ItemResult]]] = [
            executor.submit(run, chunk) for chunk in chunks
        ]
        try:
            return [future.result() for future in futures]
        finally:
            for future in futures:
                future.cancel()

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        self._ensure_channel()
        with self._lock:
            if self._executor is None or self._executor._max_workers < workers:
                old, self._executor = (
                    self._executor,
                    ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eaos-client"),
                )
                if old is not None:
                    old.shutdown(wait=False)
            return self._executor

    # -- streaming ---------------------------------------------------------------------------

    def predict_stream(
        self,
        items: Iterable[ItemLike],
        threshold: float | None = None,
        streams: int = 1,
        max_in_flight: int = 512,
        items_per_message: int = 64,
    ) -> Iterator[StreamResult]:
        """Annotates items through ``streams`` concurrent PredictStream calls.

        Yields one StreamResult(index, item, result) per input item, in completion order;
        ``result.id`` is the item's own id (ids may repeat: each item travels under a per-stream
        sequence number). A stream that fails UNAVAILABLE / RESOURCE_EXHAUSTED (or items answered
        with those codes) is retried with backoff: the unanswered items are sent again on a new
        stream, so every item is yielded exactly once. ``items`` is consumed lazily from gRPC
        threads, at most ``max_in_flight`` unanswered items per stream.
        """
        if streams < 1 or max_in_flight < 1 or items_per_message < 1:
            raise ValueError("streams, max_in_flight and items_per_message must be >= 1")
        segmenter = self.segmenter()
        return run_streams(
            self,
            items,
            self._predict_options(threshold),
            streams,
            max_in_flight,
            items_per_message,
            segmenter=segmenter,
        )


_shared_clients: dict[ClientOptions, Client] = {}
_shared_lock = threading.Lock()


def shared_client(options: ClientOptions) -> Client:
    """One Client per process and options (a Spark worker reuses it across tasks)."""
    with _shared_lock:
        client = _shared_clients.get(options)
        if client is None:
            client = _shared_clients[options] = Client(options)
        return client


def _reset_shared_lock() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_shared_lock)

__all__ = [
    "Client",
    "StreamResult",
    "encode_text",
    "is_retryable",
    "segment_item",
    "shared_client",
    "to_item",
]
