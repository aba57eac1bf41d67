"""The reference architecture: scriptable, size-agnostic, padding never changes an answer."""
import os
import tempfile
import unittest

import torch

import _paths  # noqa: F401
from eaos_tools import ASPECTS
from eaos_tools.model import EAOSConfig, EAOSModel, export_torchscript

torch.set_num_threads(2)


class ModelTest(unittest.TestCase):
    def build(self, **kw):
        torch.manual_seed(0)
        cfg = EAOSConfig(**kw)
        return cfg, EAOSModel(cfg).eval()

    def test_shapes_and_dtypes(self):
        cfg, m = self.build(vocab_size=50, hidden=48, layers=3, heads=3, ffn=96, max_length=20)
        ids = torch.randint(4, 50, (3, 11))
        out = m(ids, torch.ones_like(ids))
        self.assertEqual(set(out), {"span_logits", "aspect_logits", "sentiment_logits"})
        self.assertEqual(list(out["span_logits"].shape), [3, 11, 5])
        self.assertEqual(list(out["aspect_logits"].shape), [3, 11, len(ASPECTS)])
        self.assertEqual(list(out["sentiment_logits"].shape), [3, 11, 3])
        for v in out.values():
            self.assertEqual(v.dtype, torch.float32)

    def test_padding_invariance_scripted(self):
        cfg, m = self.build(vocab_size=60, hidden=32, layers=2, heads=4, ffn=64, max_length=16, dropout=0.0)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.pt")
            export_torchscript(m, path)
            sm = torch.jit.load(path)
        a = torch.tensor([[2, 10, 11, 12, 3]])
        b = torch.tensor([[2, 20, 21, 22, 23, 24, 25, 3]])
        batch = torch.tensor([[2, 10, 11, 12, 3, 0, 0, 0], [2, 20, 21, 22, 23, 24, 25, 3]])
        mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0], [1] * 8])
        with torch.no_grad():
            ob = sm(batch, mask)
            oa = sm(a, torch.ones_like(a))
            ob2 = sm(b, torch.ones_like(b))
            # garbage in padded positions must not matter either
            batch_g = batch.clone()
            batch_g[0, 5:] = 42
            og = sm(batch_g, mask)
            eager = m(batch, mask)
        for k in ob:
            self.assertTrue(torch.allclose(ob[k][0, :5], oa[k][0], atol=1e-5), k)
            self.assertTrue(torch.allclose(ob[k][1], ob2[k][0], atol=1e-5), k)
            self.assertTrue(torch.allclose(og[k][0, :5], oa[k][0], atol=1e-5), k)
            self.assertTrue(torch.allclose(eager[k], ob[k], atol=1e-5), k)

    def test_config_roundtrip(self):
        cfg = EAOSConfig.base(vocab_size=8000)
        self.assertEqual((cfg.hidden, cfg.layers, cfg.heads, cfg.ffn), (768, 12, 12, 3072))
        self.assertEqual(EAOSConfig.from_dict(cfg.to_dict()), cfg)

    def test_bad_heads(self):
        with self.assertRaises(ValueError):
            EAOSModel(EAOSConfig(vocab_size=10, hidden=30, heads=4))


if __name__ == "__main__":
    unittest.main()
