"""The Python reference's sentencepiece tokenizer in fairseq ids (XLM-RoBERTa, BARTpho).

Exactness against transformers' own classes is tested by eaos_tools.spm_exactness (ctest
spm_fairseq_exactness, in the transformers venv); these are the rules on the demo model."""
import os
import tempfile
import unittest

import _paths  # noqa: F401
from eaos_tools.tokenization import FairseqIds, Tokenizer, load_tokenizer, read_fairseq_dict

DEMO_MODEL = os.path.join(_paths.DEMO_DIR, "tokenizer.model")
XLMR_MODEL = os.path.join(_paths.MODELS_DIR, "fixtures", "xlmr_layout.model")  # <unk> <s> </s> at 0-2


@unittest.skipUnless(os.path.isfile(DEMO_MODEL), "needs models/demo")
class FairseqIdsTest(unittest.TestCase):
    def setUp(self):
        self.plain = Tokenizer(DEMO_MODEL, 1 << 20)
        self.xlmr_plain = Tokenizer(XLMR_MODEL, 1 << 20)
        self.xlmr = Tokenizer(XLMR_MODEL, 1 << 20, id_map="fairseq")

    def test_xlmr_layout_offsets_every_piece(self):
        n = self.xlmr_plain.sp.get_piece_size()
        self.assertEqual(self.xlmr.vocab_size(), n + 2)
        self.assertEqual(self.xlmr.fairseq.mask_id, n + 1)
        self.assertEqual((self.xlmr.bos_id, self.xlmr.pad_id, self.xlmr.eos_id, self.xlmr.unk_id), (0, 1, 2, 3))
        text = "Chương trình rất hay 中文 😍"
        a, b = self.xlmr_plain.encode(text), self.xlmr.encode(text)
        self.assertIn(0, a.input_ids[1:-1])  # sentencepiece's <unk> -> fairseq's
        self.assertEqual(b.input_ids[1:-1], [i + 1 if i else 3 for i in a.input_ids[1:-1]])
        self.assertEqual([(p.begin, p.end) for p in a.pieces], [(p.begin, p.end) for p in b.pieces])

    def test_literal_specials_and_mask_lstrip(self):
        text = "hay \u3000\n<mask> x<s></s><pad><unk> <mas"
        self.assertEqual(
            [(text[b:e], i) for b, e, i in self.xlmr.fairseq.split(text)],
            [("hay", None), ("<mask>", self.xlmr.fairseq.mask_id), (" x", None), ("<s>", 0), ("</s>", 2),
             ("<pad>", 1), ("<unk>", 3), (" <mas", None)])
        enc = self.xlmr.encode("rất hay <mask>")
        self.assertEqual(enc.input_ids[-2], self.xlmr.fairseq.mask_id)
        self.assertEqual((enc.pieces[-1].begin, enc.pieces[-1].end), (len("rất hay ".encode()), len("rất hay <mask>".encode())))
        self.assertEqual(self.xlmr.encode("").input_ids, [0, 2])

    def test_bartpho_layout_and_dict_rules(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dict.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\u2581hay 10\r\n\u2581r\u1ea5t 5 #fairseq:overwrite\rmadeupword0000 0")
            self.assertEqual(read_fairseq_dict(path), ["\u2581hay", "\u2581r\u1ea5t", "madeupword0000"])
            tok = Tokenizer(DEMO_MODEL, 16, id_map="fairseq", dict_file=path)
            self.assertEqual(tok.vocab_size(), 8)
            ids = tok.encode("rất hay quá <mask>").input_ids
            self.assertEqual(ids[0], 0)
            self.assertEqual(ids[-1], 2)
            self.assertEqual(ids[-2], 7)
            self.assertTrue(set(ids[1:-2]) <= {3, 4, 5}, ids)
            meta = {"max_length": 16, "special_tokens": {"pad_id": 1, "unk_id": 3, "bos_id": 0, "eos_id": 2},
                    "tokenizer": {"type": "sentencepiece", "model": DEMO_MODEL, "id_map": "fairseq", "dict": path}}
            self.assertEqual(load_tokenizer(d, meta).encode("rất hay").input_ids, tok.encode("rất hay").input_ids)
            for content, needle in (("a 1\n\nb 1\n", "line 2: blank"), ("a 1\na 2\n", "line 2: the token \"a\""),
                                    ("<unk> 1\n", "ids 0-3 implicitly")):
                with open(path, "w", encoding="utf-8") as f:
                    f.write(content)
                with self.assertRaisesRegex(ValueError, needle):
                    read_fairseq_dict(path)
            with open(path, "wb") as f:
                f.write(b"a 1\n\xff 1\n")
            with self.assertRaisesRegex(ValueError, "not valid UTF-8"):
                read_fairseq_dict(path)

    def test_refuses_a_token_that_could_be_an_unknown_pieces_text(self):
        # No piece of the demo model spells these CJK characters: sentencepiece would report
        # "中文" as one unknown piece with that text, which BartphoTokenizer maps by its text.
        with self.assertRaisesRegex(ValueError, 'dict.txt line 2: the token "中文"'):
            FairseqIds(self.plain.sp, ["\u2581hay", "中文"])
        FairseqIds(self.plain.sp, ["\u2581hay", "a中文"])  # holds a known character: fine

    def test_refuses_xlmr_ids_over_a_model_with_specials_beyond_id_2(self):
        # models/demo has </s> at id 3: XLMRobertaTokenizer would make every EOS id 4.
        with self.assertRaisesRegex(ValueError, '"</s>" at id 3'):
            Tokenizer(DEMO_MODEL, 16, id_map="fairseq")

    def test_fairseq_needs_fairseq_specials(self):
        with self.assertRaisesRegex(ValueError, "fairseq ids have"):
            Tokenizer(DEMO_MODEL, 16, pad_id=0, unk_id=1, bos_id=2, eos_id=3, id_map="fairseq")
        with self.assertRaisesRegex(ValueError, "id_map must be"):
            Tokenizer(DEMO_MODEL, 16, id_map="xlmr")


if __name__ == "__main__":
    unittest.main()
