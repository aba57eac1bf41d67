import unittest

import _paths  # noqa: F401
from eaos_tools import ASPECTS, SENTIMENTS
from eaos_tools.generate import (SLICES, concat_examples, generate, generate_long, pairing_errors,
                                 strip_diacritics)
from eaos_tools.lexicon import INTENS_HELDOUT, JOINERS_HELDOUT, PREFIXES_HELDOUT


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
                if not t["entity"]:
                    self.assertEqual([eb, ee], [0, 0])
                    self.assertEqual(t["aspect"], "Chung")
            # every opinion's entity is the one the contract's decoder pairs it with
            self.assertEqual(pairing_errors(r), [], r)
            self.assertTrue(set(r["slices"]) <= set(SLICES), r)
            self.assertEqual("no_tuple" in r["slices"], not r["tuples"], r)

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

    def test_slices_and_phrasings(self):
        rows = generate(3000, seed=14)
        self.check_rows(rows)
        count = {name: sum(name in r["slices"] for r in rows) / len(rows) for name in SLICES}
        for name in ("no_diacritics", "teencode", "emoji", "negation", "multi_clause", "comparison"):
            self.assertGreater(count[name], 0.04, (name, count))
        self.assertEqual(count["heldout_phrasing"], 0.0)
        texts = [r["text"] for r in rows]
        self.assertTrue(any(" ko " in t or " k " in t or " wá" in t for t in texts))
        self.assertTrue(any(" hơn" in t for r in rows for t in [r["text"]] if "comparison" in r["slices"]))
        self.assertTrue(any(len(r["tuples"]) >= 4 for r in rows))
        # opinion-first clauses: the entity follows its opinion
        self.assertTrue(any(t["entity"] and t["entity_span"][0] > t["opinion_span"][1]
                            for r in rows for t in r["tuples"]))

    def test_heldout_split_uses_unseen_phrasings(self):
        held = generate(1500, seed=15, split="heldout")
        self.check_rows(held)
        marked = [r for r in held if "heldout_phrasing" in r["slices"]]
        self.assertGreater(len(marked) / len(held), 0.08)
        self.assertLess(len(marked) / len(held), 0.5)
        joined = "\n".join(r["text"].lower() for r in held)
        for phrase in ("không những", " nên ", PREFIXES_HELDOUT[0].lower().strip()):
            self.assertIn(phrase, joined)
        train = "\n".join(r["text"].lower() for r in generate(3000, seed=16))
        unseen = (["không những", " mà còn ", " nên mình", "vậy trời"]
                  + [p.lower().strip() for p in PREFIXES_HELDOUT]
                  + [suf.strip() for _, suf in INTENS_HELDOUT if suf]
                  + [j.strip(" ,.").lower() for j in JOINERS_HELDOUT])
        for phrase in unseen:
            self.assertNotIn(phrase, train)
        with self.assertRaises(ValueError):
            generate(1, seed=1, split="test")

    def test_long_comments(self):
        rows = generate_long(40, seed=17)
        self.check_rows(rows)
        self.assertTrue(all(len(r["tuples"]) >= 4 for r in rows))
        opinion_first = {"id": "x", "text": "Hay quá, MC", "slices": [],
                         "tuples": [{"entity": "MC", "aspect": "Dẫn chương trình", "opinion": "Hay quá",
                                     "sentiment": "tích cực", "entity_span": [9, 11], "opinion_span": [0, 7]}]}
        self.assertEqual(pairing_errors(opinion_first), [])
        with self.assertRaises(ValueError):  # after another comment's entity it would pair wrongly
            concat_examples([rows[0], opinion_first], "y")

    def test_evaluation_split_never_repeats_training_texts(self):
        from eaos_tools.evaluate import heldout_split
        data = heldout_split(400, seed=777, train_seed=1, train_n=3000)
        seen = {r["text"] for r in generate(3000, seed=1, prefix="train")}
        self.assertFalse(seen & {r["text"] for r in data})
        self.assertGreater(len(data), 300)
        with self.assertRaises(ValueError):
            heldout_split(10, seed=1, train_seed=1)

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
