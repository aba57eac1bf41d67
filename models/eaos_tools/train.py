"""End-to-end: synthetic data -> sentencepiece -> training -> checkpoint -> export -> held-out score.

    cd models && /usr/bin/python3 -m eaos_tools.train --out demo

Trains on the generator's ``train`` split (seed 1) plus long joined comments, saves a checkpoint
``{"config", "state_dict"}`` and a labels file, and exports them with export.py (the same path a
user's checkpoint takes: strict tensor checks, model.pt, tokenizer.model, model.json, golden.json).
Then prints the tuple-level P/R/F1 of the exported directory on evaluate.py's held-out split
(seed 777, with held-out wordings), overall and per slice.  Training follows a wall-clock budget
(--max-minutes, default 15; 0 = steps only).
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

# OpenMP threads that spin while waiting make training several times slower on a shared, busy
# CPU; sleeping waiters cost nothing on an idle one.  Read when torch loads OpenMP, just below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import sentencepiece  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from . import ASPECTS, SENTIMENTS, SPAN_LABELS, SPECIAL_TOKENS
from . import evaluate
from .export import default_labels, export, load_checkpoint, save_checkpoint
from .generate import generate, generate_long, write_jsonl
from .model import EAOSConfig, EAOSModel
from .reference import ReferenceModel
from .tokenization import Tokenizer, cp_to_byte_map, encode_nfc

IGNORE = -100
ASCII_WS = b" \t\n\v\f\r"

TRAIN_SEED = evaluate.TRAIN_SEED  # the held-out split (evaluate.py) uses another seed


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


def token_targets(tok: Tokenizer, ex: Dict, dropout: float = 0.0
                  ) -> Tuple[List[int], List[int], List[int], List[int], int]:
    """input_ids and per-position targets (span tag, aspect, sentiment) for one example.

    A piece belongs to a span when its byte range, trimmed of whitespace, overlaps the span's
    byte range.  Aspect/sentiment targets sit on opinion pieces only (IGNORE elsewhere); BOS/EOS
    get IGNORE for everything.  Returns also the number of pieces that straddle a span edge.
    """
    text = ex["text"]
    tb = text.encode("utf-8")
    c2b = cp_to_byte_map(text)
    enc = encode_nfc(tok, text, dropout)  # as the server and the reference tokenize
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


def training_data(n_train: int, n_long: int, seed: int) -> List[Dict]:
    """The train split plus long joined comments (every position up to max_length is trained,
    and truncation is seen)."""
    return generate(n_train, seed, prefix="train") + generate_long(n_long, seed + 1, prefix="train-long")


def check_special_tokens(tok: Tokenizer) -> None:
    actual = {"pad_id": tok.sp.pad_id(), "unk_id": tok.sp.unk_id(), "bos_id": tok.sp.bos_id(),
              "eos_id": tok.sp.eos_id()}
    assert actual == SPECIAL_TOKENS, (actual, SPECIAL_TOKENS)


def loss_fn(out: Dict[str, torch.Tensor], tags, asp, sen, smoothing: float) -> torch.Tensor:
    def ce(logits, target, n):
        # summed then divided by the number of targets: a batch without any opinion piece (all
        # IGNORE) contributes 0 instead of the NaN of an empty mean
        target = target.reshape(-1)
        total = F.cross_entropy(logits.reshape(-1, n), target, ignore_index=IGNORE,
                                label_smoothing=smoothing, reduction="sum")
        return total / (target != IGNORE).sum().clamp(min=1)
    return (ce(out["span_logits"], tags, len(SPAN_LABELS)) + ce(out["aspect_logits"], asp, len(ASPECTS))
            + ce(out["sentiment_logits"], sen, len(SENTIMENTS)))


def train_model(model: EAOSModel, rows, args, rng: random.Random, t0: float) -> None:
    """AdamW, linear warmup then linear decay over the larger of the step fraction and the
    fraction of the time budget used: a busy machine gets fewer steps but a decayed schedule."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    total = max(1, int(math.ceil(len(rows) / args.batch_size) * args.epochs))
    warm = max(1, int(total * args.warmup))
    budget = args.max_minutes * 60 if args.max_minutes > 0 else float("inf")
    t_train = time.time()

    def progress(step):
        return max(step / total, (time.time() - t_train) / budget)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * max(0.0, 1.0 - progress(step)) / max(1e-9, 1.0 - warm / total)

    step, epoch, stop = 0, 0, False
    model.train()
    while step < total and not stop:
        epoch += 1
        run_loss, run_n, t_ep = 0.0, 0, time.time()
        for ids, mask, tags, asp, sen in make_batches(rows, args.batch_size, rng):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = loss_fn(model(ids, mask), tags, asp, sen, args.label_smoothing)
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
    model.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description="train the EAOS demo model and export it")
    ap.add_argument("--out", default="demo", help="model directory to write")
    ap.add_argument("--name", default="eaos-demo")
    ap.add_argument("--version", default="1.1.0")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--checkpoint", default=None, help="where to save the checkpoint (default: in --work)")
    ap.add_argument("--n-train", type=int, default=evaluate.TRAIN_N)
    ap.add_argument("--n-long", type=int, default=1500, help="extra long training comments")
    ap.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    ap.add_argument("--n-heldout", type=int, default=evaluate.HELDOUT_N)
    ap.add_argument("--heldout-seed", type=int, default=evaluate.HELDOUT_SEED)
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--spm-model-type", default="bpe", choices=["unigram", "bpe"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--epochs", type=float, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of steps")
    ap.add_argument("--bpe-dropout", type=float, default=0.1, help="merge dropout probability")
    ap.add_argument("--bpe-dropout-ratio", type=float, default=0.5,
                    help="fraction of training comments tokenized with BPE-dropout")
    ap.add_argument("--label-smoothing", type=float, default=0.05,
                    help="keeps confidences below 1.0 (a threshold of 1.0 then keeps nothing)")
    ap.add_argument("--max-minutes", type=float, default=15.0,
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

    # 1. data (the held-out split comes from another seed and drops texts seen in training)
    train = training_data(args.n_train, args.n_long, args.train_seed)
    heldout = evaluate.heldout_split(args.n_heldout, args.heldout_seed, args.train_seed, args.n_train)
    write_jsonl(os.path.join(work, "train.jsonl"), train)
    write_jsonl(os.path.join(work, "heldout.jsonl"), heldout)
    print("data: %d train (%d of them long), %d held-out" % (len(train), args.n_long, len(heldout)), flush=True)

    # 2. tokenizer, trained on the training comments only
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for e in train[:args.n_train]:  # the long comments only repeat these
            f.write(e["text"].replace("\n", " ") + "\n")
    spm_model = train_sentencepiece(corpus, os.path.join(work, "spm"), args.vocab_size, args.spm_model_type)
    tok = Tokenizer(spm_model, args.max_length, **SPECIAL_TOKENS)
    check_special_tokens(tok)
    print("tokenizer: vocab %d" % tok.sp.get_piece_size(), flush=True)

    # 3. targets
    # BPE-dropout on some comments: words split into unusual pieces (as unseen words are) keep
    # their tags, which makes the model robust to segmentations it never saw
    rows, straddle = [], 0
    drop_rng = random.Random(args.seed + 1)
    sentencepiece.set_random_generator_seed(args.seed + 1)
    for e in train:
        dropout = args.bpe_dropout if drop_rng.random() < args.bpe_dropout_ratio else 0.0
        ids, tags, asp, sen, s = token_targets(tok, e, dropout)
        straddle += s
        rows.append((ids, tags, asp, sen))
    lens = [len(r[0]) for r in rows]
    print("targets: mean length %.1f tokens, max %d, pieces straddling a span edge: %d" % (
        float(np.mean(lens)), max(lens), straddle), flush=True)

    # 4. train
    cfg = EAOSConfig(vocab_size=tok.sp.get_piece_size(), hidden=args.hidden, layers=args.layers,
                     heads=args.heads, ffn=args.ffn, max_length=args.max_length, dropout=args.dropout)
    model = EAOSModel(cfg)
    train_model(model, rows, args, rng, t0)
    t_trained = time.time()

    # 5. checkpoint + labels -> export (the user's path)
    ckpt_path = args.checkpoint or os.path.join(work, "checkpoint.pt")
    save_checkpoint(ckpt_path, cfg, model.state_dict())
    labels = default_labels(args.name, args.version)
    with open(os.path.join(work, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, ensure_ascii=False, indent=2)
    export(load_checkpoint(ckpt_path), spm_model, labels, args.out)

    # 6. held-out score of the exported directory through the reference decoder
    evaluate.report(ReferenceModel(args.out, num_threads=args.threads), heldout, 0.5,
                    title="held-out seed %d, " % args.heldout_seed)
    print("training %.0fs, total %.0fs" % (t_trained - t0, time.time() - t0))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
