"""Word segmentation (eaos_client.segment): pyvi and underthesea on 1,000 generated comments (and
noisy and NFD variants, the handwritten devset and 1,000 random strings), every span mapped back
to the original text; the client's wiring (GetModelInfo once, annotate, predict_stream, the batch
job, the asyncio client) against the fake server."""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from pathlib import Path

import grpc
import pytest

from eaos_client import Client, ClientOptions, EaosError, eaos_pb2
from eaos_client import segment
from eaos_client.batch import JobConfig, main, run_job
from eaos_client.segment import Segmented, SegmenterUnavailable, align, composed, get_segmenter
from fake_server import FakeServer, Script, answer_words, word_spans

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ["pyvi", "underthesea"]
NOISE = list("abcnghương ươ ") + [
    "\t", "\n", "\u00a0", "\u3000", "\u200b", "\u200d", "\u0301", "\u0323", "😀", "👍🏽", "中",
    "\r\n", "\x0b", "\x1c", "\u2028", "\ufeff", "=))", "@@", "_", "__", " _ ", "...", "“", "”",
    "!?", "'", '"', "\\", "$", "%", "&", "#", "@", "http://x.vn/a_b?c=1", "e-mail@x.com",
    "1.000.000đ", "12:30", "3,5", "qúa", "hoà", "khoẻ", "thuỷ",
]


def generated_comments(n: int = 1000, seed: int = 11) -> list[str]:
    sys.path.insert(0, str(REPO / "models"))
    try:
        from eaos_tools.generate import generate
    finally:
        sys.path.pop(0)
    return [row["text"] for row in generate(n, seed)]


@pytest.fixture(scope="module")
def comments() -> list[str]:
    texts = generated_comments()
    assert len(texts) == 1000
    return texts


def noisy(texts: list[str], seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    out = []
    for text in texts:
        chars = list(text)
        for _ in range(rng.randint(1, 12)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(NOISE))
        out.append("".join(chars))
    return out


RANDOM_ALPHABET = (
    list("abcdeghiklmnopqrstuvxyđăâêôơưáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")
    + list("ABCĐ0123456789") + [" "] * 20 + list(".,!?;:()[]{}\"'-_/\\@#$%^&*+=<>~`|")
    + ["\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b", "\ufeff", "\u0301", "\u0323", "😀",
       "👍🏽", "中", "한", "\u1100\u1161", "ﬁ", "①", "²", "Ⅻ", "ǅ", "İ", "ß", "…", "“", "”", "–",
       "\u0b47\u0b3e", "e\u0301\u0302", "\u0300a", "\u2028", "\x1c"]
)


def random_strings(n: int, seed: int = 1) -> list[str]:
    """Vietnamese letters, punctuation and the characters that trip normalizers: NFD marks on
    anything, Hangul jamo (NFC joins two starters), compatibility characters, odd whitespace."""
    rng = random.Random(seed)
    return [
        "".join(rng.choice(RANDOM_ALPHABET) for _ in range(rng.randint(1, 80))) for _ in range(n)
    ]


def devset() -> list[str]:
    with open(REPO / "models" / "devset" / "handwritten.jsonl", encoding="utf-8") as rows:
        return [json.loads(line)["text"] for line in rows if line.strip()]


def core(text: str) -> list[str]:
    """A text's characters as the alignment compares them: NFC, no separators, base letters."""
    return [unicodedata.normalize("NFD", ch)[0] for ch, _, _ in composed(text)]


def check_spans(prepared: Segmented) -> int:
    """Every decoder-like span of the segmented text (each word, and each run of 1-3 words)
    maps to a range of the original holding the same characters; returns the spans checked."""
    assert prepared.segmented is not None
    original, sent = prepared.original, prepared.segmented
    encoded = original.encode("utf-8")
    words = word_spans(sent)
    checked = 0
    for k in range(len(words)):
        for width in (1, 2, 3):
            if k + width > len(words):
                break
            sb, se = words[k][0], words[k + width - 1][1]
            b, e = prepared.original_range(sb, se)
            assert 0 <= b < e <= len(original), (original, sent, sb, se, b, e)
            if core(original[b:e]) != core(sent[sb:se]):
                # Only where the segmenter cut a cluster whose NFC differs from it (``ắ`` + dot
                # below -> ``ặ`` + acute, then split off the acute): a character of the span
                # stands for the whole cluster, so the range takes the cluster whole.
                firsts = [i for i in range(sb, se) if prepared.begins[i] >= 0]
                edge = (firsts[0], firsts[-1])
                assert any(prepared.ends[i] - prepared.begins[i] > 1 for i in edge), (
                    original, sent, sb, se, b, e)
            # The mapped edges sit on the characters the span's edges stand for.
            assert not segment._is_separator(original[b]) and not segment._is_separator(
                original[e - 1]
            )
            result = eaos_pb2.ItemResult(
                tuples=[eaos_pb2.Tuple(opinion=sent[sb:se], opinion_span=eaos_pb2.Span(
                    begin=sb, end=se, byte_begin=len(sent[:sb].encode()),
                    byte_end=len(sent[:se].encode())))]
            )
            span = prepared.restore(result).tuples[0]
            assert span.opinion == original[span.opinion_span.begin : span.opinion_span.end]
            raw = encoded[span.opinion_span.byte_begin : span.opinion_span.byte_end]
            assert raw.decode("utf-8") == span.opinion
            checked += 1
    return checked


@pytest.mark.parametrize("package", PACKAGES)
def test_every_span_of_1000_comments_maps_back(package: str, comments: list[str]) -> None:
    segmenter = get_segmenter(package, "")
    report = {}
    for name, texts in [
        ("comments", comments),
        ("noisy", noisy(comments[:500])),
        ("nfd", [unicodedata.normalize("NFD", t) for t in comments[:300]]),
        ("devset", devset()),
        ("random", random_strings(1000)),
    ]:
        spans = changed = fallbacks = 0
        for text in texts:
            prepared = segmenter.prepare(text)
            if prepared.segmented is None:
                fallbacks += 1
                continue
            changed += prepared.segmented != text
            spans += check_spans(prepared)
        report[name] = (len(texts), changed, spans, fallbacks)
        # Both segmenters change only separators, NFC composition and tone-mark placement on
        # these texts: nothing falls back to the raw text (random strings included).
        assert fallbacks == 0, (package, name, fallbacks)
    print(f"\n{package}: (texts, segmented differently, spans checked, raw fallbacks) {report}")
    assert report["comments"][1] > 500  # the segmenter did join words / split punctuation
    assert report["comments"][2] > 10_000


def test_alignment_cases() -> None:
    # '_' and spaces inserted, whitespace runs collapsed, punctuation split off.
    begins, ends = align("Chương trình  hay!!", "Chương_trình hay ! !")
    assert begins[6] == -1 and begins[7] == 7 and begins[13] == 14 and ends[17] == 18
    # NFD in, NFC out: one composed character stands for its whole cluster.
    original = "ca\u0301 nha\u0302n"
    begins, ends = align(original, "cá_nhân")
    assert (begins[1], ends[1]) == (1, 3) and (begins[5], ends[5]) == (6, 8)
    # underthesea moves tone marks within a syllable: same base letters, different characters.
    assert align("hoà bình", "hòa bình") is not None
    assert align("qúa hay", "quá hay") is not None
    # Anything else is a mismatch: the text is sent raw.
    assert align("hay quá", "hay quá!") is None
    assert align("hay quá", "hay qu") is None
    assert align("hay", "hey") is None
    assert align("", "") == ([], [])
    # An original '_' is a separator too: it is never a span edge.
    prepared = Segmented("a _b_ c", "a _b_ c", *align("a _b_ c", "a _b_ c"))
    assert prepared.original_range(2, 5) == (3, 4)


def test_a_changed_character_falls_back_to_the_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    segmenter = get_segmenter("pyvi", "")
    monkeypatch.setattr(segmenter, "_fn", lambda text: text.replace("hay", "hai"))
    before = segmenter.stats.raw_fallbacks
    prepared = segmenter.prepare("chương trình hay")
    assert prepared.segmented is None and prepared.sent == "chương trình hay"
    assert segmenter.stats.raw_fallbacks == before + 1
    result = eaos_pb2.ItemResult(tuples=[eaos_pb2.Tuple(opinion="hay")])
    assert prepared.restore(result) is result  # untouched


def test_a_missing_package_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(package: str):
        raise ImportError(f"No module named {package!r}")

    monkeypatch.setattr(segment, "_load", missing)
    monkeypatch.setattr(segment, "_loaded", {})
    with pytest.raises(SegmenterUnavailable, match=r"pip install pyvi==0\.1\.1"):
        segment.Segmenter("pyvi", "0.1.1")
    with pytest.raises(SegmenterUnavailable, match="does not know"):
        segment.Segmenter("vncorenlp", "1.2")


def test_options_refuse_an_unknown_setting() -> None:
    with pytest.raises(ValueError, match="segmenter must be one of"):
        ClientOptions(segmenter="jieba")


# -- the client against the fake -------------------------------------------------------------


TEXTS = [
    "Chương trình rất hay!! MC dẫn duyên quá,nhưng âm thanh hơi rè...",
    "hoà bình  qúa   đẹp\nxuống dòng _gạch_ dưới",
    "Ca\u0301 nha\u0302n tôi thấy Hà Nội-Sài Gòn 10/10 😍",
    "",
    None,
]


def restored_ok(text: str, result: eaos_pb2.ItemResult) -> int:
    encoded = text.encode("utf-8")
    count = 0
    for t in result.tuples:
        for name, value in (("entity_span", t.entity), ("opinion_span", t.opinion)):
            if not t.HasField(name):
                continue
            span = getattr(t, name)
            assert value == text[span.begin : span.end]
            assert encoded[span.byte_begin : span.byte_end].decode("utf-8") == value
            count += 1
    return count


@pytest.mark.parametrize("package", PACKAGES)
def test_annotate_and_stream_segment_with_the_model_s_segmenter(package: str) -> None:
    version = {"pyvi": "0.1.1", "underthesea": "9.5.0"}[package]
    server = FakeServer(Script(segmenter=(package, version), word_answers=True))
    try:
        with Client(ClientOptions(target=server.target, timeout=10)) as client:
            assert client.segmenter().package == package
            results = client.annotate(TEXTS)
            streamed = {
                r.index: r.result for r in client.predict_stream(list(enumerate(TEXTS)), streams=2)
            }
        assert server.fake.model_info_calls == 1  # asked once per client
        spans = 0
        for i, text in enumerate(TEXTS):
            if text is None:
                assert results[i].error.message == "text is null"
                continue
            spans += restored_ok(text, results[i])
            spans += restored_ok(text, streamed[i])
            assert [t.opinion for t in results[i].tuples] == [t.opinion for t in streamed[i].tuples]
        assert spans > 20
        assert "Chương_trình" in server.fake.texts[0]  # the server saw segmented text
        assert any("cá_nhân" in t.lower() for t in server.fake.texts)
    finally:
        server.stop()


def test_no_segmenter_declared_or_none_sends_raw_text() -> None:
    server = FakeServer(Script(word_answers=True))
    try:
        with Client(ClientOptions(target=server.target, timeout=10)) as client:
            assert client.segmenter() is None
            client.annotate(TEXTS[:1])
        assert server.fake.texts == TEXTS[:1]
        server.fake.texts.clear()
        server.fake.script.segmenter = ("pyvi", "0.1.1")
        with Client(ClientOptions(target=server.target, timeout=10, segmenter="none")) as client:
            client.annotate(TEXTS[:1])
        assert server.fake.texts == TEXTS[:1]
        # A forced package needs no GetModelInfo.
        calls = server.fake.model_info_calls
        with Client(ClientOptions(target=server.target, timeout=10, segmenter="pyvi")) as client:
            assert client.segmenter().package == "pyvi"
        assert server.fake.model_info_calls == calls
    finally:
        server.stop()


def test_a_server_without_get_model_info_means_no_segmenter() -> None:
    client = Client(ClientOptions(target="127.0.0.1:1", timeout=1))

    def unimplemented():
        raise EaosError(grpc.StatusCode.UNIMPLEMENTED, "unknown method GetModelInfo")

    client.get_model_info = unimplemented  # type: ignore[method-assign]
    assert client.segmenter() is None


def test_batch_job_writes_spans_of_the_input_text(tmp_path: Path) -> None:
    server = FakeServer(Script(segmenter=("pyvi", "0.1.1"), word_answers=True))
    rows = [{"id": str(i), "text": t} for i, t in enumerate(TEXTS) if t]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    try:
        out = tmp_path / "out.jsonl"
        result = run_job(JobConfig(input=str(source), endpoint=server.target, output=str(out)))
        assert result.rows == len(rows)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        spans = 0
        by_id = {r["id"]: r["text"] for r in rows}
        for record in records:
            assert record["text"] == by_id[record["id"]]
            for p in record["predictions"]:
                for key, span in (("entity", "entity_span"), ("opinion", "opinion_span")):
                    if p[span] is not None:
                        b, e = p[span]
                        assert p[key] == record["text"][b:e]
                        spans += 1
        assert spans > 10
        assert any("_" in t and "Chương_trình" in t for t in server.fake.texts)
    finally:
        server.stop()


def test_batch_job_exits_2_naming_the_pip_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(package: str):
        raise ImportError(f"No module named {package!r}")

    monkeypatch.setattr(segment, "_load", missing)
    monkeypatch.setattr(segment, "_loaded", {})
    server = FakeServer(Script(segmenter=("underthesea", "9.5.0")))
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "text": "hay"}\n')
    try:
        code = main(["--endpoint", server.target, "--input", str(source), "--mode", "console"])
    finally:
        server.stop()
    assert code == 2
    assert "pip install underthesea==9.5.0" in capsys.readouterr().err


def test_answer_words_spans_are_decoder_like() -> None:
    result = answer_words(eaos_pb2.Item(text="Chương_trình rất hay !".encode()))
    assert [t.opinion for t in result.tuples] == ["rất", "hay", "Chương_trình rất hay"]


@pytest.mark.parametrize("package", PACKAGES)
def test_the_asyncio_client_segments_too(package: str) -> None:
    import asyncio

    from eaos_client.aio import AsyncClient

    server = FakeServer(Script(segmenter=(package, "x"), word_answers=True))

    async def body() -> tuple[list, dict]:
        async with AsyncClient(ClientOptions(target=server.target, timeout=10)) as client:
            results = await client.annotate(TEXTS)
            streamed = {
                r.index: r.result async for r in client.predict_stream(list(enumerate(TEXTS)))
            }
            return results, streamed

    try:
        with pytest.warns(RuntimeWarning, match="segmentation may differ"):
            results, streamed = asyncio.run(body())
        assert server.fake.model_info_calls == 1
    finally:
        server.stop()
    spans = 0
    for i, text in enumerate(TEXTS):
        if text is None:
            continue
        spans += restored_ok(text, results[i]) + restored_ok(text, streamed[i])
    assert spans > 20
    assert "Chương_trình" in server.fake.texts[0]
