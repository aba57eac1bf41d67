#!/usr/bin/env python3
"""phobert_e2e.py's client side (runs in the client venv, build/pyenv): texts JSONL -> eaos-server
-> JSONL. First line {"model_info": {"sizes": ...}}, then one {"id", "tuples"} per text, tuples in
the Python reference's JSON shape (decode.py) so the two compare field by field."""
import argparse
import json

from eaos_client import Client, ClientOptions


def span(s):
    return [s.begin, s.end], [s.byte_begin, s.byte_end]


def as_reference(t):
    ent, ent_b = span(t.entity_span) if t.HasField("entity_span") else ([0, 0], [0, 0])
    opi, opi_b = span(t.opinion_span)
    return {"entity": t.entity, "aspect": t.aspect, "opinion": t.opinion, "sentiment": t.sentiment,
            "confidence": t.confidence, "entity_span": ent, "opinion_span": opi, "entity_byte_span": ent_b,
            "opinion_byte_span": opi_b}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--threshold", type=float, required=True)
    args = ap.parse_args()
    with open(args.input, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    client = Client(ClientOptions(target=args.target, timeout=600))
    client.wait_until_serving(60)
    info = client.get_model_info()
    s = info.sizes
    results = client.annotate([r["text"] for r in rows], ids=[r["id"] for r in rows], threshold=args.threshold)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(json.dumps({"model_info": {"sizes": {"vocab_size": s.vocab_size, "hidden": s.hidden, "layers": s.layers,
                                                     "heads": s.heads, "ffn": s.ffn, "parameters": s.parameters}}}) + "\n")
        for r, res in zip(rows, results):
            if res.HasField("error") and res.error.code:
                raise SystemExit("item %s: error %s" % (r["id"], res.error))
            f.write(json.dumps({"id": r["id"], "tuples": [as_reference(t) for t in res.tuples]},
                               ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
