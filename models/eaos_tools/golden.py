"""golden.json: what the Python reference answers for a few sample texts, for the server's self-test.

The export (export.py) writes it into the model directory.  At load the server runs the same
texts, one at a time, through its own tokenizer, forward and decoder and refuses the model when
the answers differ.  Format (docs/models.md, "Golden self-test"; proto/eaos/model/v1/golden.proto):

    {"threshold": 0.5, "confidence_tolerance": 0.001, "logits_rtol": 0.001,
     "samples": [{"id", "text", "num_tokens", "truncated", "input_ids": [...],
                  "tuples": [...as reference.py...],
                  "logits": [{"output", "sum", "abs_sum"}, ...one per model.json output]}]}

input_ids are the model's input as the tokenizer that made the file gave it (for a user's own
module, export_module.py uses the user's tokenizer: PhobertTokenizer for fastBPE); the server
refuses a tokenizer that gives other ids.  Checksums are over the sample run alone (batch of 1, no padding), positions [0, num_tokens),
summed in float64 from the float32 logits.
"""

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .reference import ReferenceModel

THRESHOLD = 0.5
CONFIDENCE_TOLERANCE = 1e-3
LOGITS_RTOL = 1e-3
FILE_NAME = "golden.json"

# Varied default samples: plain, multi-clause, no diacritics, teen-code, emoji, comparison,
# entity-less, unknown characters, no opinion; plus a long text truncated at max_length.
DEFAULT_TEXTS = [
    "Chương trình rất hay",
    "MC dẫn duyên quá, nhưng âm thanh hơi rè.",
    "Kich ban khong hay, khach moi chang hap dan.",
    "mn ơi mc dẫn hay wá mà âm thanh k rõ lắm",
    "Sân khấu lung linh 😍😍, ca sĩ hát đỉnh 🔥",
    "Mùa này hay hơn mùa trước, giải thưởng cũng hấp dẫn",
    "Hay quá!",
    "Chương trình rất hay! 節目很好",
    "Tối nay mấy giờ chiếu vậy mọi người?",
]
_LONG_UNIT = ("Chương trình hôm nay rất hay, MC dẫn duyên, ca sĩ hát ngọt, âm thanh sống động, "
              "hình ảnh đẹp nhưng quảng cáo hơi nhiều. ")
_LONG_MAX_BYTES = 12000  # below the server's default max_text_bytes (16384)


def long_text(tokenizer) -> Optional[str]:
    """A text that the tokenizer truncates (more than max_length - 2 pieces), or None."""
    text = _LONG_UNIT
    while len(tokenizer.pieces(text)) <= tokenizer.max_length - 2:
        if len((text + _LONG_UNIT).encode("utf-8")) > _LONG_MAX_BYTES:
            return None
        text += _LONG_UNIT
    return text + "Hết."


def default_samples(tokenizer) -> List[Dict]:
    texts = list(DEFAULT_TEXTS)
    long = long_text(tokenizer)
    if long is not None:
        texts.append(long)
    return [{"id": "golden-%02d" % i, "text": t} for i, t in enumerate(texts)]


def read_samples(path: str) -> List[Dict]:
    """JSONL of {"text"} or {"id", "text"}."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        raise ValueError("%s: no samples" % path)
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not r["text"]:
            raise ValueError("%s line %d: expected {\"id\", \"text\"} with a non-empty text" % (path, i + 1))
        out.append({"id": str(r.get("id", "golden-%02d" % i)), "text": r["text"]})
    return out


def checksums(out: Dict[str, np.ndarray], output_names: Sequence[str], num_tokens: int) -> List[Dict]:
    rows = []
    for name in output_names:
        v = np.asarray(out[name][0], dtype=np.float32)
        if v.ndim >= 2:
            v = v[:num_tokens]
        v = v.astype(np.float64)
        rows.append({"output": name, "sum": float(v.sum()), "abs_sum": float(np.abs(v).sum())})
    return rows


def _span_gap(span_logits: np.ndarray, n: int) -> float:
    """Smallest gap between the best and second-best tag logit over the decoded positions."""
    if n == 0:
        return float("inf")
    top2 = np.sort(np.asarray(span_logits[1:n + 1], dtype=np.float32), axis=-1)[:, -2:]
    return float(np.min(top2[:, 1] - top2[:, 0]))


def build(ref: ReferenceModel, samples: Sequence[Dict], threshold: float = THRESHOLD) -> Tuple[Dict, Dict]:
    """Runs every sample alone through the reference.

    Returns (golden.json content, margins): margins has the smallest gap between the two best
    tag logits at a decoded position and the smallest |confidence - threshold| of any candidate
    tuple; small values mean a float difference on the C++ side could change the answer.
    """
    names = list(ref.meta["outputs"])
    rows, gaps, conf_margins = [], [], []
    for s in samples:
        enc = ref.encode(s["text"])
        out = ref.forward([enc.input_ids], [[1] * len(enc.input_ids)])
        tuples = ref.decode_row(enc, out, 0, threshold)
        every = ref.decode_row(enc, out, 0, 0.0)
        if tuples:  # a tag flip elsewhere cannot make a tuple reach the threshold
            gaps.append(_span_gap(out[ref.span_out][0], len(enc.pieces)))
        conf_margins += [abs(t["confidence"] - threshold) for t in every]
        rows.append({"id": s["id"], "text": s["text"], "num_tokens": len(enc.input_ids),
                     "truncated": enc.truncated, "input_ids": list(enc.input_ids), "tuples": tuples,
                     "logits": checksums(out, names, len(enc.input_ids))})
    golden = {"threshold": threshold, "confidence_tolerance": CONFIDENCE_TOLERANCE,
              "logits_rtol": LOGITS_RTOL, "samples": rows}
    margins = {"span_logit_gap": min(gaps) if gaps else float("inf"),
               "confidence_to_threshold": min(conf_margins) if conf_margins else float("inf")}
    return golden, margins


def write(model_dir: str, golden: Dict) -> str:
    path = os.path.join(model_dir, FILE_NAME)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return path


def compare(expected: Dict, got: Dict) -> List[str]:
    """Differences between two golden files (for tests and re-checks), within the tolerances."""
    diffs = []
    tol, rtol = expected["confidence_tolerance"], expected["logits_rtol"]
    by_id = {s["id"]: s for s in got["samples"]}
    for e in expected["samples"]:
        g = by_id.get(e["id"])
        if g is None:
            diffs.append("%s: missing" % e["id"])
            continue
        for key in ("text", "num_tokens", "truncated"):
            if e[key] != g[key]:
                diffs.append("%s: %s %r, expected %r" % (e["id"], key, g[key], e[key]))
        if "input_ids" in e and "input_ids" in g and e["input_ids"] != g["input_ids"]:
            pos = next((i for i, (a, b) in enumerate(zip(e["input_ids"], g["input_ids"])) if a != b),
                       min(len(e["input_ids"]), len(g["input_ids"])))
            diffs.append("%s: input_ids differ from position %d (%r, expected %r): the tokenizer is not "
                         "the one golden.json was made with" % (e["id"], pos, g["input_ids"][pos:pos + 5],
                                                                 e["input_ids"][pos:pos + 5]))
            continue
        strip = lambda ts: [{k: v for k, v in t.items() if k != "confidence"} for t in ts]  # noqa: E731
        if strip(e["tuples"]) != strip(g["tuples"]):
            diffs.append("%s: tuples %r, expected %r" % (e["id"], g["tuples"], e["tuples"]))
        else:
            for te, tg in zip(e["tuples"], g["tuples"]):
                if abs(te["confidence"] - tg["confidence"]) > tol:
                    diffs.append("%s: confidence %r, expected %r" % (e["id"], tg["confidence"], te["confidence"]))
        gl = {c["output"]: c for c in g["logits"]}
        for c in e["logits"]:
            allowed = rtol * max(abs(c["abs_sum"]), 1.0)
            o = gl.get(c["output"])
            if o is None or abs(o["sum"] - c["sum"]) > allowed or abs(o["abs_sum"] - c["abs_sum"]) > allowed:
                diffs.append("%s: %s checksums %r, expected %r" % (e["id"], c["output"], o, c))
    return diffs
