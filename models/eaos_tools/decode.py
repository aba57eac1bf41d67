"""Logits -> EAOS tuples, exactly as docs/model-contract.md ("Decoding") describes.

The C++ server implements the same algorithm; keep the two in step.

Interpretations of the contract made here (also listed in models/README.md):

* Whitespace trimmed off span edges: ASCII space, \\t, \\n, \\v, \\f, \\r, and U+00A0, U+3000,
  U+2000..U+200B (the same set as server/text/utf8.cc).
* "ends at or before the opinion's first piece" / "starts after the opinion's last piece" compare
  piece indices: entity.last_piece < opinion.first_piece, resp. entity.first_piece >
  opinion.last_piece.  Entity spans dropped for being empty after trimming take no part.
* A tuple is kept when confidence >= threshold ("below the threshold" is dropped).
* Softmax, means and the confidence are computed in float32.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .tokenization import Piece, byte_to_cp_map

ASCII_WS = b" \t\n\v\f\r"


def softmax_f32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m, dtype=np.float32)
    return (e / np.sum(e, axis=-1, keepdims=True, dtype=np.float32)).astype(np.float32)


@dataclass
class Span:
    kind: str  # "ENT" or "OPI"
    first: int  # index into the kept pieces (input position first+1)
    last: int  # inclusive
    byte_begin: int
    byte_end: int
    confidence: float


def bio_spans(tags: Sequence[str]) -> List[tuple]:
    """Lenient BIO: returns (kind, first, last) with inclusive piece indices."""
    spans = []
    cur_kind: Optional[str] = None
    cur_first = 0
    for i, tag in enumerate(tags):
        if tag == "O":
            if cur_kind is not None:
                spans.append((cur_kind, cur_first, i - 1))
            cur_kind = None
            continue
        prefix, kind = tag.split("-", 1)
        if prefix == "I" and cur_kind == kind:
            continue  # extends the open span
        # B-X, or I-X with no open span of kind X: open a new span
        if cur_kind is not None:
            spans.append((cur_kind, cur_first, i - 1))
        cur_kind = kind
        cur_first = i
    if cur_kind is not None:
        spans.append((cur_kind, cur_first, len(tags) - 1))
    return spans


# Multi-byte whitespace, as UTF-8: U+00A0, U+3000, U+2000..U+200B.
UNICODE_WS = (b"\xc2\xa0", b"\xe3\x80\x80") + tuple(bytes([0xE2, 0x80, c]) for c in range(0x80, 0x8C))


def _ws_len(text_bytes: bytes, i: int) -> int:
    """Byte length of the whitespace character starting at i, or 0."""
    if text_bytes[i] in ASCII_WS:
        return 1
    for ws in UNICODE_WS:
        if text_bytes.startswith(ws, i):
            return len(ws)
    return 0


def _trim(text_bytes: bytes, b: int, e: int):
    """[b, e) without leading and trailing whitespace, walking whole UTF-8 characters."""
    first, last_end, i = None, b, b
    while i < e:
        ws = _ws_len(text_bytes, i)
        if ws:
            i += ws
            continue
        n = 1
        while i + n < e and (text_bytes[i + n] & 0xC0) == 0x80:
            n += 1
        if first is None:
            first = i
        i += n
        last_end = i
    if first is None:
        return b, b
    return first, last_end


def decode(text: str, pieces: List[Piece], span_logits: np.ndarray, aspect_logits: np.ndarray,
           sentiment_logits: np.ndarray, span_labels: Sequence[str], aspects: Sequence[str],
           sentiments: Sequence[str], threshold: float = 0.5) -> List[Dict]:
    """Decodes one text.

    The logits arrays are indexed by *input position* (BOS at 0, pieces at 1..n); extra trailing
    rows (EOS, padding) are ignored.  ``pieces`` are the kept pieces (n of them).
    """
    n = len(pieces)
    if n == 0:
        return []
    text_bytes = text.encode("utf-8")
    b2c = byte_to_cp_map(text)

    span_p = softmax_f32(np.asarray(span_logits, dtype=np.float32)[1:n + 1])
    tag_idx = np.argmax(span_p, axis=-1)
    tag_prob = span_p[np.arange(n), tag_idx]
    tags = [span_labels[int(i)] for i in tag_idx]

    ents: List[Span] = []
    opis: List[Span] = []
    for kind, first, last in bio_spans(tags):
        b, e = _trim(text_bytes, pieces[first].begin, pieces[last].end)
        if e <= b:
            continue
        conf = float(np.mean(tag_prob[first:last + 1], dtype=np.float32))
        s = Span(kind, first, last, b, e, conf)
        (ents if kind == "ENT" else opis).append(s)

    asp = np.asarray(aspect_logits, dtype=np.float32)
    sen = np.asarray(sentiment_logits, dtype=np.float32)
    out = []
    for o in opis:
        a_p = softmax_f32(np.mean(asp[o.first + 1:o.last + 2], axis=0, dtype=np.float32))
        s_p = softmax_f32(np.mean(sen[o.first + 1:o.last + 2], axis=0, dtype=np.float32))
        a_i = int(np.argmax(a_p))
        s_i = int(np.argmax(s_p))
        before = [e for e in ents if e.last < o.first]
        ent: Optional[Span] = None
        if before:
            ent = max(before, key=lambda e: e.last)
        else:
            after = [e for e in ents if e.first > o.last]
            if after:
                ent = min(after, key=lambda e: e.first)
        conf = min(o.confidence, float(a_p[a_i]), float(s_p[s_i]))
        if ent is not None:
            conf = min(conf, ent.confidence)
        if conf < threshold:
            continue
        if ent is not None:
            e_bytes = [ent.byte_begin, ent.byte_end]
            e_span = [b2c[ent.byte_begin], b2c[ent.byte_end]]
            e_text = text[e_span[0]:e_span[1]]
        else:
            e_bytes = [0, 0]
            e_span = [0, 0]
            e_text = ""
        o_span = [b2c[o.byte_begin], b2c[o.byte_end]]
        out.append({
            "entity": e_text,
            "aspect": aspects[a_i],
            "opinion": text[o_span[0]:o_span[1]],
            "sentiment": sentiments[s_i],
            "confidence": conf,
            "entity_span": e_span,
            "opinion_span": o_span,
            "entity_byte_span": e_bytes,
            "opinion_byte_span": [o.byte_begin, o.byte_end],
        })
    return out
