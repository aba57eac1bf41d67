"""Sentencepiece exactness in fairseq ids: the server's tokenizer (eaos-spm) and the Python
reference's (eaos_tools.tokenization.Tokenizer with id_map "fairseq") against transformers'
XLMRobertaTokenizer and BartphoTokenizer.

Trains two sentencepiece models here on generated comments (no hub): a unigram model with the
default nmt_nfkc normalization, as XLM-RoBERTa's `sentencepiece.bpe.model` is, for
XLMRobertaTokenizer, and a BPE model with a reduced, reordered dict.txt (a fairseq dictionary, as
BARTpho-syllable's) for BartphoTokenizer. Then encodes generated comments and random strings
(tabs, NBSP, U+3000, zero-width and combining characters, emoji, CJK, fullwidth forms, CR/LF,
literal special tokens) with all three and compares ids, untruncated and with the contract's
truncation (`tok.encode(text, truncation=True, max_length=N)` against `--max_length N`), and the
Python reference's ids and byte offsets against the server's. The same texts also run through
the plain sentencepiece ids (models trained here) against sentencepiece itself. Prints the counts
per tokenizer class and category; exit status 1 on any mismatch. Needs the venv of
scripts/deps.d/45-transformers.sh:

    build/hfenv/bin/python -m eaos_tools.spm_exactness --tool build/release/bin/eaos-spm
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
from eaos_tools.tokenization import Tokenizer

TRUNCATE_AT = 24  # max_length of the truncated comparison (<s> and </s> included)

NOISE = list("abcnghương ươ ") + [
    "\t", "\n", "\r", "\r\n", "\n\n", " \n", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u3000",
    "\u2028", "\u2009", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
    "\u0300", "\u0301", "\u0303", "\u0309", "\u0323", "e\u0302\u0301", "u\u031b\u0300",
    "😀", "👍🏽", "🇻🇳", "❤️", "中", "文", "한", "ｈａｙ", "＜s＞", "①", "ﬁ", "²", "▁", "▁▁",
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", " <mask>", "\u3000<mask>", "\n<mask> ", "<mask",
    "<s", "</", "<<", ">", "=))", "@@", "\\", "\"", "'", "\u0000"]


def random_texts(texts, n, rng):
    out = []
    for _ in range(n):
        s = list(texts[rng.randrange(len(texts))]) if rng.random() < 0.5 else []
        for _ in range(rng.randint(1, 30)):
            s.insert(rng.randint(0, len(s)), rng.choice(NOISE))
        out.append("".join(s))
    return out


def train(corpus, prefix, model_type, vocab_size):
    import sentencepiece as spm
    # character_coverage below 1: rare characters stay unknown, as in a real model.
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
        character_coverage=0.9995, num_threads=2, minloglevel=2, hard_vocab_limit=False)
    return prefix + ".model"


def write_dict(model, path, rng):
    """A BARTpho-like dict.txt: most of the model's pieces (not its specials), in another order,
    with counts; plus fairseq's padding words, which are no pieces."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
              if not (sp.is_control(i) or sp.is_unknown(i))]
    kept = [p for p in pieces if rng.random() < 0.8]
    rng.shuffle(kept)
    lines = ["%s %d\n" % (p, rng.randint(1, 10000)) for p in kept]
    lines += ["madeupword%04d 0\n" % i for i in range(3)]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return len(kept)


def run_tool(tool, args, texts):
    inp = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    out = subprocess.run([tool] + args, input=inp.encode("utf-8"), capture_output=True)
    if out.returncode != 0:
        raise SystemExit("%s %s failed: %s" % (tool, " ".join(args), out.stderr.decode("utf-8", "replace")))
    lines = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
    assert len(lines) == len(texts), (len(lines), len(texts))
    return lines


def offsets_ok(text, got):
    """Byte ranges inside the text, in order, not overlapping."""
    size = len(text.encode("utf-8"))
    spans = list(zip(got["begins"][1:-1], got["ends"][1:-1]))
    return all(0 <= b <= e <= size for b, e in spans) and all(
        b2 >= e1 for (_, e1), (b2, _) in zip(spans, spans[1:]))


def compare(name, encode_ref, py_tok, tool, tool_args, all_texts, report):
    """Counts of one tokenizer class: ids of encode_ref(text, max_length) against the server's and
    the Python reference's, untruncated and truncated."""
    full = run_tool(tool, tool_args, [t for _, t in all_texts])
    cut = run_tool(tool, tool_args + ["--max_length", str(TRUNCATE_AT)], [t for _, t in all_texts])
    n, bad_ids, bad_cut, bad_py, bad_offsets = (collections.Counter() for _ in range(5))
    for (cat, text), got, got_cut in zip(all_texts, full, cut):
        n[cat] += 1
        want = encode_ref(text, None)
        if got["ids"] != want:
            bad_ids[cat] += 1
            print("%s: ids differ (%s): %r\n  want %s\n  got  %s" % (name, cat, text[:100], want[:40],
                                                                   got["ids"][:40]), file=sys.stderr)
        want_cut = encode_ref(text, TRUNCATE_AT)
        if got_cut["ids"] != want_cut or got_cut["truncated"] != (len(want) > TRUNCATE_AT):
            bad_cut[cat] += 1
            print("%s: truncated ids differ (%s): %r" % (name, cat, text[:100]), file=sys.stderr)
        py = py_tok.encode(text)
        py_spans = [(0, 0)] + [(p.begin, p.end) for p in py.pieces]
        if py.input_ids != want or py_spans != list(zip(got["begins"], got["ends"]))[:-1]:
            bad_py[cat] += 1
            print("%s: Python reference differs (%s): %r" % (name, cat, text[:100]), file=sys.stderr)
        if not offsets_ok(text, got):
            bad_offsets[cat] += 1
            print("%s: bad byte ranges (%s): %r" % (name, cat, text[:100]), file=sys.stderr)
    for cat in n:
        print("%-20s %-8s texts %5d  id mismatches %d  truncated (max_length %d) mismatches %d  "
              "Python reference mismatches %d  bad ranges %d"
              % (name, cat, n[cat], bad_ids[cat], TRUNCATE_AT, bad_cut[cat], bad_py[cat], bad_offsets[cat]))
    total = sum(bad_ids.values()) + sum(bad_cut.values()) + sum(bad_py.values()) + sum(bad_offsets.values())
    report.append((name, sum(n.values()), sum(bad_ids.values()), sum(bad_cut.values()), sum(bad_py.values()),
                   sum(bad_offsets.values())))
    return total


def hf_encoder(tok):
    def encode(text, max_length):
        if max_length is None:
            return tok.encode(text)
        return tok.encode(text, truncation=True, max_length=max_length)
    return encode


def spm_encoder(sp, bos, eos):
    def encode(text, max_length):
        ids = sp.encode(text)
        if max_length is not None:
            ids = ids[:max_length - 2]
        return [bos] + ids + [eos]
    return encode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="the eaos-spm binary")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--comments", type=int, default=1500)
    ap.add_argument("--random", type=int, default=1500)
    args = ap.parse_args(argv)
    import sentencepiece as spm
    from transformers import BartphoTokenizer, XLMRobertaTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()  # "sequence longer than the model's maximum" is not ours

    rng = random.Random(args.seed)
    texts = [r["text"] for r in generate.generate(3000 + args.comments, seed=args.seed)]
    train_texts, test_texts = texts[:3000], texts[3000:]
    all_texts = [("comment", t) for t in test_texts] + [
        ("random", t) for t in random_texts(texts, args.random, rng)]
    huge = 1 << 30
    report, bad = [], 0
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.writelines(t.replace("\n", " ") + "\n" for t in train_texts)
        unigram = train(corpus, os.path.join(d, "xlmr"), "unigram", 1200)
        bpe = train(corpus, os.path.join(d, "bartpho"), "bpe", 1200)
        dict_path = os.path.join(d, "dict.txt")
        kept = write_dict(bpe, dict_path, rng)
        print("models: unigram %d pieces (XLMRobertaTokenizer), BPE %d pieces with a dict.txt of %d of them "
              "(BartphoTokenizer)" % (spm.SentencePieceProcessor(model_file=unigram).get_piece_size(),
                                      spm.SentencePieceProcessor(model_file=bpe).get_piece_size(), kept))

        xlmr = XLMRobertaTokenizer(vocab_file=unigram)
        bad += compare("XLMRobertaTokenizer", hf_encoder(xlmr),
                       Tokenizer(unigram, huge, id_map="fairseq"),
                       args.tool, ["--model", unigram, "--id_map", "fairseq"], all_texts, report)
        bartpho = BartphoTokenizer(vocab_file=bpe, monolingual_vocab_file=dict_path)
        bad += compare("BartphoTokenizer", hf_encoder(bartpho),
                       Tokenizer(bpe, huge, id_map="fairseq", dict_file=dict_path),
                       args.tool, ["--model", bpe, "--id_map", "fairseq", "--dict", dict_path], all_texts, report)
        # Plain sentencepiece ids (models/demo's kind; the trainer's defaults: <unk>=0 <s>=1 </s>=2).
        sp = spm.SentencePieceProcessor(model_file=bpe)
        bad += compare("sentencepiece ids", spm_encoder(sp, 2, 3),
                       Tokenizer(bpe, huge, pad_id=0, unk_id=1, bos_id=2, eos_id=3),
                       args.tool, ["--model", bpe], all_texts, report)
    for name, n, ids, cut, py, offsets in report:
        print("total %-20s texts %5d, id mismatches %d, truncated mismatches %d, Python reference mismatches %d, "
              "bad ranges %d" % (name, n, ids, cut, py, offsets))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
