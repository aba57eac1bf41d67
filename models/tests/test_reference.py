"""The demo model through the Python reference (needs models/demo; skipped when it is absent)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import _paths
from eaos_tools.tokenization import Tokenizer, byte_to_cp_map

HAVE_DEMO = all(os.path.isfile(os.path.join(_paths.DEMO_DIR, f))
                for f in ("model.pt", "tokenizer.model", "model.json"))


def load_fixtures():
    with open(_paths.FIXTURES, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@unittest.skipUnless(HAVE_DEMO, "models/demo not built (python3 -m eaos_tools.train --out demo)")
class ReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from eaos_tools.reference import ReferenceModel
        cls.ref = ReferenceModel(_paths.DEMO_DIR, num_threads=2)

    def test_spec_example(self):
        tuples = self.ref.predict_text("Chương trình rất hay!")
        match = [t for t in tuples if t["entity"] == "Chương trình" and t["opinion"] == "rất hay"
                 and t["sentiment"] == "tích cực"]
        self.assertEqual(len(match), 1, tuples)
        t = match[0]
        self.assertEqual(t["aspect"], "Kịch bản")
        self.assertEqual(t["entity_span"], [0, 12])
        self.assertEqual(t["opinion_span"], [13, 20])
        self.assertGreaterEqual(t["confidence"], 0.5)

    def test_negation(self):
        tuples = self.ref.predict_text("Kịch bản không hay")
        self.assertEqual([(t["entity"], t["opinion"], t["sentiment"]) for t in tuples],
                         [("Kịch bản", "không hay", "tiêu cực")])

    def test_richer_phrasings(self):
        def triples(text):
            return [(t["entity"], t["opinion"], t["sentiment"]) for t in self.ref.predict_text(text)]
        self.assertEqual(triples("Chuong trinh rat hay"), [("Chuong trinh", "rat hay", "tích cực")])
        self.assertEqual(triples("kịch bản ko hay"), [("kịch bản", "ko hay", "tiêu cực")])
        self.assertEqual(triples("Âm thanh không tệ chút nào"), [("Âm thanh", "không tệ chút nào", "tích cực")])
        self.assertEqual(triples("Sân khấu đẹp hơn mùa trước 😍"), [("Sân khấu", "đẹp hơn", "tích cực")])
        self.assertEqual(triples("Hay quá, MC"), [("MC", "Hay quá", "tích cực")])

    def test_batch_size_invariance(self):
        items = load_fixtures()
        self.assertGreaterEqual(len(items), 50)
        base = self.ref.predict(items, batch_size=1)
        for bs in (4, 16, len(items)):
            other = self.ref.predict(items, batch_size=bs)
            for a, b in zip(base, other):
                self.assertEqual((a["id"], a["truncated"], a["num_tokens"]), (b["id"], b["truncated"], b["num_tokens"]))
                strip = lambda ts: [{k: v for k, v in t.items() if k != "confidence"} for t in ts]  # noqa: E731
                self.assertEqual(strip(a["tuples"]), strip(b["tuples"]), a["id"])
                for ta, tb in zip(a["tuples"], b["tuples"]):
                    self.assertAlmostEqual(ta["confidence"], tb["confidence"], places=4)

    def test_fixture_outputs_are_consistent(self):
        items = load_fixtures()
        res = self.ref.predict(items, batch_size=8)
        max_len = self.ref.meta["max_length"]
        self.assertTrue(any(r["truncated"] for r in res), "no fixture exercises truncation")
        self.assertTrue(any(not r["tuples"] for r in res))
        for it, r in zip(items, res):
            text = it["text"]
            self.assertLessEqual(r["num_tokens"], max_len)
            if r["truncated"]:
                self.assertEqual(r["num_tokens"], max_len)
            for t in r["tuples"]:
                self.assertEqual(text[slice(*t["opinion_span"])], t["opinion"])
                self.assertEqual(text[slice(*t["entity_span"])], t["entity"])
                for key in ("opinion_byte_span", "entity_byte_span"):
                    b, e = t[key]
                    self.assertEqual(text.encode()[b:e].decode(), t[key.split("_")[0]])
                self.assertEqual(t["opinion"], t["opinion"].strip())
                self.assertGreaterEqual(t["confidence"], 0.5)
                self.assertIn(t["aspect"], self.ref.meta["aspects"])
                self.assertIn(t["sentiment"], self.ref.meta["sentiments"])

    def test_truncation_keeps_only_the_kept_part(self):
        tok = self.ref.tokenizer
        text = "Chương trình rất hay. " * 60
        enc = tok.encode(text)
        self.assertTrue(enc.truncated)
        self.assertEqual(len(enc.input_ids), tok.max_length)
        self.assertEqual(enc.input_ids[0], tok.bos_id)
        self.assertEqual(enc.input_ids[-1], tok.eos_id)
        res = self.ref.predict([{"id": "long", "text": text}])[0]
        self.assertTrue(res["truncated"])
        limit = enc.pieces[-1].end
        for t in res["tuples"]:
            self.assertLessEqual(t["opinion_byte_span"][1], limit)

    def test_threshold(self):
        items = load_fixtures()[:20]
        lo = self.ref.predict(items, threshold=0.0, batch_size=8)
        hi = self.ref.predict(items, threshold=0.99, batch_size=8)
        for a, b in zip(lo, hi):
            self.assertEqual([t for t in a["tuples"] if t["confidence"] >= 0.99], b["tuples"])

    def test_byte_offsets_match_sentencepiece_unicode_offsets(self):
        # the serialized-proto byte offsets agree with the python wrapper's code point offsets
        tok = Tokenizer(os.path.join(_paths.DEMO_DIR, "tokenizer.model"), 128)
        for it in load_fixtures():
            text = it["text"]
            pieces = tok.pieces(text)
            im = tok.sp.encode(text, out_type="immutable_proto")
            m = byte_to_cp_map(text)
            self.assertEqual([p.id for p in pieces], [p.id for p in im.pieces])
            self.assertEqual([p.id for p in pieces], tok.sp.encode(text))
            self.assertEqual([(m[p.begin], m[p.end]) for p in pieces], [(p.begin, p.end) for p in im.pieces])

    def test_cli_and_validate(self):
        env = dict(os.environ, PYTHONPATH=_paths.MODELS_DIR)
        with tempfile.TemporaryDirectory() as d:
            inp = os.path.join(d, "in.jsonl")
            outp = os.path.join(d, "out.jsonl")
            with open(inp, "w", encoding="utf-8") as f:
                f.write(json.dumps({"id": "a", "text": "Chương trình rất hay!"}, ensure_ascii=False) + "\n")
                f.write(json.dumps({"id": "b", "text": "Hay quá!"}, ensure_ascii=False) + "\n")
            subprocess.run([sys.executable, "-m", "eaos_tools.reference", "--model", _paths.DEMO_DIR,
                            "--input", inp, "--output", outp, "--batch-size", "2"], check=True, env=env)
            with open(outp, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f]
        self.assertEqual([r["id"] for r in rows], ["a", "b"])
        self.assertEqual(rows[1]["tuples"][0]["entity"], "")
        self.assertEqual(rows[1]["tuples"][0]["aspect"], "Chung")
        r = subprocess.run([sys.executable, "-m", "eaos_tools.validate", _paths.DEMO_DIR], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode())

    def test_demo_size_and_metadata(self):
        self.assertLess(os.path.getsize(os.path.join(_paths.DEMO_DIR, "model.pt")), 6 * 1000 * 1000)
        meta = self.ref.meta
        self.assertEqual((meta["name"], meta["version"]), ("eaos-demo", "1.1.0"))
        self.assertTrue(set(meta["aspects"]) >= {"Kịch bản", "Dẫn chương trình", "Khách mời", "Âm thanh",
                                                  "Hình ảnh", "Thời lượng", "Chung"})

    def test_demo_golden_file(self):
        with open(os.path.join(_paths.DEMO_DIR, "golden.json"), encoding="utf-8") as f:
            g = json.load(f)
        self.assertEqual(g["threshold"], 0.5)
        first = g["samples"][0]
        self.assertEqual(first["text"], "Chương trình rất hay")
        self.assertEqual([(t["entity"], t["aspect"], t["opinion"], t["sentiment"]) for t in first["tuples"]],
                         [("Chương trình", "Kịch bản", "rất hay", "tích cực")])
        self.assertTrue(any(s["truncated"] for s in g["samples"]))
        self.assertTrue(any(not s["tuples"] for s in g["samples"]))
        # no golden tuple within 20 tolerances of the threshold (float differences cannot flip
        # it on the C++ side), none at confidence 1.0 (label smoothing)
        for s in g["samples"]:
            for t in s["tuples"]:
                self.assertGreater(t["confidence"] - g["threshold"], 20 * g["confidence_tolerance"], (s["id"], t))
                self.assertLess(t["confidence"], 1.0, (s["id"], t))

    def test_evaluate_prints_slices(self):
        import contextlib
        import io
        from eaos_tools import evaluate
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            evaluate.main(["--model", _paths.DEMO_DIR, "--n", "60", "--train-n", "0"])
        out = buf.getvalue()
        for row in ("overall", "seen_phrasing", "heldout_phrasing", "no_diacritics", "teencode", "emoji",
                    "negation", "multi_clause", "comparison", "tuple (E,A,O,S)"):
            self.assertIn("\n" + row + " ", out)


if __name__ == "__main__":
    unittest.main()
