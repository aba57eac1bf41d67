"""Python reference inference for a model directory (model.pt, model.json and its tokenizer files).

    python3 -m eaos_tools.reference --model models/demo --input in.jsonl --output out.jsonl \
        [--threshold 0.5] [--batch-size 8]

in.jsonl lines: {"id": ..., "text": ...}.  out.jsonl lines:
{"id", "truncated", "num_tokens", "tuples": [{"entity", "aspect", "opinion", "sentiment",
"confidence", "entity_span", "opinion_span", "entity_byte_span", "opinion_byte_span"}]}.

num_tokens is the length of input_ids (BOS and EOS included, after truncation).
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .decode import decode
from .tokenization import Encoding, encode_nfc, load_tokenizer, pad_batch


def load_model_json(model_dir: str) -> Dict:
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        return json.load(f)


class ReferenceModel:
    def __init__(self, model_dir: Optional[str], num_threads: Optional[int] = None, meta: Optional[Dict] = None,
                 tokenizer=None, module=None):
        """The model directory's tokenizer and model.pt; meta/tokenizer/module, when given, replace
        model.json, its tokenizer and model.pt (the export runs a user's eager module and tokenizer
        through the same decoding this way)."""
        if num_threads:
            torch.set_num_threads(num_threads)
        self.dir = model_dir
        self.meta = meta if meta is not None else load_model_json(model_dir)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model_dir, self.meta)
        self.module = module if module is not None else torch.jit.load(os.path.join(model_dir, "model.pt"),
                                                                       map_location="cpu")
        self.module.eval()
        # output name -> label list, per the contract's "outputs" map
        self.labels = {out: self.meta[key] for out, key in self.meta["outputs"].items()}
        inv = {key: out for out, key in self.meta["outputs"].items()}
        self.span_out = inv["span_labels"]
        self.aspect_out = inv["aspects"]
        self.sentiment_out = inv["sentiments"]

    def forward(self, input_ids: List[List[int]], attention_mask: List[List[int]]) -> Dict[str, np.ndarray]:
        with torch.no_grad():
            out = self.module(torch.tensor(input_ids, dtype=torch.long),
                              torch.tensor(attention_mask, dtype=torch.long))
        return {k: v.detach().to(torch.float32).cpu().numpy() for k, v in out.items()}

    def predict(self, items: Sequence[Dict], threshold: float = 0.5, batch_size: int = 1) -> List[Dict]:
        """items: dicts with "id" and "text" (or plain strings)."""
        items = [{"id": str(i), "text": it} if isinstance(it, str) else it for i, it in enumerate(items)]
        results = []
        for start in range(0, len(items), max(1, batch_size)):
            chunk = items[start:start + max(1, batch_size)]
            encs = [self.encode(it["text"]) for it in chunk]
            ids, mask = pad_batch(encs, self.tokenizer.pad_id)
            out = self.forward(ids, mask)
            for j, (it, enc) in enumerate(zip(chunk, encs)):
                results.append({"id": it.get("id"), "truncated": enc.truncated,
                                "num_tokens": len(enc.input_ids),
                                "tuples": self.decode_row(enc, out, j, threshold)})
        return results

    def encode(self, text: str) -> Encoding:
        """The model input for ``text`` as the server builds it: its NFC form tokenized, byte
        ranges in ``text`` itself, unless model.json says ``"text_normalization": "none"`` (then
        ``text`` as sent). docs/model-contract.md, "Unicode normalization"."""
        if self.meta.get("text_normalization", "nfc") == "none":
            return self.tokenizer.encode(text)
        return encode_nfc(self.tokenizer, text)

    def decode_row(self, enc: Encoding, out: Dict[str, np.ndarray], row: int,
                   threshold: float) -> List[Dict]:
        """Tuples of one row of a forward() result (the contract's decoding)."""
        return decode(enc.text, enc.pieces, out[self.span_out][row], out[self.aspect_out][row],
                      out[self.sentiment_out][row], self.labels[self.span_out],
                      self.labels[self.aspect_out], self.labels[self.sentiment_out], threshold)

    def predict_text(self, text: str, threshold: float = 0.5) -> List[Dict]:
        return self.predict([{"id": "0", "text": text}], threshold)[0]["tuples"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="EAOS reference inference")
    ap.add_argument("--model", required=True, help="model directory")
    ap.add_argument("--input", required=True, help="jsonl with {id, text}; - for stdin")
    ap.add_argument("--output", default="-", help="jsonl output; - for stdout")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    ref = ReferenceModel(args.model, num_threads=args.threads)
    fin = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    items = [json.loads(line) for line in fin if line.strip()]
    results = ref.predict(items, threshold=args.threshold, batch_size=args.batch_size)
    fout = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    for r in results:
        fout.write(json.dumps(r, ensure_ascii=False) + "\n")
    if fout is not sys.stdout:
        fout.close()


if __name__ == "__main__":
    main()
