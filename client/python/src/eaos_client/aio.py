"""asyncio client of eaos-serve (grpc.aio), for an async backend such as a FastAPI service.

    from eaos_client.aio import AsyncClient
    async with AsyncClient(target="127.0.0.1:50051") as client:
        results = await client.annotate(["Giao hàng nhanh!"])
        async for answered in client.predict_stream(rows):
            ...

The same ClientOptions, RetryPolicy and retry rules as the sync Client (retries with backoff on
UNAVAILABLE / RESOURCE_EXHAUSTED, ``on_retry`` lines), and the same exactly-once PredictStream
accounting: items travel under per-stream sequence numbers, the unanswered ones (and those the
server answered with a retryable code) are sent again on a new stream after a backoff, and a
result for an unknown or already answered number fails the run (INTERNAL). Items with a null or
non-string text get a local INVALID_ARGUMENT result without being sent. Create the client inside
the event loop that uses it (grpc.aio channels belong to one loop). Word segmentation
(``ClientOptions.segmenter``) is the sync client's; the segmenter runs in a worker thread
(``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio

from eaos_client._stubs import eaos_pb2, eaos_pb2_grpc
from eaos_client.client import (
    HEALTH_STATUSES,
    ItemLike,
    _decode_health_response,
    _encode_health_request,
    backoff_delay,
    id_text_pairs,
    is_retryable,
    predict_options,
    retry_message,
    segment_item,
    split_chunks,
    to_item,
)
from eaos_client.errors import EaosError
from eaos_client.options import ClientOptions, channel_options
from eaos_client.results import local_error
from eaos_client.segment import Segmented, Segmenter, resolve
from eaos_client.streaming import StreamResult, count_failed_attempt, settle

T = TypeVar("T")


class AsyncClient:
    """One grpc.aio channel; safe to share between the tasks of its event loop."""

    def __init__(self, options: ClientOptions | None = None, **overrides: Any) -> None:
        base = options or ClientOptions()
        if overrides:
            base = ClientOptions(**{**base.__dict__, **overrides})
        self.options = base
        self._channel: grpc.aio.Channel | None = None
        self._stub: eaos_pb2_grpc.EaosServiceStub | None = None
        # Called before each client-level retry with a line such as
        # "server unavailable, retrying in 2 s (attempt 3/10)"; None: retries are silent.
        self.on_retry: Callable[[str], None] | None = None
        self._segmenter_lock = asyncio.Lock()
        self._segmenter: Segmenter | None = None
        self._segmenter_known = False

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            args = channel_options(self.options)
            if self.options.tls is not None:
                self._channel = grpc.aio.secure_channel(
                    self.options.target, self.options.tls.credentials(), options=args
                )
            else:
                self._channel = grpc.aio.insecure_channel(self.options.target, options=args)
            self._stub = eaos_pb2_grpc.EaosServiceStub(self._channel)
        return self._channel

    @property
    def stub(self) -> eaos_pb2_grpc.EaosServiceStub:
        self.channel  # noqa: B018 - creates the stub with the channel
        assert self._stub is not None
        return self._stub

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- retries -----------------------------------------------------------------------------

    async def sleep_backoff(self, attempt: int, code: grpc.StatusCode | None = None) -> None:
        """Sleeps before retry ``attempt`` (0-based), as Client.sleep_backoff."""
        delay = backoff_delay(self.options.retry, attempt)
        if self.on_retry is not None:
            self.on_retry(retry_message(code, delay, attempt + 2, self.options.retry.max_attempts))
        await asyncio.sleep(delay)

    async def with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        """Awaits ``call()`` again with backoff while it fails UNAVAILABLE / RESOURCE_EXHAUSTED."""
        attempts = self.options.retry.max_attempts
        for attempt in range(attempts):
            try:
                return await call()
            except grpc.RpcError as error:
                if not is_retryable(error) or attempt + 1 >= attempts:
                    raise EaosError.from_rpc_error(error, attempt + 1) from None
                code = error.code()
            await self.sleep_backoff(attempt, code)
        raise AssertionError("unreachable")

    # -- small calls -------------------------------------------------------------------------

    async def get_model_info(self, timeout: float | None = None) -> eaos_pb2.ModelInfo:
        deadline = timeout if timeout is not None else self.options.timeout
        return await self.with_retries(
            lambda: self.stub.GetModelInfo(eaos_pb2.GetModelInfoRequest(), timeout=deadline)
        )

    async def segmenter(self) -> Segmenter | None:
        """The word segmenter texts are sent through (see Client.segmenter); asked once."""
        if self._segmenter_known:
            return self._segmenter
        async with self._segmenter_lock:
            if not self._segmenter_known:
                setting = self.options.segmenter
                info = None
                if setting == "auto":
                    try:
                        info = await self.get_model_info()
                    except EaosError as error:
                        if error.code != grpc.StatusCode.UNIMPLEMENTED:
                            raise
                self._segmenter = await asyncio.to_thread(resolve, setting, info)
                self._segmenter_known = True
            return self._segmenter

    async def health(self, service: str = "", timeout: float = 5.0) -> str:
        """grpc.health.v1 status of ``service`` ("" = the server): SERVING, NOT_SERVING, ..."""
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_encode_health_request,
            response_deserializer=_decode_health_response,
        )
        try:
            return await check(service, timeout=timeout)
        except grpc.RpcError as error:
            raise EaosError.from_rpc_error(error, 1) from None

    # -- unary -------------------------------------------------------------------------------

    async def _predict_chunk(
        self, chunk: Sequence[tuple[int, eaos_pb2.Item]], options: eaos_pb2.PredictOptions
    ) -> list[eaos_pb2.ItemResult]:
        request = eaos_pb2.PredictRequest(items=[item for _, item in chunk], options=options)
        response = await self.with_retries(
            lambda: self.stub.Predict(
                request, timeout=self.options.timeout, wait_for_ready=self.options.wait_for_ready
            )
        )
        if len(response.results) != len(chunk):
            raise EaosError(
                grpc.StatusCode.INTERNAL, f"{len(response.results)} results for {len(chunk)} items"
            )
        return list(response.results)

    async def predict(
        self,
        items: Iterable[ItemLike],
        threshold: float | None = None,
        concurrency: int | None = None,
    ) -> list[eaos_pb2.ItemResult]:
        """One result per item, in input order; calls chunked and run ``concurrency`` at once."""
        results: list[eaos_pb2.ItemResult | None] = []
        sendable: list[tuple[int, eaos_pb2.Item]] = []
        for index, obj in enumerate(items):
            item, problem = to_item(obj)
            results.append(None if problem is None else local_error(item.id, problem))
            if problem is None:
                sendable.append((index, item))
        segmented: dict[int, Segmented] = {}
        segmenter = await self.segmenter() if sendable else None
        if segmenter is not None:
            prepared = await asyncio.to_thread(
                lambda: [segment_item(item, segmenter) for _, item in sendable]
            )
            for position, ((index, _), (item, restore)) in enumerate(zip(sendable, prepared)):
                sendable[position] = (index, item)
                if restore is not None:
                    segmented[index] = restore
        options = predict_options(threshold)
        limiter = asyncio.Semaphore(concurrency or self.options.concurrency)

        async def run(chunk: list[tuple[int, eaos_pb2.Item]]) -> None:
            async with limiter:
                answers = await self._predict_chunk(chunk, options)
            for (index, _), answer in zip(chunk, answers):
                restore = segmented.get(index)
                results[index] = answer if restore is None else restore.restore(answer)

        tasks = [asyncio.ensure_future(run(c)) for c in split_chunks(sendable, self.options)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        return results  # type: ignore[return-value]

    async def annotate(
        self,
        texts: Sequence[str | bytes | None],
        ids: Sequence[str] | None = None,
        threshold: float | None = None,
        concurrency: int | None = None,
    ) -> list[eaos_pb2.ItemResult]:
        """Annotates texts (ids default to "0", "1", ...); one result per text, in order."""
        return await self.predict(
            id_text_pairs(texts, ids), threshold=threshold, concurrency=concurrency
        )

    # -- streaming ---------------------------------------------------------------------------

    def predict_stream(
        self,
        items: Iterable[ItemLike] | AsyncIterable[ItemLike],
        threshold: float | None = None,
        max_in_flight: int = 512,
        items_per_message: int = 64,
    ) -> AsyncIterator[StreamResult]:
        """One StreamResult(index, item, result) per input item, in completion order, exactly once.

        ``items`` may be a plain or an async iterable, consumed lazily. One PredictStream at a time
        (run several predict_stream calls as tasks for more); retries as the sync client.
        """
        if max_in_flight < 1 or items_per_message < 1:
            raise ValueError("max_in_flight and items_per_message must be >= 1")
        run = _StreamRun(self, items, predict_options(threshold), max_in_flight, items_per_message)
        return run.results()


class _Entry:
    __slots__ = ("index", "obj", "item", "prepared")

    def __init__(
        self, index: int, obj: Any, item: eaos_pb2.Item, prepared: Segmented | None = None
    ) -> None:
        self.index, self.obj, self.item, self.prepared = index, obj, item, prepared


class _StreamRun:
    """The items of one predict_stream call, over as many PredictStream calls as retries need."""

    def __init__(
        self,
        client: AsyncClient,
        items: Iterable[Any] | AsyncIterable[Any],
        options: eaos_pb2.PredictOptions,
        window: int,
        per_message: int,
    ) -> None:
        self.client, self.options = client, options
        self.window, self.per_message = window, per_message
        self.source = _as_async_iterator(items)
        self.exhausted = False
        self.next_index = 0
        self.backlog: deque[_Entry] = deque()
        self.ready: asyncio.Queue[StreamResult] = asyncio.Queue()  # answered, not yet yielded
        self.segmenter: Segmenter | None = None  # resolved when results() starts

    async def _take(self) -> _Entry | None:
        """The next sendable input item (null / non-string texts answered locally), or None."""
        while not self.exhausted:
            try:
                obj = await self.source.__anext__()
            except StopAsyncIteration:
                self.exhausted = True
                return None
            item, problem = to_item(obj)
            entry = _Entry(self.next_index, obj, item)
            self.next_index += 1
            if problem is None:
                if self.segmenter is not None:
                    entry.item, entry.prepared = await asyncio.to_thread(
                        segment_item, item, self.segmenter
                    )
                return entry
            self.ready.put_nowait(StreamResult(entry.index, obj, local_error(item.id, problem)))
        return None

    async def results(self) -> AsyncIterator[StreamResult]:
        failures = 0
        attempts = self.client.options.retry.max_attempts
        self.segmenter = await self.client.segmenter()
        while True:
            stream = _OneStream(self)
            call = asyncio.ensure_future(stream.run(self.ready))
            try:
                while True:  # yield results as they come, until the call ends
                    getter = asyncio.ensure_future(self.ready.get())
                    done, _ = await asyncio.wait(
                        {getter, call}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        break
                    yield getter.result()
                    stream.changed.set()  # the consumer took one: room for the sender
                error = call.result()
            finally:
                call.cancel()
            while not self.ready.empty():
                yield self.ready.get_nowait()
            if stream.source_error is not None:
                raise stream.source_error
            if error is None and not stream.retry_later and stream.in_flight:
                raise EaosError(
                    grpc.StatusCode.DATA_LOSS,
                    f"stream ended OK with {len(stream.in_flight)} items unanswered",
                )
            leftovers = stream.retry_later + list(stream.in_flight.values()) + list(self.backlog)
            self.backlog = deque(sorted(leftovers, key=lambda e: e.index))
            if error is None and not self.backlog:
                if self.exhausted:
                    return
                continue
            failures = count_failed_attempt(
                failures, stream.progressed, error, attempts, len(self.backlog)
            )
            await self.client.sleep_backoff(failures - 1, error.code() if error else None)


_CORE_WRITE_FAILURE = "Internal error from Core"


class _OneStream:
    """One PredictStream call: its in-flight table and what it leaves to send again."""

    def __init__(self, run: _StreamRun) -> None:
        self.run_ = run
        self.in_flight: dict[str, _Entry] = {}
        self.retry_later: list[_Entry] = []
        self.progressed = False
        self.source_error: BaseException | None = None
        self.changed = asyncio.Event()
        self.done = False
        self._seq = 0

    async def _batch(self, room: int) -> list[_Entry]:
        run = self.run_
        batch: list[_Entry] = []
        while run.backlog and len(batch) < room:
            batch.append(run.backlog.popleft())
        while len(batch) < room:
            entry = await run._take()
            if entry is None:
                break
            batch.append(entry)
        return batch

    async def requests(self) -> AsyncIterator[eaos_pb2.PredictStreamRequest]:
        run = self.run_
        limit = run.client.options.max_request_bytes
        try:
            while not self.done:
                while (
                    len(self.in_flight) >= run.window or run.ready.qsize() >= run.window
                ) and not self.done:
                    self.changed.clear()
                    await self.changed.wait()
                if self.done:
                    return
                batch = await self._batch(min(run.per_message, run.window - len(self.in_flight)))
                if not batch:
                    return  # half-close: every item was sent
                # All of the batch is in flight before its first message leaves.
                wired = []
                for entry in batch:
                    wire = str(self._seq)
                    self._seq += 1
                    self.in_flight[wire] = entry
                    wired.append((wire, entry))
                message, size = eaos_pb2.PredictStreamRequest(options=run.options), 0
                for wire, entry in wired:
                    item_size = entry.item.ByteSize() + 8
                    if message.items and size + item_size > limit:
                        yield message
                        message, size = eaos_pb2.PredictStreamRequest(options=run.options), 0
                    message.items.add(id=wire, text=entry.item.text)
                    size += item_size
                yield message
        except Exception as error:  # a bad input item: stop sending, report after the stream
            self.source_error = error

    def _accept(self, result: eaos_pb2.ItemResult, ready: asyncio.Queue[StreamResult]) -> None:
        entry = self.in_flight.pop(result.id, None)
        self.changed.set()
        answered = settle(entry, result, self.retry_later)
        if answered is not None:
            self.progressed = True
            ready.put_nowait(answered)

    async def _write(self, call: Any) -> None:
        try:
            async for message in self.requests():
                await call.write(message)
            if not self.done:
                await call.done_writing()
        except (asyncio.InvalidStateError, grpc.RpcError):
            pass  # the call ended; run() reports why

    async def run(self, ready: asyncio.Queue[StreamResult]) -> grpc.RpcError | None:
        options = self.run_.client.options
        call = self.run_.client.stub.PredictStream(
            timeout=options.stream_timeout, wait_for_ready=options.wait_for_ready
        )
        writer = asyncio.ensure_future(self._write(call))
        try:
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    break
                for result in response.results:
                    self._accept(result, ready)
            code = await call.code()
            if code != grpc.StatusCode.OK:
                metadata = grpc.aio.Metadata()
                return grpc.aio.AioRpcError(code, metadata, metadata, await call.details())
            return None
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INTERNAL and error.details() == _CORE_WRITE_FAILURE:
                # grpc.aio reports a write that failed because the server ended the call (an
                # abort, a restart) as this local INTERNAL, hiding the server's status: the
                # stream broke in transit, so it is retried like UNAVAILABLE.
                metadata = grpc.aio.Metadata()
                details = f"stream broke: {error.details()}"
                code = grpc.StatusCode.UNAVAILABLE
                return grpc.aio.AioRpcError(code, metadata, metadata, details)
            return error
        finally:
            self.done = True
            self.changed.set()
            call.cancel()
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                pass


async def _as_async_iterator(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


__all__ = ["AsyncClient", "HEALTH_STATUSES", "StreamResult"]
