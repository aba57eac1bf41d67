"""Logits -> EAOS tuples, exactly as docs/model-contract.md ("Decoding") describes.

The C++ server implements the same algorithm; keep the two in step.

Interpretations of the contract made here (also listed in models/README.md):

* Whitespace (word separators; trimmed off span edges): ASCII space, \\t, \\n, \\v, \\f,
  \\r, U+00A0, U+3000,
  U+2000..U+200B (the same set as server/text/utf8.cc).
* Spans are whole words (docs/model-contract.md, "Whole-word spans"): a word takes its first
  piece's tag, BIO runs over words, edges trimmed of punctuation and whitespace.
* "ends before the opinion's first word" / "starts after the opinion's last word" compare word
  indices: entity.last < opinion.first, resp. entity.first > opinion.last.  Spans dropped for
  being empty after trimming take no part.
* A tuple is kept when confidence >= threshold ("below the threshold" is dropped).
* Softmax, means and the confidence are computed in float32.
"""

import bisect
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


# Punctuation trimmed off span edges (docs/model-contract.md, "Whole-word spans"): ASCII
# punctuation and, as UTF-8, U+2026 … U+201C “ U+201D ” U+2018 ‘ U+2019 ’ U+2013 – U+2014 —
# U+00AB « U+00BB ».
ASCII_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
UNICODE_PUNCT = tuple(ch.encode("utf-8")
                      for ch in "\u2026\u201c\u201d\u2018\u2019\u2013\u2014\u00ab\u00bb")


def _punct_len_at(text_bytes: bytes, i: int) -> int:
    """Byte length of the punctuation character starting at i, or 0."""
    if text_bytes[i] in ASCII_PUNCT:
        return 1
    for p in UNICODE_PUNCT:
        if text_bytes.startswith(p, i):
            return len(p)
    return 0


def _edge_len_at(text_bytes: bytes, i: int) -> int:
    """Byte length of the punctuation or whitespace character starting at i, or 0."""
    return _punct_len_at(text_bytes, i) or _ws_len(text_bytes, i)


def trim_punct(text_bytes: bytes, b: int, e: int):
    """[b, e) without leading and trailing punctuation and whitespace (whole UTF-8 characters)."""
    while b < e:
        n = _edge_len_at(text_bytes, b)
        if n == 0 or b + n > e:
            break
        b += n
    while b < e:
        c = e - 1
        while c > b and (text_bytes[c] & 0xC0) == 0x80:
            c -= 1
        n = _edge_len_at(text_bytes, c)
        if n == 0 or c + n != e:
            break
        e = c
    return b, e


def text_words(text_bytes: bytes) -> List[tuple]:
    """Whitespace-delimited words: maximal runs of non-whitespace characters, as byte ranges."""
    words = []
    i, n, start = 0, len(text_bytes), None
    while i < n:
        ws = _ws_len(text_bytes, i)
        if ws:
            if start is not None:
                words.append((start, i))
                start = None
            i += ws
            continue
        if start is None:
            start = i
        i += 1
    if start is not None:
        words.append((start, n))
    return words


@dataclass
class Word:
    begin: int  # byte range of the whitespace-delimited word
    end: int
    first_piece: int  # first and last kept piece whose byte range overlaps the word
    last_piece: int


def piece_words(text_bytes: bytes, pieces: List[Piece]) -> List[Word]:
    """The words that at least one kept piece overlaps, in text order, with their pieces.

    A piece [b, e) overlaps word [wb, we) when b < we and wb < e; empty and whitespace-only
    pieces overlap no word.
    """
    words = text_words(text_bytes)
    ends = [w[1] for w in words]
    first: List[Optional[int]] = [None] * len(words)
    last: List[Optional[int]] = [None] * len(words)
    for i, p in enumerate(pieces):
        if p.end <= p.begin:
            continue
        j = bisect.bisect_right(ends, p.begin)  # first word ending after the piece's begin
        while j < len(words) and words[j][0] < p.end:
            if first[j] is None:
                first[j] = i
            last[j] = i
            j += 1
    return [Word(w[0], w[1], f, l) for w, f, l in zip(words, first, last) if f is not None]


def decode(text: str, pieces: List[Piece], span_logits: np.ndarray, aspect_logits: np.ndarray,
           sentiment_logits: np.ndarray, span_labels: Sequence[str], aspects: Sequence[str],
           sentiments: Sequence[str], threshold: float = 0.5) -> List[Dict]:
    """Decodes one text.

    The logits arrays are indexed by *input position* (BOS at 0, pieces at 1..n); extra trailing
    rows (EOS, padding) are ignored.  ``pieces`` are the kept pieces (n of them).

    Spans are whole words (docs/model-contract.md, "Whole-word spans"): each word takes the tag of
    its first piece, BIO runs over words make spans, and edge punctuation is trimmed.
    """
    n = len(pieces)
    if n == 0:
        return []
    text_bytes = text.encode("utf-8")
    b2c = byte_to_cp_map(text)

    span_p = softmax_f32(np.asarray(span_logits, dtype=np.float32)[1:n + 1])
    tag_idx = np.argmax(span_p, axis=-1)
    tag_prob = span_p[np.arange(n), tag_idx]

    words = piece_words(text_bytes, pieces)
    word_tags = [span_labels[int(tag_idx[w.first_piece])] for w in words]
    word_prob = np.asarray([tag_prob[w.first_piece] for w in words], dtype=np.float32)

    # Span.first / Span.last are word indices here.
    ents: List[Span] = []
    opis: List[Span] = []
    for kind, first, last in bio_spans(word_tags):
        b, e = trim_punct(text_bytes, words[first].begin, words[last].end)
        if e <= b:
            continue
        conf = float(np.mean(word_prob[first:last + 1], dtype=np.float32))
        s = Span(kind, first, last, b, e, conf)
        (ents if kind == "ENT" else opis).append(s)

    asp = np.asarray(aspect_logits, dtype=np.float32)
    sen = np.asarray(sentiment_logits, dtype=np.float32)
    out = []
    for o in opis:
        # the pieces that overlap the trimmed span (edge punctuation pieces take no part)
        inside = [i for i in range(words[o.first].first_piece, words[o.last].last_piece + 1)
                  if pieces[i].begin < o.byte_end and o.byte_begin < pieces[i].end]
        # none when the trimmed bytes lie in a gap no piece covers: then all of the words' pieces
        p0, p1 = (inside[0], inside[-1]) if inside else (words[o.first].first_piece,
                                                         words[o.last].last_piece)
        a_p = softmax_f32(np.mean(asp[p0 + 1:p1 + 2], axis=0, dtype=np.float32))
        s_p = softmax_f32(np.mean(sen[p0 + 1:p1 + 2], axis=0, dtype=np.float32))
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
