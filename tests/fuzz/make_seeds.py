#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_request and fuzz_tokenizer (tests/fuzz/corpus/<target>/).

The seeds are committed; rerun this only to change them (standard library only, deterministic):

    python3 tests/fuzz/make_seeds.py

fuzz_request seeds are serialized eaos.v1.PredictRequest messages: real requests built from
models/fixtures/reference_texts.jsonl plus edge cases (every limit, invalid UTF-8, whitespace of
each kind, thresholds out of range, unknown fields). The wire format is written by hand here (no
protobuf package needed): field 1 `items` {1: id, 2: text}, field 2 `options` {1: float threshold}.
fuzz_tokenizer seeds are raw UTF-8 texts. fuzz_decoder's seeds are FuzzedDataProvider streams
kept from a fuzzing run with -merge=1 (see tests/fuzz/README.md); this script leaves them alone.
"""

import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def item(item_id: str | bytes, text: str | bytes) -> bytes:
    if isinstance(item_id, str):
        item_id = item_id.encode()
    if isinstance(text, str):
        text = text.encode()
    return field_bytes(1, field_bytes(1, item_id) + field_bytes(2, text))


def request(items, threshold=None, extra=b"") -> bytes:
    out = b"".join(item(i, t) for i, t in items)
    if threshold is not None:
        out += field_bytes(2, varint(1 << 3 | 5) + struct.pack("<f", threshold))
    return out + extra


def write(target: str, seeds: dict) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        (folder / f"seed-{name}").write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def main() -> None:
    lines = (ROOT / "models" / "fixtures" / "reference_texts.jsonl").read_text().splitlines()
    fixtures = [json.loads(line) for line in lines if line.strip()]
    texts = [row["text"] for row in fixtures]
    longest = max(texts, key=lambda t: len(t.encode()))

    edge_texts = {
        "empty": "",
        "spaces": " \t\r\n\v\f",
        "unicode-spaces": "\u00a0\u3000\u2000\u200b",
        "zero-width-joiner": "\u200c",
        "nul": "a\0b",
        "emoji": "👍🏽 hay 😍😍",
        "combining": "Chu\u031bo\u031bng tri\u0300nh",
        "cjk-fullwidth": "漢字 ａｂｃ①",
        "pieces-markers": "▁ <s> </s> <unk> <pad>",
        "max-code-point": "\U0010ffff\U00010000",
        "long": (longest + " ") * 2,  # past max_length pieces: truncated
    }

    requests = {}
    for k in range(0, len(fixtures), 10):  # real requests of up to 10 fixture items
        rows = fixtures[k:k + 10]
        requests[f"fixtures-{k:02d}"] = request([(r["id"], r["text"]) for r in rows])
    requests["threshold-0"] = request([("a", texts[0])], threshold=0.0)
    requests["threshold-1"] = request([("a", texts[0])], threshold=1.0)
    requests["threshold-negative"] = request([("a", texts[0])], threshold=-0.5)
    requests["threshold-nan"] = request([("a", texts[0])], threshold=float("nan"))
    requests["threshold-inf"] = request([("a", texts[0])], threshold=float("inf"))
    requests["no-items"] = request([], threshold=0.5)
    requests["edge-texts"] = request([(k, v) for k, v in edge_texts.items()])
    requests["invalid-utf8"] = request([
        ("overlong", b"ab\xc0\x80"),
        ("surrogate", b"\xed\xa0\x80"),
        ("truncated", b"hay\xe1\xba"),
        ("too-big", b"\xf4\x90\x80\x80"),
        ("continuation", b"ok\x80"),
        ("lead", b"\xf5\x80\x80\x80"),
    ])
    requests["id-invalid-utf8"] = request([(b"\xff", "hay")])  # proto3 string: the parse fails
    requests["id-1025-bytes"] = request([("i" * 1025, "hay")])
    requests["text-16385-bytes"] = request([("x", "a" * 16385)])
    requests["text-16384-bytes"] = request([("x", "ấ" * 5461 + "a")])
    requests["1001-items"] = request([(str(i), "hay") for i in range(1001)])
    requests["unknown-fields"] = request([("a", "hay")], extra=varint(9 << 3 | 0) + varint(7))
    write("fuzz_request", requests)

    tokenizer = {f"fixture-{r['id']}": r["text"].encode() for r in fixtures[:24]}
    tokenizer.update({k: v.encode() for k, v in edge_texts.items()})
    write("fuzz_tokenizer", tokenizer)


if __name__ == "__main__":
    main()
