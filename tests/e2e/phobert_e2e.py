#!/usr/bin/env python3
"""End to end: a PhoBERT-shaped user model, exported with `eaos_tools.export --module`, served by
the real eaos-server over 127.0.0.1, answers exactly as the user's own Python path.

The user's side, made here without the hub: BPE codes + vocab.txt learned on generated comments
(fastbpe_exactness.learn_bpe), a PhoBERT-like RobertaModel with random weights + a 2-layer
batch_first nn.TransformerEncoder + heads (tests/e2e/phobert_user/eaos_phobert_user.py), saved in
the seed layout: latest_checkpoint.pth = {"model_state_dict", "epoch", "best_f1"} (with the
`embeddings.position_ids` buffer older transformers saved) + config.json.

Then, all as a user would run it:
  1. export: python -m eaos_tools.export --module eaos_phobert_user:PhobertEAOS ... (the CLI);
  2. eaos-server --model_dir OUT on 127.0.0.1 (its golden self-test must pass: SERVING);
  3. the texts through the server (eaos_client, in the client venv: --client-python);
  4. the user's Python path: transformers' PhobertTokenizer -> the eager module (batches of 8,
     padded, under no_grad as users run it) -> the reference decoder (eaos_tools/decode.py);
  5. every text's tuples must be identical (strings, code point and byte spans, aspect,
     sentiment), confidences within 1e-3; GetModelInfo's sizes must be the model's;
  6. the same directory with two lines of vocab.txt swapped must be refused at start, the error
     naming a golden sample.
Prints a table (texts, identical tuples, max confidence diff, time to SERVING); exit status 1 on
any difference.

  build/hfenv/bin/python tests/e2e/phobert_e2e.py --server build/release/bin/eaos-server \\
      --client-python build/pyenv/bin/python [--size small|base] [--texts 320] [--keep DIR]

--size small (CI: 2 layers, hidden 64) or base (PhoBERT-base: vocab 64001, hidden 768, 12 layers,
max_position_embeddings 258, padding_idx 1; scripts/phobert-base-e2e.sh).
"""
import argparse
import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
MODELS_DIR = os.path.join(SOURCE_DIR, "models")
sys.path.insert(0, MODELS_DIR)
sys.path.insert(0, os.path.join(HERE, "phobert_user"))

import torch  # noqa: E402

from eaos_tools import ASPECTS, SENTIMENTS, SPAN_LABELS, generate  # noqa: E402
from eaos_tools.decode import decode  # noqa: E402
from eaos_tools.export_module import PhobertPath  # noqa: E402
from eaos_tools.fastbpe_exactness import NOISE, learn_bpe  # noqa: E402

SIZES = {
    # CI: the same architecture, small.
    "small": dict(phobert=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                               max_position_embeddings=66), extra_heads=4, extra_ffn=128, max_length=64, merges=1500),
    # PhoBERT-base's shapes.
    "base": dict(phobert=dict(vocab_size=64001, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, max_position_embeddings=258), extra_heads=12, extra_ffn=3072,
                 max_length=256, merges=3000),
}
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
CONFIDENCE_TOLERANCE = 1e-3
THRESHOLD = 0.3
PR_SET_PDEATHSIG = 1


def log(msg):
    print("phobert_e2e: " + msg, flush=True)


# --- the user's side ---------------------------------------------------------------------------

def user_texts(n, seed):
    """Generated comments, some with noise (tabs, NBSP, emoji, CJK, newlines, literal <s>) and a few
    longer than max_length pieces."""
    rng = random.Random(seed)
    texts = [r["text"] for r in generate.generate(n, seed=seed)]
    for i in range(0, n, 10):
        s = list(texts[i])
        for _ in range(rng.randint(1, 4)):
            s.insert(rng.randint(0, len(s)), rng.choice(NOISE))
        texts[i] = "".join(s)
    for i in range(5, n, 50):
        texts[i] = " ".join(texts[i:i + 12])
    return texts


def make_user_files(d, size, seed):
    """bpe.codes, vocab.txt, config.json, latest_checkpoint.pth, labels.json in d; returns config."""
    spec = SIZES[size]
    training = [r["text"] for r in generate.generate(3000, seed=seed + 1)]
    codes, vocab = learn_bpe(training, spec["merges"])
    with open(os.path.join(d, "bpe.codes"), "w", encoding="utf-8") as f:
        f.writelines(codes)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(vocab)
    phobert = dict(vocab_size=len(vocab) + 5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                   type_vocab_size=1, layer_norm_eps=1e-5, hidden_dropout_prob=0.1,
                   attention_probs_dropout_prob=0.1)
    phobert.update(spec["phobert"])
    config = {"phobert": phobert, "extra_layers": 2, "extra_heads": spec["extra_heads"],
              "extra_ffn": spec["extra_ffn"], "num_span_labels": len(SPAN_LABELS),
              "num_aspects": len(ASPECTS), "num_sentiments": len(SENTIMENTS), "max_length": spec["max_length"]}
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    from eaos_phobert_user import PhobertEAOS
    torch.manual_seed(seed)
    model = PhobertEAOS(config)
    hidden = phobert["hidden_size"]
    with torch.no_grad():  # heads sharper than HF's init, so that random weights give tuples
        for head in (model.span_head, model.aspect_head, model.sentiment_head):
            head.weight.normal_(0.0, 2.5 / hidden ** 0.5)
    sd = model.state_dict()
    # what older transformers saved (a persistent buffer then): the export must drop it, and say so
    sd["phobert.embeddings.position_ids"] = torch.arange(phobert["max_position_embeddings"]).unsqueeze(0)
    torch.save({"model_state_dict": sd, "epoch": 7, "best_f1": 0.61}, os.path.join(d, "latest_checkpoint.pth"))
    labels = {"name": "phobert-eaos-%s" % size, "version": "1.0.0", "tag_scheme": "BIO",
              "span_labels": list(SPAN_LABELS), "aspects": list(ASPECTS), "sentiments": list(SENTIMENTS)}
    with open(os.path.join(d, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, ensure_ascii=False, indent=1)
    return config


def user_python_path(d, config, texts, threshold, batch_size=8):
    """PhobertTokenizer -> the eager module (strict load as the user's code does, batches padded) ->
    decode.py; one list of tuples per text."""
    from eaos_phobert_user import PhobertEAOS
    model = PhobertEAOS(config)
    sd = torch.load(os.path.join(d, "latest_checkpoint.pth"), map_location="cpu")["model_state_dict"]
    sd.pop("phobert.embeddings.position_ids")
    model.load_state_dict(sd, strict=True)
    model.eval()
    tok = PhobertPath(os.path.join(d, "bpe.codes"), os.path.join(d, "vocab.txt"), config["max_length"])
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        encs = [tok.encode(t) for t in chunk]
        t = max(len(e.input_ids) for e in encs)
        ids = torch.tensor([e.input_ids + [1] * (t - len(e.input_ids)) for e in encs])
        mask = torch.tensor([[1] * len(e.input_ids) + [0] * (t - len(e.input_ids)) for e in encs])
        with torch.no_grad():
            span, aspect, sentiment = model(ids, mask)
        for r, (text, enc) in enumerate(zip(chunk, encs)):
            out.append(decode(text, enc.pieces, span[r].numpy(), aspect[r].numpy(), sentiment[r].numpy(),
                              SPAN_LABELS, ASPECTS, SENTIMENTS, threshold))
    return out


# --- the server --------------------------------------------------------------------------------

def _die_with_parent():
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Server:
    """eaos-server on 127.0.0.1 (free port); start() returns seconds to the SERVING line, or
    raises with the server's output when it exits first."""

    def __init__(self, binary, model_dir, log_path, extra=()):
        self.cmd = [binary, "--model_dir", model_dir, "--listen", "127.0.0.1:0", "--metrics_listen", "127.0.0.1:0",
                    "--threads", "2"] + list(extra)
        self.log_path = log_path
        self.proc = None
        self.port = None

    def start(self, timeout):
        t0 = time.monotonic()
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        while time.monotonic() - t0 < timeout:
            text = self.output()
            m = LISTEN_RE.search(text)
            if m:
                self.port = int(m.group(1))
            if "; SERVING" in text:
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise RuntimeError("eaos-server exited with status %d:\n%s" % (self.proc.returncode, text))
            time.sleep(0.2)
        raise RuntimeError("eaos-server not SERVING after %d s:\n%s" % (timeout, self.output()))

    def wait_exit(self, timeout):
        """The exit status of a server expected to stop by itself (a refused model)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def served_tuples(client_python, port, texts, threshold, d):
    inp, outp = os.path.join(d, "texts.jsonl"), os.path.join(d, "served.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")
    subprocess.run([client_python, os.path.join(HERE, "phobert_client.py"), "--target", "127.0.0.1:%d" % port,
                    "--input", inp, "--output", outp, "--threshold", str(threshold)], check=True, timeout=600)
    with open(outp, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[0]["model_info"], [r["tuples"] for r in rows[1:]]


def key(t):
    """A tuple without its confidence, the empty entity as the server writes it."""
    ent = t["entity_span"] if t["entity"] else None
    ent_b = t["entity_byte_span"] if t["entity"] else None
    return (t["entity"], tuple(ent) if ent else None, tuple(ent_b) if ent_b else None, t["aspect"], t["opinion"],
            tuple(t["opinion_span"]), tuple(t["opinion_byte_span"]), t["sentiment"])


def compare(want, got):
    """(identical texts, tuples compared, identical tuples, max confidence diff, first differences)."""
    same_texts, n_tuples, same_tuples, worst, diffs = 0, 0, 0, 0.0, []
    for i, (w, g) in enumerate(zip(want, got)):
        n_tuples += len(w)
        wk, gk = [key(t) for t in w], [key(t) for t in g]
        ok = wk == gk
        for tw, tg in zip(w, g):
            if key(tw) == key(tg):
                same_tuples += 1
                worst = max(worst, abs(tw["confidence"] - tg["confidence"]))
        conf_ok = ok and all(abs(a["confidence"] - b["confidence"]) <= CONFIDENCE_TOLERANCE for a, b in zip(w, g))
        if ok and conf_ok:
            same_texts += 1
        elif len(diffs) < 5:
            diffs.append("text %d: user's path %s, server %s" % (i, w, g))
    return same_texts, n_tuples, same_tuples, worst, diffs


def swap_two_vocab_lines(model_dir, wrong_dir):
    shutil.copytree(model_dir, wrong_dir)
    path = os.path.join(wrong_dir, "vocab.txt")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines[0], lines[1] = lines[1], lines[0]  # the two most frequent pieces: in every golden sample
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return lines[1].split()[0], lines[0].split()[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="the eaos-server binary")
    ap.add_argument("--client-python", required=True, help="a Python with eaos_client (build/pyenv/bin/python)")
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--texts", type=int, default=320)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    ap.add_argument("--serving-timeout", type=int, default=600)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    d = args.keep or tempfile.mkdtemp(prefix="phobert_e2e_")
    os.makedirs(d, exist_ok=True)
    failures = []
    server = None
    try:
        t0 = time.monotonic()
        config = make_user_files(d, args.size, args.seed)
        log("user files (%s) in %s: %.1fs" % (args.size, d, time.monotonic() - t0))
        out = os.path.join(d, "model")
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "eaos_tools.export", "--module", "eaos_phobert_user:PhobertEAOS",
               "--module-path", os.path.join(HERE, "phobert_user"), "--checkpoint", os.path.join(d, "latest_checkpoint.pth"),
               "--config", os.path.join(d, "config.json"), "--tokenizer-type", "fastbpe",
               "--codes", os.path.join(d, "bpe.codes"), "--vocab", os.path.join(d, "vocab.txt"),
               "--labels", os.path.join(d, "labels.json"), "--max-length", str(config["max_length"]), "--out", out]
        log("$ " + " ".join(cmd))
        exp = subprocess.run(cmd, cwd=MODELS_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=1800)
        sys.stdout.write(exp.stdout)
        if exp.returncode != 0:
            raise RuntimeError("the export failed (status %d)" % exp.returncode)
        export_s = time.monotonic() - t0
        for must in ("dropped phobert.embeddings.position_ids", "nested-tensor fast path off on 1 ",
                     "all rows shorter than T"):
            if must not in exp.stdout:
                failures.append("the export's report lacks %r" % must)

        texts = user_texts(args.texts, args.seed)
        server = Server(args.server, out, os.path.join(d, "server.log"))
        serving_s = server.start(args.serving_timeout)
        log("eaos-server SERVING after %.1fs: %s" % (serving_s, [l for l in server.output().splitlines()
                                                               if "SERVING" in l][-1]))
        t0 = time.monotonic()
        info, got = served_tuples(args.client_python, server.port, texts, THRESHOLD, d)
        serve_s = time.monotonic() - t0
        server.stop()
        t0 = time.monotonic()
        want = user_python_path(d, config, texts, THRESHOLD)
        user_s = time.monotonic() - t0
        same_texts, n_tuples, same_tuples, worst, diffs = compare(want, got)
        failures += diffs
        if same_texts != len(texts):
            failures.append("%d of %d texts differ" % (len(texts) - same_texts, len(texts)))
        if n_tuples < len(texts) // 2:
            failures.append("only %d tuples in %d texts: too few to compare" % (n_tuples, len(texts)))
        p = config["phobert"]
        sizes = {"vocab_size": p["vocab_size"], "hidden": p["hidden_size"],
                 "layers": p["num_hidden_layers"] + config["extra_layers"], "heads": p["num_attention_heads"],
                 "ffn": p["intermediate_size"]}
        got_sizes = {k: info["sizes"].get(k, 0) for k in sizes}
        if got_sizes != sizes:
            failures.append("GetModelInfo sizes %s, expected %s" % (got_sizes, sizes))
        phobert = PhobertPath(os.path.join(d, "bpe.codes"), os.path.join(d, "vocab.txt"), config["max_length"])
        truncated = sum(1 for t in texts if len(phobert.tok.tokenize(t)) > config["max_length"] - 2)

        wrong = os.path.join(d, "model-swapped-vocab")
        a, b = swap_two_vocab_lines(out, wrong)
        refused = Server(args.server, wrong, os.path.join(d, "server-swapped.log"))
        try:
            refused.start(args.serving_timeout)
            failures.append("eaos-server served a model dir whose vocab.txt has %r and %r swapped" % (a, b))
        except RuntimeError as e:
            msg = str(e)
            m = re.search(r"golden self-test failed[^\n]*", msg)
            if not m or "sample \"golden-" not in m.group(0) or "token id" not in m.group(0):
                failures.append("the swapped vocab.txt was not refused by the self-test naming a sample:\n" + msg[-2000:])
            else:
                log("swapped vocab.txt lines (%r, %r) refused: %s" % (a, b, m.group(0)[:300]))
        finally:
            refused.stop()

        print()
        print("| model | texts (truncated) | tuples | identical texts | identical tuples | max confidence diff "
              "| export | time to SERVING | server answers | user's path |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("| %s: vocab %d, hidden %d, %d+%d layers, max_length %d | %d (%d) | %d | %d | %d | %.2g | %.0fs | "
              "%.1fs | %.1fs | %.1fs |" % (
                  args.size, p["vocab_size"], p["hidden_size"], p["num_hidden_layers"], config["extra_layers"],
                  config["max_length"], len(texts), truncated, n_tuples, same_texts, same_tuples, worst, export_s,
                  serving_s, serve_s, user_s))
        print("GetModelInfo sizes: %s" % info["sizes"])
    except Exception as e:  # noqa: BLE001 - reported as the test's failure
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        if server:
            server.stop()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    print("phobert_e2e: %s" % ("FAILED" if failures else "OK"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
