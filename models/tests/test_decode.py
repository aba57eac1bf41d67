"""The reference decoder on hand-made logits (docs/model-contract.md, "Decoding")."""
import re
import unittest

import numpy as np

import _paths  # noqa: F401
from eaos_tools import ASPECTS, SENTIMENTS, SPAN_LABELS
from eaos_tools.decode import bio_spans, decode, softmax_f32
from eaos_tools.tokenization import Piece

O, BE, IE, BO, IO = "O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"


def make_pieces(text):
    """One piece per word; like sentencepiece, a piece's range includes the space before it."""
    tb = text.encode("utf-8")
    pieces = []
    for m in re.finditer(rb"\S+", tb):
        b = m.start()
        if pieces and b > 0 and tb[b - 1:b] == b" ":
            b -= 1
        pieces.append(Piece(10 + len(pieces), b, m.end(), ""))
    return pieces


def one_hot_logits(labels, names, strength=8.0):
    """Rows for BOS + one per piece + EOS; each row favours names[label]."""
    rows = [np.zeros(len(names), np.float32)]
    for lab in labels:
        r = np.zeros(len(names), np.float32)
        if isinstance(lab, tuple):
            lab, s = lab
        else:
            s = strength
        r[names.index(lab)] = s
        rows.append(r)
    rows.append(np.zeros(len(names), np.float32))
    return np.stack(rows)


def run(text, tags, aspects=None, sentiments=None, threshold=0.5, span_labels=SPAN_LABELS):
    pieces = make_pieces(text)
    assert len(pieces) == len(tags), (len(pieces), len(tags))
    aspects = aspects or ["Chung"] * len(tags)
    sentiments = sentiments or ["tích cực"] * len(tags)
    return decode(text, pieces, one_hot_logits(tags, span_labels),
                  one_hot_logits(aspects, ASPECTS), one_hot_logits(sentiments, SENTIMENTS),
                  span_labels, ASPECTS, SENTIMENTS, threshold)


class BioTest(unittest.TestCase):
    def test_lenient_rules(self):
        self.assertEqual(bio_spans([BE, IE, O, BO, IO]), [("ENT", 0, 1), ("OPI", 3, 4)])
        # I-X with nothing open opens a span
        self.assertEqual(bio_spans([IE, IE, IO]), [("ENT", 0, 1), ("OPI", 2, 2)])
        # I-X after a span of the other kind opens a new span
        self.assertEqual(bio_spans([BE, IO, IO]), [("ENT", 0, 0), ("OPI", 1, 2)])
        # B-X always opens a new span, even right after X
        self.assertEqual(bio_spans([BO, BO, IO]), [("OPI", 0, 0), ("OPI", 1, 2)])
        # a span open at the end is closed
        self.assertEqual(bio_spans([O, BE, IE]), [("ENT", 1, 2)])
        self.assertEqual(bio_spans([O, O]), [])
        self.assertEqual(bio_spans([]), [])


class DecodeTest(unittest.TestCase):
    def test_basic_tuple_and_offsets(self):
        text = "Chương trình rất hay!"
        pieces = make_pieces(text)  # "Chương" " trình" " rất" " hay!"
        res = run(text, [BE, IE, BO, IO], aspects=["Kịch bản"] * 4)
        self.assertEqual(len(res), 1)
        t = res[0]
        self.assertEqual(t["entity"], "Chương trình")
        self.assertEqual(t["opinion"], "rất hay")  # the "!" is trimmed
        self.assertEqual(t["aspect"], "Kịch bản")
        self.assertEqual(t["sentiment"], "tích cực")
        self.assertEqual(t["entity_span"], [0, 12])
        self.assertEqual(text[slice(*t["opinion_span"])], "rất hay")
        # byte ranges are also returned, trimmed of the leading space
        self.assertEqual(t["entity_byte_span"], [0, len("Chương trình".encode())])
        ob, oe = t["opinion_byte_span"]
        self.assertEqual(text.encode()[ob:oe].decode(), "rất hay")
        self.assertEqual(pieces[2].begin, len("Chương trình".encode()))  # piece includes the space

    def test_bos_eos_padding_ignored(self):
        text = "MC dẫn hay"
        pieces = make_pieces(text)
        span = one_hot_logits([BE, O, BO], SPAN_LABELS)
        # BOS/EOS rows and extra padding rows say B-OPI: must be ignored
        span[0] = span[-1] = np.eye(5, dtype=np.float32)[SPAN_LABELS.index(BO)] * 9
        span = np.concatenate([span, np.tile(span[-1:], (3, 1))])
        asp = np.tile(np.eye(len(ASPECTS), dtype=np.float32)[1] * 8, (len(span), 1))
        sen = np.tile(np.eye(3, dtype=np.float32)[0] * 8, (len(span), 1))
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.5)
        self.assertEqual([(t["entity"], t["opinion"]) for t in res], [("MC", "hay")])

    def test_entity_pairing_nearest_before(self):
        text = "MC dẫn hay còn nhạc nền rè"
        res = run(text, [BE, O, BO, O, BE, IE, BO])
        self.assertEqual([(t["entity"], t["opinion"]) for t in res], [("MC", "hay"), ("nhạc nền", "rè")])

    def test_entity_pairing_after_when_none_before(self):
        text = "hay quá chương trình này và MC"
        res = run(text, [BO, IO, BE, IE, O, O, BE])
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0]["entity"], "chương trình")  # smallest start after the opinion

    def test_entity_pairing_prefers_before_over_after(self):
        text = "MC hay ca sĩ"
        res = run(text, [BE, BO, BE, IE])
        self.assertEqual(res[0]["entity"], "MC")

    def test_two_opinions_share_entity(self):
        text = "MC duyên nhưng nói nhiều"
        res = run(text, [BE, BO, O, BO, IO], sentiments=["tích cực", "tích cực", "tích cực", "tiêu cực", "tiêu cực"])
        self.assertEqual([(t["entity"], t["opinion"], t["sentiment"]) for t in res],
                         [("MC", "duyên", "tích cực"), ("MC", "nói nhiều", "tiêu cực")])

    def test_no_entity(self):
        res = run("Hay quá!", [BO, IO])
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0]["entity"], "")
        self.assertEqual(res[0]["entity_span"], [0, 0])
        self.assertEqual(res[0]["entity_byte_span"], [0, 0])
        self.assertEqual(res[0]["opinion"], "Hay quá")  # edge punctuation trimmed

    def test_entities_without_opinion_give_nothing(self):
        self.assertEqual(run("MC ca sĩ", [BE, BE, IE]), [])

    def test_whitespace_only_span_dropped(self):
        text = "MC hay"
        tb = text.encode()
        # an extra piece covering only the space between the words (like a bare "▁" piece)
        pieces = [Piece(10, 0, 2, ""), Piece(11, 2, 3, ""), Piece(12, 3, 6, "")]
        self.assertEqual(tb[2:3], b" ")
        span = one_hot_logits([O, BE, BO], SPAN_LABELS)
        asp = one_hot_logits(["Chung"] * 3, ASPECTS)
        sen = one_hot_logits(["tích cực"] * 3, SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.5)
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0]["entity"], "")  # the whitespace ENT span was dropped
        self.assertEqual(res[0]["opinion"], "hay")

    def test_threshold_and_confidence_min(self):
        text = "MC dẫn hay"
        # weak opinion tag: prob = e^1 / (e^1 + 4)
        res_all = run(text, [BE, O, (BO, 1.0)], threshold=0.0)
        p_opi = float(np.exp(1.0) / (np.exp(1.0) + 4))
        self.assertEqual(len(res_all), 1)
        self.assertAlmostEqual(res_all[0]["confidence"], p_opi, places=5)
        self.assertEqual(run(text, [BE, O, (BO, 1.0)], threshold=0.5), [])
        # threshold equal to the confidence keeps the tuple
        self.assertEqual(len(run(text, [BE, O, (BO, 1.0)], threshold=res_all[0]["confidence"])), 1)

    def test_confidence_is_min_of_parts(self):
        text = "MC dẫn hay"
        pieces = make_pieces(text)
        span = one_hot_logits([(BE, 3.0), O, (BO, 6.0)], SPAN_LABELS)
        asp = one_hot_logits(["Dẫn chương trình", "Chung", ("Dẫn chương trình", 2.5)], ASPECTS)
        sen = one_hot_logits(["tích cực", "tích cực", ("tiêu cực", 4.0)], SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.0)
        p_ent = float(np.exp(3.0) / (np.exp(3.0) + 4))
        p_opi = float(np.exp(6.0) / (np.exp(6.0) + 4))
        p_asp = float(np.exp(2.5) / (np.exp(2.5) + len(ASPECTS) - 1))
        p_sen = float(np.exp(4.0) / (np.exp(4.0) + 2))
        self.assertEqual(res[0]["aspect"], "Dẫn chương trình")
        self.assertEqual(res[0]["sentiment"], "tiêu cực")
        self.assertAlmostEqual(res[0]["confidence"], min(p_ent, p_opi, p_asp, p_sen), places=5)
        # without the weak entity the aspect probability is the minimum
        span2 = one_hot_logits([O, O, (BO, 6.0)], SPAN_LABELS)
        res2 = decode(text, pieces, span2, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.0)
        self.assertEqual(res2[0]["entity"], "")
        self.assertAlmostEqual(res2[0]["confidence"], min(p_opi, p_asp, p_sen), places=5)

    def test_span_confidence_is_mean(self):
        text = "MC dẫn rất hay"
        res = run(text, [BE, O, (BO, 2.0), (IO, 6.0)], threshold=0.0)
        p1 = np.exp(2.0) / (np.exp(2.0) + 4)
        p2 = np.exp(6.0) / (np.exp(6.0) + 4)
        self.assertAlmostEqual(res[0]["confidence"], float((p1 + p2) / 2), places=5)

    def test_aspect_from_mean_of_logits(self):
        text = "MC dẫn rất hay"
        pieces = make_pieces(text)
        span = one_hot_logits([BE, O, BO, IO], SPAN_LABELS)
        asp = np.zeros((6, len(ASPECTS)), np.float32)
        # piece "rất": Hình ảnh 10; piece "hay": Âm thanh 6 -> mean favours Hình ảnh (5 vs 3)
        asp[3, ASPECTS.index("Hình ảnh")] = 10
        asp[4, ASPECTS.index("Âm thanh")] = 6
        sen = one_hot_logits(["trung tính"] * 4, SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.0)
        self.assertEqual(res[0]["aspect"], "Hình ảnh")
        mean = (asp[3] + asp[4]) / 2
        self.assertAlmostEqual(res[0]["confidence"], float(softmax_f32(mean).max()), places=5)
        self.assertEqual(res[0]["sentiment"], "trung tính")

    def test_label_order_from_names(self):
        # span labels in another order: looked up by name
        order = ["B-OPI", "O", "I-ENT", "I-OPI", "B-ENT"]
        res = run("MC dẫn hay", [BE, O, BO], span_labels=order)
        self.assertEqual([(t["entity"], t["opinion"]) for t in res], [("MC", "hay")])

    def test_opinions_in_order_and_code_points(self):
        text = "Âm thanh 😍 rè, hình ảnh đẹp"
        res = run(text, [BE, IE, O, BO, BE, IE, BO], aspects=["Âm thanh"] * 4 + ["Hình ảnh"] * 3)
        self.assertEqual([t["opinion"] for t in res], ["rè", "đẹp"])
        for t in res:
            self.assertEqual(text[slice(*t["opinion_span"])], t["opinion"])
            self.assertEqual(text[slice(*t["entity_span"])], t["entity"])
            b, e = t["opinion_byte_span"]
            self.assertEqual(text.encode()[b:e].decode(), t["opinion"])


def char_pieces(text, rng):
    """Sub-word pieces: each word cut at random character boundaries; the first piece of a word
    takes the space before it, like sentencepiece's "▁"; sometimes a bare empty "▁" piece."""
    tb = text.encode("utf-8")
    pieces = []
    for m in re.finditer(r"\S+", text):
        word = m.group(0)
        b = len(text[:m.start()].encode("utf-8"))
        start = b - 1 if b > 0 and text[m.start() - 1] == " " else b
        if rng.random() < 0.1:
            pieces.append(Piece(4, start, start, "▁"))
        cuts = sorted(set(rng.integers(1, len(word) + 1, size=rng.integers(1, 4)).tolist()) | {len(word)})
        prev = 0
        for c in cuts:
            e = b + len(word[:c].encode("utf-8"))
            pb = start if prev == 0 else b + len(word[:prev].encode("utf-8"))
            pieces.append(Piece(10 + len(pieces), pb, e, ""))
            prev = c
    assert all(p.end <= len(tb) for p in pieces)
    return pieces


class WholeWordTest(unittest.TestCase):
    def test_tag_of_first_piece_decides_the_word(self):
        text = "MC xử lý hay"
        # pieces: "MC" " x" "ử" " lý" " hay"; "ử" says B-ENT inside a word tagged O by "x"
        tb = text.encode()
        pieces = [Piece(10, 0, 2, ""), Piece(11, 2, 4, ""), Piece(12, 4, 7, ""),
                  Piece(13, 7, 11, ""), Piece(14, 11, len(tb), "")]
        span = one_hot_logits([BE, O, BE, O, BO], SPAN_LABELS)
        asp = one_hot_logits(["Chung"] * 5, ASPECTS)
        sen = one_hot_logits(["tích cực"] * 5, SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.5)
        self.assertEqual([(t["entity"], t["opinion"]) for t in res], [("MC", "hay")])

    def test_span_ending_inside_a_word_takes_the_whole_word(self):
        text = "Kịch bản bị lặp lại"
        # " l" starts "lặp" as B-OPI, "ặp" (I-ENT) is inside that word and so ignored
        tb = text.encode()
        w = [m.span() for m in re.finditer(rb"\S+", tb)]
        pieces = [Piece(10, 0, w[0][1], ""), Piece(11, w[1][0] - 1, w[1][1], ""),
                  Piece(12, w[2][0] - 1, w[2][1], ""), Piece(13, w[3][0] - 1, w[3][0] + 1, ""),
                  Piece(14, w[3][0] + 1, w[3][1], ""), Piece(15, w[4][0] - 1, w[4][1], "")]
        span = one_hot_logits([BE, IE, O, BO, IE, IO], SPAN_LABELS)
        asp = one_hot_logits(["Kịch bản"] * 6, ASPECTS)
        sen = one_hot_logits(["tiêu cực"] * 6, SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.5)
        self.assertEqual([(t["entity"], t["opinion"]) for t in res], [("Kịch bản", "lặp lại")])

    def test_punctuation_only_span_dropped_and_edges_trimmed(self):
        res = run("MC « hay … » , ...", [BE, BO, IO, IO, IO, BO, BO])
        self.assertEqual([t["opinion"] for t in res], ["hay"])

    def test_trimmed_bytes_no_piece_covers(self):
        # word "«hay": the only piece covers "«", so no piece overlaps the trimmed span "hay";
        # the aspect/sentiment means then take all of the word's pieces
        text = "MC «hay"
        pieces = [Piece(10, 0, 2, ""), Piece(11, 2, 5, "")]
        span = one_hot_logits([BE, BO], SPAN_LABELS)
        asp = one_hot_logits(["Chung", "Chung"], ASPECTS)
        sen = one_hot_logits(["tiêu cực", "tiêu cực"], SENTIMENTS)
        res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.5)
        self.assertEqual([(t["entity"], t["opinion"], t["sentiment"]) for t in res],
                         [("MC", "hay", "tiêu cực")])

    def test_property_every_span_edge_is_a_word_edge(self):
        """Random texts, random sub-word pieces, random logits: every span starts at a word's
        first non-punctuation character and ends at a word's last one."""
        rng = np.random.default_rng(1234)
        alphabet = list("abcxyzđêôơưăâáàảãạếềểễệ") + ["😍", "!", ",", ".", "…", "«", "\"", "?"]
        spaces = [" ", " ", " ", "  ", "\t", "\u00a0", "\n"]
        checked = 0
        for _ in range(300):
            words = ["".join(rng.choice(alphabet, size=rng.integers(1, 6))) for _ in range(rng.integers(1, 12))]
            text = words[0]
            for w in words[1:]:
                text += rng.choice(spaces) + w
            if rng.random() < 0.3:
                text = rng.choice(spaces) + text
            pieces = char_pieces(text, rng)
            n = len(pieces)
            span = rng.normal(0, 3, size=(n + 2 + rng.integers(0, 3), len(SPAN_LABELS))).astype(np.float32)
            asp = rng.normal(0, 3, size=(span.shape[0], len(ASPECTS))).astype(np.float32)
            sen = rng.normal(0, 3, size=(span.shape[0], len(SENTIMENTS))).astype(np.float32)
            res = decode(text, pieces, span, asp, sen, SPAN_LABELS, ASPECTS, SENTIMENTS, 0.0)
            tb = text.encode("utf-8")
            word_edges = [m.span() for m in re.finditer(r"[^\s\u00a0]+", text)]
            for t in res:
                for key in ("opinion", "entity"):
                    b, e = t[key + "_span"]
                    if key == "entity" and not t["entity"]:
                        continue
                    self.assertLess(b, e)
                    inside = [w for w in word_edges if w[0] <= b and e <= w[1] or w[0] <= b < w[1]]
                    self.assertTrue(inside, (text, t))
                    wb = inside[0][0]
                    # the start is the word's start, or only punctuation lies between them
                    self.assertTrue(all(c in PUNCT for c in text[wb:b]), (text, key, t))
                    we = [w for w in word_edges if w[0] < e <= w[1]][0][1]
                    self.assertTrue(all(c in PUNCT for c in text[e:we]), (text, key, t))
                    self.assertNotIn(text[b], PUNCT)
                    self.assertNotIn(text[e - 1], PUNCT)
                    bb, be = t[key + "_byte_span"]
                    self.assertEqual(tb[bb:be].decode(), t[key])
                    checked += 1
        self.assertGreater(checked, 300)  # the property was really exercised


PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2026\u201c\u201d\u2018\u2019\u2013\u2014\u00ab\u00bb")


if __name__ == "__main__":
    unittest.main()
