"""End-to-end: synthetic data -> sentencepiece -> training -> TorchScript export -> held-out score.

    cd models && /usr/bin/python3 -m eaos_tools.train --out demo

writes demo/model.pt, demo/tokenizer.model, demo/model.json (see docs/model-contract.md) and
prints the held-out tuple-level P/R/F1 computed with the reference decoder (threshold 0.5).
Training follows a wall-clock budget (--max-minutes, default 11; 0 = steps only).
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import time
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import ASPECTS, OUTPUTS, SENTIMENTS, SPAN_LABELS, SPECIAL_TOKENS
from .generate import generate, generate_long, write_jsonl
from .metrics import breakdown, format_table
from .model import EAOSConfig, EAOSModel, export_torchscript
from .tokenization import Tokenizer, cp_to_byte_map

IGNORE = -100
ASCII_WS = b" \t\n\v\f\r"

# Seeds: training data, held-out data used at the end of training, and evaluate.py's default.
TRAIN_SEED = 1
HELDOUT_SEED = 20240


def train_sentencepiece(corpus: str, prefix: str, vocab_size: int, model_type: str = "bpe") -> str:
    spm_train = shutil.which("spm_train")
    if spm_train is None:
        raise SystemExit("spm_train not found (Debian package 'sentencepiece')")
    cmd = [
        spm_train,
        "--input=" + corpus,
        "--model_prefix=" + prefix,
        "--vocab_size=%d" % vocab_size,
        "--model_type=" + model_type,
        "--character_coverage=1.0",
        "--pad_id=%d" % SPECIAL_TOKENS["pad_id"],
        "--unk_id=%d" % SPECIAL_TOKENS["unk_id"],
        "--bos_id=%d" % SPECIAL_TOKENS["bos_id"],
        "--eos_id=%d" % SPECIAL_TOKENS["eos_id"],
        "--normalization_rule_name=identity",
        "--hard_vocab_limit=false",
        "--num_threads=2",
        "--minloglevel=1",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return prefix + ".model"


def token_targets(tok: Tokenizer, ex: Dict) -> Tuple[List[int], List[int], List[int], List[int], int]:
    """input_ids and per-position targets (span tag, aspect, sentiment) for one example.

    A piece belongs to a span when its byte range, trimmed of whitespace, overlaps the span's
    byte range.  Aspect/sentiment targets sit on opinion pieces only (IGNORE elsewhere); BOS/EOS
    get IGNORE for everything.  Returns also the number of pieces that straddle a span edge.
    """
    text = ex["text"]
    tb = text.encode("utf-8")
    c2b = cp_to_byte_map(text)
    enc = tok.encode(text)
    n = len(enc.pieces)
    spans = []  # (byte_b, byte_e, kind, aspect_idx, sentiment_idx)
    seen_ent = set()
    for t in ex["tuples"]:
        eb, ee = t["entity_span"]
        if ee > eb and (eb, ee) not in seen_ent:
            seen_ent.add((eb, ee))
            spans.append((c2b[eb], c2b[ee], "ENT", IGNORE, IGNORE))
        ob, oe = t["opinion_span"]
        spans.append((c2b[ob], c2b[oe], "OPI", ASPECTS.index(t["aspect"]), SENTIMENTS.index(t["sentiment"])))
    tags = [SPAN_LABELS.index("O")] * n
    asp = [IGNORE] * n
    sen = [IGNORE] * n
    straddle = 0
    for (sb, se, kind, a, s) in spans:
        first = True
        for i, p in enumerate(enc.pieces):
            b, e = p.begin, p.end
            while b < e and tb[b] in ASCII_WS:
                b += 1
            while e > b and tb[e - 1] in ASCII_WS:
                e -= 1
            if e <= b or e <= sb or b >= se:
                continue
            if b < sb or e > se:
                straddle += 1
            tags[i] = SPAN_LABELS.index(("B-" if first else "I-") + kind)
            first = False
            if kind == "OPI":
                asp[i] = a
                sen[i] = s
    # A whitespace-only piece (e.g. a bare "▁" before a rare character) inside a span continues
    # it: tagged O it would close the span and split it in two under the lenient BIO decoding.
    for i in range(1, n - 1):
        if tags[i] != 0:
            continue
        b, e = enc.pieces[i].begin, enc.pieces[i].end
        if tb[b:e].strip(ASCII_WS):
            continue
        prev_l, next_l = SPAN_LABELS[tags[i - 1]], SPAN_LABELS[tags[i + 1]]
        if prev_l != "O" and next_l.startswith("I-") and prev_l[2:] == next_l[2:]:
            tags[i] = tags[i + 1]
            asp[i] = asp[i + 1]
            sen[i] = sen[i + 1]
    ids = enc.input_ids
    return (ids, [IGNORE] + tags + [IGNORE], [IGNORE] + asp + [IGNORE], [IGNORE] + sen + [IGNORE], straddle)


def make_batches(rows, batch_size: int, rng: random.Random, shuffle: bool = True):
    # Bucket by length so padding stays small; shuffle buckets.
    order = sorted(range(len(rows)), key=lambda i: (len(rows[i][0]), rng.random()))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    for b in batches:
        t = max(len(rows[i][0]) for i in b)

        def pad(k, v):
            return [rows[i][k] + [v] * (t - len(rows[i][k])) for i in b]

        ids = torch.tensor(pad(0, SPECIAL_TOKENS["pad_id"]), dtype=torch.long)
        mask = torch.tensor([[1] * len(rows[i][0]) + [0] * (t - len(rows[i][0])) for i in b],
                            dtype=torch.long)
        yield ids, mask, torch.tensor(pad(1, IGNORE)), torch.tensor(pad(2, IGNORE)), torch.tensor(pad(3, IGNORE))


def model_json(name: str, version: str, max_length: int, cfg: EAOSConfig) -> Dict:
    return {
        "name": name,
        "version": version,
        "max_length": max_length,
        "tokenizer": "tokenizer.model",
        "special_tokens": dict(SPECIAL_TOKENS),
        "tag_scheme": "BIO",
        "span_labels": list(SPAN_LABELS),
        "aspects": list(ASPECTS),
        "sentiments": list(SENTIMENTS),
        "outputs": dict(OUTPUTS),
        "architecture": cfg.to_dict(),
    }


def evaluate_dir(model_dir: str, heldout: List[Dict], threshold: float = 0.5, batch_size: int = 32):
    from .reference import ReferenceModel
    ref = ReferenceModel(model_dir)
    pred = ref.predict([{"id": e["id"], "text": e["text"]} for e in heldout], threshold, batch_size)
    return breakdown([e["tuples"] for e in heldout], [p["tuples"] for p in pred])


def main(argv=None):
    ap = argparse.ArgumentParser(description="train and export the EAOS demo model")
    ap.add_argument("--out", default="demo", help="model directory to write")
    ap.add_argument("--name", default="eaos-demo")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--n-train", type=int, default=30000)
    ap.add_argument("--n-long", type=int, default=1500, help="extra long training comments")
    ap.add_argument("--n-heldout", type=int, default=2000)
    ap.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--heldout-seed", type=int, default=HELDOUT_SEED)
    ap.add_argument("--vocab-size", type=int, default=3000)
    ap.add_argument("--spm-model-type", default="bpe", choices=["unigram", "bpe"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--epochs", type=float, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of steps")
    ap.add_argument("--max-minutes", type=float, default=11.0,
                    help="training-loop time budget; the LR schedule follows it (0: steps only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="torch/shuffle seed")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    t0 = time.time()

    work = args.work or tempfile.mkdtemp(prefix="eaos-train-")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    # 1. data: different seeds; held-out texts that also occur in training are dropped.
    train = generate(args.n_train, args.train_seed, prefix="train")
    # long comments so that every position up to max_length is trained (and truncation seen)
    train += generate_long(args.n_long, args.train_seed + 1, prefix="train-long")
    heldout_all = generate(args.n_heldout, args.heldout_seed, prefix="heldout")
    train_texts = {e["text"] for e in train}
    heldout = [e for e in heldout_all if e["text"] not in train_texts]
    write_jsonl(os.path.join(work, "train.jsonl"), train)
    write_jsonl(os.path.join(work, "heldout.jsonl"), heldout)
    print("data: %d train (%d of them long), %d held-out (%d dropped as seen in training)" % (
        len(train), args.n_long, len(heldout), len(heldout_all) - len(heldout)), flush=True)

    # 2. tokenizer
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for e in train[:args.n_train]:  # the long comments only repeat these
            f.write(e["text"].replace("\n", " ") + "\n")
    spm_model = train_sentencepiece(corpus, os.path.join(work, "spm"), args.vocab_size, args.spm_model_type)
    shutil.copyfile(spm_model, os.path.join(args.out, "tokenizer.model"))
    tok = Tokenizer(spm_model, args.max_length, **SPECIAL_TOKENS)
    vocab_size = tok.sp.get_piece_size()
    for k, v in SPECIAL_TOKENS.items():
        piece = {"pad_id": tok.sp.pad_id(), "unk_id": tok.sp.unk_id(), "bos_id": tok.sp.bos_id(),
                 "eos_id": tok.sp.eos_id()}[k]
        assert piece == v, (k, piece, v)
    print("tokenizer: vocab %d" % vocab_size, flush=True)

    # 3. targets
    rows = []
    straddle = 0
    for e in train:
        ids, tags, asp, sen, s = token_targets(tok, e)
        straddle += s
        rows.append((ids, tags, asp, sen))
    lens = [len(r[0]) for r in rows]
    print("targets: mean length %.1f tokens, max %d, pieces straddling a span edge: %d" % (
        float(np.mean(lens)), max(lens), straddle), flush=True)

    # 4. train
    cfg = EAOSConfig(vocab_size=vocab_size, hidden=args.hidden, layers=args.layers, heads=args.heads,
                     ffn=args.ffn, max_length=args.max_length, dropout=args.dropout)
    model = EAOSModel(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = math.ceil(len(rows) / args.batch_size)
    total = max(1, int(steps_per_epoch * args.epochs))
    warm = max(1, int(total * args.warmup))

    # Linear warmup, then linear decay to 0 over the training "progress", which is the larger of
    # the fraction of steps done and the fraction of the time budget used: on a slow or busy
    # machine training ends on time with a fully decayed learning rate (fewer steps).
    budget = args.max_minutes * 60 if args.max_minutes > 0 else float("inf")
    t_train = time.time()

    def progress(step):
        return max(step / total, (time.time() - t_train) / budget)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * max(0.0, 1.0 - progress(step)) / max(1e-9, 1.0 - warm / total)

    step = 0
    model.train()
    stop = False
    epoch = 0
    while step < total and not stop:
        epoch += 1
        run_loss, run_n, t_ep = 0.0, 0, time.time()
        for ids, mask, tags, asp, sen in make_batches(rows, args.batch_size, rng):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = model(ids, mask)
            loss = (F.cross_entropy(out["span_logits"].reshape(-1, len(SPAN_LABELS)), tags.reshape(-1),
                                    ignore_index=IGNORE)
                    + F.cross_entropy(out["aspect_logits"].reshape(-1, len(ASPECTS)), asp.reshape(-1),
                                      ignore_index=IGNORE)
                    + F.cross_entropy(out["sentiment_logits"].reshape(-1, len(SENTIMENTS)), sen.reshape(-1),
                                      ignore_index=IGNORE))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item()
            run_n += 1
            step += 1
            if step >= total:
                break
            if progress(step) >= 1.0:
                print("time budget reached at step %d/%d" % (step, total), flush=True)
                stop = True
                break
        print("epoch %d: loss %.4f, %d steps, %.0fs (total %.0fs)" % (
            epoch, run_loss / max(1, run_n), run_n, time.time() - t_ep, time.time() - t0), flush=True)

    # 5. export
    model.eval()
    export_torchscript(model, os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
        json.dump(model_json(args.name, args.version, args.max_length, cfg), f, ensure_ascii=False, indent=2)
        f.write("\n")
    size_mb = os.path.getsize(os.path.join(args.out, "model.pt")) / 1e6
    print("exported %s (model.pt %.2f MB)" % (args.out, size_mb), flush=True)

    # 6. held-out score through the exported model and the reference decoder
    rows_ = evaluate_dir(args.out, heldout, 0.5)
    print("held-out (seed %d, %d comments, threshold 0.5):" % (args.heldout_seed, len(heldout)))
    print(format_table(rows_))
    print("total time %.0fs" % (time.time() - t0))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
