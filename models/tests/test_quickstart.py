"""The sample comments a newcomer sees first (scripts/quickstart.sh, README.md) answer correctly.

The comments are read from the quickstart script and the README themselves, so a sample added
there without an expected answer here fails. Expected tuples follow the seed's label conventions
(models/eaos_tools/lexicon.py): entity, aspect, opinion, sentiment, compared exactly.
"""
import os
import re
import unittest

import _paths

REPO = os.path.dirname(_paths.MODELS_DIR)
QUICKSTART = os.path.join(REPO, "scripts", "quickstart.sh")
README = os.path.join(REPO, "README.md")

EXPECTED = {
    "Chương trình rất hay!": [("Chương trình", "Kịch bản", "rất hay", "tích cực")],
    "MC dẫn duyên quá, nhưng âm thanh hơi rè.": [
        ("MC", "Dẫn chương trình", "duyên quá", "tích cực"),
        ("âm thanh", "Âm thanh", "hơi rè", "tiêu cực"),
    ],
    "Kich ban khong hay, khach moi chang hap dan.": [
        ("Kich ban", "Kịch bản", "khong hay", "tiêu cực"),
        ("khach moi", "Khách mời", "chang hap dan", "tiêu cực"),
    ],
}
# Known wrong on eaos-demo 1.1.0 (issue 18): "khach moi chang hap dan" gets aspect "Kịch bản".
# Marked as an expected failure so that it flips to an unexpected success (a failure) once a
# retrained demo answers it, and the mark must then go.
KNOWN_WRONG = {"Kich ban khong hay, khach moi chang hap dan."}


def quickstart_comments():
    """The quoted comments passed to the unary eaos-client call in scripts/quickstart.sh."""
    with open(QUICKSTART, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"$bin/eaos-client"')
                 and "--input" not in line and line.rstrip().endswith("\\"))
    texts = []
    for line in lines[start + 1:]:
        m = re.fullmatch(r'\s+"([^"]+)"\s*\\?', line)
        if not m:
            break
        texts.append(m.group(1))
    return texts


def readme_comments():
    """Comments given to eaos-client on the README's command lines."""
    with open(README, encoding="utf-8") as f:
        return re.findall(r'bin/eaos-client --target=\S+ "([^"]+)"', f.read())


class SampleListTest(unittest.TestCase):
    def test_every_sample_has_an_expected_answer(self):
        texts = quickstart_comments() + readme_comments()
        self.assertGreaterEqual(len(quickstart_comments()), 3)
        self.assertGreaterEqual(len(readme_comments()), 1)
        self.assertEqual(sorted(set(texts) - set(EXPECTED)), [])


@unittest.skipUnless(all(os.path.isfile(os.path.join(_paths.DEMO_DIR, f))
                         for f in ("model.pt", "tokenizer.model", "model.json")),
                     "models/demo not built")
class QuickstartAnswersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from eaos_tools.reference import ReferenceModel
        cls.ref = ReferenceModel(_paths.DEMO_DIR, num_threads=2)

    def answer(self, text):
        return [(t["entity"], t["aspect"], t["opinion"], t["sentiment"])
                for t in self.ref.predict_text(text)]

    def test_answers(self):
        for text, want in EXPECTED.items():
            if text in KNOWN_WRONG:
                continue
            with self.subTest(text=text):
                self.assertEqual(self.answer(text), want)

    @unittest.expectedFailure
    def test_known_wrong_answers(self):
        for text in sorted(KNOWN_WRONG):
            self.assertEqual(self.answer(text), EXPECTED[text])


if __name__ == "__main__":
    unittest.main()
