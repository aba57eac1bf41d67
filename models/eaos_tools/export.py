"""Checkpoint of the reference architecture + sentencepiece model + label sets -> model directory.

    cd models
    /usr/bin/python3 -m eaos_tools.export --checkpoint CKPT --tokenizer SPM --labels LABELS.json \\
        --out DIR [--golden-texts FILE] [--threshold 0.5] [--name N] [--version V]
    # a randomly initialised model of a preset size, through the same path (fixed seed):
    /usr/bin/python3 -m eaos_tools.export --random-init base --tokenizer demo/tokenizer.model \\
        --labels labels.json --name eaos-base --out /tmp/eaos-base

Your own module (PhoBERT + nn.TransformerEncoder + heads, a seed-style ``latest_checkpoint.pth``):
``--module pkg.mod:Class``, see export_module.py and docs/phobert.md.

CKPT is a ``torch.save`` dict ``{"config": {...}, "state_dict": {...}}``: "config" holds the
EAOSConfig fields (vocab_size, hidden, layers, heads, ffn, max_length; optional dropout,
layer_norm_eps); the label counts come from LABELS.json.  LABELS.json has name, version,
tag_scheme, span_labels, aspects, sentiments and special_tokens (a model.json works too).

The checkpoint must fit the reference architecture (eaos_tools/model.py) exactly: every tensor is
used, none is missing, every shape is equal.  Otherwise the export stops, writes nothing and names
the first offending tensor (exit status 1).  It then writes model.pt (TorchScript), tokenizer.model,
model.json, checks the directory against the contract (validate.py) and writes golden.json, the
reference's answers on sample texts that the server replays at load (golden.py).
"""

import argparse
import json
import os
import shutil
import sys
import time
from typing import Dict, List, Optional, Tuple

import torch

from . import ASPECTS, OUTPUTS, SENTIMENTS, SPAN_LABELS, SPECIAL_TOKENS
from . import golden as golden_mod
from .model import EAOSConfig, EAOSModel, export_torchscript

REQUIRED_CONFIG = ("vocab_size", "hidden", "layers", "heads", "ffn", "max_length")
LABEL_FIELDS = ("name", "version", "tag_scheme", "span_labels", "aspects", "sentiments", "special_tokens")
LABEL_COUNTS = {"num_span_labels": "span_labels", "num_aspects": "aspects", "num_sentiments": "sentiments"}
PRESETS = {
    # CI and tests: small and fast.
    "tiny": dict(hidden=64, layers=2, heads=4, ffn=128, max_length=128),
    # benchmarks: the size of a BERT-base encoder.
    "base": dict(hidden=768, layers=12, heads=12, ffn=3072, max_length=256),
}


class ExportError(Exception):
    """The inputs do not make a model directory; the message says why."""


def default_labels(name: str = "eaos-demo", version: str = "1.0.0") -> Dict:
    return {"name": name, "version": version, "tag_scheme": "BIO", "span_labels": list(SPAN_LABELS),
            "aspects": list(ASPECTS), "sentiments": list(SENTIMENTS), "special_tokens": dict(SPECIAL_TOKENS)}


def save_checkpoint(path: str, cfg: EAOSConfig, state_dict: Dict[str, torch.Tensor]) -> None:
    torch.save({"config": cfg.to_dict(), "state_dict": dict(state_dict)}, path)


def load_checkpoint(path: str) -> Dict:
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - whatever torch says
        raise ExportError("%s: torch.load fails: %s" % (path, str(e).splitlines()[0] if str(e) else e))
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("config"), dict) \
            or not isinstance(ckpt.get("state_dict"), dict):
        raise ExportError("%s: expected a dict {\"config\": {...}, \"state_dict\": {...}} (torch.save), "
                          "got %s%s" % (path, sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__,
                                        SEED_HINT if isinstance(ckpt, dict) else ""))
    return ckpt


def read_labels(path: str) -> Dict:
    with open(path, encoding="utf-8") as f:
        labels = json.load(f)
    missing = [k for k in LABEL_FIELDS if k not in labels]
    if missing:
        raise ExportError("%s: missing field(s) %s" % (path, ", ".join(missing)))
    return {k: labels[k] for k in LABEL_FIELDS}


def config_from(ckpt_config: Dict, labels: Dict) -> EAOSConfig:
    """The EAOSConfig of a checkpoint; label counts come from the label sets."""
    missing = [k for k in REQUIRED_CONFIG if k not in ckpt_config]
    if missing:
        raise ExportError("checkpoint config lacks %s (it has %s)" % (", ".join(missing), sorted(ckpt_config)))
    known = set(EAOSConfig.__dataclass_fields__)
    extra = sorted(k for k in ckpt_config if k not in known)
    if extra:
        print("export: note: checkpoint config keys %s are not EAOSConfig fields; ignored" % extra,
              file=sys.stderr)
    fields = {k: v for k, v in ckpt_config.items() if k in known}
    for count, key in LABEL_COUNTS.items():
        n = len(labels[key])
        if count in fields and fields[count] != n:
            raise ExportError("checkpoint config says %s=%d but the labels file has %d %s" % (
                count, fields[count], n, key))
        fields[count] = n
    cfg = EAOSConfig(**fields)
    if cfg.hidden % cfg.heads:
        raise ExportError("config: hidden (%d) is not divisible by heads (%d)" % (cfg.hidden, cfg.heads))
    return cfg


def describe(cfg: EAOSConfig) -> str:
    return "vocab %d, hidden %d, %d layers, %d heads, ffn %d, max_length %d" % (
        cfg.vocab_size, cfg.hidden, cfg.layers, cfg.heads, cfg.ffn, cfg.max_length)


def state_dict_problems(expected: Dict[str, torch.Tensor], got: Dict) -> List[str]:
    """Every difference between the reference's parameters and a checkpoint's, checkpoint order
    first (unused tensors, other shapes, non-float tensors), then missing tensors."""
    problems = []
    for k, v in got.items():
        if k not in expected:
            problems.append("checkpoint tensor %r is not used by the reference architecture" % k)
        elif not isinstance(v, torch.Tensor):
            problems.append("checkpoint entry %r is a %s, not a tensor" % (k, type(v).__name__))
        elif tuple(v.shape) != tuple(expected[k].shape):
            problems.append("checkpoint tensor %r has shape %s, the reference architecture expects %s"
                            % (k, list(v.shape), list(expected[k].shape)))
        elif not v.is_floating_point():
            problems.append("checkpoint tensor %r has dtype %s, expected a floating type" % (k, v.dtype))
        elif not bool(torch.isfinite(v).all()):
            problems.append("checkpoint tensor %r contains NaN or infinite values" % k)
    for k, v in expected.items():
        if k not in got:
            problems.append("missing tensor %r (shape %s)" % (k, list(v.shape)))
    return problems


SEED_HINT = ("; a checkpoint of your own module (PhoBERT + heads, 'model_state_dict' + config.json) is exported "
             "with --module pkg.mod:Class --config config.json (docs/phobert.md)")


def build_model(ckpt: Dict, labels: Dict) -> Tuple[EAOSModel, EAOSConfig]:
    """The reference model with the checkpoint's weights (eval mode) and its config, or
    ExportError naming the first mismatch."""
    cfg = config_from(ckpt["config"], labels)
    model = EAOSModel(cfg)
    problems = state_dict_problems(model.state_dict(), ckpt["state_dict"])
    if problems:
        shown = "\n".join("  - " + p for p in problems[:10])
        more = "\n  ... and %d more" % (len(problems) - 10) if len(problems) > 10 else ""
        raise ExportError("the checkpoint does not fit the reference architecture (EAOSModel, %s): %s\n"
                          "%d difference(s):\n%s%s\n(not the reference architecture%s)"
                          % (describe(cfg), problems[0], len(problems), shown, more, SEED_HINT))
    model.load_state_dict({k: v.to(torch.float32) for k, v in ckpt["state_dict"].items()}, strict=True)
    return model.eval(), cfg


def check_tokenizer(path: str, labels: Dict, cfg: EAOSConfig) -> None:
    import sentencepiece as spm
    try:
        sp = spm.SentencePieceProcessor(model_file=path)
    except Exception as e:  # noqa: BLE001
        raise ExportError("%s: sentencepiece cannot load it: %s" % (path, e))
    actual = {"pad_id": sp.pad_id(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id()}
    for k, v in labels["special_tokens"].items():
        if actual.get(k) != v:
            raise ExportError("special_tokens.%s: the labels file says %r, the tokenizer has %r"
                              % (k, v, actual.get(k)))
    if sp.get_piece_size() > cfg.vocab_size:
        raise ExportError("the tokenizer has %d pieces but the model's vocab_size is %d"
                          % (sp.get_piece_size(), cfg.vocab_size))


def model_json(labels: Dict, cfg: EAOSConfig, segmenter: Optional[Dict] = None) -> Dict:
    meta = {k: labels[k] for k in ("name", "version")}
    meta.update({"max_length": cfg.max_length, "tokenizer": "tokenizer.model",
                 "special_tokens": dict(labels["special_tokens"]), "tag_scheme": labels["tag_scheme"],
                 "span_labels": list(labels["span_labels"]), "aspects": list(labels["aspects"]),
                 "sentiments": list(labels["sentiments"]), "outputs": dict(OUTPUTS),
                 "architecture": cfg.to_dict()})
    if segmenter:
        meta["segmenter"] = dict(segmenter)
    return meta


def export(ckpt: Dict, tokenizer: str, labels: Dict, out_dir: str,
           golden_samples: Optional[List[Dict]] = None, threshold: float = golden_mod.THRESHOLD,
           quiet: bool = False, segmenter: Optional[Dict] = None) -> Dict:
    """Writes the model directory; returns {"model_json", "golden", "margins"}.

    ckpt: {"config", "state_dict"} (load_checkpoint's result).  Nothing is written when the
    checkpoint, labels or tokenizer do not fit.
    """
    from .reference import ReferenceModel
    from .validate import contract_errors, load_schema, schema_errors, validate

    model, cfg = build_model(ckpt, labels)
    meta = model_json(labels, cfg, segmenter)
    errs = schema_errors(meta, load_schema()) + contract_errors(meta)
    if errs:
        raise ExportError("the labels do not make a valid model.json: %s" % "; ".join(errs))
    check_tokenizer(tokenizer, labels, cfg)

    os.makedirs(out_dir, exist_ok=True)
    export_torchscript(model, os.path.join(out_dir, "model.pt"))
    del model
    if os.path.abspath(tokenizer) != os.path.abspath(os.path.join(out_dir, "tokenizer.model")):
        shutil.copyfile(tokenizer, os.path.join(out_dir, "tokenizer.model"))
    with open(os.path.join(out_dir, "model.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=2)
        f.write("\n")
    stale = os.path.join(out_dir, golden_mod.FILE_NAME)
    if os.path.exists(stale):
        os.remove(stale)
    errs = validate(out_dir)
    if errs:
        raise ExportError("%s does not pass the contract checks: %s" % (out_dir, "; ".join(errs)))

    ref = ReferenceModel(out_dir)
    samples = golden_samples or golden_mod.default_samples(ref.tokenizer)
    golden, margins = golden_mod.build(ref, samples, threshold)
    golden_mod.write(out_dir, golden)
    if not quiet:
        n_tuples = sum(len(s["tuples"]) for s in golden["samples"])
        print("export: %s: %s %s (%s), model.pt %.1f MB; golden.json: %d samples, %d tuples at "
              "threshold %g" % (out_dir, meta["name"], meta["version"], describe(cfg),
                                os.path.getsize(os.path.join(out_dir, "model.pt")) / 1e6,
                                len(golden["samples"]), n_tuples, threshold))
        print("export: decision margins: span logit gap >= %.4g, |confidence - threshold| >= %.4g"
              % (margins["span_logit_gap"], margins["confidence_to_threshold"]))
        if margins["confidence_to_threshold"] < 10 * golden_mod.CONFIDENCE_TOLERANCE \
                or margins["span_logit_gap"] < 1e-3:
            print("export: warning: a golden sample sits close to a decision boundary; the server's "
                  "self-test may see float differences flip it (choose other --golden-texts)",
                  file=sys.stderr)
    return {"model_json": meta, "golden": golden, "margins": margins}


def random_checkpoint(preset: str, vocab_size: int, seed: int = 0, max_length: Optional[int] = None,
                      labels: Optional[Dict] = None) -> Dict:
    """A randomly initialised checkpoint of a preset size (fixed seed), as train.py would save."""
    labels = labels or default_labels()
    size = dict(PRESETS[preset])
    if max_length:
        size["max_length"] = max_length
    cfg = EAOSConfig(vocab_size=vocab_size, dropout=0.1, num_span_labels=len(labels["span_labels"]),
                     num_aspects=len(labels["aspects"]), num_sentiments=len(labels["sentiments"]), **size)
    torch.manual_seed(seed)
    return {"config": cfg.to_dict(), "state_dict": EAOSModel(cfg).state_dict()}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--module" or a.startswith("--module=") for a in argv):
        from . import export_module  # a user's own module (PhoBERT, ...): export_module.py
        sys.exit(export_module.main(argv))
    ap = argparse.ArgumentParser(description="export a checkpoint of the reference architecture "
                                             "into a model directory the server loads (your own "
                                             "module, e.g. PhoBERT + heads: --module pkg.mod:Class, "
                                             "see --module --help and docs/phobert.md)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="torch.save dict {config, state_dict}")
    src.add_argument("--random-init", choices=sorted(PRESETS),
                     help="build a randomly initialised model of this size instead (fixed --seed)")
    ap.add_argument("--tokenizer", required=True, help="sentencepiece model file")
    ap.add_argument("--labels", required=True, help="labels JSON (name, version, label sets, special tokens)")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--golden-texts", help="JSONL of {\"id\", \"text\"} for golden.json (default: built-in)")
    ap.add_argument("--threshold", type=float, default=golden_mod.THRESHOLD,
                    help="confidence threshold of the golden tuples")
    ap.add_argument("--name", help="override the labels file's model name")
    ap.add_argument("--version", help="override the labels file's version")
    ap.add_argument("--vocab-size", type=int, help="--random-init: embedding rows (default: tokenizer size)")
    ap.add_argument("--max-length", type=int, help="--random-init: override the preset's max_length")
    ap.add_argument("--seed", type=int, default=0, help="--random-init: torch seed")
    ap.add_argument("--save-checkpoint", help="--random-init: also write the checkpoint here")
    ap.add_argument("--segmenter", metavar="PACKAGE[==VERSION]",
                    help="the word segmenter the training texts went through (pyvi or underthesea; "
                         "version: the installed one when not given), recorded in model.json; the "
                         "clients then segment with it (docs/phobert.md)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    try:
        labels = read_labels(args.labels)
        if args.name:
            labels["name"] = args.name
        if args.version:
            labels["version"] = args.version
        if args.random_init:
            import sentencepiece as spm
            vocab = args.vocab_size or spm.SentencePieceProcessor(model_file=args.tokenizer).get_piece_size()
            ckpt = random_checkpoint(args.random_init, vocab, args.seed, args.max_length, labels)
            if args.save_checkpoint:
                torch.save(ckpt, args.save_checkpoint)
        else:
            ckpt = load_checkpoint(args.checkpoint)
        samples = golden_mod.read_samples(args.golden_texts) if args.golden_texts else None
        from .validate import parse_segmenter
        segmenter = parse_segmenter(args.segmenter) if args.segmenter else None
        export(ckpt, args.tokenizer, labels, args.out, samples, args.threshold, segmenter=segmenter)
    except (ExportError, ValueError, OSError) as e:
        print("export: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    print("export: done in %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
