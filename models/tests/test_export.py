"""export.py: checkpoint -> model directory, strict tensor checks, golden.json."""
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

import _paths
from eaos_tools import golden
from eaos_tools.export import (ExportError, PRESETS, default_labels, export, load_checkpoint,
                               random_checkpoint, save_checkpoint, state_dict_problems)
from eaos_tools.model import EAOSConfig, EAOSModel
from eaos_tools.reference import ReferenceModel
from eaos_tools.validate import golden_structure_errors, validate

torch.set_num_threads(2)
TOKENIZER = os.path.join(_paths.DEMO_DIR, "tokenizer.model")
HAVE_TOKENIZER = os.path.isfile(TOKENIZER)


def vocab_size():
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=TOKENIZER).get_piece_size()


def small_checkpoint(seed=0, **kw):
    size = dict(hidden=32, layers=1, heads=2, ffn=64, max_length=24)
    size.update(kw)
    cfg = EAOSConfig(vocab_size=vocab_size(), dropout=0.0, **size)
    torch.manual_seed(seed)
    return {"config": cfg.to_dict(), "state_dict": EAOSModel(cfg).state_dict()}


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=_paths.MODELS_DIR)
    return subprocess.run([sys.executable, "-m", "eaos_tools.export"] + list(args), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


class StrictCheckTest(unittest.TestCase):
    """state_dict_problems needs no tokenizer: pure tensor bookkeeping."""

    def expected(self):
        return EAOSModel(EAOSConfig(vocab_size=40, hidden=16, layers=1, heads=2, ffn=32, max_length=8)).state_dict()

    def test_identical(self):
        sd = self.expected()
        self.assertEqual(state_dict_problems(sd, dict(sd)), [])

    def test_unused_missing_shape(self):
        sd = self.expected()
        got = dict(sd)
        got["extra.weight"] = torch.zeros(3)
        del got["layers.0.attn.qkv.weight"]
        got["span_head.weight"] = torch.zeros(7, 16)
        p = state_dict_problems(sd, got)
        self.assertIn("checkpoint tensor 'span_head.weight' has shape [7, 16], the reference "
                      "architecture expects [5, 16]", p)
        self.assertIn("checkpoint tensor 'extra.weight' is not used by the reference architecture", p)
        self.assertIn("missing tensor 'layers.0.attn.qkv.weight' (shape [48, 16])", p)
        self.assertTrue(p[-1].startswith("missing tensor"), p)  # missing ones come last

    def test_dtype_and_nan(self):
        sd = self.expected()
        got = dict(sd)
        got["ln_f.weight"] = torch.ones(16, dtype=torch.long)
        bad = got["ln_f.bias"] = torch.zeros(16)
        bad[3] = float("nan")
        p = state_dict_problems(sd, got)
        self.assertTrue(any("'ln_f.weight' has dtype" in x for x in p), p)
        self.assertTrue(any("'ln_f.bias' contains NaN" in x for x in p), p)

    def test_base_preset_fits(self):
        self.assertEqual(PRESETS["base"], dict(hidden=768, layers=12, heads=12, ffn=3072, max_length=256))
        ckpt = random_checkpoint("base", 1000)
        self.assertEqual(ckpt["config"]["layers"], 12)
        n = sum(v.numel() for v in ckpt["state_dict"].values())
        self.assertGreater(n, 85_000_000)
        expected = EAOSModel(EAOSConfig.from_dict(ckpt["config"])).state_dict()
        self.assertEqual(state_dict_problems(expected, ckpt["state_dict"]), [])


@unittest.skipUnless(HAVE_TOKENIZER, "needs models/demo/tokenizer.model")
class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.labels = default_labels("eaos-test", "0.1.0")
        cls.labels_path = os.path.join(cls.tmp.name, "labels.json")
        with open(cls.labels_path, "w", encoding="utf-8") as f:
            json.dump(cls.labels, f, ensure_ascii=False)
        cls.ckpt_path = os.path.join(cls.tmp.name, "ckpt.pt")
        ckpt = small_checkpoint()
        save_checkpoint(cls.ckpt_path, EAOSConfig.from_dict(ckpt["config"]), ckpt["state_dict"])
        cls.out = os.path.join(cls.tmp.name, "model")
        cls.result = export(load_checkpoint(cls.ckpt_path), TOKENIZER, cls.labels, cls.out, quiet=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_round_trip(self):
        self.assertEqual(sorted(os.listdir(self.out)), ["golden.json", "model.json", "model.pt", "tokenizer.model"])
        self.assertEqual(validate(self.out), [])  # includes replaying golden.json
        ref = ReferenceModel(self.out)
        self.assertEqual(ref.meta["name"], "eaos-test")
        self.assertEqual(ref.meta["architecture"]["hidden"], 32)
        with open(os.path.join(self.out, "golden.json"), encoding="utf-8") as f:
            g = json.load(f)
        replay, _ = golden.build(ref, [{"id": s["id"], "text": s["text"]} for s in g["samples"]], g["threshold"])
        self.assertEqual(golden.compare(g, replay), [])
        # the TorchScript module computes what the checkpoint's eager model computes
        eager = EAOSModel(EAOSConfig.from_dict(load_checkpoint(self.ckpt_path)["config"]))
        eager.load_state_dict(load_checkpoint(self.ckpt_path)["state_dict"])
        eager.eval()
        ids = torch.tensor([[2, 10, 11, 12, 3]])
        with torch.no_grad():
            a = eager(ids, torch.ones_like(ids))
        b = ref.forward(ids.tolist(), [[1] * 5])
        for k in a:
            np.testing.assert_allclose(a[k].numpy(), b[k], atol=1e-5)

    def test_golden_content(self):
        g = self.result["golden"]
        self.assertEqual((g["threshold"], g["confidence_tolerance"], g["logits_rtol"]), (0.5, 0.001, 0.001))
        self.assertEqual(golden_structure_errors(g, self.result["model_json"]), [])
        samples = g["samples"]
        self.assertEqual(samples[0], dict(samples[0], id="golden-00", text="Chương trình rất hay"))
        self.assertEqual(len(samples), len(golden.DEFAULT_TEXTS) + 1)
        self.assertEqual(len({s["id"] for s in samples}), len(samples))
        self.assertTrue(samples[-1]["truncated"])
        self.assertEqual(samples[-1]["num_tokens"], 24)  # max_length of the checkpoint
        self.assertFalse(any(s["truncated"] for s in samples[:-1]))
        self.assertTrue(all(len(s["input_ids"]) == s["num_tokens"] for s in samples))
        broken = copy.deepcopy(g)
        broken["samples"][1]["input_ids"] = [2, "x", 3]
        self.assertEqual(golden_structure_errors(broken, self.result["model_json"]),
                         ["golden.json.samples[1].input_ids: expected an array of ids >= 0, got [2, 'x', 3]"])
        other = copy.deepcopy(g)
        other["samples"][0]["input_ids"][2] += 1
        self.assertTrue(golden.compare(g, other)[0].startswith("golden-00: input_ids differ from position 2 ("))
        texts = [s["text"] for s in samples]
        self.assertIn("Kich ban khong hay, khach moi chang hap dan.", texts)
        self.assertTrue(any("😍" in t for t in texts))
        for s in samples:
            self.assertEqual([c["output"] for c in s["logits"]],
                             ["span_logits", "aspect_logits", "sentiment_logits"])
        # checksums: the sample alone, [0, num_tokens), float64 sums of the float32 logits
        ref = ReferenceModel(self.out)
        s = samples[1]
        enc = ref.tokenizer.encode(s["text"])
        self.assertEqual(len(enc.input_ids), s["num_tokens"])
        out = ref.forward([enc.input_ids], [[1] * len(enc.input_ids)])
        span = out["span_logits"][0].astype(np.float64)
        self.assertAlmostEqual(s["logits"][0]["sum"], float(span.sum()), places=9)
        self.assertAlmostEqual(s["logits"][0]["abs_sum"], float(np.abs(span).sum()), places=9)

    def test_golden_texts_file_and_threshold(self):
        texts = os.path.join(self.tmp.name, "texts.jsonl")
        with open(texts, "w", encoding="utf-8") as f:
            f.write(json.dumps({"id": "a", "text": "MC dẫn hay"}, ensure_ascii=False) + "\n")
            f.write(json.dumps({"text": "Âm thanh rè"}, ensure_ascii=False) + "\n")
        out = os.path.join(self.tmp.name, "custom")
        r = run_cli("--checkpoint", self.ckpt_path, "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--out", out, "--golden-texts", texts, "--threshold", "0", "--version", "2.0.0")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "golden.json"), encoding="utf-8") as f:
            g = json.load(f)
        self.assertEqual([s["id"] for s in g["samples"]], ["a", "golden-01"])
        self.assertEqual(g["threshold"], 0.0)
        # at threshold 0 every opinion span of the random model is a tuple
        self.assertEqual(json.load(open(os.path.join(out, "model.json")))["version"], "2.0.0")

    def test_validate_replays_golden(self):
        import shutil
        d = os.path.join(self.tmp.name, "tampered")
        shutil.copytree(self.out, d)
        path = os.path.join(d, "golden.json")
        with open(path, encoding="utf-8") as f:
            g = json.load(f)
        g["samples"][1]["logits"][0]["sum"] += 1.0
        g["samples"][2]["num_tokens"] += 1
        with open(path, "w", encoding="utf-8") as f:
            json.dump(g, f, ensure_ascii=False)
        errs = validate(d)
        self.assertTrue(any("golden-01: span_logits checksums" in e for e in errs), errs)
        self.assertTrue(any("golden-02: num_tokens" in e for e in errs), errs)
        del g["samples"][0]["logits"][2]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(g, f, ensure_ascii=False)
        errs = validate(d)
        self.assertTrue(any("samples[0].logits" in e and "sentiment_logits" in e for e in errs), errs)

    def assert_refused(self, ckpt, needle, labels=None):
        out = os.path.join(self.tmp.name, "refused")
        with self.assertRaises(ExportError) as cm:
            export(ckpt, TOKENIZER, labels or self.labels, out, quiet=True)
        self.assertIn(needle, str(cm.exception))
        self.assertFalse(os.path.exists(out), "nothing is written for a refused checkpoint")
        return str(cm.exception)

    def test_bilstm_checkpoint_is_refused_naming_the_tensor(self):
        # what the past deployment had: a BiLSTM encoder where the Transformer is expected
        lstm = torch.nn.LSTM(32, 16, bidirectional=True, batch_first=True)
        sd = {"tok_emb.weight": torch.zeros(vocab_size(), 32)}
        sd.update({"encoder.lstm." + k: v for k, v in lstm.state_dict().items()})
        ckpt = {"config": small_checkpoint()["config"], "state_dict": sd}
        msg = self.assert_refused(ckpt, "checkpoint tensor 'encoder.lstm.weight_ih_l0' is not used "
                                        "by the reference architecture")
        self.assertIn("missing tensor 'pos_emb.weight'", msg)
        # the CLI: exit status 1, the message on stderr
        path = os.path.join(self.tmp.name, "lstm.pt")
        torch.save(ckpt, path)
        r = run_cli("--checkpoint", path, "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--out", os.path.join(self.tmp.name, "lstm-out"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("export: error: the checkpoint does not fit the reference architecture", r.stderr)
        self.assertIn("'encoder.lstm.weight_ih_l0' is not used", r.stderr.splitlines()[0])

    def test_missing_tensor(self):
        ckpt = small_checkpoint()
        del ckpt["state_dict"]["layers.0.attn.qkv.weight"]
        self.assert_refused(ckpt, "missing tensor 'layers.0.attn.qkv.weight' (shape [96, 32])")

    def test_shape_mismatch(self):
        ckpt = small_checkpoint()
        ckpt["config"]["ffn"] = 48  # the config says one size, the tensors have another
        self.assert_refused(ckpt, "checkpoint tensor 'layers.0.fc1.weight' has shape [64, 32], "
                                  "the reference architecture expects [48, 32]")

    def test_unused_tensor(self):
        ckpt = small_checkpoint()
        ckpt["state_dict"]["pooler.dense.weight"] = torch.zeros(32, 32)
        self.assert_refused(ckpt, "checkpoint tensor 'pooler.dense.weight' is not used")

    def test_more_layers_than_the_config(self):
        ckpt = small_checkpoint(layers=2)
        ckpt["config"]["layers"] = 1
        self.assert_refused(ckpt, "checkpoint tensor 'layers.1.ln1.weight' is not used")

    def test_label_count_mismatch(self):
        ckpt = small_checkpoint()
        del ckpt["config"]["num_aspects"]  # label counts come from the labels file
        labels = copy.deepcopy(self.labels)
        labels["aspects"] = labels["aspects"][:-1]
        self.assert_refused(ckpt, "'aspect_head.weight' has shape [9, 32], the reference architecture "
                                  "expects [8, 32]", labels)
        ckpt["config"]["num_aspects"] = 9
        self.assert_refused(ckpt, "num_aspects=9 but the labels file has 8 aspects", labels)

    def test_bad_inputs(self):
        self.assert_refused({"config": {"hidden": 32}, "state_dict": {}}, "checkpoint config lacks vocab_size")
        labels = copy.deepcopy(self.labels)
        labels["special_tokens"]["bos_id"] = 5
        self.assert_refused(small_checkpoint(), "special_tokens.bos_id", labels)
        labels = copy.deepcopy(self.labels)
        labels["span_labels"][4] = "E-OPI"
        self.assert_refused(small_checkpoint(), "span_labels", labels)
        small = small_checkpoint()
        small["config"]["vocab_size"] = 100
        small["state_dict"]["tok_emb.weight"] = torch.zeros(100, 32)
        self.assert_refused(small, "the tokenizer has %d pieces but the model's vocab_size is 100" % vocab_size())
        path = os.path.join(self.tmp.name, "plain.pt")
        torch.save(small_checkpoint()["state_dict"], path)
        with self.assertRaises(ExportError) as cm:
            load_checkpoint(path)
        self.assertIn("expected a dict {\"config\": {...}, \"state_dict\": {...}}", str(cm.exception))

    def test_random_init_cli(self):
        out = os.path.join(self.tmp.name, "tiny")
        # a model.json serves as a labels file too
        r = run_cli("--random-init", "tiny", "--tokenizer", TOKENIZER, "--labels",
                    os.path.join(self.out, "model.json"), "--name", "eaos-tiny", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("golden.json: 10 samples", r.stdout)
        meta = json.load(open(os.path.join(out, "model.json"), encoding="utf-8"))
        self.assertEqual((meta["name"], meta["architecture"]["hidden"]), ("eaos-tiny", 64))
        first = json.load(open(os.path.join(out, "golden.json"), encoding="utf-8"))
        r = run_cli("--random-init", "tiny", "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--name", "eaos-tiny", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        again = json.load(open(os.path.join(out, "golden.json"), encoding="utf-8"))
        self.assertEqual(first, again, "the fixed seed makes the export reproducible")

    def test_segmenter_is_recorded(self):
        out = os.path.join(self.tmp.name, "segmented")
        r = run_cli("--random-init", "tiny", "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--segmenter", "underthesea==9.5.0", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        meta = json.load(open(os.path.join(out, "model.json"), encoding="utf-8"))
        self.assertEqual(meta["segmenter"], {"package": "underthesea", "version": "9.5.0"})
        self.assertEqual(validate(out), [])
        r = run_cli("--random-init", "tiny", "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--segmenter", "jieba==0.42", "--out", os.path.join(self.tmp.name, "no"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("must be one of pyvi, underthesea", r.stderr)

    @unittest.skipUnless(os.environ.get("EAOS_TEST_BASE") == "1", "set EAOS_TEST_BASE=1 (~1 min, 440 MB)")
    def test_random_init_base(self):
        out = os.path.join(self.tmp.name, "base")
        r = run_cli("--random-init", "base", "--tokenizer", TOKENIZER, "--labels", self.labels_path,
                    "--name", "eaos-base", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        meta = json.load(open(os.path.join(out, "model.json"), encoding="utf-8"))
        self.assertEqual((meta["architecture"]["layers"], meta["architecture"]["hidden"], meta["max_length"]),
                         (12, 768, 256))
        self.assertEqual(validate(out), [])


if __name__ == "__main__":
    unittest.main()
