"""An in-process eaos.v1 server with scripted behaviour, for the client's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from eaos_client import eaos_pb2
from eaos_client._stubs import eaos_pb2_grpc


def answer(item: eaos_pb2.Item) -> eaos_pb2.ItemResult:
    """A deterministic fake annotation: one tuple whose opinion is the text."""
    text = item.text.decode("utf-8")
    if not text.strip():
        return eaos_pb2.ItemResult(id=item.id, error=eaos_pb2.Error(code=3, message="empty"))
    span = eaos_pb2.Span(begin=0, end=len(text), byte_begin=0, byte_end=len(item.text))
    tuple_ = eaos_pb2.Tuple(
        entity="",
        aspect="Chung",
        opinion=text,
        sentiment="tích cực",
        confidence=0.75,
        opinion_span=span,
    )
    return eaos_pb2.ItemResult(id=item.id, tuples=[tuple_], num_tokens=3, model_version="fake")


PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2026\u201c\u201d\u2018\u2019\u2013\u2014\u00ab\u00bb")


def word_spans(text: str) -> list[tuple[int, int]]:
    """The decoder's span edges (docs/model-contract.md): each whitespace-delimited word, trimmed
    of leading and trailing punctuation ('_' included); empty words dropped. Code points."""
    spans, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        b, e = i, j
        while b < e and text[b] in PUNCTUATION:
            b += 1
        while e > b and text[e - 1] in PUNCTUATION:
            e -= 1
        if b < e:
            spans.append((b, e))
        i = j
    return spans


def answer_words(item: eaos_pb2.Item) -> eaos_pb2.ItemResult:
    """Span answers as the real decoder makes them: for each pair of neighbouring words an entity
    (the first) and an opinion (the second); a last odd word is an entity-less opinion, a
    three-word opinion spans words 0..2."""
    text = item.text.decode("utf-8")
    spans = word_spans(text)

    def span(b: int, e: int) -> eaos_pb2.Span:
        return eaos_pb2.Span(
            begin=b,
            end=e,
            byte_begin=len(text[:b].encode("utf-8")),
            byte_end=len(text[:e].encode("utf-8")),
        )

    tuples = []
    for k in range(0, len(spans), 2):
        if k + 1 < len(spans):
            (eb, ee), (ob, oe) = spans[k], spans[k + 1]
            tuples.append(
                eaos_pb2.Tuple(
                    entity=text[eb:ee], entity_span=span(eb, ee), opinion=text[ob:oe],
                    opinion_span=span(ob, oe), aspect="Chung", sentiment="tích cực",
                    confidence=0.9,
                )
            )
        else:
            ob, oe = spans[k]
            tuples.append(
                eaos_pb2.Tuple(opinion=text[ob:oe], opinion_span=span(ob, oe), aspect="Chung",
                               sentiment="tích cực", confidence=0.9)
            )
    if len(spans) >= 3:
        ob, oe = spans[0][0], spans[2][1]
        tuples.append(
            eaos_pb2.Tuple(opinion=text[ob:oe], opinion_span=span(ob, oe), aspect="Chung",
                           sentiment="tích cực", confidence=0.8)
        )
    return eaos_pb2.ItemResult(id=item.id, tuples=tuples, num_tokens=3, model_version="fake")


@dataclass
class Script:
    """What the fake does. Failure counters count down as calls arrive."""

    fail_predict: list[grpc.StatusCode] = field(default_factory=list)
    fail_every_predict: grpc.StatusCode | None = None
    stream_abort_after: list[int] = field(default_factory=list)  # per stream: results, then abort
    stream_item_exhausted: int = 0  # the first N stream items get RESOURCE_EXHAUSTED
    stream_duplicate: bool = False
    stream_reverse: bool = True  # answer each message's items in reverse order
    segmenter: tuple[str, str] | None = None  # GetModelInfo.segmenter (package, version)
    word_answers: bool = False  # answer_words instead of answer


class FakeEaos(eaos_pb2_grpc.EaosServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.lock = threading.Lock()
        self.predict_calls: list[int] = []  # items per Predict call
        self.request_bytes: list[int] = []
        self.stream_calls = 0
        self.stream_items = 0
        self.model_info_calls = 0
        self.texts: list[str] = []  # every item text received, decoded

    def Predict(self, request: eaos_pb2.PredictRequest, context: grpc.ServicerContext):
        with self.lock:
            self.predict_calls.append(len(request.items))
            self.request_bytes.append(request.ByteSize())
            failure = self.script.fail_every_predict
            if failure is None and self.script.fail_predict:
                failure = self.script.fail_predict.pop(0)
        if failure is not None:
            context.abort(failure, f"scripted {failure.name}")
        return eaos_pb2.PredictResponse(results=[self.answer(i) for i in request.items])

    def answer(self, item: eaos_pb2.Item) -> eaos_pb2.ItemResult:
        with self.lock:
            self.texts.append(item.text.decode("utf-8", errors="replace"))
        return answer_words(item) if self.script.word_answers else answer(item)

    def GetModelInfo(self, request, context):
        with self.lock:
            self.model_info_calls += 1
        info = eaos_pb2.ModelInfo(name="fake", version="1")
        if self.script.segmenter is not None:
            package, version = self.script.segmenter
            info.segmenter.package, info.segmenter.version = package, version
        return info

    def PredictStream(
        self, requests: Iterator[eaos_pb2.PredictStreamRequest], context: grpc.ServicerContext
    ):
        with self.lock:
            self.stream_calls += 1
            abort_after = (
                self.script.stream_abort_after.pop(0) if self.script.stream_abort_after else None
            )
        sent = 0
        for message in requests:
            items = list(message.items)
            if self.script.stream_reverse:
                items.reverse()
            results = []
            for item in items:
                with self.lock:
                    self.stream_items += 1
                    exhausted = self.script.stream_item_exhausted > 0
                    if exhausted:
                        self.script.stream_item_exhausted -= 1
                if exhausted:
                    results.append(
                        eaos_pb2.ItemResult(
                            id=item.id, error=eaos_pb2.Error(code=8, message="queue full")
                        )
                    )
                else:
                    results.append(self.answer(item))
                if self.script.stream_duplicate:
                    results.append(answer(item))
            for start in range(0, len(results), 3):  # several results per message
                if abort_after is not None and sent >= abort_after:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "scripted stream abort")
                chunk = results[start : start + 3]
                sent += len(chunk)
                yield eaos_pb2.PredictStreamResponse(results=chunk)


class FakeServer:
    """A started fake on 127.0.0.1; ``target`` to connect; stop() in teardown."""

    def __init__(
        self, script: Script | None = None, credentials: grpc.ServerCredentials | None = None
    ) -> None:
        self.fake = FakeEaos(script or Script())
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        eaos_pb2_grpc.add_EaosServiceServicer_to_server(self.fake, self.server)
        address = "127.0.0.1:0"
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        self.server.start()
        self.target = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None)


def with_fake(script: Script | None, body: Callable[[FakeServer], None]) -> None:
    server = FakeServer(script)
    try:
        body(server)
    finally:
        server.stop()
