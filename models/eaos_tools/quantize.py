"""Adds an int8 model (model.int8.pt) to a model directory of the reference architecture.

    /usr/bin/python3 -m eaos_tools.quantize DIR [--texts JSONL] [--limit N]

Rebuilds the eager EAOSModel from model.json's "architecture" and model.pt's weights, quantizes
every nn.Linear to int8 (dynamic: weights int8, activations quantized per batch; model.export_int8)
and reports how the int8 model's tuples agree with model.pt's on the golden texts and, with
--texts, on those comments. `eaos-server --precision=int8` serves it (docs/models.md, "int8").
"""

import argparse
import json
import os
import sys
import time
from typing import Dict, List

import torch

from .model import INT8_FILE, EAOSConfig, EAOSModel, export_int8, int8_engine

INT8_GOLDEN = "golden.int8.json"  # server/engine/self_test.h: kInt8GoldenFileName


def eager_from_dir(model_dir: str) -> EAOSModel:
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    arch = meta.get("architecture")
    if not arch:
        raise ValueError("%s/model.json has no \"architecture\": only models of the reference "
                         "architecture (eaos_tools.model) can be rebuilt and quantized here"
                         % model_dir)
    fields = {k: arch[k] for k in EAOSConfig.__dataclass_fields__ if k in arch}
    model = EAOSModel(EAOSConfig(**fields)).eval()
    scripted = torch.jit.load(os.path.join(model_dir, "model.pt"), map_location="cpu")
    model.load_state_dict(scripted.state_dict(), strict=True)
    return model


def _key(t: Dict) -> tuple:
    return (t["entity"], tuple(t["entity_span"]), t["aspect"], t["opinion"],
            tuple(t["opinion_span"]), t["sentiment"])


def agreement(fp32, int8, texts: List[str], batch_size: int = 16) -> Dict:
    """Tuple agreement of the int8 reference with the fp32 one over `texts` (threshold 0.5): texts
    whose tuple sets are identical, tuples in both or one only, and the largest confidence gap
    between tuples both keep."""
    report = {"texts": len(texts), "identical_texts": 0, "tuples_both": 0, "tuples_fp32_only": 0,
              "tuples_int8_only": 0, "max_confidence_diff": 0.0, "examples": []}
    a_all = fp32.predict(texts, batch_size=batch_size)
    b_all = int8.predict(texts, batch_size=batch_size)
    for text, a, b in zip(texts, a_all, b_all):
        ca = {_key(t): t["confidence"] for t in a["tuples"]}
        cb = {_key(t): t["confidence"] for t in b["tuples"]}
        report["identical_texts"] += set(ca) == set(cb)
        report["tuples_both"] += len(set(ca) & set(cb))
        report["tuples_fp32_only"] += len(set(ca) - set(cb))
        report["tuples_int8_only"] += len(set(cb) - set(ca))
        for k in set(ca) & set(cb):
            report["max_confidence_diff"] = max(report["max_confidence_diff"], abs(ca[k] - cb[k]))
        if set(ca) != set(cb) and len(report["examples"]) < 3:
            report["examples"].append({"text": text, "fp32_only": [str(k) for k in set(ca) - set(cb)],
                                       "int8_only": [str(k) for k in set(cb) - set(ca)]})
    return report


def int8_reference(model_dir: str, fp32):
    """The reference on model.int8.pt, sharing `fp32`'s model.json and tokenizer."""
    from .reference import ReferenceModel
    torch.backends.quantized.engine = int8_engine()
    return ReferenceModel(model_dir, meta=fp32.meta, tokenizer=fp32.tokenizer,
                          module=torch.jit.load(os.path.join(model_dir, INT8_FILE),
                                                map_location="cpu"))


def write_int8_golden(model_dir: str, int8, fp32_golden: Dict) -> Dict:
    """golden.int8.json: the int8 model's own answers on golden.json's texts (the server replays it
    at --precision=int8; the fp32 golden would not hold: int8 may move a span edge)."""
    from . import golden as golden_mod
    golden, _ = golden_mod.build(int8, fp32_golden["samples"], fp32_golden["threshold"])
    with open(os.path.join(model_dir, INT8_GOLDEN), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return golden


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--texts", help="JSONL of {\"text\"}: also report agreement on these")
    ap.add_argument("--limit", type=int, default=2000, help="most --texts lines read")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    try:
        export_int8(eager_from_dir(args.model_dir), os.path.join(args.model_dir, INT8_FILE))
    except (ValueError, OSError, RuntimeError) as e:
        print("quantize: error: %s" % e, file=sys.stderr)
        return 1
    from . import golden as golden_mod
    from .reference import ReferenceModel
    with open(os.path.join(args.model_dir, golden_mod.FILE_NAME), encoding="utf-8") as f:
        fp32_golden = json.load(f)
    fp32 = ReferenceModel(args.model_dir)
    int8 = int8_reference(args.model_dir, fp32)
    golden_int8 = write_int8_golden(args.model_dir, int8, fp32_golden)
    size = os.path.getsize(os.path.join(args.model_dir, INT8_FILE)) / 1e6
    print("quantize: %s/%s written (%.1f MB, engine %s) and %s (%d samples) in %.1fs"
          % (args.model_dir, INT8_FILE, size, torch.backends.quantized.engine, INT8_GOLDEN,
             len(golden_int8["samples"]), time.time() - t0))
    reports = {"golden": agreement(fp32, int8, [s["text"] for s in fp32_golden["samples"]])}
    if args.texts:
        with open(args.texts, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()][:args.limit]
        reports["texts"] = agreement(fp32, int8, texts)
    print(json.dumps(reports, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
