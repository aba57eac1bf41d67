"""A plain Python dynamic-batching server on eaos.v1: the peer eaos-server is measured against.

    build/peerenv/bin/python bench/peers/grpc_aio_server.py --model_dir models/demo \
        --listen 127.0.0.1:0 --metrics_listen 127.0.0.1:0 [--threads N] \
        [--max_batch_size 64] [--max_wait_ms 5]

What a competent Python service does, and nothing the C++ server does beyond that:

* grpc.aio (one asyncio event loop) serving Predict, PredictStream and GetModelInfo of
  proto/eaos/v1/eaos.proto, with the generated stubs of the eaos-client package;
* each item is validated and tokenized when it arrives (on the event loop, the project's Python
  reference tokenizer: models/eaos_tools, NFC as the server does) and put on one asyncio.Queue;
* one batching task takes the oldest item, waits at most --max_wait_ms for more, up to
  --max_batch_size items, pads them to the longest in the batch and runs the TorchScript forward
  under torch.inference_mode in a one-thread executor (the forward releases the GIL, so the loop
  keeps reading requests and tokenizing the next batch meanwhile), then decodes every row with the
  project's Python decoder (eaos_tools.decode, the contract's decoding) in the same executor;
* torch.set_num_threads(--threads): default usable CPUs - 1 (at least 1), leaving one CPU to the
  event loop, gRPC's threads and the Python work of tokenizing and decoding; the benchmark driver
  passes the intra-op thread count eaos-server chose for the same model, so both get the same
  budget; set_num_interop_threads(1);
* a minimal Prometheus /metrics (batch items, real/padded tokens, batch and forward seconds) under
  the series names eaos-bench reads, so its mean batch / padding / batch ms / fwd ms columns are
  filled for this row too.

Not there, on purpose (a plain server): no token budget, no length-aware batch picking, no
deadline handling, no load shedding beyond gRPC's own, no health service, no golden self-test.
Prints "listening on HOST:PORT metrics on HOST:PORT" and then "SERVING" on stderr when ready,
the form bench/servers.sh and the tests look for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))

from eaos_tools.reference import ReferenceModel  # noqa: E402
from eaos_tools.tokenization import Encoding, pad_batch  # noqa: E402

from eaos_client._stubs import eaos_pb2, eaos_pb2_grpc  # noqa: E402

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
INTERNAL = grpc.StatusCode.INTERNAL.value[0]
MAX_TEXT_BYTES = 16384  # eaos-server's --max_text_bytes default
MAX_ITEMS_PER_REQUEST = 1000  # eaos-server's --max_items_per_request default
# Python's str.isspace covers more than the server's whitespace set; an all-space text is
# rejected by both, and the cases between (e.g. U+0085 alone) are not what this peer is for.


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class Pending:
    """One validated, tokenized item waiting for its batch."""

    item_id: str
    encoding: Encoding
    threshold: float
    done: asyncio.Future = field(repr=False)


class Metrics:
    """The counters eaos-bench scrapes (bench/eaos_bench.cc, ReadCounters), as plain sums."""

    def __init__(self) -> None:
        self.batches = 0
        self.batch_items = 0
        self.real_tokens = 0
        self.padded_tokens = 0
        self.batch_seconds = 0.0
        self.forward_seconds = 0.0

    def text(self) -> str:
        lines = [
            "# TYPE eaos_batch_items histogram",
            f"eaos_batch_items_sum {self.batch_items}",
            f"eaos_batch_items_count {self.batches}",
            "# TYPE eaos_tokens_total counter",
            f'eaos_tokens_total{{kind="real"}} {self.real_tokens}',
            f'eaos_tokens_total{{kind="padded"}} {self.padded_tokens}',
            "# TYPE eaos_batch_duration_seconds histogram",
            f"eaos_batch_duration_seconds_sum {self.batch_seconds:.6f}",
            f"eaos_batch_duration_seconds_count {self.batches}",
            "# TYPE eaos_forward_duration_seconds histogram",
            f"eaos_forward_duration_seconds_sum {self.forward_seconds:.6f}",
            f"eaos_forward_duration_seconds_count {self.batches}",
        ]
        return "\n".join(lines) + "\n"


class Batcher:
    """The asyncio queue and the one task that turns it into batches."""

    def __init__(self, model: ReferenceModel, max_batch_size: int, max_wait_s: float,
                 metrics: Metrics) -> None:
        self.model = model
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_s)
        self.metrics = metrics
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="peer-forward")
        self.version = str(model.meta.get("version", ""))

    def submit(self, item_id: str, encoding: Encoding, threshold: float) -> asyncio.Future:
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Pending(item_id, encoding, threshold, done))
        return done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:
                    break
            try:
                results = await loop.run_in_executor(self.executor, self._process, batch)
            except Exception as exc:  # noqa: BLE001 - every item gets an answer
                results = [eaos_pb2.ItemResult(id=p.item_id, error=eaos_pb2.Error(
                    code=INTERNAL, message=f"forward failed: {exc}")) for p in batch]
            for pending, result in zip(batch, results):
                if not pending.done.done():
                    pending.done.set_result(result)

    def _process(self, batch: list[Pending]) -> list[Any]:
        """Pad to the longest, forward, decode: runs in the executor thread."""
        started = time.perf_counter()
        encodings = [p.encoding for p in batch]
        ids, mask = pad_batch(encodings, self.model.tokenizer.pad_id)
        forward_started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.module(torch.tensor(ids, dtype=torch.long),
                                    torch.tensor(mask, dtype=torch.long))
            logits = {k: v.to(torch.float32).numpy() for k, v in out.items()}
        forward_s = time.perf_counter() - forward_started
        results = []
        for row, pending in enumerate(batch):
            tuples = self.model.decode_row(pending.encoding, logits, row, pending.threshold)
            results.append(self._result(pending, tuples))
        m = self.metrics
        m.batches += 1
        m.batch_items += len(batch)
        m.real_tokens += sum(len(e.input_ids) for e in encodings)
        m.padded_tokens += len(ids) * len(ids[0])
        m.forward_seconds += forward_s
        m.batch_seconds += time.perf_counter() - started
        return results

    def _result(self, pending: Pending, tuples: list[dict]) -> Any:
        result = eaos_pb2.ItemResult(id=pending.item_id, truncated=pending.encoding.truncated,
                                     num_tokens=len(pending.encoding.input_ids),
                                     model_version=self.version)
        for t in tuples:
            out = result.tuples.add(entity=t["entity"], aspect=t["aspect"], opinion=t["opinion"],
                                    sentiment=t["sentiment"], confidence=t["confidence"])
            if t["entity"]:
                out.entity_span.CopyFrom(_span(t["entity_span"], t["entity_byte_span"]))
            out.opinion_span.CopyFrom(_span(t["opinion_span"], t["opinion_byte_span"]))
        return result


def _span(cps: list[int], byte_span: list[int]) -> Any:
    return eaos_pb2.Span(begin=cps[0], end=cps[1], byte_begin=byte_span[0], byte_end=byte_span[1])


def _item_error(item_id: str, message: str) -> Any:
    return eaos_pb2.ItemResult(id=item_id, error=eaos_pb2.Error(code=INVALID_ARGUMENT,
                                                                 message=message))


class Service(eaos_pb2_grpc.EaosServiceServicer):
    def __init__(self, model: ReferenceModel, batcher: Batcher, threads: int) -> None:
        self.model = model
        self.batcher = batcher
        self.threads = threads
        self.info = self._model_info()

    def _threshold(self, options: Any) -> float | None:
        if not options.HasField("confidence_threshold"):
            return 0.5
        value = options.confidence_threshold
        return value if 0.0 <= value <= 1.0 else None

    def _admit(self, item: Any, threshold: float) -> asyncio.Future | Any:
        """A future of the item's result, or its error result right away."""
        if len(item.text) > MAX_TEXT_BYTES:
            return _item_error(item.id, f"text of {len(item.text)} bytes is over {MAX_TEXT_BYTES}")
        try:
            text = item.text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _item_error(item.id, f"text is not valid UTF-8: {exc}")
        if not text.strip():
            return _item_error(item.id, "text is empty or whitespace only")
        return self.batcher.submit(item.id, self.model.encode(text), threshold)

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if len(request.items) > MAX_ITEMS_PER_REQUEST:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"{len(request.items)} items, at most {MAX_ITEMS_PER_REQUEST}")
        threshold = self._threshold(request.options)
        if threshold is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "confidence_threshold outside [0, 1]")
        answers = [self._admit(item, threshold) for item in request.items]
        results = [await a if isinstance(a, asyncio.Future) else a for a in answers]
        return eaos_pb2.PredictResponse(results=results)

    async def PredictStream(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        ready: asyncio.Queue[Any] = asyncio.Queue()
        state = {"outstanding": 0, "reading": True}

        def answered(future: asyncio.Future) -> None:
            ready.put_nowait(future.result())

        async def read() -> None:
            try:
                async for message in request_iterator:
                    threshold = self._threshold(message.options)
                    for item in message.items:
                        state["outstanding"] += 1
                        if threshold is None or len(message.items) > MAX_ITEMS_PER_REQUEST:
                            ready.put_nowait(_item_error(item.id, "bad options or too many items"))
                            continue
                        answer = self._admit(item, threshold)
                        if isinstance(answer, asyncio.Future):
                            answer.add_done_callback(answered)
                        else:
                            ready.put_nowait(answer)
            finally:
                state["reading"] = False
                ready.put_nowait(None)  # wakes the writer to look at the state

        reader = asyncio.ensure_future(read())
        try:
            while state["reading"] or state["outstanding"] > 0:
                first = await ready.get()
                results = [] if first is None else [first]
                while not ready.empty():  # pack what is ready together
                    more = ready.get_nowait()
                    if more is not None:
                        results.append(more)
                if results:
                    state["outstanding"] -= len(results)
                    yield eaos_pb2.PredictStreamResponse(results=results)
        finally:
            reader.cancel()

    async def GetModelInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return self.info

    def _model_info(self) -> Any:
        meta = self.model.meta
        arch = meta.get("architecture") or {}
        labels = self.model.labels
        parameters = sum(p.numel() for p in self.model.module.parameters())
        return eaos_pb2.ModelInfo(
            name=str(meta.get("name", "")),
            version=str(meta.get("version", "")),
            max_length=int(meta["max_length"]),
            aspects=labels[self.model.aspect_out],
            sentiments=labels[self.model.sentiment_out],
            span_labels=labels[self.model.span_out],
            limits=eaos_pb2.BatchingLimits(
                max_batch_size=self.batcher.max_batch_size,
                max_queue_delay_us=int(self.batcher.max_wait_s * 1e6),
                max_items_per_request=MAX_ITEMS_PER_REQUEST,
                max_text_bytes=MAX_TEXT_BYTES,
            ),
            device="cpu",
            intra_op_threads=self.threads,
            sizes=eaos_pb2.ModelSizes(
                vocab_size=int(arch.get("vocab_size", 0)),
                hidden=int(arch.get("hidden", arch.get("hidden_size", 0))),
                layers=int(arch.get("layers", arch.get("num_layers", 0))),
                heads=int(arch.get("heads", arch.get("num_heads", 0))),
                ffn=int(arch.get("ffn", arch.get("ffn_size", 0))),
                parameters=parameters,
            ),
            self_test=eaos_pb2.SelfTest(passed=False, detail="the Python peer runs no self-test"),
        )


async def serve_metrics(metrics: Metrics, address: str) -> tuple[asyncio.AbstractServer, int]:
    host, port = address.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path == b"/metrics":
                body, status = metrics.text().encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: text/plain; version=0.0.4"
                         b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, int(port))
    return server, server.sockets[0].getsockname()[1]


async def main_async(args: argparse.Namespace) -> None:
    threads = args.threads if args.threads > 0 else max(1, usable_cpus() - 1)
    torch.set_num_threads(threads)
    model = ReferenceModel(args.model_dir)
    metrics = Metrics()
    batcher = Batcher(model, args.max_batch_size, args.max_wait_ms / 1000.0, metrics)
    # warm-up: the first TorchScript calls optimize the graph
    with torch.inference_mode():
        for length in (8, 32):
            ids = [[model.tokenizer.pad_id] * length] * 2
            model.module(torch.tensor(ids), torch.ones(2, length, dtype=torch.long))
    server = grpc.aio.server(options=[
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", 32 << 20),
        ("grpc.max_send_message_length", 32 << 20),
    ])
    eaos_pb2_grpc.add_EaosServiceServicer_to_server(Service(model, batcher, threads), server)
    port = server.add_insecure_port(args.listen)
    if port == 0:
        raise SystemExit(f"cannot listen on {args.listen}")
    metrics_port = 0
    if args.metrics_listen:
        _, metrics_port = await serve_metrics(metrics, args.metrics_listen)
    await server.start()
    worker = asyncio.ensure_future(batcher.run())
    host = args.listen.rsplit(":", 1)[0]
    metrics_host = args.metrics_listen.rsplit(":", 1)[0] if args.metrics_listen else host
    print(f"grpc_aio_server: {model.meta.get('name')} {model.meta.get('version')}, "
          f"{threads} intra-op thread(s), max batch {batcher.max_batch_size}, "
          f"max wait {args.max_wait_ms} ms; listening on {host}:{port} "
          f"metrics on {metrics_host}:{metrics_port}", file=sys.stderr, flush=True)
    print("SERVING", file=sys.stderr, flush=True)
    try:
        await server.wait_for_termination()
    finally:
        worker.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=str(REPO / "models" / "demo"))
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--metrics_listen", default="127.0.0.1:0", help="empty: no /metrics")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads; 0 = usable CPUs - 1, at least 1")
    parser.add_argument("--max_batch_size", type=int, default=64)
    parser.add_argument("--max_wait_ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    torch.set_num_interop_threads(1)
    import signal

    loop = asyncio.new_event_loop()
    task = loop.create_task(main_async(args))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    finally:
        loop.close()


if __name__ == "__main__":
    main()
