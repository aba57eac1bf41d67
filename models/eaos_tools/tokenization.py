"""Sentencepiece tokenization with byte offsets, as the contract describes it.

Offsets: the python wrapper's ``encode(..., out_type='immutable_proto')`` (sentencepiece 0.1.97)
reports begin/end already converted to *code point* offsets, whereas the C++ library (used by the
server) reports *byte* offsets.  To stay byte-exact with the server we take the raw serialized
``SentencePieceText`` proto (``EncodeAsSerializedProto``), which carries the C++ byte offsets
unchanged, and parse it with the small protobuf wire-format reader below (no protobuf dependency).
"""

from dataclasses import dataclass
from typing import List, Tuple

import sentencepiece as spm


@dataclass
class Piece:
    id: int
    begin: int  # byte offset in the UTF-8 input, inclusive
    end: int  # byte offset, exclusive
    piece: str


@dataclass
class Encoding:
    text: str
    input_ids: List[int]  # [bos] + kept piece ids + [eos]
    pieces: List[Piece]  # kept pieces only (input position i+1 <-> pieces[i])
    truncated: bool
    num_pieces_total: int


def _read_varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _iter_fields(buf: bytes):
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _read_varint(buf, pos)
        elif wire == 2:
            ln, pos = _read_varint(buf, pos)
            val = buf[pos:pos + ln]
            pos += ln
        elif wire == 5:
            val = buf[pos:pos + 4]
            pos += 4
        elif wire == 1:
            val = buf[pos:pos + 8]
            pos += 8
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        yield field, wire, val


def parse_sentencepiece_text(buf: bytes) -> List[Piece]:
    """Parses a serialized sentencepiece.SentencePieceText into pieces with byte offsets.

    SentencePieceText: 1 text, 2 repeated SentencePiece, 3 score.
    SentencePiece: 1 piece, 2 id, 3 surface, 4 begin, 5 end.
    """
    pieces = []
    for field, wire, val in _iter_fields(buf):
        if field != 2 or wire != 2:
            continue
        pid, begin, end, piece = 0, 0, 0, ""
        for f2, w2, v2 in _iter_fields(val):
            if f2 == 1 and w2 == 2:
                piece = v2.decode("utf-8", errors="replace")
            elif f2 == 2 and w2 == 0:
                pid = v2
            elif f2 == 4 and w2 == 0:
                begin = v2
            elif f2 == 5 and w2 == 0:
                end = v2
        pieces.append(Piece(pid, begin, end, piece))
    return pieces


def byte_to_cp_map(text: str) -> List[int]:
    """m[byte_offset] = code point offset, for every offset 0..len(utf8) (inclusive).

    Offsets inside a multi-byte character map to that character's code point index.
    """
    m = []
    for i, ch in enumerate(text):
        m.extend([i] * len(ch.encode("utf-8")))
    m.append(len(text))
    return m


def cp_to_byte_map(text: str) -> List[int]:
    """m[code_point_offset] = byte offset, for offsets 0..len(text) (inclusive)."""
    m = [0]
    for ch in text:
        m.append(m[-1] + len(ch.encode("utf-8")))
    return m


class Tokenizer:
    def __init__(self, model_file: str, max_length: int, pad_id: int = 0, unk_id: int = 1,
                 bos_id: int = 2, eos_id: int = 3):
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        self.max_length = max_length
        self.pad_id = pad_id
        self.unk_id = unk_id
        self.bos_id = bos_id
        self.eos_id = eos_id

    def pieces(self, text: str, dropout: float = 0.0) -> List[Piece]:
        """The pieces of text; dropout > 0 samples a segmentation (BPE-dropout, training only)."""
        if dropout > 0:
            return parse_sentencepiece_text(self.sp.SampleEncodeAsSerializedProto(text, -1, dropout))
        return parse_sentencepiece_text(self.sp.EncodeAsSerializedProto(text))

    def encode(self, text: str, dropout: float = 0.0) -> Encoding:
        all_pieces = self.pieces(text, dropout)
        keep = max(self.max_length - 2, 0)
        kept = all_pieces[:keep]
        ids = [self.bos_id] + [p.id for p in kept] + [self.eos_id]
        return Encoding(text=text, input_ids=ids, pieces=kept,
                        truncated=len(all_pieces) > keep, num_pieces_total=len(all_pieces))


def pad_batch(encodings: List[Encoding], pad_id: int):
    """Right-pads input_ids; returns (input_ids, attention_mask) as lists of lists."""
    t = max(len(e.input_ids) for e in encodings)
    ids = [e.input_ids + [pad_id] * (t - len(e.input_ids)) for e in encodings]
    mask = [[1] * len(e.input_ids) + [0] * (t - len(e.input_ids)) for e in encodings]
    return ids, mask
