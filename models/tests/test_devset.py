"""The hand-written dev set loads and load_devset rejects bad lines with a clear message."""
import json
import os
import tempfile
import unittest

import _paths  # noqa: F401
from eaos_tools.evaluate import DEV_SLICES, DEVSET, DevsetError, load_devset


class DevsetTest(unittest.TestCase):
    def test_committed_devset(self):
        data = load_devset()
        self.assertGreaterEqual(len(data), 150)
        for s in DEV_SLICES:
            self.assertTrue(any(s in r["slices"] for r in data), s)

    def test_not_generated_texts(self):
        from eaos_tools.generate import generate
        dev = {r["text"] for r in load_devset()}
        gen = {e["text"] for e in generate(3000, 1, prefix="train")}
        self.assertLess(len(dev & gen), 10)  # short common phrases may coincide, not the set

    def check_bad(self, record, message):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dev.jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            with self.assertRaises(DevsetError) as cm:
                load_devset(path)
            self.assertIn(message, str(cm.exception))
            self.assertIn("dev.jsonl:1", str(cm.exception))

    def test_bad_lines(self):
        ok = {"id": "a", "text": "MC hay", "slices": ["diacritics"],
              "tuples": [{"entity": "MC", "aspect": "Dẫn chương trình", "opinion": "hay",
                          "sentiment": "tích cực"}]}
        t = ok["tuples"][0]
        self.check_bad(dict(ok, tuples=[dict(t, aspect="Nhạc")]), "unknown aspect 'Nhạc'")
        self.check_bad(dict(ok, tuples=[dict(t, opinion="dở")]), "opinion 'dở' is not in the text")
        self.check_bad(dict(ok, slices=["sarcasm"]), "unknown slice 'sarcasm'")
        self.check_bad(dict(ok, tuples=[dict(t, sentiment="vui")]), "unknown sentiment")
        self.check_bad({"id": "a", "text": "x"}, "'tuples' must be a list")


if __name__ == "__main__":
    unittest.main()
