"""Tuple-level precision/recall/F1 (exact match on entity, aspect, opinion, sentiment)."""

from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple


def tuple_key(t: Dict) -> Tuple[str, str, str, str]:
    return (t["entity"], t["aspect"], t["opinion"], t["sentiment"])


def score(gold: Sequence[Sequence[Dict]], pred: Sequence[Sequence[Dict]], key=tuple_key) -> Dict:
    """gold/pred: per text, a list of tuples.  Matches are counted as multisets per text."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gc = Counter(key(t) for t in g)
        pc = Counter(key(t) for t in p)
        tp += sum((gc & pc).values())
        n_gold += sum(gc.values())
        n_pred += sum(pc.values())
    prec = tp / n_pred if n_pred else (1.0 if not n_gold else 0.0)
    rec = tp / n_gold if n_gold else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"tp": tp, "gold": n_gold, "pred": n_pred, "precision": prec, "recall": rec, "f1": f1}


def breakdown(gold, pred) -> List[Tuple[str, Dict]]:
    """Overall score, then per-element and per-aspect/per-sentiment rows."""
    rows = [("tuple (E,A,O,S)", score(gold, pred))]
    rows.append(("entity+opinion", score(gold, pred, key=lambda t: (t["entity"], t["opinion"]))))
    rows.append(("opinion", score(gold, pred, key=lambda t: t["opinion"])))
    rows.append(("opinion+aspect", score(gold, pred, key=lambda t: (t["opinion"], t["aspect"]))))
    rows.append(("opinion+sentiment", score(gold, pred, key=lambda t: (t["opinion"], t["sentiment"]))))
    labels_a = sorted({t["aspect"] for g in gold for t in g} | {t["aspect"] for p in pred for t in p})
    for a in labels_a:
        rows.append(("  aspect=" + a, score([[t for t in g if t["aspect"] == a] for g in gold],
                                            [[t for t in p if t["aspect"] == a] for p in pred])))
    labels_s = sorted({t["sentiment"] for g in gold for t in g} | {t["sentiment"] for p in pred for t in p})
    for s in labels_s:
        rows.append(("  sentiment=" + s, score([[t for t in g if t["sentiment"] == s] for g in gold],
                                               [[t for t in p if t["sentiment"] == s] for p in pred])))
    return rows


def slice_breakdown(examples: Sequence[Dict], pred: Sequence[Sequence[Dict]],
                    slices: Sequence[str]) -> List[Tuple[str, Dict]]:
    """Tuple-level scores overall and over the comments of each slice (examples[i]["slices"]).

    Also "seen_phrasing": the comments without a held-out wording.  Each row's dict has
    "comments", the number of comments in the slice.
    """
    gold = [e["tuples"] for e in examples]
    rows = []

    def add(name, keep):
        idx = [i for i, e in enumerate(examples) if keep(e)]
        s = score([gold[i] for i in idx], [pred[i] for i in idx])
        s["comments"] = len(idx)
        rows.append((name, s))

    add("overall", lambda e: True)
    add("seen_phrasing", lambda e: "heldout_phrasing" not in e.get("slices", ()))
    for name in slices:
        add(name, lambda e, n=name: n in e.get("slices", ()))
    return rows


def format_table(rows: Iterable[Tuple[str, Dict]]) -> str:
    rows = list(rows)
    w = max(len(r[0]) for r in rows) + 2
    with_n = any("comments" in s for _, s in rows)
    head = "%-*s %7s %7s %7s %6s %6s %6s" % (w, "", "P", "R", "F1", "tp", "gold", "pred")
    lines = [head + (" %8s" % "comments" if with_n else "")]
    for name, s in rows:
        line = "%-*s %7.4f %7.4f %7.4f %6d %6d %6d" % (
            w, name, s["precision"], s["recall"], s["f1"], s["tp"], s["gold"], s["pred"])
        lines.append(line + (" %8d" % s["comments"] if with_n else ""))
    return "\n".join(lines)
