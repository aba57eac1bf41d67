"""NFC before tokenizing (eaos_tools.tokenization.nfc_text / encode_nfc) and the reference's answers
for decomposed (NFD) text: the NFC answer, spans in the text as given."""
import json
import os
import unicodedata
import unittest

import _paths
from eaos_tools.tokenization import Encoding, Piece, byte_to_cp_map, encode_nfc, nfc_text

HAVE_DEMO = all(os.path.isfile(os.path.join(_paths.DEMO_DIR, f))
                for f in ("model.pt", "tokenizer.model", "model.json"))

SENTENCE = "Chương trình rất hay"


def nfd(s):
    return unicodedata.normalize("NFD", s)


def nfc(s):
    return unicodedata.normalize("NFC", s)


class NfcTextTest(unittest.TestCase):
    def check(self, original):
        """Everything nfc_text promises about ``original``."""
        n = nfc_text(original)
        ob, tb = original.encode("utf-8"), n.text.encode("utf-8")
        self.assertEqual(n.text, nfc(original))
        self.assertEqual(n.changed, n.text != original)
        self.assertEqual(len(n.begin_of), len(tb) + 1)
        self.assertEqual(len(n.end_of), len(tb) + 1)
        self.assertEqual((n.begin_of[0], n.end_of[0]), (0, 0))
        self.assertEqual((n.begin_of[-1], n.end_of[-1]), (len(ob), len(ob)))
        for o in range(1, len(tb) + 1):
            self.assertGreaterEqual(n.begin_of[o], n.begin_of[o - 1])
            self.assertGreaterEqual(n.end_of[o], n.end_of[o - 1])
            self.assertLessEqual(n.begin_of[o], n.end_of[o])
            self.assertLessEqual(n.end_of[o], len(ob))
        in_changed = [False] * len(tb)
        for nb, ne, sb, se in n.segments:
            self.assertEqual(nfc(ob[sb:se].decode("utf-8")), tb[nb:ne].decode("utf-8"))
            self.assertNotEqual(ob[sb:se], tb[nb:ne])
            self.assertEqual((n.begin_of[nb], n.end_of[ne]), (sb, se))
            for o in range(nb + 1, ne):
                self.assertEqual((n.begin_of[o], n.end_of[o]), (sb, se))
            for o in range(nb, ne):
                in_changed[o] = True
        for o in range(len(tb)):
            if not in_changed[o]:
                self.assertEqual(n.end_of[o + 1], n.begin_of[o] + 1)
                self.assertEqual(tb[o], ob[n.begin_of[o]])
        return n

    def test_nfc_text_is_the_identity(self):
        for s in (SENTENCE, "", "ascii only", "Sân khấu lung linh 😍😍 節目很好", "MC\u00a0dẫn\u3000hay",
                  "\u0301 a mark first"):
            n = self.check(s)
            self.assertFalse(n.changed)
            self.assertIs(n.text, s)
            self.assertEqual(n.begin_of, list(range(len(s.encode("utf-8")) + 1)))

    def test_nfd_vietnamese(self):
        d = nfd(SENTENCE)
        self.assertNotEqual(d, SENTENCE)
        n = self.check(d)
        self.assertEqual(n.text, SENTENCE)
        # "ư" (bytes 2..4 of the NFC text) is "u" + U+031B, original bytes 2..5.
        self.assertEqual((n.begin_of[2], n.end_of[4]), (2, 5))
        self.assertEqual((n.begin_of[3], n.end_of[3]), (2, 5))

    def test_mixed_marks_first_hangul_and_singletons(self):
        for s in ("Chương " + nfd("trình") + " rất " + nfd("hay quá!"),
                  "\u0340" + nfd("ế hay"), " \u0301\u0301 x", "a\u0323\u0302 a\u0302\u0323",
                  nfd("한국어 좋아요"), "10\u2126 \u212b", "ＭＣ ｈａｙ ﬁ x² ①"):
            self.check(s)
            self.check(nfd(s))
        self.assertEqual(nfc_text("a\u0302\u0323").text, "ậ")
        # NFC, not NFKC: compatibility characters keep their form.
        self.assertFalse(nfc_text("ＭＣ ｈａｙ ﬁ x² ①").changed)

    def test_every_fixture_text_and_its_nfd_form(self):
        with open(_paths.FIXTURES, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f if line.strip()]
        for t in texts:
            self.check(t)
            self.check(nfd(t))


class FakeTokenizer:
    """One piece per code point, or per UTF-8 byte: the finest a real tokenizer cuts."""

    def __init__(self, per_byte=False):
        self.per_byte = per_byte
        self.seen = None

    def encode(self, text, dropout=0.0):
        self.seen = text
        pieces, b = [], 0
        for ch in text:
            n = len(ch.encode("utf-8"))
            if ch != " ":
                if self.per_byte:
                    pieces += [Piece(100 + k, b + k, b + k + 1, ch) for k in range(n)]
                else:
                    pieces.append(Piece(ord(ch), b, b + n, ch))
            b += n
        return Encoding(text=text, input_ids=[2] + [p.id for p in pieces] + [3], pieces=pieces,
                        truncated=False, num_pieces_total=len(pieces))


class EncodeNfcTest(unittest.TestCase):
    def test_tokenizes_nfc_with_ranges_in_the_original(self):
        d = nfd(SENTENCE)
        tok = FakeTokenizer()
        direct = tok.encode(SENTENCE)
        enc = encode_nfc(tok, d)
        self.assertEqual(tok.seen, SENTENCE)
        self.assertEqual(enc.text, d)
        self.assertEqual(enc.input_ids, direct.input_ids)
        db = d.encode("utf-8")
        for p, q in zip(enc.pieces, direct.pieces):
            self.assertEqual(nfc(db[p.begin:p.end].decode("utf-8")), q.piece)

    def test_a_piece_inside_a_composed_letter_covers_the_whole_letter(self):
        enc = encode_nfc(FakeTokenizer(per_byte=True), nfd("rất"))  # r a U+0302 U+0301 t
        self.assertEqual([(p.begin, p.end) for p in enc.pieces],
                         [(0, 1), (1, 6), (1, 6), (1, 6), (6, 7)])

    def test_nfc_text_gives_the_tokenizers_encoding(self):
        tok = FakeTokenizer()
        self.assertEqual(encode_nfc(tok, SENTENCE), tok.encode(SENTENCE))

    def test_a_range_outside_the_text_is_an_error(self):
        class Bad(FakeTokenizer):
            def encode(self, text, dropout=0.0):
                e = super().encode(text)
                e.pieces[-1] = Piece(9, 0, len(text.encode("utf-8")) + 1, "x")
                return e
        with self.assertRaises(ValueError):
            encode_nfc(Bad(), nfd(SENTENCE))


def cut(text, byte_span, cp_span):
    b = text.encode("utf-8")[byte_span[0]:byte_span[1]].decode("utf-8")
    c = text[cp_span[0]:cp_span[1]]
    return b, c


@unittest.skipUnless(HAVE_DEMO, "models/demo not built (python3 -m eaos_tools.train --out demo)")
class ReferenceNfdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from eaos_tools.reference import ReferenceModel
        cls.ref = ReferenceModel(_paths.DEMO_DIR, num_threads=2)

    def expect_nfc_answer(self, text, want, got):
        self.assertEqual(got["num_tokens"], want["num_tokens"])
        self.assertEqual(got["truncated"], want["truncated"])
        self.assertEqual(len(got["tuples"]), len(want["tuples"]), (text, got, want))
        for g, w in zip(got["tuples"], want["tuples"]):
            for k in ("aspect", "sentiment"):
                self.assertEqual(g[k], w[k])
            self.assertAlmostEqual(g["confidence"], w["confidence"], places=6)
            self.assertEqual(nfc(g["opinion"]), w["opinion"])
            self.assertEqual(nfc(g["entity"]), w["entity"])
            self.assertEqual(cut(text, g["opinion_byte_span"], g["opinion_span"]),
                             (g["opinion"], g["opinion"]))
            if g["entity"]:
                self.assertEqual(cut(text, g["entity_byte_span"], g["entity_span"]),
                                 (g["entity"], g["entity"]))
            b2c = byte_to_cp_map(text)
            self.assertEqual([b2c[x] for x in g["opinion_byte_span"]], g["opinion_span"])

    def test_golden_and_fixture_texts_in_nfd_get_their_nfc_answers(self):
        with open(os.path.join(_paths.DEMO_DIR, "golden.json"), encoding="utf-8") as f:
            golden = [s["text"] for s in json.load(f)["samples"]]
        with open(_paths.FIXTURES, encoding="utf-8") as f:
            fixtures = [json.loads(line)["text"] for line in f if line.strip()]
        decomposed = tuples = 0
        for t in golden + fixtures:
            if nfd(t) == nfc(t):
                continue
            decomposed += 1
            want, got, as_is = self.ref.predict([nfc(t), nfd(t), t])
            tuples += len(got["tuples"])
            self.expect_nfc_answer(nfd(t), want, got)
            self.expect_nfc_answer(t, want, as_is)
        self.assertGreaterEqual(decomposed, 60)
        self.assertGreaterEqual(tuples, 40)

    def test_spec_example_in_nfd(self):
        d = nfd("Chương trình rất hay!")
        tuples = self.ref.predict_text(d)
        match = [t for t in tuples if nfc(t["entity"]) == "Chương trình" and nfc(t["opinion"]) == "rất hay"]
        self.assertEqual(len(match), 1, tuples)
        self.assertEqual(match[0]["entity"], nfd("Chương trình"))  # the text as sent, not "t"


if __name__ == "__main__":
    unittest.main()


class ReferenceWithoutNormalizationTest(unittest.TestCase):
    """model.json "text_normalization": "none" (exports of a user's module): the text as sent."""

    def test_none_tokenizes_the_decomposed_text_as_sent(self):
        from eaos_tools.reference import ReferenceModel
        ref = ReferenceModel(_paths.DEMO_DIR, num_threads=1)
        d = nfd("Chương trình rất hay!")
        composed = ref.encode(d)
        ref.meta = dict(ref.meta, text_normalization="none")
        raw = ref.encode(d)
        self.assertEqual(raw.input_ids, ref.tokenizer.encode(d).input_ids)
        self.assertNotEqual(raw.input_ids, composed.input_ids)
        ref.meta = dict(ref.meta, text_normalization="nfc")
        self.assertEqual(ref.encode(d).input_ids, composed.input_ids)
