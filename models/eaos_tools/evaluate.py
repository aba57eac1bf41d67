"""Tuple-level P/R/F1 of a model directory on the synthetic held-out split.

    cd models && /usr/bin/python3 -m eaos_tools.evaluate --model demo [--n 3000] [--seed 777]

The held-out split is generated from another seed than the training data, with the ``heldout``
split of generate.py: about one comment in six uses wordings the training split never contains
(templates, connectives, prefixes, intensifiers, entities; slice ``heldout_phrasing``), the others
only seen ones (``seen_phrasing``).  Comments whose text also occurs in the training data
(regenerated from --train-seed/--train-n, train.py's defaults) are left out.

Prints the overall score, one row per slice (no_diacritics, teencode, emoji, negation,
multi_clause, comparison, ...) and per element / aspect / sentiment.  A tuple counts when entity,
aspect, opinion and sentiment all match exactly (threshold 0.5 by default).
"""

import argparse
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


def heldout_split(n: int = HELDOUT_N, seed: int = HELDOUT_SEED, train_seed: int = TRAIN_SEED,
                  train_n: int = TRAIN_N) -> List[Dict]:
    if seed == train_seed:
        raise ValueError("the held-out seed must differ from the training seed")
    seen = {e["text"] for e in generate(train_n, train_seed, prefix="train")} if train_n else set()
    return [e for e in generate(n, seed, prefix="heldout", split="heldout") if e["text"] not in seen]


def report(ref: ReferenceModel, data: List[Dict], threshold: float = 0.5, batch_size: int = 32,
           title: str = "") -> Dict:
    """Prints the tables; returns the overall score."""
    t0 = time.time()
    pred = ref.predict([{"id": e["id"], "text": e["text"]} for e in data], threshold, batch_size)
    dt = time.time() - t0
    tuples = [p["tuples"] for p in pred]
    print("%smodel %s (%s %s): %d held-out comments, threshold %.2f, %.1f ms/comment" % (
        title, ref.dir, ref.meta.get("name"), ref.meta.get("version"), len(data), threshold,
        1000 * dt / max(1, len(data))))
    rows = slice_breakdown(data, tuples, SLICES)
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
    args = ap.parse_args(argv)
    if args.seed == args.train_seed:
        ap.error("--seed must differ from the training seed")
    torch.set_num_threads(args.threads)
    data = heldout_split(args.n, args.seed, args.train_seed, args.train_n)
    report(ReferenceModel(args.model, num_threads=args.threads), data, args.threshold, args.batch_size,
           "held-out seed %d, " % args.seed)


if __name__ == "__main__":
    main()
