"""Export of a user's own EAOS module (e.g. PhoBERT + nn.TransformerEncoder + heads) into a model
directory the server loads, checked against the module as its authors run it.

    cd models
    ../build/hfenv/bin/python -m eaos_tools.export --module mypkg.model:EAOSModel \\
        --module-path /path/to/code --checkpoint latest_checkpoint.pth --config config.json \\
        --tokenizer-type fastbpe --codes bpe.codes --vocab vocab.txt --labels labels.json \\
        --max-length 256 --out /models/my-eaos

What it does, in order (each step stops with an error naming the problem, exit status 1; --out
is only written once every check passed):

1. ``--module pkg.mod:Name`` is imported (``--module-path`` dirs first on sys.path); Name is an
   nn.Module class or a function, called with config.json's contents as one dict (or as keyword
   arguments with ``--config-as-kwargs``).  Its ``forward(input_ids, attention_mask)`` returns a
   tuple/list or a dict of token-level logits ``[B, T, labels]``; ``--outputs`` names which entries
   are the span tags, the aspects and the sentiments (default: positions 0,1,2 of a tuple, or the keys
   span_logits,aspect_logits,sentiment_logits of a dict).
2. The checkpoint: ``{"model_state_dict": ...}`` (extra keys such as epoch, best_f1, optimizer are
   ignored), ``{"state_dict": ...}`` or a bare state dict.
3. A name map, printed: a ``module.`` prefix on every key (DataParallel) is removed;
   ``--rename OLD=NEW`` prefixes are applied; ``*.position_ids`` buffers the module does not have
   (older transformers saved them) and ``--drop KEY`` keys are dropped.  Then a strict load: a
   missing tensor, an unexpected tensor, a shape that differs or a non-tensor entry is an error
   listing them.
4. The tokenizer: fastBPE (PhoBERT's bpe.codes + vocab.txt) or a sentencepiece model; the ids it
   can produce must fit the input embedding (``--embedding``, default the nn.Embedding named
   ``*word_embeddings`` or else the one with most rows).
5. The module is wrapped to the contract (docs/model-contract.md): dict outputs in float32, ids
   outside the embedding mapped to the unknown id.  It is traced with torch.jit.trace under
   no_grad with nn.TransformerEncoder's nested-tensor fast path turned off on every encoder
   (``enable_nested_tensor``; traced with it on, a batch whose rows are all shorter than T comes
   back with fewer than T positions).  The trace is then proved against the eager module, as the
   user runs it (eval, no_grad, their own encoder settings): equal outputs at real positions for
   several (B, T) including B=1, T=max_length and batches whose rows are all shorter than T, and
   each row alone equals the row in a padded batch.
6. model.json (with ``architecture`` sizes taken from the module, so GetModelInfo reports them),
   model.pt and the tokenizer files are written (into a fresh folder, moved into --out only when
   everything below passed) and validated (validate.py); golden.json comes
   from the user's own path: the tokenizer as the user runs it (transformers' PhobertTokenizer for
   fastBPE) and the EAGER module, with each sample's input ids, so the server's self-test refuses a
   wrong tokenizer or a bad trace.
"""

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import OUTPUTS
from . import golden as golden_mod
from .tokenization import (FASTBPE_SPECIAL_TOKENS, Encoding, FastBpeTokenizer, Piece, Tokenizer,
                           cp_to_byte_map)

CONTRACT_OUTPUTS = list(OUTPUTS)  # span_logits, aspect_logits, sentiment_logits
DEFAULT_DICT_OUTPUTS = ",".join(CONTRACT_OUTPUTS)
# Traced vs eager, and a row alone vs in a padded batch, at real positions.
TRACE_ATOL = 1e-4
TRACE_RTOL = 1e-4
LABEL_FIELDS = ("name", "version", "tag_scheme", "span_labels", "aspects", "sentiments")


class ExportError(Exception):
    """The inputs do not make a model directory; the message says why."""


# ---------------------------------------------------------------------------------------------
# Inputs


def import_object(spec: str, paths: Sequence[str] = ()) -> Callable:
    """`pkg.mod:Name` -> the object; paths go first on sys.path."""
    if ":" not in spec:
        raise ExportError("--module %r: expected pkg.module:ClassOrFunction" % spec)
    mod_name, _, attr = spec.partition(":")
    for p in reversed(list(paths)):
        if p not in sys.path:
            sys.path.insert(0, os.path.abspath(p))
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - whatever the import raises
        raise ExportError("--module %s: cannot import %s: %s: %s (add its folder with --module-path)"
                          % (spec, mod_name, type(e).__name__, e))
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ExportError("--module %s: %s has no %r" % (spec, mod_name, attr))
        obj = getattr(obj, part)
    if not callable(obj):
        raise ExportError("--module %s: %r is not a class or function" % (spec, attr))
    return obj


def read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """The state dict of a seed-style checkpoint and a description of the layout found."""
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise ExportError("%s: torch.load fails: %s" % (path, str(e).splitlines()[0] if str(e) else e))
    if isinstance(ckpt, torch.nn.Module):
        raise ExportError("%s: holds a whole pickled nn.Module (%s), not a state dict: load it in your code "
                          "and torch.save({'model_state_dict': model.state_dict()}, path)"
                          % (path, type(ckpt).__name__))
    if not isinstance(ckpt, dict):
        raise ExportError("%s: expected a dict (with 'model_state_dict' or 'state_dict', or a state dict "
                          "itself), got %s" % (path, type(ckpt).__name__))
    for key in ("model_state_dict", "state_dict"):
        if key in ckpt:
            sd = ckpt[key]
            if not isinstance(sd, dict):
                raise ExportError("%s: %r is a %s, not a state dict" % (path, key, type(sd).__name__))
            others = sorted(k for k in ckpt if k != key)
            layout = "%r%s" % (key, " (also %s: not used)" % ", ".join(map(str, others)) if others else "")
            break
    else:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            sd, layout = ckpt, "a bare state dict"
        else:
            raise ExportError("%s: wrong layout: expected 'model_state_dict' or 'state_dict' (a seed checkpoint) "
                              "or a bare state dict of tensors; its keys are %s"
                              % (path, sorted(map(str, ckpt))[:20]))
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ExportError("%s: state dict entries that are not tensors: %s" % (path, bad[:10]))
    if not sd:
        raise ExportError("%s: the state dict is empty" % path)
    return dict(sd), layout


def read_labels(path: str, fastbpe: bool) -> Dict:
    with open(path, encoding="utf-8") as f:
        labels = json.load(f)
    missing = [k for k in LABEL_FIELDS if k not in labels]
    if missing:
        raise ExportError("%s: missing field(s) %s" % (path, ", ".join(missing)))
    out = {k: labels[k] for k in LABEL_FIELDS}
    if fastbpe:
        given = labels.get("special_tokens")
        if given is not None and given != FASTBPE_SPECIAL_TOKENS:
            raise ExportError("%s: special_tokens %s, but a fastBPE (PhoBERT) or fairseq-id sentencepiece tokenizer "
                              "has fairseq's ids %s "
                              "(remove the field or write those)" % (path, given, FASTBPE_SPECIAL_TOKENS))
        out["special_tokens"] = dict(FASTBPE_SPECIAL_TOKENS)
    elif "special_tokens" not in labels:
        raise ExportError("%s: missing field special_tokens (a sentencepiece model's pad/unk/bos/eos ids)" % path)
    else:
        out["special_tokens"] = dict(labels["special_tokens"])
    return out


def build_module(factory: Callable, config: Dict, as_kwargs: bool) -> torch.nn.Module:
    try:
        module = factory(**config) if as_kwargs else factory(config)
    except Exception as e:  # noqa: BLE001
        raise ExportError("building the module from config.json fails: %s: %s%s" % (
            type(e).__name__, e, "" if as_kwargs else " (try --config-as-kwargs if it takes keyword arguments)"))
    if not isinstance(module, torch.nn.Module):
        raise ExportError("--module returned a %s, not an nn.Module" % type(module).__name__)
    return module


# ---------------------------------------------------------------------------------------------
# Name map and strict load


def map_names(sd: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor],
              renames: Sequence[Tuple[str, str]] = (), drops: Sequence[str] = ()
              ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Applies the name map; returns (mapped state dict, one line per change)."""
    report = []
    if all(k.startswith("module.") for k in sd) and not any(k.startswith("module.") for k in expected):
        sd = {k[len("module."):]: v for k, v in sd.items()}
        report.append("removed the prefix 'module.' from all %d keys (a DataParallel save)" % len(sd))
    for old, new in renames:
        hits = [k for k in sd if k.startswith(old)]
        if not hits:
            raise ExportError("--rename %s=%s: no checkpoint key starts with %r" % (old, new, old))
        sd = {(new + k[len(old):] if k.startswith(old) else k): v for k, v in sd.items()}
        report.append("renamed %d key(s) %s* -> %s*" % (len(hits), old, new))
    for key in drops:
        if key not in sd:
            raise ExportError("--drop %s: the checkpoint has no such key" % key)
        del sd[key]
        report.append("dropped %s (--drop)" % key)
    for key in sorted(k for k in sd if k.endswith("position_ids") and k not in expected):
        del sd[key]
        report.append("dropped %s (a buffer older transformers saved; this module computes it)" % key)
    return sd, report


def load_problems(expected: Dict[str, torch.Tensor], got: Dict[str, torch.Tensor]) -> List[str]:
    problems = []
    for k, v in got.items():
        if k not in expected:
            problems.append("unexpected tensor %r %s (not in the module)" % (k, list(v.shape)))
        elif tuple(v.shape) != tuple(expected[k].shape):
            problems.append("tensor %r has shape %s in the checkpoint, the module (built from config.json) "
                            "expects %s" % (k, list(v.shape), list(expected[k].shape)))
        elif v.is_floating_point() and not bool(torch.isfinite(v).all()):
            problems.append("tensor %r contains NaN or infinite values" % k)
    for k, v in expected.items():
        if k not in got:
            problems.append("missing tensor %r %s (the module has it, the checkpoint does not)" % (k, list(v.shape)))
    return problems


def strict_load(module: torch.nn.Module, sd: Dict[str, torch.Tensor]) -> None:
    expected = module.state_dict()
    problems = load_problems(expected, sd)
    if problems:
        shown = "\n".join("  - " + p for p in problems[:12])
        more = "\n  ... and %d more" % (len(problems) - 12) if len(problems) > 12 else ""
        counts = "%d unexpected, %d missing, %d other" % (
            sum(p.startswith("unexpected") for p in problems), sum(p.startswith("missing") for p in problems),
            sum(not p.startswith(("unexpected", "missing")) for p in problems))
        hint = ("\n(is config.json the one the checkpoint was trained with?  Checkpoint keys under another "
                "prefix: --rename OLD=NEW; a key the module does not need: --drop KEY)")
        raise ExportError("the checkpoint does not fit the module: %s\n%d problem(s) (%s):\n%s%s%s"
                          % (problems[0], len(problems), counts, shown, more, hint))
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in sd.items()}, strict=True)


# ---------------------------------------------------------------------------------------------
# The contract wrapper and the safe trace


def input_embedding(module: torch.nn.Module, name: Optional[str]) -> Tuple[str, torch.nn.Embedding]:
    embs = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.Embedding)]
    if name:
        for n, m in embs:
            if n == name:
                return n, m
        raise ExportError("--embedding %s: no nn.Embedding of that name (there are %s)" % (name, [n for n, _ in embs]))
    if not embs:
        raise ExportError("the module has no nn.Embedding: name the input embedding with --embedding")
    words = [(n, m) for n, m in embs if n.endswith("word_embeddings")]
    return (words or sorted(embs, key=lambda nm: -nm[1].num_embeddings))[0]


class ContractModule(torch.nn.Module):
    """forward(input_ids, attention_mask) -> {contract output name: float32 [B, T, labels]}."""

    def __init__(self, inner: torch.nn.Module, keys: Sequence, rows: int, unk_id: int):
        super().__init__()
        self.inner = inner
        self.keys = list(keys)
        self.rows = rows
        self.unk_id = unk_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        outside = (input_ids < 0) | (input_ids >= self.rows)
        ids = torch.where(outside, torch.full_like(input_ids, self.unk_id), input_ids)
        out = self.inner(ids, attention_mask)
        return {name: out[key].float() for name, key in zip(CONTRACT_OUTPUTS, self.keys)}


def output_keys(spec: Optional[str], sample_out) -> List:
    """The inner module's output keys (dict) or positions (tuple) for span, aspect, sentiment."""
    if isinstance(sample_out, dict):
        names = (spec or DEFAULT_DICT_OUTPUTS).split(",")
        missing = [n for n in names if n not in sample_out]
        if len(names) != 3 or missing:
            raise ExportError("--outputs %s: forward returns a dict with keys %s; give its span, aspect and "
                              "sentiment keys in that order" % (",".join(names), sorted(sample_out)))
        return names
    if isinstance(sample_out, (tuple, list)):
        pos = [int(p) for p in (spec or "0,1,2").split(",")]
        if len(pos) != 3 or any(p >= len(sample_out) for p in pos):
            raise ExportError("--outputs %s: forward returns %d values; give the positions of the span, aspect "
                              "and sentiment logits" % (spec or "0,1,2", len(sample_out)))
        return pos
    raise ExportError("forward returns a %s; expected a tuple/list or a dict of logits" % type(sample_out).__name__)


def nested_tensor_encoders(module: torch.nn.Module) -> List[Tuple[str, torch.nn.TransformerEncoder]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.TransformerEncoder)]


class NestedTensorOff:
    """Within the block every nn.TransformerEncoder runs without the nested-tensor fast path."""

    ATTRS = ("enable_nested_tensor", "use_nested_tensor")  # the latter from torch 2.1

    def __init__(self, module: torch.nn.Module):
        self.encoders = [m for _, m in nested_tensor_encoders(module)]
        self.saved = []

    def __enter__(self):
        for m in self.encoders:
            self.saved.append({a: getattr(m, a) for a in self.ATTRS if hasattr(m, a)})
            for a in self.saved[-1]:
                setattr(m, a, False)
        return self

    def __exit__(self, *exc):
        for m, attrs in zip(self.encoders, self.saved):
            for a, v in attrs.items():
                setattr(m, a, v)
        self.saved = []


def example_batch(lengths: Sequence[int], t: int, vocab: int, rng: np.random.RandomState,
                  special: Dict[str, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rows of random piece ids (ids >= 4, below vocab) between bos and eos, right-padded to t."""
    ids = np.full((len(lengths), t), special["pad_id"], dtype=np.int64)
    mask = np.zeros((len(lengths), t), dtype=np.int64)
    low = max(special.values()) + 1
    for r, n in enumerate(lengths):
        ids[r, 0], ids[r, n - 1] = special["bos_id"], special["eos_id"]
        ids[r, 1:n - 1] = rng.randint(low, vocab, size=n - 2)
        mask[r, :n] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def trace_cases(max_length: int) -> List[Tuple[str, List[int], int]]:
    """(what, row lengths, T): the shapes the trace is proved on."""
    m = max_length
    short = max(3, min(7, m))
    return [
        ("B=1, T=3", [3], 3),
        ("B=1, T=max_length", [m], m),
        ("B=1, row shorter than T=max_length", [short], m),
        ("B=2, T=40, both rows shorter than T", [min(7, m), min(12, m)], min(40, m)),
        ("B=3, T=17, one full row", [min(17, m), 5, 3], min(17, m)),
        ("B=4, T=max_length, all rows shorter than T", [short, max(3, m // 2), max(3, m - 1), 4], m),
        ("B=4, T=max_length, full rows", [m] * 4, m),
    ]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


def prove_trace(traced, eager: torch.nn.Module, max_length: int, vocab: int, special: Dict[str, int],
                seed: int = 0) -> List[str]:
    """Traced vs eager at real positions for every case of trace_cases, and padding invariance of
    the traced module; ExportError naming the first failing case. Returns one line per case."""
    rng = np.random.RandomState(seed)
    lines = []
    for what, lengths, t in trace_cases(max_length):
        ids, mask = example_batch(lengths, t, vocab, rng, special)
        with torch.no_grad():
            got = traced(ids, mask)
            want = eager(ids, mask)
        worst_eager, worst_pad = 0.0, 0.0
        for name in CONTRACT_OUTPUTS:
            g = got[name]
            if tuple(g.shape[:2]) != (len(lengths), t):
                raise ExportError("trace check %s: traced %s has shape %s, expected [%d, %d, ...]: the trace "
                                  "lost positions (a fast path baked in)" % (what, name, list(g.shape), len(lengths), t))
            for r, n in enumerate(lengths):
                a, b = g[r, :n], want[name][r, :n]
                d = max_diff(a, b)
                worst_eager = max(worst_eager, d)
                if d > TRACE_ATOL + TRACE_RTOL * float(b.abs().max()):
                    raise ExportError("trace check %s: traced and eager %s differ at the real positions of row %d "
                                      "(max abs diff %.3g)" % (what, name, r, d))
        if len(lengths) > 1 or lengths[0] < t:
            for r, n in enumerate(lengths):
                with torch.no_grad():
                    alone = traced(ids[r:r + 1, :n], mask[r:r + 1, :n])
                for name in CONTRACT_OUTPUTS:
                    d = max_diff(alone[name][0], got[name][r, :n])
                    worst_pad = max(worst_pad, d)
                    if d > TRACE_ATOL + TRACE_RTOL * float(alone[name].abs().max()):
                        raise ExportError("padding check %s: row %d alone and in the padded batch give different "
                                          "%s at real positions (max abs diff %.3g)" % (what, r, name, d))
        lines.append("%-45s traced vs eager max diff %.2g%s" % (
            what, worst_eager, ", alone vs padded %.2g" % worst_pad if (len(lengths) > 1 or lengths[0] < t) else ""))
    return lines


def trace(wrapper: ContractModule, max_length: int, vocab: int, special: Dict[str, int]):
    ids, mask = example_batch([max(3, max_length // 2), 3], max_length, vocab, np.random.RandomState(1), special)
    import warnings
    with NestedTensorOff(wrapper), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            return torch.jit.trace(wrapper, (ids, mask), strict=False, check_trace=False)
        except Exception as e:  # noqa: BLE001
            raise ExportError("torch.jit.trace of the module at T=max_length=%d fails: %s: %s (is --max-length "
                              "more than the model's position embeddings allow? RoBERTa/PhoBERT: "
                              "max_position_embeddings - 2)" % (max_length, type(e).__name__, str(e).splitlines()[0]))


# ---------------------------------------------------------------------------------------------
# The user's tokenizer (for golden.json)


def align_pieces(text: str, tokens: Sequence[str]) -> List[Tuple[int, int]]:
    """Code point ranges of PhobertTokenizer.tokenize()'s pieces in `text`: a piece ending in "@@"
    is non-final (its word goes on right after it) or, rarely, a final piece whose text ends in
    "@@"; words may be separated by whitespace. Found by search with backtracking."""
    # state: (token index, position, previous piece was final); choice stack for backtracking
    spans: List[Tuple[int, int]] = []
    stack = [(0, 0, True, 0)]  # (token, pos, prev_final, option)
    while stack:
        i, pos, prev_final, opt = stack.pop()
        del spans[i:]
        if i == len(tokens):
            if all(c.isspace() for c in text[pos:]):
                return spans
            continue
        t = tokens[i]
        options = []
        if t.endswith("@@") and len(t) > 2:
            options.append((t[:-2], False))
        options.append((t, True))
        if opt >= len(options):
            continue
        stack.append((i, pos, prev_final, opt + 1))
        piece, final = options[opt]
        p = pos
        if prev_final:
            while p < len(text) and text[p].isspace() and not text.startswith(piece, p):
                p += 1
        if text.startswith(piece, p):
            spans.append((p, p + len(piece)))
            stack.append((i + 1, p + len(piece), final, 0))
    raise ExportError("cannot place PhobertTokenizer's pieces %r in the text %r" % (list(tokens)[:20], text[:80]))


class PhobertPath:
    """transformers' PhobertTokenizer, as the user tokenizes: Encoding with ids from it and piece
    offsets found in the text (for the reference decoder)."""

    def __init__(self, codes: str, vocab: str, max_length: int):
        try:
            from transformers import PhobertTokenizer
        except ImportError as e:
            raise ExportError("golden.json for a fastBPE model is made with transformers' PhobertTokenizer, "
                              "which does not import here (%s): run the export with the venv of "
                              "scripts/deps.d/45-transformers.sh (build/hfenv/bin/python)" % e)
        self.tok = PhobertTokenizer(vocab, codes)
        self.max_length = max_length
        self.pad_id = self.tok.pad_token_id
        self.unk_id = self.tok.unk_token_id
        self.bos_id = self.tok.bos_token_id
        self.eos_id = self.tok.eos_token_id

    def pieces(self, text: str) -> List[Piece]:
        tokens = self.tok.tokenize(text)
        ids = self.tok.convert_tokens_to_ids(tokens)
        to_byte = cp_to_byte_map(text)
        return [Piece(i, to_byte[b], to_byte[e], text[b:e]) for i, (b, e) in zip(ids, align_pieces(text, tokens))]

    def encode(self, text: str) -> Encoding:
        pieces = self.pieces(text)
        ids = self.tok(text, truncation=True, max_length=self.max_length)["input_ids"]
        keep = len(ids) - 2
        if ids[1:-1] != [p.id for p in pieces[:keep]]:
            raise ExportError("PhobertTokenizer's call and its tokenize() disagree on %r" % text[:80])
        return Encoding(text=text, input_ids=list(ids), pieces=pieces[:keep],
                        truncated=len(pieces) > keep, num_pieces_total=len(pieces))


class FairseqSentencepiecePath:
    """transformers' XLMRobertaTokenizer (no dict.txt) or BartphoTokenizer (dict.txt), as the user
    tokenizes: Encoding with the ids it gives and the piece offsets of the Python reference's
    tokenizer in fairseq ids (`reference`), which must give the same ids (else the export stops)."""

    def __init__(self, model: str, dict_file: Optional[str], reference: Tokenizer):
        try:
            from transformers import BartphoTokenizer, XLMRobertaTokenizer
        except ImportError as e:
            raise ExportError("golden.json for a sentencepiece model in fairseq ids is made with transformers' "
                              "XLMRobertaTokenizer / BartphoTokenizer, which do not import here (%s): run the "
                              "export with the venv of scripts/deps.d/45-transformers.sh (build/hfenv/bin/python)" % e)
        self.tok = (BartphoTokenizer(vocab_file=model, monolingual_vocab_file=dict_file) if dict_file
                    else XLMRobertaTokenizer(vocab_file=model))
        self.reference = reference
        self.max_length = reference.max_length
        self.pad_id = self.tok.pad_token_id
        self.unk_id = self.tok.unk_token_id
        self.bos_id = self.tok.cls_token_id
        self.eos_id = self.tok.sep_token_id

    def encode(self, text: str) -> Encoding:
        ids = self.tok(text, truncation=True, max_length=self.max_length)["input_ids"]
        enc = self.reference.encode(text)
        if list(ids) != enc.input_ids:
            pos = next((i for i, (a, b) in enumerate(zip(ids, enc.input_ids)) if a != b),
                       min(len(ids), len(enc.input_ids)))
            raise ExportError("%s and the server's tokenizer differ on %r from position %d: please report it"
                              % (type(self.tok).__name__, text[:80], pos))
        return enc


# ---------------------------------------------------------------------------------------------
# model.json


def architecture(module: torch.nn.Module, emb: torch.nn.Embedding, max_length: int, spec: str) -> Dict:
    """Sizes for model.json (GetModelInfo's `sizes`): the input embedding's rows and width, the
    transformer layers (HF BERT-style layers and nn.TransformerEncoderLayer, all counted), and the
    first layer's heads and feed-forward width."""
    layers, heads, ffn = 0, 0, 0
    for _, m in module.named_modules():
        if isinstance(m, torch.nn.TransformerEncoderLayer):
            layers += 1
            heads = heads or m.self_attn.num_heads
            ffn = ffn or m.linear1.out_features
        elif hasattr(m, "attention") and hasattr(m, "intermediate") and hasattr(m, "output"):
            layers += 1
            self_attn = getattr(m.attention, "self", None)
            heads = heads or int(getattr(self_attn, "num_attention_heads", 0))
            dense = getattr(m.intermediate, "dense", None)
            ffn = ffn or int(getattr(dense, "out_features", 0))
    arch = {"vocab_size": emb.num_embeddings, "hidden": emb.embedding_dim, "max_length": max_length,
            "module": spec}
    arch.update({k: v for k, v in (("layers", layers), ("heads", heads), ("ffn", ffn)) if v})
    return arch


def tokenizer_entry(kind: str, fairseq: bool = False, has_dict: bool = False) -> object:
    if kind == "fastbpe":
        return {"type": "fastbpe", "codes": "bpe.codes", "vocab": "vocab.txt"}
    if fairseq:
        entry = {"type": "sentencepiece", "model": "sentencepiece.bpe.model", "id_map": "fairseq"}
        if has_dict:
            entry["dict"] = "dict.txt"
        return entry
    return {"type": "sentencepiece", "model": "tokenizer.model"}


# ---------------------------------------------------------------------------------------------
# The export


def export_module(args) -> Dict:
    t0 = time.time()
    fastbpe = args.tokenizer_type == "fastbpe"
    if fastbpe and not (args.codes and args.vocab):
        raise ExportError("--tokenizer-type fastbpe needs --codes bpe.codes and --vocab vocab.txt")
    if not fastbpe and not args.tokenizer:
        raise ExportError("--tokenizer-type sentencepiece needs --tokenizer FILE.model")
    fairseq = not fastbpe and getattr(args, "id_map", "sentencepiece") == "fairseq"
    if getattr(args, "dict", None) and not fairseq:
        raise ExportError("--dict (a fairseq dict.txt, BARTpho's) needs --tokenizer-type sentencepiece --id-map fairseq")
    from .validate import parse_segmenter
    segmenter = parse_segmenter(args.segmenter) if getattr(args, "segmenter", None) else None
    labels = read_labels(args.labels, fastbpe or fairseq)
    if args.name:
        labels["name"] = args.name
    if args.version:
        labels["version"] = args.version
    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    max_length = args.max_length or config.get("max_length")
    if not isinstance(max_length, int) or max_length < 3:
        raise ExportError("give --max-length (tokens the model sees, <s> and </s> included; PhoBERT-base: 256); "
                          "config.json has no integer max_length")

    factory = import_object(args.module, args.module_path)
    module = build_module(factory, config, args.config_as_kwargs).eval()
    sd, layout = read_checkpoint(args.checkpoint)
    sd, name_map = map_names(sd, module.state_dict(), [tuple(r.split("=", 1)) for r in args.rename],
                             args.drop)
    strict_load(module, sd)
    log("checkpoint %s: %s, %d tensors loaded strictly into %s" % (args.checkpoint, layout, len(sd), args.module))
    for line in name_map or ["(no names changed)"]:
        log("name map: " + line)

    if fastbpe:
        try:
            tokenizer = FastBpeTokenizer(args.codes, args.vocab, max_length)
        except (ValueError, OSError) as e:
            raise ExportError("the fastBPE files do not load: %s" % e)
        n_ids, where = tokenizer.vocab_size(), "%s (4 specials + %d lines + <mask>)" % (
            args.vocab, tokenizer.vocab_size() - 5)
    elif fairseq:
        try:
            tokenizer = Tokenizer(args.tokenizer, max_length, id_map="fairseq", dict_file=args.dict or None)
        except (ValueError, OSError) as e:
            raise ExportError("the sentencepiece model in fairseq ids does not load: %s" % e)
        except Exception as e:  # noqa: BLE001 - whatever sentencepiece says
            raise ExportError("%s: sentencepiece cannot load it: %s" % (args.tokenizer, e))
        n_ids = tokenizer.vocab_size()
        where = ("%s with %s in BARTpho's ids (4 specials, its lines, <mask>)" % (args.tokenizer, args.dict)
                 if args.dict else
                 "%s in XLM-RoBERTa's ids (%d pieces + <pad> + <mask>)" % (args.tokenizer, n_ids - 2))
    else:
        try:
            tokenizer = Tokenizer(args.tokenizer, max_length, **labels["special_tokens"])
        except Exception as e:  # noqa: BLE001 - whatever sentencepiece says
            raise ExportError("%s: sentencepiece cannot load it: %s" % (args.tokenizer, e))
        sp = tokenizer.sp
        actual = {"pad_id": sp.pad_id(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id()}
        for k, v in labels["special_tokens"].items():
            if actual.get(k) != v:
                raise ExportError("special_tokens.%s: %s says %r, the sentencepiece model has %r"
                                  % (k, args.labels, v, actual.get(k)))
        n_ids, where = sp.get_piece_size(), args.tokenizer
    emb_name, emb = input_embedding(module, args.embedding)
    if n_ids > emb.num_embeddings:
        raise ExportError("vocabulary size mismatch: %s gives %d ids but the module's input embedding %r has %d rows: "
                          "the checkpoint was trained with another vocabulary (or config.json's vocab_size is wrong)"
                          % (where, n_ids, emb_name, emb.num_embeddings))
    log("tokenizer: %s, %d ids; input embedding %r has %d rows%s" % (
        where, n_ids, emb_name, emb.num_embeddings,
        "" if n_ids == emb.num_embeddings else " (%d rows no token reaches)" % (emb.num_embeddings - n_ids)))
    special = labels["special_tokens"]

    with torch.no_grad():
        ids, mask = example_batch([3], 3, n_ids, np.random.RandomState(0), special)
        try:
            sample_out = module(ids, mask)
        except Exception as e:  # noqa: BLE001
            raise ExportError("forward(input_ids, attention_mask) of the module fails: %s: %s" % (type(e).__name__, e))
    keys = output_keys(args.outputs, sample_out)
    counts = [len(labels["span_labels"]), len(labels["aspects"]), len(labels["sentiments"])]
    for name, key, n in zip(CONTRACT_OUTPUTS, keys, counts):
        shape = list(sample_out[key].shape)
        if len(shape) != 3 or shape[:2] != [1, 3] or shape[2] != n:
            raise ExportError("forward output %r (for %s) has shape %s for input [1, 3]; the contract needs token-level "
                              "logits [B, T, %d] (%d labels in %s)" % (key, name, shape, n, n, args.labels))
    wrapper = ContractModule(module, keys, emb.num_embeddings, special["unk_id"]).eval()
    encoders = nested_tensor_encoders(module)
    traced = trace(wrapper, max_length, n_ids, special)
    log("traced with the nested-tensor fast path off on %d nn.TransformerEncoder(s) %s"
        % (len(encoders), [n for n, _ in encoders]))
    for line in prove_trace(traced, wrapper, max_length, n_ids, special):
        log("trace check: " + line)

    meta = {k: labels[k] for k in ("name", "version")}
    meta.update({"max_length": max_length,
                 "tokenizer": tokenizer_entry(args.tokenizer_type, fairseq, bool(getattr(args, "dict", None))),
                 "special_tokens": dict(special), "tag_scheme": labels["tag_scheme"],
                 "span_labels": list(labels["span_labels"]), "aspects": list(labels["aspects"]),
                 "sentiments": list(labels["sentiments"]), "outputs": dict(OUTPUTS),
                 "architecture": architecture(module, emb, max_length, args.module),
                 "text_normalization": args.text_normalization})
    log("text_normalization: %s (%s)" % (args.text_normalization,
        "texts tokenized as sent, as your Python path does" if args.text_normalization == "none"
        else "decomposed Unicode composed (NFC) before tokenizing"))
    from .validate import contract_errors, load_schema, schema_errors, validate
    if segmenter:
        meta["segmenter"] = segmenter
        log("segmenter: %s %s (model.json; the clients segment texts with it before sending)"
            % (segmenter["package"], segmenter["version"]))
    errs = schema_errors(meta, load_schema()) + contract_errors(meta)
    if errs:
        raise ExportError("the labels do not make a valid model.json: %s" % "; ".join(errs))

    # Everything is written into a fresh folder beside --out and moved into --out only once the
    # golden file is made and the directory passes the contract checks.
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".export-", dir=os.path.dirname(out))
    try:
        traced.save(os.path.join(work, "model.pt"))
        if fastbpe:
            shutil.copyfile(args.codes, os.path.join(work, "bpe.codes"))
            shutil.copyfile(args.vocab, os.path.join(work, "vocab.txt"))
        elif fairseq:
            shutil.copyfile(args.tokenizer, os.path.join(work, "sentencepiece.bpe.model"))
            if args.dict:
                shutil.copyfile(args.dict, os.path.join(work, "dict.txt"))
        else:
            shutil.copyfile(args.tokenizer, os.path.join(work, "tokenizer.model"))
        with open(os.path.join(work, "model.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=2)
            f.write("\n")

        # golden.json from the user's own path: their tokenizer and the eager module.
        from .reference import ReferenceModel
        user_tok = (PhobertPath(args.codes, args.vocab, max_length) if fastbpe
                    else FairseqSentencepiecePath(args.tokenizer, args.dict or None, tokenizer) if fairseq
                    else tokenizer)
        user_path = ReferenceModel(None, meta=meta, tokenizer=user_tok, module=wrapper)  # eager
        samples = (golden_mod.read_samples(args.golden_texts) if args.golden_texts
                   else golden_mod.default_samples(tokenizer))
        golden, margins = golden_mod.build(user_path, samples, args.threshold)
        golden_mod.write(work, golden)
        errs = validate(work)  # also replays golden.json through the Python reference (its tokenizer + model.pt)
        if errs:
            raise ExportError("the exported directory does not pass the contract checks: %s" % "; ".join(errs))
        os.makedirs(out, exist_ok=True)
        for stale in ("golden.json", "tokenizer.model", "bpe.codes", "vocab.txt", "sentencepiece.bpe.model",
                      "dict.txt", "model.pt", "model.json"):
            if os.path.exists(os.path.join(out, stale)):
                os.remove(os.path.join(out, stale))
        for name in os.listdir(work):
            os.replace(os.path.join(work, name), os.path.join(out, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n_tuples = sum(len(s["tuples"]) for s in golden["samples"])
    log("%s: %s %s, model.pt %.1f MB, architecture %s" % (
        out, meta["name"], meta["version"], os.path.getsize(os.path.join(out, "model.pt")) / 1e6,
        {k: v for k, v in meta["architecture"].items() if k != "module"}))
    log("golden.json: %d samples (%s + eager module), %d tuples at threshold %g; the Python reference "
        "(model.pt + eaos_tools tokenizer) reproduces it" % (
            len(golden["samples"]),
            "PhobertTokenizer" if fastbpe else type(user_tok.tok).__name__ if fairseq else "sentencepiece",
            n_tuples, args.threshold))
    log("decision margins: span logit gap >= %.4g, |confidence - threshold| >= %.4g"
        % (margins["span_logit_gap"], margins["confidence_to_threshold"]))
    if margins["confidence_to_threshold"] < 10 * golden_mod.CONFIDENCE_TOLERANCE or margins["span_logit_gap"] < 1e-3:
        print("export: warning: a golden sample sits close to a decision boundary; the server's self-test may "
              "see float differences flip it (choose other --golden-texts)", file=sys.stderr)
    log("done in %.1fs" % (time.time() - t0))
    return {"model_json": meta, "golden": golden, "margins": margins}


def log(msg: str) -> None:
    print("export: " + msg, flush=True)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m eaos_tools.export --module ...",
                                 description="export your own EAOS module (e.g. PhoBERT + heads) and its checkpoint "
                                             "into a model directory the server loads")
    ap.add_argument("--module", required=True, help="pkg.module:ClassOrFunction that builds the model from config.json")
    ap.add_argument("--module-path", action="append", default=[], help="folder to import --module from (repeatable)")
    ap.add_argument("--checkpoint", required=True, help="torch.save file: {'model_state_dict': ...}, "
                                                        "{'state_dict': ...} or a bare state dict")
    ap.add_argument("--config", required=True, help="config.json: passed to --module as one dict")
    ap.add_argument("--config-as-kwargs", action="store_true", help="call --module(**config) instead")
    ap.add_argument("--tokenizer-type", choices=("fastbpe", "sentencepiece"), default="fastbpe")
    ap.add_argument("--codes", help="fastbpe: bpe.codes (PhoBERT's)")
    ap.add_argument("--vocab", help="fastbpe: vocab.txt (PhoBERT's)")
    ap.add_argument("--tokenizer", help="sentencepiece: the .model file")
    ap.add_argument("--id-map", choices=("sentencepiece", "fairseq"), default="sentencepiece",
                    help="sentencepiece: the ids the model was trained with, the model's own or fairseq's "
                         "(XLM-RoBERTa's sentencepiece.bpe.model; BARTpho's with --dict)")
    ap.add_argument("--dict", help="sentencepiece with --id-map fairseq: fairseq's dict.txt (BARTpho's "
                                   "monolingual_vocab_file)")
    ap.add_argument("--labels", required=True, help="labels JSON: name, version, tag_scheme, span_labels, aspects, "
                                                    "sentiments (in your heads' index order)")
    ap.add_argument("--max-length", type=int, help="tokens per text, <s> and </s> included (default: config.json's "
                                                   "max_length)")
    ap.add_argument("--outputs", help="forward's span,aspect,sentiment entries: dict keys (default %s) or tuple "
                                      "positions (default 0,1,2)" % DEFAULT_DICT_OUTPUTS)
    ap.add_argument("--embedding", help="name of the input nn.Embedding (default: *word_embeddings, else the largest)")
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                    help="rename checkpoint keys starting with OLD (repeatable)")
    ap.add_argument("--drop", action="append", default=[], metavar="KEY", help="drop a checkpoint key (repeatable)")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--golden-texts", help="JSONL of {\"id\", \"text\"} for golden.json (default: built-in)")
    ap.add_argument("--threshold", type=float, default=golden_mod.THRESHOLD)
    ap.add_argument("--name", help="override the labels file's model name")
    ap.add_argument("--version", help="override the labels file's version")
    ap.add_argument("--segmenter", metavar="PACKAGE[==VERSION]",
                    help="the word segmenter your training texts went through (pyvi or underthesea; "
                         "version: the installed one when not given), recorded in model.json; the "
                         "clients then segment with it before sending (docs/phobert.md)")
    ap.add_argument("--text-normalization", choices=("none", "nfc"), default="none",
                    help="none (default): the server tokenizes texts as sent, exactly as your own "
                         "Python path (PhobertTokenizer) does; nfc: it composes decomposed Unicode "
                         "first (NFD Vietnamese from some keyboards), which your model then sees "
                         "as it saw its (NFC) training texts. model.json's text_normalization")
    ap.add_argument("--threads", type=int, default=2)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    for r in args.rename:
        if "=" not in r:
            print("export: error: --rename %s: expected OLD=NEW" % r, file=sys.stderr)
            return 1
    try:
        export_module(args)
    except (ExportError, ValueError, OSError) as e:
        print("export: error: %s" % e, file=sys.stderr)
        return 1
    return 0
