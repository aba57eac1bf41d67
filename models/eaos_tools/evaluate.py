"""Tuple-level P/R/F1 of a model directory on a freshly generated held-out split.

    cd models && /usr/bin/python3 -m eaos_tools.evaluate --model demo [--n 2000] [--seed 777]

The held-out seed differs from the training seed; comments whose text also occurs in the
training data (regenerated from --train-seed/--train-n, train.py's defaults) are left out.
"""

import argparse
import time

import torch

from .generate import generate
from .metrics import breakdown, format_table
from .reference import ReferenceModel
from .train import TRAIN_SEED

DEFAULT_SEED = 777


def main(argv=None):
    ap = argparse.ArgumentParser(description="evaluate a model directory on synthetic held-out data")
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--train-n", type=int, default=30000)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-diacritics-ratio", type=float, default=0.25)
    args = ap.parse_args(argv)
    if args.seed == args.train_seed:
        ap.error("--seed must differ from the training seed")
    torch.set_num_threads(args.threads)

    seen = {e["text"] for e in generate(args.train_n, args.train_seed, prefix="train")} if args.train_n else set()
    data = [e for e in generate(args.n, args.seed, prefix="eval", no_diacritics_ratio=args.no_diacritics_ratio)
            if e["text"] not in seen]
    ref = ReferenceModel(args.model, num_threads=args.threads)
    t0 = time.time()
    pred = ref.predict([{"id": e["id"], "text": e["text"]} for e in data], args.threshold, args.batch_size)
    dt = time.time() - t0
    print("model %s (%s %s), held-out seed %d: %d comments, threshold %.2f, %.1f ms/comment" % (
        args.model, ref.meta.get("name"), ref.meta.get("version"), args.seed, len(data),
        args.threshold, 1000 * dt / max(1, len(data))))
    print(format_table(breakdown([e["tuples"] for e in data], [p["tuples"] for p in pred])))


if __name__ == "__main__":
    main()
