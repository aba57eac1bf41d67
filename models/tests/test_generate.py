import unittest

import _paths  # noqa: F401
from eaos_tools import ASPECTS, SENTIMENTS
from eaos_tools.generate import generate, strip_diacritics


class GenerateTest(unittest.TestCase):
    def check_rows(self, rows):
        for r in rows:
            text = r["text"]
            for t in r["tuples"]:
                eb, ee = t["entity_span"]
                ob, oe = t["opinion_span"]
                self.assertEqual(text[eb:ee], t["entity"], r)
                self.assertEqual(text[ob:oe], t["opinion"], r)
                self.assertTrue(t["opinion"], r)
                self.assertEqual(t["opinion"], t["opinion"].strip(), r)
                self.assertEqual(t["entity"], t["entity"].strip(), r)
                self.assertIn(t["aspect"], ASPECTS)
                self.assertIn(t["sentiment"], SENTIMENTS)
                if t["entity"]:
                    # the entity precedes its opinion
                    self.assertLessEqual(ee, ob, r)
                else:
                    self.assertEqual([eb, ee], [0, 0])
                    self.assertEqual(t["aspect"], "Chung")
            # entity-less opinions never share a comment with an entity (decoder pairing rule)
            if any(not t["entity"] for t in r["tuples"]):
                self.assertTrue(all(not t["entity"] for t in r["tuples"]), r)

    def test_spans_with_diacritics(self):
        rows = generate(800, seed=11, no_diacritics_ratio=0.0)
        self.check_rows(rows)
        self.assertTrue(any("ư" in r["text"] or "ơ" in r["text"] for r in rows))

    def test_spans_without_diacritics(self):
        rows = generate(800, seed=12, no_diacritics_ratio=1.0)
        self.check_rows(rows)
        for r in rows:
            self.assertEqual(r["text"], strip_diacritics(r["text"]))
            self.assertNotIn("đ", r["text"].lower())
            self.assertNotIn("ư", r["text"].lower())

    def test_default_mix(self):
        rows = generate(2000, seed=13)
        self.check_rows(rows)
        stripped = sum(1 for r in rows if r["text"] == strip_diacritics(r["text"]))
        self.assertGreater(stripped / len(rows), 0.15)
        self.assertLess(stripped / len(rows), 0.40)
        n_tuples = [len(r["tuples"]) for r in rows]
        self.assertTrue(any(n == 0 for n in n_tuples))
        self.assertTrue(any(n >= 3 for n in n_tuples))
        sents = {t["sentiment"] for r in rows for t in r["tuples"]}
        self.assertEqual(sents, set(SENTIMENTS))
        aspects = {t["aspect"] for r in rows for t in r["tuples"]}
        self.assertEqual(aspects, set(ASPECTS))

    def test_deterministic(self):
        self.assertEqual(generate(50, seed=5), generate(50, seed=5))
        self.assertNotEqual(generate(50, seed=5), generate(50, seed=6))

    def test_strip_diacritics(self):
        self.assertEqual(strip_diacritics("Chương trình rất hay! Đẹp đỉnh 😍"),
                         "Chuong trinh rat hay! Dep dinh 😍")
        s = "Người dẫn chương trình ĐỈNH quá ❤️"
        self.assertEqual(len(strip_diacritics(s)), len(s))


if __name__ == "__main__":
    unittest.main()
