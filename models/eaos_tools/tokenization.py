"""Tokenization with byte offsets, as the contract describes it: sentencepiece, or fastBPE (PhoBERT).

Offsets: the python wrapper's ``encode(..., out_type='immutable_proto')`` (sentencepiece 0.1.97)
reports begin/end already converted to *code point* offsets, whereas the C++ library (used by the
server) reports *byte* offsets.  To stay byte-exact with the server we take the raw serialized
``SentencePieceText`` proto (``EncodeAsSerializedProto``), which carries the C++ byte offsets
unchanged, and parse it with the small protobuf wire-format reader below (no protobuf dependency).
"""

import dataclasses
import functools
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


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


# --- NFC before tokenizing (docs/model-contract.md, "Unicode normalization") ----------------------
#
# The same mechanism as the server's server/text/normalize.h: the text is split at NFC segment
# boundaries (points where the text normalizes independently on both sides), each segment is
# normalized on its own, an unchanged segment maps byte for byte and a changed one as a whole.

# Hangul jamo that compose with what precedes them (algorithmic, not in the decomposition data):
# medial vowels after a leading consonant, trailing consonants after an LV syllable.
_HANGUL_BACKWARD = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))


@functools.lru_cache(maxsize=1)
def _composes_backward() -> frozenset:
    """Starters (combining class 0) that can be the second half of a canonical composition: they
    may merge with the character before them, so no NFC boundary lies before them."""
    out = {chr(c) for c in _HANGUL_BACKWARD}
    for cp in range(0x30000):  # every canonical decomposition lies below U+30000
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):  # none, or a compatibility one (NFKC only)
            continue
        parts = d.split()
        if len(parts) == 2:
            second = chr(int(parts[1], 16))
            if unicodedata.combining(second) == 0:
                out.add(second)
    return frozenset(out)


def _boundary_before(ch: str) -> bool:
    """True when NFC treats the text before ``ch`` and from ``ch`` on independently: ``ch`` and the
    first character of its decomposition are starters that compose with nothing before them."""
    if ch < "\u0300":
        return True
    first = unicodedata.normalize("NFD", ch)[0]
    return (unicodedata.combining(ch) == 0 and unicodedata.combining(first) == 0
            and first not in _composes_backward())


@dataclass
class NfcText:
    """A text's NFC form with byte offsets back into the original.

    ``begin_of[o]`` / ``end_of[o]`` (o in 0..len(text in UTF-8)) are the original byte offsets of
    NFC byte offset o: equal, and one to one, outside the segments NFC changed; strictly inside a
    changed segment, begin_of gives its original start and end_of its original end.
    ``segments`` lists the changed ones as (nfc_begin, nfc_end, original_begin, original_end) bytes.
    """
    original: str
    text: str
    begin_of: List[int]
    end_of: List[int]
    segments: List[Tuple[int, int, int, int]]

    @property
    def changed(self) -> bool:
        return bool(self.segments)


def _segments(text: str) -> List[str]:
    """text cut before every NFC boundary (the first segment starts at 0)."""
    out, start = [], 0
    for i in range(1, len(text)):
        if _boundary_before(text[i]):
            out.append(text[start:i])
            start = i
    if text:
        out.append(text[start:])
    return out


def nfc_text(original: str) -> NfcText:
    """``original`` in NFC, with the byte maps of NfcText (the identity when it already is NFC)."""
    n = len(original.encode("utf-8"))
    if unicodedata.is_normalized("NFC", original):
        ident = list(range(n + 1))
        return NfcText(original, original, ident, list(ident), [])
    segs = _segments(original)
    normalized = [unicodedata.normalize("NFC", s) for s in segs]
    if "".join(normalized) != unicodedata.normalize("NFC", original):  # not expected: one segment
        segs, normalized = [original], [unicodedata.normalize("NFC", original)]
    begin_of: List[int] = []
    end_of: List[int] = []
    changed: List[Tuple[int, int, int, int]] = []
    ob = nb = 0
    for seg, norm in zip(segs, normalized):
        seg_len, norm_len = len(seg.encode("utf-8")), len(norm.encode("utf-8"))
        if seg == norm:
            begin_of.extend(range(ob, ob + seg_len))
            end_of.extend(range(ob, ob + seg_len))
        else:
            changed.append((nb, nb + norm_len, ob, ob + seg_len))
            begin_of.extend([ob] * norm_len)
            end_of.extend([ob] + [ob + seg_len] * (norm_len - 1))
        ob += seg_len
        nb += norm_len
    begin_of.append(n)
    end_of.append(n)
    return NfcText(original, "".join(normalized), begin_of, end_of, changed)


def encode_nfc(tokenizer, text: str, dropout: float = 0.0) -> Encoding:
    """``tokenizer.encode`` of the NFC form of ``text``, with the pieces' byte ranges mapped back
    into ``text`` (and Encoding.text = ``text``): how the reference, golden.json and training
    tokenize, as the server does (docs/model-contract.md). Works with any tokenizer of this shape."""
    nfc = nfc_text(text)
    enc = tokenizer.encode(nfc.text, dropout) if dropout > 0 else tokenizer.encode(nfc.text)
    if not nfc.changed:
        return enc
    size = len(nfc.begin_of) - 1
    pieces = []
    for p in enc.pieces:
        if not 0 <= p.begin <= p.end <= size:
            raise ValueError("tokenizer: piece %r has byte range [%d, %d) outside the %d-byte text"
                             % (p.piece, p.begin, p.end, size))
        begin = nfc.begin_of[p.begin]
        end = begin if p.end == p.begin else nfc.end_of[p.end]
        pieces.append(Piece(p.id, begin, end, p.piece))
    return dataclasses.replace(enc, text=text, pieces=pieces)


# fairseq's dictionary layout: PhoBERT's (FastBpeTokenizer) and that of sentencepiece models
# trained with fairseq (XLM-RoBERTa, BARTpho: Tokenizer(..., id_map="fairseq")).
FAIRSEQ_SPECIAL_TOKENS = {"bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3}
_FAIRSEQ_FIXED = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3
_FAIRSEQ_LITERALS = re.compile(r"<s>|<pad>|</s>|<unk>|<mask>")
ID_MAPS = ("sentencepiece", "fairseq")


def read_fairseq_dict(path: str) -> List[str]:
    """dict.txt's tokens as BartphoTokenizer reads its monolingual_vocab_file (each line's first
    whitespace-separated field, text-mode lines), refusing what BartphoTokenizer would fail on or
    misnumber (a blank line, a repeated token, <s> <pad> </s> <unk>); ValueError names the line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as e:
        raise ValueError("%s: not valid UTF-8 at byte %d (BartphoTokenizer reads dict.txt as UTF-8)"
                         % (path, e.start)) from None
    seen, tokens = set(_FAIRSEQ_FIXED), []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            raise ValueError('%s line %d: blank (each line is "<token> <count>"; BartphoTokenizer fails on it)'
                             % (path, n))
        token = fields[0]
        if token in seen:
            raise ValueError('%s line %d: the token "%s" is already in the dictionary%s' % (
                path, n, token, " (<s> <pad> </s> <unk> are ids 0-3 implicitly: remove the line)"
                if token in _FAIRSEQ_FIXED else
                " (BartphoTokenizer would give it a second id and the next token the same one)"))
        seen.add(token)
        tokens.append(token)
    return tokens


class FairseqIds:
    """fairseq's ids over a sentencepiece model, as transformers 4.46.3 maps pieces to ids: without
    a dictionary XLMRobertaTokenizer's (<s>=0 <pad>=1 </s>=2 <unk>=3, every other piece its
    sentencepiece id + 1, sentencepiece's id 0 -> <unk>, <mask> = pieces + 1), with dict.txt's
    tokens BartphoTokenizer's (the four specials, dict.txt in order, <mask> last unless listed;
    any other piece -> <unk>). The same rules as the server's server/text/fairseq_ids.cc.

    by_spm_id[i] is the model id of sentencepiece id i; ids maps every literal special to its id.
    """

    def __init__(self, sp, dict_tokens: Optional[List[str]] = None, dict_name: str = "dict.txt"):
        n, unk = sp.get_piece_size(), sp.unk_id()
        pieces = [sp.id_to_piece(i) for i in range(n)]
        ordered = [(t, i) for i, t in enumerate(_FAIRSEQ_FIXED)]
        if dict_tokens is None:
            # XLMRobertaTokenizer takes its specials' ids from get_vocab(), where id i + 1 spells
            # piece i and a later id wins: such a piece at id 3 or more moves the special.
            for i in range(3, n):
                if pieces[i] in _FAIRSEQ_FIXED:
                    raise ValueError(
                        'the sentencepiece model has "%s" at id %d: XLMRobertaTokenizer would then give it id %d '
                        "instead of fairseq's %d (a model for fairseq ids has <unk> <s> </s> at sentencepiece ids "
                        "0-2, as XLM-RoBERTa's; or give its dict.txt)"
                        % (pieces[i], i, i + 1, _FAIRSEQ_FIXED.index(pieces[i])))
            ordered.append(("<mask>", n + 1))
            self.vocab_size = n + 2
        else:
            ordered += [(t, 4 + i) for i, t in enumerate(dict_tokens)]
            if "<mask>" not in dict_tokens:
                ordered.append(("<mask>", len(ordered)))
            self.vocab_size = len(ordered)
        ids = dict(ordered)
        if len(ids) != len(ordered):
            raise ValueError("%s: a token is listed twice" % dict_name)
        if dict_tokens is None:
            self.by_spm_id = [ids.get(p, i + 1 if i else ids["<unk>"]) for i, p in enumerate(pieces)]
            # an unknown piece's text is no piece: PieceToId gives the unknown id, offset likewise
            self.by_spm_id[unk] = unk + 1 if unk else ids["<unk>"]
        else:
            self.by_spm_id = [ids.get(p, ids["<unk>"]) for p in pieces]
            self.by_spm_id[unk] = ids["<unk>"]
        self.mask_id = ids["<mask>"]
        self.specials = {t: ids[t] for t in _FAIRSEQ_FIXED + ("<mask>",)}
        # A token that is no piece and spelled only with characters the model has no piece for
        # could be the text of an unknown piece, which transformers maps by its text: refused.
        known = {p for i, p in enumerate(pieces) if len(p) == 1 and not (
            sp.is_unknown(i) or sp.is_control(i) or sp.is_unused(i) or sp.is_byte(i))}
        piece_set = set(pieces)
        for k, (token, tid) in enumerate(ordered):
            if token in piece_set or not token or any(c in known for c in token):
                continue
            where = ('%s line %d: the token "%s"' % (dict_name, k - 3, token)
                     if dict_tokens is not None and 4 <= k < 4 + len(dict_tokens)
                     else 'the special token "%s"' % token)
            raise ValueError("%s (id %d) is no piece of the sentencepiece model, and the model has a piece "
                             "for none of its characters: sentencepiece would report that text as one unknown "
                             "piece, which transformers maps to id %d by its text but the server only by its "
                             "unknown id" % (where, tid, tid))

    def split(self, text: str) -> List[Tuple[int, int, Optional[int]]]:
        """text cut as transformers' tokenize() cuts it before sentencepiece: (begin, end, id) code
        point ranges, id the special's for a literal <s> <pad> </s> <unk> <mask> and None for the
        text between (never empty; the whitespace before a <mask> is dropped: its lstrip)."""
        out: List[Tuple[int, int, Optional[int]]] = []
        part = 0
        for m in _FAIRSEQ_LITERALS.finditer(text):
            end = m.start()
            if m.group(0) == "<mask>":
                end = part + len(text[part:end].rstrip())
            if end > part:
                out.append((part, end, None))
            out.append((m.start(), m.end(), self.specials[m.group(0)]))
            part = m.end()
        if len(text) > part:
            out.append((part, len(text), None))
        return out


class Tokenizer:
    """A sentencepiece model with byte offsets. id_map "sentencepiece": its own ids (models trained
    here); "fairseq": fairseq's (FairseqIds; dict_file: BARTpho's dict.txt, else XLM-RoBERTa's
    layout), and the literal specials in a text are split out first, as transformers does."""

    def __init__(self, model_file: str, max_length: int, pad_id: Optional[int] = None,
                 unk_id: Optional[int] = None, bos_id: Optional[int] = None,
                 eos_id: Optional[int] = None, id_map: str = "sentencepiece",
                 dict_file: Optional[str] = None):
        import sentencepiece as spm
        if id_map not in ID_MAPS:
            raise ValueError("id_map must be one of %s, got %r" % (ID_MAPS, id_map))
        if dict_file is not None and id_map != "fairseq":
            raise ValueError('a dict file belongs to id_map "fairseq"')
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        self.max_length = max_length
        given = {"pad_id": pad_id, "unk_id": unk_id, "bos_id": bos_id, "eos_id": eos_id}
        defaults = FAIRSEQ_SPECIAL_TOKENS if id_map == "fairseq" else {
            "pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}
        if id_map == "fairseq" and any(v is not None and v != defaults[k] for k, v in given.items()):
            raise ValueError("fairseq ids have %s, got %s" % (FAIRSEQ_SPECIAL_TOKENS, given))
        st = {k: defaults[k] if v is None else v for k, v in given.items()}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (
            st["pad_id"], st["unk_id"], st["bos_id"], st["eos_id"])
        self.fairseq = None
        if id_map == "fairseq":
            tokens = read_fairseq_dict(dict_file) if dict_file is not None else None
            self.fairseq = FairseqIds(self.sp, tokens, dict_file or "dict.txt")

    def vocab_size(self) -> int:
        """Ids in use (the model's embedding rows)."""
        return self.fairseq.vocab_size if self.fairseq is not None else self.sp.get_piece_size()

    def _spm_pieces(self, text: str, dropout: float) -> List[Piece]:
        if dropout > 0:
            return parse_sentencepiece_text(self.sp.SampleEncodeAsSerializedProto(text, -1, dropout))
        return parse_sentencepiece_text(self.sp.EncodeAsSerializedProto(text))

    def pieces(self, text: str, dropout: float = 0.0) -> List[Piece]:
        """The pieces of text; dropout > 0 samples a segmentation (BPE-dropout, training only)."""
        if self.fairseq is None:
            return self._spm_pieces(text, dropout)
        to_byte = cp_to_byte_map(text)
        out: List[Piece] = []
        for b, e, special in self.fairseq.split(text):
            if special is not None:
                out.append(Piece(special, to_byte[b], to_byte[e], text[b:e]))
                continue
            for p in self._spm_pieces(text[b:e], dropout):
                out.append(Piece(self.fairseq.by_spm_id[p.id], to_byte[b] + p.begin, to_byte[b] + p.end,
                                 p.piece))
        return out

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


# fairseq's dictionary layout, as PhobertTokenizer builds it from vocab.txt.
FASTBPE_SPECIAL_TOKENS = dict(FAIRSEQ_SPECIAL_TOKENS)
_FASTBPE_LITERALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_FASTBPE_WORD = re.compile(r"\S+\n?")


class FastBpeTokenizer:
    """PhoBERT's fastBPE (bpe.codes + vocab.txt) with byte offsets; the same algorithm as the
    server's server/text/fastbpe.cc and transformers' PhobertTokenizer (docs/model-contract.md).

    pieces()/encode() have Tokenizer's shape, so the reference, golden.json and validate use either.
    Ids: <s>=0 <pad>=1 </s>=2 <unk>=3, then vocab.txt in file order, <mask> last.
    """

    def __init__(self, codes_file: str, vocab_file: str, max_length: int):
        if max_length < 3:
            raise ValueError("max_length must be at least 3 (<s>, one piece, </s>), got %d" % max_length)
        self.max_length = max_length
        self.pad_id = FASTBPE_SPECIAL_TOKENS["pad_id"]
        self.unk_id = FASTBPE_SPECIAL_TOKENS["unk_id"]
        self.bos_id = FASTBPE_SPECIAL_TOKENS["bos_id"]
        self.eos_id = FASTBPE_SPECIAL_TOKENS["eos_id"]
        self.vocab = read_fastbpe_vocab(vocab_file)
        self.ranks = read_fastbpe_codes(codes_file)
        self._cache: Dict[str, List[Tuple[int, int]]] = {}

    def vocab_size(self) -> int:
        """Ids in use: the four specials, vocab.txt's tokens and <mask>."""
        return len(self.vocab)

    def _merge(self, word: str) -> List[Tuple[int, int]]:
        """BPE of one word: [(begin, end)] code point ranges of its pieces, in order."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        syms = list(word)
        syms[-1] += "</w>"
        spans = [(i, i + 1) for i in range(len(word))]
        while len(syms) > 1:
            best, best_rank = None, None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (syms[i], syms[i + 1]), r
            if best is None:
                break
            new_syms, new_spans, i = [], [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                    new_syms.append(syms[i] + syms[i + 1])
                    new_spans.append((spans[i][0], spans[i + 1][1]))
                    i += 2
                else:
                    new_syms.append(syms[i])
                    new_spans.append(spans[i])
                    i += 1
            syms, spans = new_syms, new_spans
        self._cache[word] = spans
        return spans

    def _segment(self, text: str, begin: int, end: int, out: List[Tuple[int, int, int]]) -> None:
        for m in _FASTBPE_WORD.finditer(text, begin, end):
            word = m.group(0)
            spans = self._merge(word)
            for k, (b, e) in enumerate(spans):
                piece = word[b:e] + ("@@" if k + 1 < len(spans) else "")
                out.append((self.vocab.get(piece, self.unk_id), m.start() + b, m.start() + e))

    def pieces(self, text: str, dropout: float = 0.0) -> List[Piece]:
        if dropout > 0:
            raise ValueError("fastBPE has no BPE-dropout")
        raw: List[Tuple[int, int, int]] = []  # (id, code point begin, end)
        seg, i = 0, 0
        while i < len(text):
            lit = next((s for s in _FASTBPE_LITERALS if text.startswith(s, i)), None) \
                if text[i] == "<" else None
            if lit is None:
                i += 1
                continue
            self._segment(text, seg, i, raw)
            raw.append((self.vocab[lit], i, i + len(lit)))
            i += len(lit)
            seg = i
        self._segment(text, seg, len(text), raw)
        to_byte = cp_to_byte_map(text)
        return [Piece(pid, to_byte[b], to_byte[e], text[b:e]) for pid, b, e in raw]

    def encode(self, text: str, dropout: float = 0.0) -> Encoding:
        all_pieces = self.pieces(text, dropout)
        keep = self.max_length - 2
        kept = all_pieces[:keep]
        ids = [self.bos_id] + [p.id for p in kept] + [self.eos_id]
        return Encoding(text=text, input_ids=ids, pieces=kept,
                        truncated=len(all_pieces) > keep, num_pieces_total=len(all_pieces))


def read_fastbpe_vocab(path: str) -> Dict[str, int]:
    """vocab.txt as fairseq's Dictionary.add_from_file reads it, refusing what would give two
    tokens one id (a repeated token, a special token in the file); ValueError names the line."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f.readlines(), 1):
            line = line.strip()
            idx = line.rfind(" ")
            if idx == -1:
                raise ValueError("%s line %d: expected \"<token> <count>\", got %r" % (path, n, line[:80]))
            word = line[:idx]
            if word in vocab:
                raise ValueError("%s line %d: the token %r is already in the vocabulary%s" % (
                    path, n, word, " (the special tokens are implicit: remove it)" if word.startswith("<") else ""))
            vocab[word] = len(vocab)
    if "<mask>" in vocab:
        raise ValueError("%s: holds \"<mask>\", which PhoBERT adds after the last entry: remove it" % path)
    vocab["<mask>"] = len(vocab)
    return vocab


def read_fastbpe_codes(path: str) -> Dict[Tuple[str, str], int]:
    """bpe.codes as PhobertTokenizer reads it: (left, right) -> rank (line index); only lines with
    exactly three fields count, a last line without a newline is not used, a repeated pair keeps
    its last rank."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")[:-1]
    ranks = {}
    for rank, line in enumerate(lines):
        fields = line.split()
        if len(fields) == 3:
            ranks[(fields[0], fields[1])] = rank
    return ranks


def tokenizer_spec(meta: Dict) -> Dict:
    """model.json's "tokenizer" as an object: {"type": "sentencepiece", "model", "id_map"[, "dict"]}
    or {"type": "fastbpe", "codes", "vocab"} (a string is a sentencepiece file; absent:
    tokenizer.model; id_map defaults to "sentencepiece")."""
    tok = meta.get("tokenizer", "tokenizer.model")
    if isinstance(tok, str):
        return {"type": "sentencepiece", "model": tok, "id_map": "sentencepiece"}
    spec = dict(tok)
    spec.setdefault("type", "sentencepiece")
    if spec["type"] == "sentencepiece":
        spec.setdefault("model", "tokenizer.model")
        spec.setdefault("id_map", "sentencepiece")
    return spec


def load_tokenizer(model_dir: str, meta: Dict, max_length: Optional[int] = None):
    """The tokenizer model.json names (Tokenizer or FastBpeTokenizer)."""
    spec = tokenizer_spec(meta)
    max_length = int(max_length or meta["max_length"])
    if spec["type"] == "fastbpe":
        return FastBpeTokenizer(os.path.join(model_dir, spec["codes"]), os.path.join(model_dir, spec["vocab"]),
                                max_length)
    if spec["type"] != "sentencepiece":
        raise ValueError('model.json: tokenizer.type must be "sentencepiece" or "fastbpe", got %r' % spec["type"])
    st = meta["special_tokens"]
    dict_file = os.path.join(model_dir, spec["dict"]) if spec.get("dict") else None
    return Tokenizer(os.path.join(model_dir, spec["model"]), max_length, pad_id=st["pad_id"],
                     unk_id=st["unk_id"], bos_id=st["bos_id"], eos_id=st["eos_id"],
                     id_map=spec["id_map"], dict_file=dict_file)
