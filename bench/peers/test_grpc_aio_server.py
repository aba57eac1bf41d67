"""The Python peer answers as eaos-server does, so that the peers benchmark compares like with like.

    EAOS_SERVER_BINARY=build/release/bin/eaos-server build/peerenv/bin/python -m unittest \
        -v test_grpc_aio_server          # from bench/peers; ctest: bench_peer_grpc_aio_test

Starts grpc_aio_server.py on models/demo and checks: golden.json's answers (tuples, spans, byte
spans, num_tokens, truncated; confidences within the file's tolerance) with all samples in one
Predict call, i.e. batched and padded together; the 71 fixture comments over 4 concurrent
PredictStream calls equal eaos-server's answers on the same texts (the real server, started here
when $EAOS_SERVER_BINARY is set, as ctest sets it; without it the test fails); per-item and per-call
errors; GetModelInfo; /metrics counting the batches.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEMO = REPO / "models" / "demo"
LISTEN_RE = re.compile(r"listening on ([0-9.]+):(\d+) metrics on ([0-9.]+):(\d+)")

sys.path.insert(0, str(REPO / "tests" / "spark"))
from eaos_testing import EaosServer  # noqa: E402

from eaos_client import Client, ClientOptions  # noqa: E402
from eaos_client._stubs import eaos_pb2, eaos_pb2_grpc  # noqa: E402


def fixture_rows() -> list[dict]:
    path = REPO / "models" / "fixtures" / "reference_texts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def answer(result: eaos_pb2.ItemResult) -> dict:
    """Everything of a result except the confidences, plus the confidences apart."""
    tuples = []
    for t in result.tuples:
        spans = {}
        for name in ("entity_span", "opinion_span"):
            if t.HasField(name):
                s = getattr(t, name)
                spans[name] = [s.begin, s.end, s.byte_begin, s.byte_end]
        tuples.append({"entity": t.entity, "aspect": t.aspect, "opinion": t.opinion,
                       "sentiment": t.sentiment, **spans})
    return {"tuples": tuples, "num_tokens": result.num_tokens, "truncated": result.truncated,
            "error": result.error.code if result.HasField("error") else 0}


class Peer:
    def __init__(self, *flags: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="grpc-aio-peer-", suffix=".log")[1])
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "grpc_aio_server.py"), f"--model_dir={DEMO}",
                 "--threads=1", *flags], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "SERVING" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the peer did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        match = LISTEN_RE.search(self.log.read_text())
        self.target = f"{match.group(1)}:{match.group(2)}"
        self.metrics_port = int(match.group(4))

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stream_all(target: str, rows: list[dict], streams: int = 4) -> dict[str, eaos_pb2.ItemResult]:
    """Every row over `streams` concurrent PredictStream calls, one item per message."""
    with Client(ClientOptions(target=target)) as client:
        return {r.item["id"]: r.result for r in client.predict_stream(rows, streams=streams)}


class PeerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.peer = Peer()
        cls.channel = grpc.insecure_channel(cls.peer.target)
        cls.stub = eaos_pb2_grpc.EaosServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.channel.close()
        cls.peer.stop()

    def test_golden_answers_in_one_batched_call(self) -> None:
        golden = json.loads((DEMO / "golden.json").read_text(encoding="utf-8"))
        samples = golden["samples"]
        request = eaos_pb2.PredictRequest(
            items=[eaos_pb2.Item(id=s["id"], text=s["text"].encode()) for s in samples])
        response = self.stub.Predict(request, timeout=60)
        self.assertEqual([r.id for r in response.results], [s["id"] for s in samples])
        checked = 0
        for sample, result in zip(samples, response.results):
            with self.subTest(sample=sample["id"]):
                self.assertFalse(result.HasField("error"), result.error.message)
                self.assertEqual(result.num_tokens, sample["num_tokens"])
                self.assertEqual(result.truncated, sample["truncated"])
                self.assertEqual(len(result.tuples), len(sample["tuples"]))
                for got, want in zip(result.tuples, sample["tuples"]):
                    self.assertEqual(
                        (got.entity, got.aspect, got.opinion, got.sentiment),
                        (want["entity"], want["aspect"], want["opinion"], want["sentiment"]))
                    o = got.opinion_span
                    self.assertEqual([o.begin, o.end], want["opinion_span"])
                    self.assertEqual([o.byte_begin, o.byte_end], want["opinion_byte_span"])
                    if want["entity"]:
                        e = got.entity_span
                        self.assertEqual([e.begin, e.end], want["entity_span"])
                        self.assertEqual([e.byte_begin, e.byte_end], want["entity_byte_span"])
                    else:
                        self.assertFalse(got.HasField("entity_span"))
                    self.assertAlmostEqual(got.confidence, want["confidence"],
                                           delta=golden["confidence_tolerance"])
                    checked += 1
        self.assertGreater(checked, 30)  # the truncated sample alone has 25 tuples

    def test_streams_equal_eaos_server_on_the_fixture_texts(self) -> None:
        binary = os.environ.get("EAOS_SERVER_BINARY")
        self.assertTrue(binary, "EAOS_SERVER_BINARY (ctest sets it) names the eaos-server to match")
        rows = fixture_rows()
        self.assertGreater(len(rows), 50)
        before = self.peer.metrics()
        peer = stream_all(self.peer.target, rows)
        server = EaosServer(threads=1, model_dir=str(DEMO))
        try:
            reference = stream_all(server.target, rows)
        finally:
            server.stop()
        self.assertEqual(set(peer), {r["id"] for r in rows})
        self.assertEqual(set(reference), set(peer))
        tuples = 0
        for row in rows:
            got, want = peer[row["id"]], reference[row["id"]]
            with self.subTest(id=row["id"]):
                self.assertEqual(answer(got), answer(want))
                for a, b in zip(got.tuples, want.tuples):
                    self.assertAlmostEqual(a.confidence, b.confidence, delta=1e-3)
                tuples += len(got.tuples)
        self.assertGreater(tuples, 50)
        self.assertEqual(reference[rows[0]["id"]].model_version, peer[rows[0]["id"]].model_version)
        # the 71 items came in over 4 streams at once: some batches held more than one of them
        batches = self.counter(self.peer.metrics(), "eaos_batch_items_count") - self.counter(
            before, "eaos_batch_items_count")
        items = self.counter(self.peer.metrics(), "eaos_batch_items_sum") - self.counter(
            before, "eaos_batch_items_sum")
        self.assertEqual(items, len(rows))
        self.assertLess(batches, len(rows))

    @staticmethod
    def counter(text: str, series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def test_item_errors_leave_the_other_items_served(self) -> None:
        request = eaos_pb2.PredictRequest(items=[
            eaos_pb2.Item(id="ok", text="MC dẫn duyên quá".encode()),
            eaos_pb2.Item(id="empty", text=b""),
            eaos_pb2.Item(id="space", text=b"  \t"),
            eaos_pb2.Item(id="bad-utf8", text=b"\xff\xfe hay"),
        ])
        results = self.stub.Predict(request, timeout=30).results
        self.assertEqual([r.id for r in results], ["ok", "empty", "space", "bad-utf8"])
        self.assertFalse(results[0].HasField("error"))
        self.assertTrue(results[0].tuples)
        for r in results[1:]:
            self.assertEqual(r.error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0], r.id)
        bad = eaos_pb2.PredictRequest(items=[eaos_pb2.Item(id="x", text=b"hay")],
                                      options=eaos_pb2.PredictOptions(confidence_threshold=1.5))
        with self.assertRaises(grpc.RpcError) as failure:
            self.stub.Predict(bad, timeout=30)
        self.assertEqual(failure.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_threshold_reaches_the_decoder(self) -> None:
        item = eaos_pb2.Item(id="t", text="Chương trình rất hay".encode())
        loose = self.stub.Predict(eaos_pb2.PredictRequest(
            items=[item], options=eaos_pb2.PredictOptions(confidence_threshold=0.0)), timeout=30)
        strict = self.stub.Predict(eaos_pb2.PredictRequest(
            items=[item], options=eaos_pb2.PredictOptions(confidence_threshold=1.0)), timeout=30)
        self.assertTrue(loose.results[0].tuples)
        self.assertFalse(strict.results[0].tuples)  # demo confidences are all below 1

    def test_model_info(self) -> None:
        meta = json.loads((DEMO / "model.json").read_text(encoding="utf-8"))
        info = self.stub.GetModelInfo(eaos_pb2.GetModelInfoRequest(), timeout=30)
        self.assertEqual((info.name, info.version, info.max_length),
                         (meta["name"], meta["version"], meta["max_length"]))
        self.assertEqual(list(info.aspects), meta["aspects"])
        self.assertEqual(list(info.sentiments), meta["sentiments"])
        self.assertEqual(list(info.span_labels), meta["span_labels"])
        self.assertEqual(info.limits.max_batch_size, 64)
        self.assertEqual(info.limits.max_queue_delay_us, 5000)
        self.assertEqual(info.intra_op_threads, 1)
        self.assertEqual(info.sizes.layers, meta["architecture"]["layers"])
        self.assertGreater(info.sizes.parameters, 0)


if __name__ == "__main__":
    unittest.main()
