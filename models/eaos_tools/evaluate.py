"""Tuple-level P/R/F1 of a model directory on the synthetic held-out split.

    cd models && /usr/bin/python3 -m eaos_tools.evaluate --model demo [--n 3000] [--seed 777]

The held-out split is generated from another seed than the training data, with the ``heldout``
split of generate.py: about one comment in six uses wordings the training split never contains
(templates, connectives, prefixes, intensifiers, entities; slice ``heldout_phrasing``), the others
only seen ones (``seen_phrasing``).  Comments whose text also occurs in the training data
(regenerated from --train-seed/--train-n, train.py's defaults) are left out.

With ``--devset`` (default models/devset/handwritten.jsonl, '' to skip) it also reports on the
hand-written dev set, per slice (diacritics, no_diacritics, teencode, emoji, multi_aspect, ...).

Prints the overall score, one row per slice (no_diacritics, teencode, emoji, negation,
multi_clause, comparison, ...) and per element / aspect / sentiment.  A tuple counts when entity,
aspect, opinion and sentiment all match exactly (threshold 0.5 by default).
"""

import argparse
import json
import os
import time
from typing import Dict, List

import torch

from .generate import SLICES, generate
from .metrics import breakdown, format_table, slice_breakdown
from .reference import ReferenceModel

TRAIN_SEED = 1
TRAIN_N = 40000
HELDOUT_SEED = 777
HELDOUT_N = 3000
DEVSET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "devset",
                      "handwritten.jsonl")
DEV_SLICES = ("diacritics", "no_diacritics", "teencode", "emoji", "multi_aspect", "comparison",
              "negation", "neutral", "long")
TUPLE_FIELDS = ("entity", "aspect", "opinion", "sentiment")


class DevsetError(ValueError):
    pass


def load_devset(path: str = DEVSET) -> List[Dict]:
    """The hand-written dev set (models/devset/README.md): one JSON object a line with "id",
    "text", "tuples" (entity/aspect/opinion/sentiment; entity and opinion as written in the text)
    and "slices".  Raises DevsetError naming the line and what is wrong."""
    from . import ASPECTS, SENTIMENTS
    out, ids = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "%s:%d" % (path, n)
            try:
                r = json.loads(line)
            except ValueError as e:
                raise DevsetError("%s: not JSON (%s)" % (where, e))
            for k, typ in (("id", str), ("text", str), ("tuples", list), ("slices", list)):
                if not isinstance(r.get(k), typ):
                    raise DevsetError("%s: %r must be a %s" % (where, k, typ.__name__))
            if r["id"] in ids:
                raise DevsetError("%s: duplicate id %r" % (where, r["id"]))
            ids.add(r["id"])
            for s in r["slices"]:
                if s not in DEV_SLICES:
                    raise DevsetError("%s: unknown slice %r (known: %s)"
                                      % (where, s, ", ".join(DEV_SLICES)))
            for t in r["tuples"]:
                if not isinstance(t, dict) or any(not isinstance(t.get(k), str)
                                                  for k in TUPLE_FIELDS):
                    raise DevsetError("%s: a tuple needs string %s"
                                      % (where, "/".join(TUPLE_FIELDS)))
                if t["aspect"] not in ASPECTS:
                    raise DevsetError("%s: unknown aspect %r" % (where, t["aspect"]))
                if t["sentiment"] not in SENTIMENTS:
                    raise DevsetError("%s: unknown sentiment %r" % (where, t["sentiment"]))
                for k in ("entity", "opinion"):
                    if t[k] and t[k] not in r["text"]:
                        raise DevsetError("%s: %s %r is not in the text" % (where, k, t[k]))
                if not t["opinion"]:
                    raise DevsetError("%s: empty opinion" % where)
            out.append(r)
    return out


def heldout_split(n: int = HELDOUT_N, seed: int = HELDOUT_SEED, train_seed: int = TRAIN_SEED,
                  train_n: int = TRAIN_N) -> List[Dict]:
    if seed == train_seed:
        raise ValueError("the held-out seed must differ from the training seed")
    seen = {e["text"] for e in generate(train_n, train_seed, prefix="train")} if train_n else set()
    return [e for e in generate(n, seed, prefix="heldout", split="heldout") if e["text"] not in seen]


def report(ref: ReferenceModel, data: List[Dict], threshold: float = 0.5, batch_size: int = 32,
           title: str = "", slices=SLICES, what: str = "held-out") -> Dict:
    """Prints the tables; returns the overall score."""
    t0 = time.time()
    pred = ref.predict([{"id": e["id"], "text": e["text"]} for e in data], threshold, batch_size)
    dt = time.time() - t0
    tuples = [p["tuples"] for p in pred]
    print("%smodel %s (%s %s): %d %s comments, threshold %.2f, %.1f ms/comment" % (
        title, ref.dir, ref.meta.get("name"), ref.meta.get("version"), len(data), what, threshold,
        1000 * dt / max(1, len(data))))
    rows = slice_breakdown(data, tuples, slices)
    print(format_table(rows))
    print()
    print(format_table(breakdown([e["tuples"] for e in data], tuples)))
    return rows[0][1]


def main(argv=None):
    ap = argparse.ArgumentParser(description="evaluate a model directory on the synthetic held-out split")
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=HELDOUT_N)
    ap.add_argument("--seed", type=int, default=HELDOUT_SEED)
    ap.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--train-n", type=int, default=TRAIN_N)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--devset", default=DEVSET,
                    help="hand-written dev set JSONL reported beside the held-out split "
                         "('' skips it)")
    args = ap.parse_args(argv)
    if args.seed == args.train_seed:
        ap.error("--seed must differ from the training seed")
    torch.set_num_threads(args.threads)
    data = heldout_split(args.n, args.seed, args.train_seed, args.train_n)
    dev = None
    if args.devset:
        try:
            dev = load_devset(args.devset)
        except (OSError, DevsetError) as e:
            ap.error("--devset: %s" % e)
    ref = ReferenceModel(args.model, num_threads=args.threads)
    report(ref, data, args.threshold, args.batch_size, "held-out seed %d, " % args.seed)
    if dev is not None:
        print()
        report(ref, dev, args.threshold, args.batch_size, "hand-written dev set %s, " % args.devset,
               DEV_SLICES, "hand-written")


if __name__ == "__main__":
    main()
