"""validate.py finds contract differences."""
import json
import os
import shutil
import tempfile
import unittest

import torch

import _paths  # noqa: F401
from eaos_tools.model import EAOSConfig, EAOSModel, export_torchscript
from eaos_tools.export import default_labels, model_json
from eaos_tools.validate import contract_errors, parse_segmenter, schema_errors, validate

with open(os.path.join(_paths.MODELS_DIR, "model.schema.json"), encoding="utf-8") as _f:
    SCHEMA = json.load(_f)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)


class _Bad(torch.nn.Module):
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        b, t = input_ids.size(0), input_ids.size(1)
        return {"span_logits": torch.zeros(b, t, 5), "aspect_logits": torch.zeros(b, t, 6)}


class ValidateTest(unittest.TestCase):
    def meta(self):
        return model_json(default_labels("eaos-test", "1.2.3"),
                          EAOSConfig(vocab_size=40, hidden=16, heads=2, ffn=32, max_length=16))

    def test_good_metadata(self):
        m = self.meta()
        self.assertEqual(schema_errors(m, SCHEMA), [])
        self.assertEqual(contract_errors(m), [])

    def test_bad_metadata(self):
        m = self.meta()
        m["span_labels"] = ["O", "B-ENT", "I-ENT", "B-OPI", "E-OPI"]
        del m["tokenizer"]
        m["version"] = "one"
        m["extra"] = 1
        errs = schema_errors(m, SCHEMA) + contract_errors(m)
        text = "\n".join(errs)
        for needle in ("span_labels", "tokenizer", "version", "extra"):
            self.assertIn(needle, text)
        m = self.meta()
        m["outputs"] = {"span_logits": "span_labels", "aspect_logits": "aspects", "x": "aspects"}
        self.assertTrue(any("sentiments" in e for e in contract_errors(m)))

    def test_segmenter(self):
        seg = {"package": "pyvi", "version": "0.1.1"}
        m = model_json(default_labels("eaos-test", "1.2.3"),
                       EAOSConfig(vocab_size=40, hidden=16, heads=2, ffn=32, max_length=16), seg)
        self.assertEqual(m["segmenter"], seg)
        self.assertEqual(schema_errors(m, SCHEMA), [])
        for bad, needle in (({"package": "vncorenlp", "version": "1"}, "segmenter.package"),
                            ({"package": "pyvi"}, "version"),
                            ({"package": "pyvi", "version": "0.1.1", "x": 1}, "unknown field 'x'"),
                            ({"package": "pyvi", "version": "0.1 .1"}, "segmenter.version")):
            m["segmenter"] = bad
            self.assertTrue(any(needle in e for e in schema_errors(m, SCHEMA)), (bad, schema_errors(m, SCHEMA)))
        self.assertEqual(parse_segmenter("underthesea==9.5.0"), {"package": "underthesea", "version": "9.5.0"})
        with self.assertRaisesRegex(ValueError, "must be one of"):
            parse_segmenter("jieba==1")

    @unittest.skipUnless(os.path.isfile(os.path.join(_paths.DEMO_DIR, "tokenizer.model")), "needs models/demo")
    def test_directories(self):
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(_paths.DEMO_DIR, "tokenizer.model"), d)
            import sentencepiece as spm
            vocab = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model")).get_piece_size()
            cfg = EAOSConfig(vocab_size=vocab, hidden=16, layers=1, heads=2, ffn=32, max_length=16)
            labels = default_labels("eaos-test", "1.0.0")
            write_json(os.path.join(d, "model.json"), model_json(labels, cfg))
            self.assertTrue(any("model.pt" in e for e in validate(d)))
            export_torchscript(EAOSModel(cfg), os.path.join(d, "model.pt"))
            self.assertEqual(validate(d), [])
            # max_length larger than the model's position table -> forward fails at T = max_length
            meta = model_json(labels, cfg)
            meta["max_length"] = 64
            write_json(os.path.join(d, "model.json"), meta)
            self.assertTrue(any("forward" in e for e in validate(d)))
            # a module missing an output / wrong label count
            write_json(os.path.join(d, "model.json"), model_json(labels, cfg))
            torch.jit.save(torch.jit.script(_Bad()), os.path.join(d, "model.pt"))
            errs = validate(d)
            self.assertTrue(any("sentiment_logits" in e and "missing" in e for e in errs), errs)
            self.assertTrue(any("aspect_logits" in e and "shape" in e for e in errs), errs)

    @unittest.skipUnless(os.path.isfile(os.path.join(_paths.DEMO_DIR, "tokenizer.model")), "needs models/demo")
    def test_fairseq_ids_directory(self):
        fairseq_ids = {"pad_id": 1, "unk_id": 3, "bos_id": 0, "eos_id": 2}
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(_paths.DEMO_DIR, "tokenizer.model"), os.path.join(d, "sentencepiece.bpe.model"))
            with open(os.path.join(d, "dict.txt"), "w", encoding="utf-8") as f:
                f.write("\u2581hay 10\n\u2581r\u1ea5t 5\nmadeupword0000 0\n")
            cfg = EAOSConfig(vocab_size=8, hidden=16, layers=1, heads=2, ffn=32, max_length=16)
            meta = model_json(default_labels("eaos-test", "1.0.0"), cfg)
            meta["tokenizer"] = {"type": "sentencepiece", "model": "sentencepiece.bpe.model",
                                 "id_map": "fairseq", "dict": "dict.txt"}
            meta["special_tokens"] = fairseq_ids
            write_json(os.path.join(d, "model.json"), meta)
            export_torchscript(EAOSModel(cfg), os.path.join(d, "model.pt"))
            self.assertEqual(schema_errors(meta, SCHEMA), [])
            self.assertEqual(validate(d), [])  # 4 specials + 3 lines + <mask> = 8 embedding rows

            def errors(**changes):
                m = json.loads(json.dumps(meta))
                for k, v in changes.items():
                    if k == "special_tokens":
                        m[k] = v
                    elif v is None:
                        del m["tokenizer"][k]
                    else:
                        m["tokenizer"][k] = v
                write_json(os.path.join(d, "model.json"), m)
                return "\n".join(validate(d, check_forward=False))

            self.assertIn("fairseq's ids", errors(special_tokens={"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}))
            self.assertIn("tokenizer.id_map must be", errors(id_map="xlmr"))
            self.assertIn("belongs to \"id_map\": \"fairseq\"", errors(id_map=None))
            self.assertIn("nodict.txt: missing", errors(dict="nodict.txt"))
            self.assertIn("needs \"model\"", errors(model=None))
            # XLM-RoBERTa's layout over models/demo, whose </s> is piece 3: refused
            self.assertIn('"</s>" at id 3', errors(dict=None))
            with open(os.path.join(d, "dict.txt"), "a", encoding="utf-8") as f:
                f.write("\u2581hay 1\n")
            self.assertIn("line 4: the token", errors())


if __name__ == "__main__":
    unittest.main()
