"""PredictStream with exactly-once accounting and retries, over one or more concurrent streams.

Each stream sends items under per-stream sequence numbers and keeps the unanswered ones in an
in-flight table (at most ``window``). A result for an unknown or already answered number fails
the run (INTERNAL). When a stream fails with a retryable code, or the server answers an item
with one (queue full, draining), the unanswered items are put back and sent again on a new stream
after a backoff; the retry counter restarts whenever a stream made progress, so a long job
survives any number of server restarts as long as each one is short.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from eaos_client._stubs import eaos_pb2
from eaos_client.errors import EaosError
from eaos_client.results import local_error

if TYPE_CHECKING:
    from eaos_client.client import Client

RETRYABLE_ITEM_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE.value[0], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]}
)
_POLL = 0.25  # seconds: how often blocked threads look at the stop flags


@dataclass
class StreamResult:
    """One answered item: its position in the input, the object passed in, and its result."""

    index: int
    item: Any
    result: eaos_pb2.ItemResult


@dataclass
class _Entry:
    index: int
    obj: Any
    item: eaos_pb2.Item  # as sent (its text segmented when there is a segmenter)
    prepared: Any = None  # eaos_client.segment.Segmented: maps the spans back; None: sent raw


def settle(entry: Any, result: eaos_pb2.ItemResult, retry_later: Any) -> StreamResult | None:
    """What an answer for `entry` (the in-flight entry its id named, None if none) means, for the
    threaded and the asyncio streams alike: a StreamResult to emit, or None when the item goes to
    `retry_later` (a retryable per-item code). An unknown or twice-answered id is a server bug."""
    if entry is None:
        raise EaosError(
            grpc.StatusCode.INTERNAL,
            f"server answered unknown or already answered item {result.id!r}",
        )
    if result.HasField("error") and result.error.code in RETRYABLE_ITEM_CODES:
        retry_later.append(entry)
        return None
    result.id = entry.item.id
    if entry.prepared is not None:
        entry.prepared.restore(result)
    return StreamResult(entry.index, entry.obj, result)


class _Source:
    """The caller's items, shared by all streams: taken under a lock and numbered in order."""

    def __init__(self, items: Iterable[Any], segmenter: Any = None) -> None:
        self._iter = iter(items)
        self._segmenter = segmenter
        self._lock = threading.Lock()
        self._next = 0
        self.exhausted = False

    def take(self, count: int) -> list[tuple[_Entry, str | None]]:
        from eaos_client.client import segment_item, to_item

        out: list[tuple[_Entry, str | None]] = []
        with self._lock:
            while len(out) < count and not self.exhausted:
                try:
                    obj = next(self._iter)
                except StopIteration:
                    self.exhausted = True
                    break
                item, problem = to_item(obj)
                prepared = None
                if problem is None and self._segmenter is not None:
                    item, prepared = segment_item(item, self._segmenter)
                out.append((_Entry(self._next, obj, item, prepared), problem))
                self._next += 1
        return out


class _Stream:
    """One PredictStream call; collects what must be sent again if it fails."""

    def __init__(self, worker: "_Worker", backlog: list[_Entry]) -> None:
        self.worker = worker
        self.backlog: deque[_Entry] = deque(backlog)
        self.in_flight: dict[str, _Entry] = {}
        self.retry_later: list[_Entry] = []
        self.cond = threading.Condition()
        self.done = False
        self.progressed = False
        self.source_error: BaseException | None = None
        self._seq = 0

    def _next_batch(self, room: int) -> list[_Entry]:
        batch: list[_Entry] = []
        while self.backlog and len(batch) < room:
            batch.append(self.backlog.popleft())
        if len(batch) < room:
            for entry, problem in self.worker.source.take(room - len(batch)):
                if problem is None:
                    batch.append(entry)
                else:  # answered locally, never sent
                    self.worker.emit(
                        StreamResult(entry.index, entry.obj, local_error(entry.item.id, problem))
                    )
        return batch

    def _messages(self, batch: list[_Entry]) -> Iterator[eaos_pb2.PredictStreamRequest]:
        # Every entry is in flight before the first message leaves: if the call dies between two
        # messages of one batch, none of the batch is lost.
        wired: list[tuple[str, _Entry]] = []
        with self.cond:
            for entry in batch:
                wire = str(self._seq)
                self._seq += 1
                self.in_flight[wire] = entry
                wired.append((wire, entry))
        limit = self.worker.client.options.max_request_bytes
        message = eaos_pb2.PredictStreamRequest(options=self.worker.options)
        size = 0
        for wire, entry in wired:
            item_size = entry.item.ByteSize() + 8
            if message.items and size + item_size > limit:
                yield message
                message, size = eaos_pb2.PredictStreamRequest(options=self.worker.options), 0
            message.items.add(id=wire, text=entry.item.text)
            size += item_size
        if message.items:
            yield message

    def requests(self) -> Iterator[eaos_pb2.PredictStreamRequest]:
        """The request iterator (runs on a gRPC thread): waits for room in the window."""
        window, per_message = self.worker.window, self.worker.items_per_message
        try:
            while True:
                with self.cond:
                    while not self.done and len(self.in_flight) >= window:
                        self.cond.wait(_POLL)
                    if self.done or self.worker.stop.is_set():
                        return
                    room = min(per_message, window - len(self.in_flight))
                batch = self._next_batch(room)
                if not batch:
                    return  # half-close: every item was sent
                yield from self._messages(batch)
        except Exception as error:  # a bad input item: stop sending, report after the stream
            self.source_error = error

    def _accept(self, result: eaos_pb2.ItemResult) -> None:
        with self.cond:
            entry = self.in_flight.pop(result.id, None)
            self.cond.notify_all()
        answered = settle(entry, result, self.retry_later)
        if answered is not None:
            self.progressed = True
            self.worker.emit(answered)

    def run(self) -> grpc.RpcError | None:
        """Runs the call to its end; returns its retryable-or-not error, None when it ended OK."""
        client = self.worker.client
        call = client.stub.PredictStream(
            self.requests(),
            timeout=client.options.stream_timeout,
            wait_for_ready=client.options.wait_for_ready,
        )
        try:
            for response in call:
                for result in response.results:
                    self._accept(result)
                if self.worker.stop.is_set():
                    call.cancel()
                    return None
            return None
        except grpc.RpcError as error:
            return error
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()
            call.cancel()

    def leftovers(self) -> list[_Entry]:
        with self.cond:
            unanswered = list(self.in_flight.values())
        return sorted(self.retry_later + unanswered + list(self.backlog), key=lambda e: e.index)


class _Worker:
    """One thread: runs streams one after another until the source is drained."""

    def __init__(
        self,
        client: "Client",
        source: _Source,
        options: eaos_pb2.PredictOptions,
        window: int,
        items_per_message: int,
        out: "queue.Queue[Any]",
        stop: threading.Event,
    ) -> None:
        self.client, self.source, self.options = client, source, options
        self.window, self.items_per_message = window, items_per_message
        self.out, self.stop = out, stop

    def emit(self, result: StreamResult) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(result, timeout=_POLL)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            self._run()
            self.emit(_WORKER_DONE)
        except BaseException as error:  # reported to the consumer, which stops the others
            self.emit(_WorkerFailed(error))

    def _run(self) -> None:
        backlog: list[_Entry] = []
        failures = 0
        attempts = self.client.options.retry.max_attempts
        while not self.stop.is_set():
            stream = _Stream(self, backlog)
            error = stream.run()
            if stream.source_error is not None:
                raise stream.source_error
            backlog = stream.leftovers()
            if self.stop.is_set():
                return
            if error is None and not stream.retry_later and stream.in_flight:
                raise EaosError(
                    grpc.StatusCode.DATA_LOSS,
                    f"stream ended OK with {len(stream.in_flight)} items unanswered",
                )
            if error is None and not backlog:
                if self.source.exhausted:
                    return
                continue
            failures = count_failed_attempt(
                failures, stream.progressed, error, attempts, len(backlog)
            )
            code = error.code() if error is not None and hasattr(error, "code") else None
            self.client.sleep_backoff(failures - 1, self.stop, code)


def count_failed_attempt(
    failures: int,
    progressed: bool,
    error: grpc.RpcError | None,
    attempts: int,
    refused: int,
) -> int:
    """After a stream attempt that left work undone (an error, or `refused` items to resend):
    the attempts in a row without progress, this one included (progress restarts the count).
    Raises EaosError when the call must give up: the error is not retryable, or `attempts` is
    reached. Shared by the sync and asyncio streams."""
    failures = 1 if progressed else failures + 1
    if error is not None and not _retryable(error):
        raise EaosError.from_rpc_error(error, failures)
    if failures >= attempts:
        if error is not None:
            raise EaosError.from_rpc_error(error, failures)
        raise EaosError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"{refused} items still refused", failures
        )
    return failures


def _retryable(error: grpc.RpcError) -> bool:
    from eaos_client.client import is_retryable

    return is_retryable(error)


class _WorkerFailed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_WORKER_DONE = object()


def run_streams(
    client: "Client",
    items: Iterable[Any],
    options: eaos_pb2.PredictOptions,
    streams: int,
    window: int,
    items_per_message: int,
    segmenter: Any = None,
) -> Iterator[StreamResult]:
    """Starts ``streams`` workers over one source and yields their results as they come.

    ``segmenter`` (eaos_client.segment.Segmenter, or None): texts are sent segmented and each
    result's spans mapped back to the caller's text."""
    source = _Source(items, segmenter)
    out: queue.Queue[Any] = queue.Queue(maxsize=max(1024, 2 * window * streams))
    stop = threading.Event()
    workers = [
        _Worker(client, source, options, window, items_per_message, out, stop)
        for _ in range(streams)
    ]
    threads = [
        threading.Thread(target=w.run, name=f"eaos-stream-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]

    def generate() -> Iterator[StreamResult]:
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                message = out.get()
                if message is _WORKER_DONE:
                    running -= 1
                elif isinstance(message, _WorkerFailed):
                    raise message.error
                else:
                    yield message
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)

    return generate()
