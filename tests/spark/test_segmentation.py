"""Word segmentation end to end: a real eaos-server serving a model whose model.json declares a
segmenter (models/demo copied, with "segmenter" added), 1,000 generated comments per segmenter
(pyvi and underthesea) plus noisy and NFD ones, through the client, its streams, the batch job
and a local Spark session: GetModelInfo reports the segmenter, the client segments before sending,
and every returned span equals original[begin:end] in code points and in UTF-8 bytes.

The demo model was trained on raw syllables, so its tuples on segmented text are not meant to be
good ones; what is checked is where the spans land.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import shutil
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eaos_testing import REPO, EaosServer, local_spark_session

from eaos_client import Client, ClientOptions, eaos_pb2
from eaos_client.batch import JobConfig, run_job
from eaos_client.segment import composed

PACKAGES = ["pyvi", "underthesea"]
THRESHOLD = 0.05  # low: many tuples, many spans to check
NOISE = ["\t", "\n", "\u00a0", "  ", "_", " _ ", "...", "!!", "“", "”", "😀", "👍🏽", "qúa", "hoà",
         "10/10", "1.000.000đ", "e-mail@x.com", "\u200b", "\u0301", "中"]


def base_letters(text: str) -> list[str]:
    """What must agree between a span of the sent text and its span of the original."""
    return [unicodedata.normalize("NFD", ch)[0] for ch, _, _ in composed(text)]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    sys.path.insert(0, str(REPO / "models"))
    try:
        from eaos_tools.generate import generate
    finally:
        sys.path.pop(0)
    comments = [row["text"] for row in generate(1000, seed=31)]
    rng = random.Random(3)
    noisy = []
    for text in comments[:150]:
        chars = list(text)
        for _ in range(rng.randint(1, 8)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(NOISE))
        noisy.append("".join(chars))
    nfd = [unicodedata.normalize("NFD", t) for t in comments[150:250]]
    return comments + noisy + nfd


@pytest.fixture(scope="module", params=PACKAGES)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[str, str, EaosServer]
]:
    package = request.param
    version = importlib.metadata.version(package)
    model = tmp_path_factory.mktemp(f"model-{package}") / "model"
    shutil.copytree(REPO / "models" / "demo", model)
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    meta["segmenter"] = {"package": package, "version": version}
    (model / "model.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    server = EaosServer(model_dir=str(model))
    yield package, version, server
    server.stop()


def check_result(text: str, result: eaos_pb2.ItemResult) -> int:
    """Every span of ``result`` is ``text[begin:end]`` (code points and bytes); returns spans."""
    assert not result.HasField("error"), (text, result.error)
    encoded = text.encode("utf-8")
    spans = 0
    for t in result.tuples:
        for name, value in (("entity_span", t.entity), ("opinion_span", t.opinion)):
            if not t.HasField(name):
                assert name == "entity_span" and t.entity == ""
                continue
            span = getattr(t, name)
            assert 0 <= span.begin < span.end <= len(text), (text, t)
            assert value == text[span.begin : span.end], (text, t)
            assert encoded[span.byte_begin : span.byte_end].decode("utf-8") == value, (text, t)
            assert "_" not in (value[0], value[-1]) and not value[0].isspace()
            spans += 1
    return spans


def test_get_model_info_reports_the_segmenter(served: tuple[str, str, EaosServer]) -> None:
    package, version, server = served
    with Client(ClientOptions(target=server.target)) as client:
        info = client.get_model_info()
        assert (info.segmenter.package, info.segmenter.version) == (package, version)
        assert client.segmenter().package == package


def test_every_span_of_1000_comments_is_the_original_text(
    served: tuple[str, str, EaosServer], texts: list[str]
) -> None:
    package, _, server = served
    with Client(ClientOptions(target=server.target)) as client:
        results = client.annotate(texts, threshold=THRESHOLD)
        segmenter = client.segmenter()
        # The same texts segmented here and sent as they are: the server's own spans in the
        # segmented text, to compare with the mapped ones.
        sent = [segmenter.prepare(t) for t in texts]
    with Client(ClientOptions(target=server.target, segmenter="none")) as raw_client:
        plain = raw_client.annotate([p.sent for p in sent], threshold=THRESHOLD)
    spans = fallbacks = 0
    for text, prepared, result, seg_result in zip(texts, sent, results, plain):
        fallbacks += prepared.segmented is None
        spans += check_result(text, result)
        assert len(result.tuples) == len(seg_result.tuples)
        for mapped, there in zip(result.tuples, seg_result.tuples):
            assert (mapped.aspect, mapped.sentiment) == (there.aspect, there.sentiment)
            assert base_letters(mapped.opinion) == base_letters(there.opinion) or (
                # a cluster the segmenter cut (``ắ`` + dot below) is taken whole
                len(mapped.opinion) > len(there.opinion)
            ), (text, prepared.sent, mapped, there)
            assert base_letters(mapped.entity) == base_letters(there.entity) or (
                len(mapped.entity) > len(there.entity)
            )
    segmented = sum(p.segmented is not None and p.segmented != p.original for p in sent)
    print(
        f"\n{package}: {len(texts)} texts ({segmented} changed by segmentation, "
        f"{fallbacks} sent raw), {spans} spans checked, 0 mismatches"
    )
    assert fallbacks == 0
    assert segmented > 0.9 * len(texts)
    assert spans > 1000


def test_streams_and_the_batch_job_map_spans_back(
    served: tuple[str, str, EaosServer], texts: list[str], tmp_path: Path
) -> None:
    package, _, server = served
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)]
    with Client(ClientOptions(target=server.target)) as client:
        unary = client.annotate(texts, threshold=THRESHOLD)
        streamed = {
            s.index: s.result
            for s in client.predict_stream(rows, threshold=THRESHOLD, streams=2)
        }
    spans = 0
    for i, text in enumerate(texts):
        spans += check_result(text, streamed[i])
        assert [t.opinion_span.begin for t in streamed[i].tuples] == [
            t.opinion_span.begin for t in unary[i].tuples
        ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = run_job(
        JobConfig(input=str(source), endpoint=server.target, mode="memory", threshold=THRESHOLD)
    )
    assert result.rows == len(rows) and result.errors == 0
    by_id = {r["id"]: r["text"] for r in rows}
    for record in result.records:
        text = by_id[record["id"]]
        assert record["text"] == text
        for p in record["predictions"]:
            for key, span in (("entity", "entity_span"), ("opinion", "opinion_span")):
                if p[span] is not None:
                    assert p[key] == text[p[span][0] : p[span][1]]
                    spans += 1
    print(f"\n{package}: streams + batch job, {len(texts)} texts each, {spans} spans checked")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session()
    yield session
    session.stop()


def test_spark_helpers_segment_on_the_executors(
    served: tuple[str, str, EaosServer], texts: list[str], spark: Any
) -> None:
    from eaos_client import spark as eaos_spark

    _, _, server = served
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(texts[:300])]
    frame = spark.createDataFrame(rows, "id string, text string")
    out = eaos_spark.annotate(frame, "text", endpoint=server.target, threshold=THRESHOLD).collect()
    with Client(ClientOptions(target=server.target)) as client:
        direct = client.annotate([r["text"] for r in rows], threshold=THRESHOLD)
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    spans = 0
    for row, expected in zip(out, direct):
        assert row["eaos_error"] is None
        assert len(row["predictions"]) == len(expected.tuples)
        for p, t in zip(row["predictions"], expected.tuples):
            assert p["opinion"] == row["text"][p["opinion_span"]["begin"] : p["opinion_span"]["end"]]
            assert p["opinion_span"]["begin"] == t.opinion_span.begin
            spans += 1
            if p["entity_span"] is not None:
                assert p["entity"] == row["text"][p["entity_span"]["begin"] : p["entity_span"]["end"]]
                spans += 1
    assert spans > 100
