"""export_module.py: a user's own module -> model directory (checkpoint layouts, name map, strict
load errors, the nested-tensor trace trap and the safe trace, the CLI end to end with a
sentencepiece tokenizer). The fastBPE + PhobertTokenizer path needs transformers: tests/e2e."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

import _paths
from eaos_tools import ASPECTS, SENTIMENTS, SPAN_LABELS
from eaos_tools.export_module import (ContractModule, ExportError, align_pieces, architecture, example_batch,
                                      map_names, prove_trace, read_checkpoint, strict_load, trace)
from eaos_tools.tokenization import FastBpeTokenizer
from user_module_fixture import UserEAOS

torch.set_num_threads(2)
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(_paths.DEMO_DIR, "tokenizer.model")
SPECIAL = {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}
CONFIG = {"vocab_size": 4000, "hidden": 32, "heads": 4, "layers": 2, "max_length": 48,
          "num_aspects": len(ASPECTS), "num_sentiments": len(SENTIMENTS)}


def user_model(seed=0, **kw):
    torch.manual_seed(seed)
    return UserEAOS(dict(CONFIG, **kw)).eval()


def wrapped(model):
    return ContractModule(model, ["tags", "aspects", "polarity"], model.tok.word_embeddings.num_embeddings,
                          SPECIAL["unk_id"]).eval()


class CheckpointLayoutTest(unittest.TestCase):
    def save(self, obj):
        f = tempfile.NamedTemporaryFile(suffix=".pth", delete=False)
        f.close()
        self.addCleanup(os.remove, f.name)
        torch.save(obj, f.name)
        return f.name

    def test_seed_layouts(self):
        sd = user_model().state_dict()
        for obj, layout in (({"model_state_dict": sd, "epoch": 3, "best_f1": 0.7}, "'model_state_dict'"),
                            ({"state_dict": sd, "optimizer": {}}, "'state_dict'"),
                            (sd, "a bare state dict")):
            got, desc = read_checkpoint(self.save(obj))
            self.assertEqual(sorted(got), sorted(sd))
            self.assertTrue(desc.startswith(layout), desc)
        self.assertIn("best_f1, epoch: not used", read_checkpoint(self.save({"model_state_dict": sd, "epoch": 3,
                                                                              "best_f1": 0.7}))[1])

    def test_wrong_layouts_are_named(self):
        with self.assertRaisesRegex(ExportError, r"wrong layout: expected 'model_state_dict' or 'state_dict'.*"
                                                 r"\['epoch', 'weights'\]"):
            read_checkpoint(self.save({"epoch": 1, "weights": [1, 2]}))
        with self.assertRaisesRegex(ExportError, "a whole pickled nn.Module"):
            read_checkpoint(self.save(torch.nn.Linear(2, 2)))
        with self.assertRaisesRegex(ExportError, "not tensors: \\['step'\\]"):
            read_checkpoint(self.save({"state_dict": {"w": torch.zeros(2), "step": 3}}))
        with self.assertRaisesRegex(ExportError, "torch.load fails"):
            with open(self.save({}), "wb") as f:
                f.write(b"not a checkpoint")
            read_checkpoint(f.name)


class NameMapAndStrictLoadTest(unittest.TestCase):
    def test_position_ids_and_dataparallel_prefix(self):
        model = user_model()
        sd = {"module." + k: v for k, v in model.state_dict().items()}
        sd["module.tok.embeddings.position_ids"] = torch.arange(48).unsqueeze(0)
        mapped, report = map_names(sd, model.state_dict())
        self.assertEqual(sorted(mapped), sorted(model.state_dict()))
        self.assertIn("removed the prefix 'module.'", report[0])
        self.assertIn("dropped tok.embeddings.position_ids (a buffer older transformers saved", report[1])
        strict_load(user_model(seed=1), mapped)

    def test_rename_and_drop(self):
        model = user_model()
        sd = {k.replace("tok.", "embeddings.", 1): v for k, v in model.state_dict().items()}
        sd["ema_decay"] = torch.tensor(0.99)
        mapped, report = map_names(sd, model.state_dict(), [("embeddings.", "tok.")], ["ema_decay"])
        self.assertEqual(sorted(mapped), sorted(model.state_dict()))
        self.assertEqual(report, ["renamed 2 key(s) embeddings.* -> tok.*", "dropped ema_decay (--drop)"])
        with self.assertRaisesRegex(ExportError, "--rename nothing.=x: no checkpoint key starts with"):
            map_names(sd, model.state_dict(), [("nothing.", "x")])

    def test_each_mismatch_is_named(self):
        model = user_model()
        sd = dict(model.state_dict())
        del sd["span.bias"]
        sd["classifier.weight"] = torch.zeros(3, 32)
        sd["aspect.weight"] = torch.zeros(7, 32)
        with self.assertRaises(ExportError) as cm:
            strict_load(user_model(), sd)
        msg = str(cm.exception)
        self.assertIn("3 problem(s) (1 unexpected, 1 missing, 1 other)", msg)
        self.assertIn("unexpected tensor 'classifier.weight' [3, 32]", msg)
        self.assertIn("missing tensor 'span.bias' [5]", msg)
        self.assertIn("tensor 'aspect.weight' has shape [7, 32] in the checkpoint, the module (built from "
                      "config.json) expects [%d, 32]" % len(ASPECTS), msg)

    def test_a_config_of_another_size_is_a_shape_mismatch(self):
        with self.assertRaisesRegex(ExportError, "expects \\[4000, 48\\]"):
            strict_load(user_model(hidden=48), user_model().state_dict())


class TraceTest(unittest.TestCase):
    """The trap: torch.jit.trace under no_grad records nn.TransformerEncoder's nested-tensor fast
    path, whose padded output is as long as the longest real row; the export turns it off."""

    def test_naive_trace_loses_positions_when_all_rows_are_shorter(self):
        w = wrapped(user_model())
        ids, mask = example_batch([20, 30], 48, 4000, np.random.RandomState(0), SPECIAL)
        with torch.no_grad():
            naive = torch.jit.trace(w, (ids, mask), strict=False, check_trace=False)
            short_ids, short_mask = example_batch([7, 5], 40, 4000, np.random.RandomState(1), SPECIAL)
            out = naive(short_ids, short_mask)
            eager = w(short_ids, short_mask)
        if not torch.__version__.startswith("1."):
            self.skipTest("the trap was found on torch 1.13 (Debian's); torch %s may not have it" % torch.__version__)
        self.assertEqual(list(eager["span_logits"].shape), [2, 7, 5])  # eager is padded to the longest row
        self.assertLess(out["span_logits"].shape[1], 40)  # the trace lost positions: [2, 40] in
        with self.assertRaisesRegex(ExportError, "trace check .*the trace lost positions"):
            prove_trace(naive, w, 48, 4000, SPECIAL)

    def test_safe_trace_is_proved(self):
        model = user_model()
        w = wrapped(model)
        traced = trace(w, 48, 4000, SPECIAL)
        self.assertTrue(model.encoder.enable_nested_tensor)  # the user's eager module is left as it was
        lines = prove_trace(traced, w, 48, 4000, SPECIAL)
        self.assertEqual(len(lines), 7)
        ids, mask = example_batch([7, 5], 40, 4000, np.random.RandomState(1), SPECIAL)
        with torch.no_grad():
            self.assertEqual(list(traced(ids, mask)["aspect_logits"].shape), [2, 40, len(ASPECTS)])
            # ids outside the embedding are the unknown id
            bad = ids.clone()
            bad[0, 2], bad[1, 3] = 4000, -5
            fixed = ids.clone()
            fixed[0, 2], fixed[1, 3] = SPECIAL["unk_id"], SPECIAL["unk_id"]
            self.assertTrue(torch.equal(traced(bad, mask)["span_logits"], traced(fixed, mask)["span_logits"]))


class AlignTest(unittest.TestCase):
    def test_pieces_are_placed_in_the_text(self):
        text = "chương trình\u00a0hay\nquá  <s>x@@ =))\n"
        tokens = ["chư@@", "ơng", "trình", "hay\n", "qu@@", "á", "<s>", "x@@", "@@", "=)@@", ")\n"]
        spans = align_pieces(text, tokens)
        self.assertEqual([text[b:e] for b, e in spans],
                         ["chư", "ơng", "trình", "hay\n", "qu", "á", "<s>", "x", "@@", "=)", ")\n"])
        with self.assertRaisesRegex(ExportError, "cannot place"):
            align_pieces("abc", ["abd"])


class FastBpeTokenizerTest(unittest.TestCase):
    def test_ids_offsets_specials_unknowns(self):
        with tempfile.TemporaryDirectory() as d:
            codes, vocab = os.path.join(d, "bpe.codes"), os.path.join(d, "vocab.txt")
            with open(codes, "w", encoding="utf-8") as f:
                f.write("h a 9\nha y</w> 8\nq u 7\nqu á</w> 6\nu á</w> 5\n")
            with open(vocab, "w", encoding="utf-8") as f:
                f.write("hay 9\nquá 8\nq@@ 3\n")
            tok = FastBpeTokenizer(codes, vocab, max_length=5)
            enc = tok.encode("hay  quá<mask>\tx")
            self.assertEqual(tok.vocab_size(), 4 + 3 + 1)
            self.assertEqual(enc.input_ids, [0, 4, 5, 7, 2])  # <mask> is 7; truncated before "x"
            self.assertTrue(enc.truncated)
            self.assertEqual([(p.begin, p.end) for p in enc.pieces], [(0, 3), (5, 9), (9, 15)])
            self.assertEqual([p.id for p in tok.pieces("hé")], [3, 3])  # "h@@", "é": one <unk> each
            with open(vocab, "a", encoding="utf-8") as f:
                f.write("hay 1\n")
            with self.assertRaisesRegex(ValueError, "vocab.txt line 4: the token 'hay' is already"):
                FastBpeTokenizer(codes, vocab, max_length=5)


def write_fastbpe(d, n_texts=300, merges=300):
    """bpe.codes + vocab.txt learned on generated comments (as fastbpe_exactness does)."""
    from eaos_tools import generate
    from eaos_tools.fastbpe_exactness import learn_bpe
    codes, vocab = learn_bpe([r["text"] for r in generate.generate(n_texts, seed=5)], merges)
    with open(os.path.join(d, "bpe.codes"), "w", encoding="utf-8") as f:
        f.writelines(codes)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(vocab)
    return len(vocab) + 5


class FastBpeModelDirTest(unittest.TestCase):
    """A fastBPE model directory through the Python reference and validate (no transformers)."""

    def test_reference_serves_a_fastbpe_directory(self):
        from eaos_tools.reference import ReferenceModel
        from eaos_tools.validate import validate
        with tempfile.TemporaryDirectory() as d:
            n_ids = write_fastbpe(d)
            special = {"bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3}
            model = user_model(vocab_size=n_ids, pad_id=1)
            w = ContractModule(model, ["tags", "aspects", "polarity"], n_ids, 3).eval()
            trace(w, 48, n_ids, special).save(os.path.join(d, "model.pt"))
            meta = {"name": "fastbpe-test", "version": "1.0.0", "max_length": 48,
                    "tokenizer": {"type": "fastbpe", "codes": "bpe.codes", "vocab": "vocab.txt"},
                    "special_tokens": special, "tag_scheme": "BIO", "span_labels": list(SPAN_LABELS),
                    "aspects": list(ASPECTS), "sentiments": list(SENTIMENTS),
                    "outputs": {"span_logits": "span_labels", "aspect_logits": "aspects",
                                "sentiment_logits": "sentiments"},
                    "architecture": architecture(model, model.tok.word_embeddings, 48, "user_module_fixture:UserEAOS")}
            with open(os.path.join(d, "model.json"), "w", encoding="utf-8") as f:
                json.dump(meta, f, ensure_ascii=False)
            self.assertEqual(validate(d), [])
            ref = ReferenceModel(d, num_threads=2)
            self.assertEqual(type(ref.tokenizer).__name__, "FastBpeTokenizer")
            text = "MC dẫn duyên quá, nhưng âm thanh hơi rè ꙮ"
            out = ref.predict([text, "hay"], threshold=0.0, batch_size=2)
            enc = ref.tokenizer.encode(text)
            self.assertEqual(out[0]["num_tokens"], len(enc.input_ids))
            self.assertEqual((enc.input_ids[0], enc.input_ids[-1]), (0, 2))
            self.assertEqual(enc.input_ids[-2], 3)  # U+A66E is not in vocab.txt: <unk>
            for t in out[0]["tuples"]:
                b, e = t["opinion_span"]
                self.assertEqual(text[b:e], t["opinion"])
            self.assertEqual(meta["architecture"]["layers"], 2)

    def test_fastbpe_vocabulary_larger_than_the_embedding_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            n_ids = write_fastbpe(d)
            cfg = dict(CONFIG, vocab_size=n_ids - 1, pad_id=1)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            torch.manual_seed(0)
            torch.save({"model_state_dict": UserEAOS(cfg).state_dict()}, os.path.join(d, "ckpt.pth"))
            labels = {k: v for k, v in json.load(open(os.path.join(_paths.MODELS_DIR, "labels.json"))).items()
                      if k != "special_tokens"}
            with open(os.path.join(d, "labels.json"), "w") as f:
                json.dump(labels, f)
            env = dict(os.environ, PYTHONPATH=_paths.MODELS_DIR)
            r = subprocess.run(
                [sys.executable, "-m", "eaos_tools.export", "--module", "user_module_fixture:UserEAOS",
                 "--module-path", TESTS_DIR, "--checkpoint", os.path.join(d, "ckpt.pth"),
                 "--config", os.path.join(d, "config.json"), "--tokenizer-type", "fastbpe",
                 "--codes", os.path.join(d, "bpe.codes"), "--vocab", os.path.join(d, "vocab.txt"),
                 "--labels", os.path.join(d, "labels.json"), "--outputs", "tags,aspects,polarity",
                 "--out", os.path.join(d, "out")],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("vocabulary size mismatch: %s (4 specials + %d lines + <mask>) gives %d ids but the "
                          "module's input embedding 'tok.word_embeddings' has %d rows"
                          % (os.path.join(d, "vocab.txt"), n_ids - 5, n_ids, n_ids - 1), r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "out")))


@unittest.skipUnless(os.path.isfile(TOKENIZER), "models/demo not built")
class CliTest(unittest.TestCase):
    """python -m eaos_tools.export --module ... with a sentencepiece tokenizer (no transformers)."""

    def run_export(self, d, *extra, config=None, sd=None, factory="user_module_fixture:UserEAOS",
                   outputs="tags,aspects,polarity", out="out"):
        cfg = dict(CONFIG, **(config or {}))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        torch.manual_seed(0)
        sd = sd if sd is not None else UserEAOS(cfg).state_dict()
        torch.save({"model_state_dict": sd, "epoch": 2}, os.path.join(d, "latest_checkpoint.pth"))
        env = dict(os.environ, PYTHONPATH=_paths.MODELS_DIR)
        return subprocess.run(
            [sys.executable, "-m", "eaos_tools.export", "--module", factory, "--module-path", TESTS_DIR,
             "--checkpoint", os.path.join(d, "latest_checkpoint.pth"), "--config", os.path.join(d, "config.json"),
             "--tokenizer-type", "sentencepiece", "--tokenizer", TOKENIZER,
             "--labels", os.path.join(_paths.MODELS_DIR, "labels.json"), "--out", os.path.join(d, out)]
            + (["--outputs", outputs] if outputs else []) + list(extra),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)

    def test_export_writes_a_valid_directory(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.run_export(d, "--name", "user-eaos")
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
            self.assertIn("traced with the nested-tensor fast path off on 1 nn.TransformerEncoder(s) ['encoder']",
                          r.stdout)
            self.assertIn("B=4, T=max_length, all rows shorter than T", r.stdout)
            out = os.path.join(d, "out")
            with open(os.path.join(out, "model.json")) as f:
                meta = json.load(f)
            self.assertEqual(meta["name"], "user-eaos")
            self.assertEqual(meta["max_length"], 48)
            self.assertEqual(meta["tokenizer"], {"type": "sentencepiece", "model": "tokenizer.model"})
            self.assertEqual({k: meta["architecture"][k] for k in ("vocab_size", "hidden", "layers", "heads", "ffn")},
                             {"vocab_size": 4000, "hidden": 32, "layers": 2, "heads": 4, "ffn": 64})
            with open(os.path.join(out, "golden.json")) as f:
                golden = json.load(f)
            self.assertTrue(all(s["input_ids"][0] == 2 and s["input_ids"][-1] == 3 for s in golden["samples"]))
            self.assertTrue(all(len(s["input_ids"]) == s["num_tokens"] for s in golden["samples"]))
            from eaos_tools.validate import validate
            self.assertEqual(validate(out), [])

    def test_factory_function_and_default_dict_keys_error(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.run_export(d, factory="user_module_fixture:make")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = self.run_export(d, factory="user_module_fixture:make", outputs=None, out="out2")
            self.assertEqual(r.returncode, 1)
            self.assertIn("--outputs span_logits,aspect_logits,sentiment_logits: forward returns a dict with keys "
                          "['aspects', 'polarity', 'tags']", r.stderr)

    def test_vocabulary_larger_than_the_embedding_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.run_export(d, config={"vocab_size": 3000})
            self.assertEqual(r.returncode, 1)
            self.assertIn("vocabulary size mismatch: %s gives 4000 ids but the module's input embedding "
                          "'tok.word_embeddings' has 3000 rows" % TOKENIZER, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "out")))

    @unittest.skipUnless(importlib.util.find_spec("transformers") is not None,
                         "needs transformers (build/hfenv/bin/python -m pytest ...)")
    def test_fairseq_ids_export_xlmr_and_bartpho(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(_paths.MODELS_DIR, "labels.json"), encoding="utf-8") as f:
                labels = json.load(f)
            labels.pop("special_tokens", None)  # fairseq's are fixed
            labels_path = os.path.join(d, "labels.json")
            with open(labels_path, "w", encoding="utf-8") as f:
                json.dump(labels, f, ensure_ascii=False)
            import sentencepiece as spm
            sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
            with open(os.path.join(d, "dict.txt"), "w", encoding="utf-8") as f:
                f.writelines("%s %d\n" % (sp.id_to_piece(i), 1) for i in range(4000 - 1, 3, -3))
            xlmr_model = os.path.join(_paths.MODELS_DIR, "fixtures", "xlmr_layout.model")
            for extra, out, want in (
                    (("--tokenizer", xlmr_model), "xlmr", {"type": "sentencepiece", "model": "sentencepiece.bpe.model", "id_map": "fairseq"}),
                    (("--dict", os.path.join(d, "dict.txt")), "bartpho",
                     {"type": "sentencepiece", "model": "sentencepiece.bpe.model", "id_map": "fairseq",
                      "dict": "dict.txt"})):
                r = self.run_export(d, "--id-map", "fairseq", "--labels", labels_path, *extra,
                                    config={"vocab_size": 4002}, out=out)
                self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
                self.assertIn("XLMRobertaTokenizer" if out == "xlmr" else "BartphoTokenizer", r.stdout)
                with open(os.path.join(d, out, "model.json")) as f:
                    meta = json.load(f)
                self.assertEqual(meta["tokenizer"], want)
                self.assertEqual(meta["special_tokens"], {"bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3})
                with open(os.path.join(d, out, "golden.json")) as f:
                    golden = json.load(f)
                self.assertTrue(all(s["input_ids"][0] == 0 and s["input_ids"][-1] == 2 for s in golden["samples"]))
                from eaos_tools.validate import validate
                self.assertEqual(validate(os.path.join(d, out)), [])
            r = self.run_export(d, "--dict", os.path.join(d, "dict.txt"), out="bad")
            self.assertEqual(r.returncode, 1)
            self.assertIn("--dict (a fairseq dict.txt, BARTpho's) needs", r.stderr)

    def test_a_checkpoint_of_another_config_writes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            torch.manual_seed(0)
            r = self.run_export(d, config={"layers": 3}, sd=UserEAOS(CONFIG).state_dict())
            self.assertEqual(r.returncode, 1)
            self.assertIn("the checkpoint does not fit the module: missing tensor 'encoder.layers.2.", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "out")))


if __name__ == "__main__":
    unittest.main()
