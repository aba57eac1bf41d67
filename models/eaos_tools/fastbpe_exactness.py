"""fastBPE exactness: the server's tokenizer (eaos-fastbpe) and the Python reference's
(eaos_tools.tokenization.FastBpeTokenizer) against transformers' PhobertTokenizer.

Learns BPE codes + a vocabulary here on generated comments (a plain BPE learner; no hub), then
encodes raw comments, comments segmented with pyvi and underthesea, and random strings (tabs, NBSP,
U+3000, zero-width and combining characters, emoji, CJK, CR/LF everywhere, literal special tokens)
with all three, and compares ids and each piece's reconstructed text (C++ vs PhobertTokenizer), and
the Python reference's ids and byte offsets against both. Prints the counts per category; exit
status 1 on any mismatch. Needs the venv of scripts/deps.d/45-transformers.sh:

    build/hfenv/bin/python -m eaos_tools.fastbpe_exactness --tool build/release/bin/eaos-fastbpe
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

from eaos_tools import generate
from eaos_tools.tokenization import FastBpeTokenizer


def learn_bpe(texts, n_merges, min_count=2):
    """fastBPE-format (codes lines, vocab lines) learned on whitespace-split words."""
    words = collections.Counter(w for t in texts for w in t.split())
    vocab = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in words.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for sym, c in vocab.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append("%s %s %d\n" % (a, b, c))
        merged = {}
        for sym, cnt in vocab.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + cnt
        vocab = merged
    pieces = collections.Counter()
    for sym, c in vocab.items():
        for i, s in enumerate(sym):
            pieces[s[:-4] if i == len(sym) - 1 else s + "@@"] += c
    keep = [p for p, c in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    return merges, ["%s %d\n" % (p, pieces[p]) for p in keep]


NOISE = list("abcnghương ươ ") + [
    "\t", "\n", "\u00a0", "\u3000", "\u200b", "\u200d", "\u0301", "\u0323", "😀", "👍🏽", "中", "文",
    "\r", "\r\n", "\x0b", "\x1c", "\u2028", "\ufeff", "<s>", "</s>", "<mask>", "<unk>", "<pad>",
    "=))", "@@", "</w>", "\n\n", " \n"]


def categories(texts, rng):
    from pyvi import ViTokenizer
    import underthesea
    cats = collections.OrderedDict()
    cats["raw"] = texts[:2000]
    cats["pyvi"] = [ViTokenizer.tokenize(t) for t in texts[2000:2600]]
    cats["underthesea"] = [underthesea.word_tokenize(t, format="text") for t in texts[2600:3000]]
    rand = []
    for _ in range(2000):
        s = list(texts[rng.randrange(len(texts))]) if rng.random() < 0.5 else []
        for _ in range(rng.randint(1, 30)):
            s.insert(rng.randint(0, len(s)), rng.choice(NOISE))
        rand.append("".join(s))
    cats["random"] = rand
    return cats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="the eaos-fastbpe binary")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from transformers import PhobertTokenizer

    texts = [r["text"] for r in generate.generate(3000, seed=args.seed)]
    codes, vocab = learn_bpe(texts, 1500)
    with tempfile.TemporaryDirectory() as d:
        codes_path, vocab_path = os.path.join(d, "bpe.codes"), os.path.join(d, "vocab.txt")
        with open(codes_path, "w", encoding="utf-8") as f:
            f.writelines(codes)
        with open(vocab_path, "w", encoding="utf-8") as f:
            f.writelines(vocab)
        tok = PhobertTokenizer(vocab_path, codes_path)
        py_tok = FastBpeTokenizer(codes_path, vocab_path, max_length=1 << 30)  # never truncates
        all_texts = [(c, t) for c, ts in categories(texts, random.Random(args.seed)).items() for t in ts]
        inp = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for _, t in all_texts)
        out = subprocess.run([args.tool, "--codes", codes_path, "--vocab", vocab_path],
                             input=inp.encode("utf-8"), capture_output=True, check=True)
    lines = out.stdout.decode("utf-8").splitlines()
    assert len(lines) == len(all_texts), (len(lines), len(all_texts))
    n, bad_ids, bad_offsets = collections.Counter(), collections.Counter(), collections.Counter()
    bad_py = collections.Counter()
    for (cat, text), line in zip(all_texts, lines):
        n[cat] += 1
        got = json.loads(line)
        want_ids = tok.encode(text)
        if got["ids"] != want_ids:
            bad_ids[cat] += 1
            print("ids differ (%s): %r" % (cat, text[:100]), file=sys.stderr)
        py = py_tok.encode(text)
        py_spans = [(0, 0)] + [(p.begin, p.end) for p in py.pieces]
        if py.input_ids != want_ids or py_spans != list(zip(got["begins"], got["ends"]))[:-1]:
            bad_py[cat] += 1
            print("Python reference differs (%s): %r" % (cat, text[:100]), file=sys.stderr)
        data, want = text.encode("utf-8"), tok.tokenize(text)
        spans = list(zip(got["begins"][1:-1], got["ends"][1:-1]))
        pieces = [data[b:e].decode("utf-8") for b, e in spans]
        ok = len(pieces) == len(want) and all(
            w in (p, p + "@@") for p, w in zip(pieces, want)) and all(
            b2 >= e1 for (_, e1), (b2, _) in zip(spans, spans[1:]))
        if not ok:
            bad_offsets[cat] += 1
            print("offsets differ (%s): %r" % (cat, text[:100]), file=sys.stderr)
    for cat in n:
        print("%-12s texts %5d  id mismatches %d  offset mismatches %d  Python reference mismatches %d"
              % (cat, n[cat], bad_ids[cat], bad_offsets[cat], bad_py[cat]))
    print("total texts %d, id mismatches %d, offset mismatches %d, Python reference mismatches %d"
          % (sum(n.values()), sum(bad_ids.values()), sum(bad_offsets.values()), sum(bad_py.values())))
    return 1 if bad_ids or bad_offsets or bad_py else 0


if __name__ == "__main__":
    sys.exit(main())
