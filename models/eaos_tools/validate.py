"""Checks a model directory against docs/model-contract.md; prints every difference.

    cd models && /usr/bin/python3 -m eaos_tools.validate demo

Exit status 0 when the directory conforms, 1 otherwise.
Checks: files present; model.json against models/model.schema.json (a small built-in validator
for the keywords that schema uses) plus the rules a schema cannot say; the tokenizer loads and its
special ids match; a dummy forward returns every output in "outputs" with shape
[B, T, len(labels)] and a floating dtype, at T = max_length too; padding does not change outputs
at real positions; golden.json, when present, has the documented shape and the Python reference
reproduces it.
"""

import argparse
import json
import os
import re
import sys
from typing import Any, Dict, List

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "model.schema.json")
REQUIRED_SPAN_LABELS = {"O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"}

_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _type_ok(value: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[t])


def schema_errors(value: Any, schema: Dict, path: str = "model.json") -> List[str]:
    """Validates the subset of JSON Schema 2020-12 keywords model.schema.json uses."""
    errs: List[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, t) for t in types):
            return ["%s: expected %s, got %s" % (path, "/".join(types), type(value).__name__)]
    if "const" in schema and value != schema["const"]:
        errs.append("%s: must be %r, got %r" % (path, schema["const"], value))
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errs.append("%s: shorter than %d" % (path, schema["minLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append("%s: %r < minimum %r" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append("%s: %r > maximum %r" % (path, value, schema["maximum"]))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append("%s: more than %d items" % (path, schema["maxItems"]))
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            errs.append("%s: items are not unique" % path)
        if "items" in schema:
            for i, v in enumerate(value):
                errs += schema_errors(v, schema["items"], "%s[%d]" % (path, i))
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: missing field %r" % (path, k))
        if len(value) < schema.get("minProperties", 0):
            errs.append("%s: fewer than %d fields" % (path, schema["minProperties"]))
        props = schema.get("properties", {})
        for k, v in value.items():
            if "propertyNames" in schema:
                errs += schema_errors(k, schema["propertyNames"], "%s key %r" % (path, k))
            if k in props:
                errs += schema_errors(v, props[k], "%s.%s" % (path, k))
            else:
                extra = schema.get("additionalProperties", True)
                if extra is False:
                    errs.append("%s: unknown field %r" % (path, k))
                elif isinstance(extra, dict):
                    errs += schema_errors(v, extra, "%s.%s" % (path, k))
    return errs


def load_schema() -> Dict:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


SEGMENTER_PACKAGES = ("pyvi", "underthesea")


def parse_segmenter(spec: str) -> Dict[str, str]:
    """``pyvi==0.1.1`` (or ``pyvi``: the installed version) -> model.json's "segmenter"."""
    package, _, version = spec.partition("==")
    package, version = package.strip(), version.strip()
    if package not in SEGMENTER_PACKAGES:
        raise ValueError("--segmenter %s: the package must be one of %s (the segmenters the clients run)"
                         % (spec, ", ".join(SEGMENTER_PACKAGES)))
    if not version:
        import importlib.metadata
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            raise ValueError("--segmenter %s: %s is not installed here; give its version as %s==X.Y.Z "
                             "(the one the training data was segmented with)" % (spec, package, package)) from None
    return {"package": package, "version": version}


def contract_errors(meta: Dict) -> List[str]:
    """Rules of the contract that the schema does not express."""
    errs = []
    sl = meta.get("span_labels")
    if isinstance(sl, list) and set(sl) != REQUIRED_SPAN_LABELS:
        errs.append("model.json.span_labels: must be exactly %s in any order, got %r"
                    % (sorted(REQUIRED_SPAN_LABELS), sl))
    outs = meta.get("outputs")
    if isinstance(outs, dict):
        for key in ("span_labels", "aspects", "sentiments"):
            if key not in outs.values():
                errs.append("model.json.outputs: no output is mapped to %r" % key)
        for name, key in outs.items():
            if key not in meta:
                errs.append("model.json.outputs.%s: label list %r is not in model.json" % (name, key))
    st = meta.get("special_tokens")
    if isinstance(st, dict) and len(set(st.values())) != len(st):
        errs.append("model.json.special_tokens: ids must be distinct, got %r" % st)
    return errs


TOKENIZER_KEYS = ("type", "model", "codes", "vocab", "id_map", "dict")


def tokenizer_errors(model_dir, tok, special_tokens):
    """The rules of an object-valued "tokenizer" (the server's runtime::LoadTokenizer says the same)."""
    errs = []
    unknown = sorted(set(tok) - set(TOKENIZER_KEYS))
    if unknown:
        errs.append("tokenizer has unknown keys %s (known: %s)" % (unknown, ", ".join(TOKENIZER_KEYS)))
    kind = tok.get("type", "sentencepiece")
    if kind not in ("sentencepiece", "fastbpe"):
        return errs + ['tokenizer.type must be "sentencepiece" or "fastbpe", got %r' % kind]
    want = {"bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3}
    fairseq_ids = kind == "fastbpe"
    if kind == "sentencepiece":
        id_map = tok.get("id_map", "sentencepiece")
        if not isinstance(tok.get("model"), str) or not tok.get("model"):
            errs.append('a sentencepiece tokenizer object needs "model" (a file in the model directory)')
        if id_map not in ("sentencepiece", "fairseq"):
            errs.append('tokenizer.id_map must be "sentencepiece" or "fairseq" (XLM-RoBERTa, BARTpho), got %r'
                        % (id_map,))
        for key in ("codes", "vocab"):
            if key in tok:
                errs.append('tokenizer.%s belongs to "type": "fastbpe", not sentencepiece' % key)
        if "dict" in tok:
            if id_map != "fairseq":
                errs.append('tokenizer.dict (a fairseq dict.txt) belongs to "id_map": "fairseq"')
            elif not isinstance(tok["dict"], str) or not tok["dict"]:
                errs.append("tokenizer.dict must be a file name in the model directory")
            elif not os.path.isfile(os.path.join(model_dir, tok["dict"])):
                errs.append("%s: missing (model.json.tokenizer.dict)" % tok["dict"])
        fairseq_ids = id_map == "fairseq"
        what = 'a sentencepiece tokenizer with "id_map": "fairseq"'
    else:
        for key in ("model", "id_map", "dict"):
            if key in tok:
                errs.append("tokenizer.%s belongs to sentencepiece; fastbpe uses codes and vocab" % key)
        for key in ("codes", "vocab"):
            name = tok.get(key)
            if not isinstance(name, str) or not name:
                errs.append('a fastbpe tokenizer needs "%s" (a file in the model directory)' % key)
            elif not os.path.isfile(os.path.join(model_dir, name)):
                errs.append("%s: missing (model.json.tokenizer.%s)" % (name, key))
        what = "a fastbpe tokenizer"
    if fairseq_ids and isinstance(special_tokens, dict) and any(
            special_tokens.get(k) != v for k, v in want.items()):
        errs.append("special_tokens: %s has fairseq's ids %s, model.json says %s" % (what, want, special_tokens))
    return errs


def validate(model_dir: str, check_forward: bool = True) -> List[str]:
    errs: List[str] = []
    for f in ("model.pt", "model.json"):
        if not os.path.isfile(os.path.join(model_dir, f)):
            errs.append("%s: missing" % f)
    if not os.path.isfile(os.path.join(model_dir, "model.json")):
        return errs
    try:
        with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as fh:
            meta = json.load(fh)
    except ValueError as e:
        return errs + ["model.json: not valid JSON: %s" % e]
    errs += schema_errors(meta, load_schema())
    errs += contract_errors(meta)

    tok_file = meta.get("tokenizer", "tokenizer.model")
    sp = None
    n_ids = None  # ids the tokenizer gives (the model's embedding rows at least)
    fairseq_sp = False
    if isinstance(tok_file, dict):
        errs += tokenizer_errors(model_dir, tok_file, meta.get("special_tokens"))
        if not errs and tok_file.get("type") == "fastbpe":
            from .tokenization import read_fastbpe_vocab
            try:
                n_ids = len(read_fastbpe_vocab(os.path.join(model_dir, tok_file["vocab"])))
            except (ValueError, OSError) as e:
                errs.append("%s: %s" % (tok_file["vocab"], e))
        fairseq_sp = tok_file.get("type", "sentencepiece") == "sentencepiece" and tok_file.get("id_map") == "fairseq"
        tok_file = tok_file.get("model") if tok_file.get("type", "sentencepiece") == "sentencepiece" else None
    if isinstance(tok_file, str):
        tok_path = os.path.join(model_dir, tok_file)
        if not os.path.isfile(tok_path):
            errs.append("%s: missing (model.json.tokenizer)" % tok_file)
        else:
            import sentencepiece as spm
            try:
                sp = spm.SentencePieceProcessor(model_file=tok_path)
                n_ids = sp.get_piece_size()
            except Exception as e:  # noqa: BLE001 - report whatever sentencepiece says
                errs.append("%s: sentencepiece cannot load it: %s" % (tok_file, e))
    st = meta.get("special_tokens") if isinstance(meta.get("special_tokens"), dict) else {}
    if sp is not None and fairseq_sp and not errs:
        from .tokenization import load_tokenizer
        try:
            n_ids = load_tokenizer(model_dir, meta).vocab_size()
        except (ValueError, OSError) as e:
            errs.append("tokenizer: %s" % e)
    elif sp is not None and st:
        actual = {"pad_id": sp.pad_id(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id()}
        for k, v in st.items():
            if k in actual and actual[k] != v:
                errs.append("special_tokens.%s: model.json says %r, tokenizer has %r" % (k, v, actual[k]))

    if errs or not check_forward or not os.path.isfile(os.path.join(model_dir, "model.pt")):
        return errs

    import torch
    torch.set_num_threads(2)
    try:
        module = torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
        module.eval()
    except Exception as e:  # noqa: BLE001
        return errs + ["model.pt: torch.jit.load fails: %s" % str(e).splitlines()[0]]
    max_len = int(meta["max_length"])
    vocab = n_ids or 4
    pad = st.get("pad_id", 0)
    bos = st.get("bos_id", 2)
    eos = st.get("eos_id", 3)
    expected = {name: len(meta[key]) for name, key in meta["outputs"].items()}

    def run(ids, mask):
        with torch.no_grad():
            return module(torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long))

    # batch of 2: a short padded row and a full row at T = max_length using the largest piece id
    t = max_len
    short_len = min(6, t)
    row_short = [bos] + [min(4 + i, vocab - 1) for i in range(short_len - 2)] + [eos]
    row_full = [bos] + [(vocab - 1 - i) % vocab for i in range(t - 2)] + [eos]
    ids = [row_short + [pad] * (t - short_len), row_full]
    mask = [[1] * short_len + [0] * (t - short_len), [1] * t]
    try:
        out = run(ids, mask)
    except Exception as e:  # noqa: BLE001
        return errs + ["forward(input_ids[2,%d], attention_mask[2,%d]) fails: %s"
                       % (t, t, str(e).strip().splitlines()[-1])]
    if not isinstance(out, dict):
        return errs + ["forward returns %s, not Dict[str, Tensor]" % type(out).__name__]
    for name, n in expected.items():
        if name not in out:
            errs.append("forward: output %r (model.json.outputs) missing; it returns %s" % (name, sorted(out)))
            continue
        v = out[name]
        if list(v.shape) != [2, t, n]:
            errs.append("forward: %s has shape %s, expected [2, %d, %d]" % (name, list(v.shape), t, n))
        if not v.is_floating_point():
            errs.append("forward: %s has dtype %s, expected a floating dtype" % (name, v.dtype))
    if errs:
        return errs
    # padding invariance: the short row alone must give the same outputs at its real positions
    alone = run([row_short], [[1] * short_len])
    for name in expected:
        a = alone[name][0].float()
        b = out[name][0, :short_len].float()
        diff = float((a - b).abs().max())
        if diff > 1e-3:
            errs.append("forward: %s at real positions changes with padding (max abs diff %.3g)" % (name, diff))
    if not errs:
        del module
        errs += golden_errors(model_dir, meta)
    return errs


def golden_structure_errors(golden: Any, meta: Dict) -> List[str]:
    """Shape of golden.json (docs/models.md): fields, types, one checksum per model.json output."""
    if not isinstance(golden, dict):
        return ["golden.json: expected an object"]
    errs = []
    for k in ("threshold", "confidence_tolerance", "logits_rtol"):
        if not _type_ok(golden.get(k), "number") or golden[k] < 0:
            errs.append("golden.json.%s: expected a number >= 0, got %r" % (k, golden.get(k)))
    samples = golden.get("samples")
    if not isinstance(samples, list) or not samples:
        return errs + ["golden.json.samples: expected a non-empty array"]
    outputs = list(meta.get("outputs", {}))
    for i, s in enumerate(samples):
        where = "golden.json.samples[%d]" % i
        if not isinstance(s, dict):
            errs.append(where + ": expected an object")
            continue
        for k, t in (("id", "string"), ("text", "string"), ("num_tokens", "integer"),
                     ("truncated", "boolean"), ("tuples", "array"), ("logits", "array")):
            if not _type_ok(s.get(k), t):
                errs.append("%s.%s: expected %s, got %r" % (where, k, t, s.get(k)))
        ids = s.get("input_ids")
        if ids is not None and (not isinstance(ids, list) or not all(_type_ok(i, "integer") and i >= 0 for i in ids)):
            errs.append("%s.input_ids: expected an array of ids >= 0, got %r" % (where, ids))
        names = [c.get("output") for c in s.get("logits", []) if isinstance(c, dict)]
        if names != outputs:
            errs.append("%s.logits: outputs %s, expected %s (model.json.outputs)" % (where, names, outputs))
    return errs


def golden_errors(model_dir: str, meta: Dict) -> List[str]:
    """golden.json, when present: its structure, then a replay through the Python reference."""
    path = os.path.join(model_dir, "golden.json")
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as fh:
            golden = json.load(fh)
    except ValueError as e:
        return ["golden.json: not valid JSON: %s" % e]
    errs = golden_structure_errors(golden, meta)
    if errs:
        return errs
    from .golden import build, compare
    from .reference import ReferenceModel
    samples = [{"id": s["id"], "text": s["text"]} for s in golden["samples"]]
    replay, _ = build(ReferenceModel(model_dir), samples, golden["threshold"])
    return ["golden.json: " + d for d in compare(golden, replay)]


def main(argv=None):
    ap = argparse.ArgumentParser(description="validate a model directory against the contract")
    ap.add_argument("model_dir", nargs="?", default=None)
    ap.add_argument("--model", dest="model_opt", default=None, help="same as the positional argument")
    ap.add_argument("--no-forward", action="store_true", help="skip loading model.pt")
    args = ap.parse_args(argv)
    d = args.model_opt or args.model_dir
    if not d:
        ap.error("give a model directory")
    errs = validate(d, check_forward=not args.no_forward)
    if errs:
        print("%s: %d difference(s) from the contract:" % (d, len(errs)))
        for e in errs:
            print("  - " + e)
        sys.exit(1)
    print("%s: OK" % d)


if __name__ == "__main__":
    main()
