"""Synthetic Vietnamese TV-show comments with EAOS (entity, aspect, opinion, sentiment) tuples.

Every comment is built from clauses.  A clause is either

* ``<entity> [modifier] [verb] <opinion> [(và|,|nhưng) <opinion>]`` - every opinion in it is
  paired with that entity (the entity always comes before its opinions), or
* ``[filler] <opinion>`` with no entity (entity "" and aspect "Chung").  Entity-less clauses only
  occur in comments with no entity at all, because the decoder pairs an opinion with the nearest
  entity before it (or, failing that, after it).

Spans are half-open ``[begin, end)`` ranges in Unicode code points: ``text[b:e]`` is the span
text.  About 25% of comments (``--no-diacritics-ratio``) have their diacritics stripped, which
keeps the length in code points, so spans stay valid.

Usage::

    python3 -m eaos_tools.generate --n 1000 --seed 7 --output data.jsonl
"""

import argparse
import json
import random
import sys
import unicodedata
from typing import Dict, List, Sequence, Tuple

POS, NEG, NEU = "tích cực", "tiêu cực", "trung tính"


def _nfc(x):
    if isinstance(x, str):
        return unicodedata.normalize("NFC", x)
    if isinstance(x, list):
        return [_nfc(v) for v in x]
    if isinstance(x, dict):
        return {k: _nfc(v) for k, v in x.items()}
    return x


# A frame = verbs that may sit between the entity and the opinion (outside the spans) plus the
# adjectives that go with them.  "neg_negatable" are negative adjectives whose negation reads as
# positive ("không tệ").  "aspect" overrides the group's aspect for that frame.
_GROUPS_RAW = {
    "show": {
        "aspect": "Kịch bản",
        "entities": ["chương trình", "show", "gameshow", "tập này", "tập hôm nay", "số này",
                     "tập tối qua", "chương trình này", "show này"],
        "frames": [
            {"verbs": ["", "", "", "xem"],
             "pos": ["hay", "hấp dẫn", "thú vị", "cuốn", "vui", "ý nghĩa", "sáng tạo", "mới lạ",
                     "gay cấn", "cảm động", "tuyệt vời", "đỉnh", "xuất sắc", "chất lượng",
                     "giải trí tốt", "đáng xem"],
             "neg": ["nhàm chán", "nhạt", "nhạt nhẽo", "chán", "dở", "tệ", "nhảm", "sến",
                     "dễ đoán", "rời rạc", "thảm họa", "phí thời gian"],
             "neg_negatable": ["tệ", "chán", "nhàm chán", "dở"]},
            {"verbs": [""], "aspect": "Thời lượng",
             "pos": ["vừa phải", "vừa đủ", "hợp lý"],
             "neg": ["dài", "dài dòng", "ngắn", "lê thê", "ngắn ngủi", "kéo dài"],
             "neg_negatable": ["dài"]},
        ],
    },
    "script": {
        "aspect": "Kịch bản",
        "entities": ["kịch bản", "nội dung", "cốt truyện", "phần thi", "trò chơi", "câu hỏi",
                     "tình huống", "phần mở đầu", "đoạn kết", "thử thách", "format"],
        "frames": [
            {"verbs": ["", "", "", "xem"],
             "pos": ["hay", "hấp dẫn", "thú vị", "logic", "chặt chẽ", "sáng tạo", "mới lạ",
                     "hài hước", "bất ngờ", "gay cấn", "cuốn", "tuyệt vời", "ý nghĩa", "thông minh"],
             "neg": ["nhàm chán", "nhạt", "dễ đoán", "rời rạc", "thiếu logic", "vô lý", "sến",
                     "cũ", "nhảm", "dở", "gượng ép", "lố", "tệ"],
             "neg_negatable": ["tệ", "nhàm chán", "dở", "vô lý"]},
        ],
    },
    "host": {
        "aspect": "Dẫn chương trình",
        "entities": ["MC", "người dẫn", "dẫn chương trình", "người dẫn chương trình", "anh MC",
                     "chị MC", "cặp MC", "host", "hai MC"],
        "frames": [
            {"verbs": ["", "", "dẫn", "dẫn", "nói chuyện", "dẫn dắt"],
             "pos": ["duyên", "có duyên", "dí dỏm", "hài hước", "chuyên nghiệp", "lanh lợi",
                     "nhanh nhẹn", "tự nhiên", "cuốn", "tốt", "mượt", "hay", "khéo", "thông minh"],
             "neg": ["vô duyên", "kém duyên", "nhạt", "lố", "cứng", "cứng nhắc", "lúng túng",
                     "nói nhiều", "dở", "tệ", "thiếu chuyên nghiệp", "giả trân"],
             "neg_negatable": ["tệ", "dở", "lố"]},
        ],
    },
    "guest_sing": {
        "aspect": "Khách mời",
        "entities": ["ca sĩ", "ca sĩ khách mời", "nữ ca sĩ", "nam ca sĩ", "thí sinh", "cô ca sĩ",
                     "khách mời"],
        "frames": [
            {"verbs": ["hát", "hát", "trình diễn", "thể hiện", ""],
             "pos": ["hay", "ngọt", "cảm xúc", "đỉnh", "xuất sắc", "nội lực", "tốt", "chắc",
                     "truyền cảm", "sung"],
             "neg": ["phô", "chênh phô", "yếu", "hụt hơi", "dở", "tệ", "lệch tông", "nhạt",
                     "thiếu cảm xúc"],
             "neg_negatable": ["tệ", "dở", "yếu"]},
        ],
    },
    "guest_act": {
        "aspect": "Khách mời",
        "entities": ["diễn viên", "khách mời", "nghệ sĩ khách mời", "dàn khách mời",
                     "ban giám khảo", "giám khảo", "đội chơi", "người chơi", "nghệ sĩ"],
        "frames": [
            {"verbs": ["", "", "diễn", "chơi", "nói chuyện"],
             "pos": ["dễ thương", "hài hước", "tự nhiên", "nhiệt tình", "tài năng", "xinh",
                     "đẹp trai", "duyên", "thân thiện", "dí dỏm", "sâu", "nhập vai", "lầy lội",
                     "đáng yêu"],
             "neg": ["đơ", "gượng", "lố", "kém duyên", "vô duyên", "nhạt", "kiêu", "giả tạo",
                     "thiếu năng lượng", "dở", "tệ", "khó chịu", "làm quá"],
             "neg_negatable": ["tệ", "dở", "lố", "khó chịu"]},
        ],
    },
    "audio": {
        "aspect": "Âm thanh",
        "entities": ["âm thanh", "nhạc", "nhạc nền", "âm nhạc", "tiếng", "mic", "loa",
                     "bài hát", "phần nhạc", "hiệu ứng âm thanh", "ban nhạc", "bản phối"],
        "frames": [
            {"verbs": ["", "", "", "nghe"],
             "pos": ["hay", "sống động", "rõ", "êm tai", "bắt tai", "chất lượng", "sôi động",
                     "chuẩn", "tốt", "ổn", "đỉnh", "cuốn"],
             "neg": ["rè", "ồn", "nhỏ", "to", "chói tai", "lệch", "bị vang", "bị rè", "dở",
                     "tệ", "lộn xộn", "bị lag", "nhức tai"],
             "neg_negatable": ["tệ", "dở", "ồn", "rè"]},
        ],
    },
    "visual": {
        "aspect": "Hình ảnh",
        "entities": ["hình ảnh", "ánh sáng", "sân khấu", "quay phim", "góc quay", "kỹ xảo",
                     "trang phục", "màu sắc", "phông nền", "dàn dựng", "hiệu ứng", "khung hình",
                     "đồ họa", "cảnh quay", "bối cảnh"],
        "frames": [
            {"verbs": ["", "", "", "nhìn", "trông"],
             "pos": ["đẹp", "sắc nét", "lung linh", "hoành tráng", "đẹp mắt", "rõ nét",
                     "chuyên nghiệp", "bắt mắt", "ấn tượng", "tinh tế", "chỉn chu", "ổn", "tốt"],
             "neg": ["mờ", "tối", "rung", "chói", "xấu", "lòe loẹt", "sơ sài", "bị nhòe",
                     "rối mắt", "tệ", "kém", "nghèo nàn", "mờ nhạt"],
             "neg_negatable": ["tệ", "xấu", "kém"]},
        ],
    },
    "duration": {
        "aspect": "Thời lượng",
        "entities": ["thời lượng", "thời gian phát sóng", "quảng cáo", "thời lượng chương trình",
                     "phần quảng cáo", "giờ phát sóng"],
        "frames": [
            {"verbs": [""],
             "pos": ["hợp lý", "vừa phải", "vừa đủ", "ổn", "phù hợp", "tốt"],
             "neg": ["dài", "ngắn", "dài dòng", "lê thê", "nhiều", "ngắn ngủi", "bất hợp lý",
                     "kéo dài", "muộn", "quá tải"],
             "neg_negatable": ["dài"]},
        ],
    },
    "general": {
        "aspect": "Chung",
        "entities": ["ê-kíp", "ekip", "nhà sản xuất", "ban tổ chức", "nhà đài", "BTC",
                     "đội ngũ sản xuất"],
        "frames": [
            {"verbs": ["", "", "làm"],
             "pos": ["tâm huyết", "chuyên nghiệp", "tốt", "chỉn chu", "có tâm", "giỏi",
                     "sáng tạo", "đỉnh"],
             "neg": ["cẩu thả", "thiếu chuyên nghiệp", "ẩu", "tệ", "kém", "hời hợt", "lười"],
             "neg_negatable": ["tệ", "kém", "ẩu"]},
        ],
    },
}

GROUPS = _nfc(_GROUPS_RAW)
GROUP_WEIGHTS = {"show": 14, "script": 12, "host": 14, "guest_sing": 8, "guest_act": 10,
                 "audio": 12, "visual": 12, "duration": 8, "general": 4}

# Opinions of entity-less clauses (aspect "Chung").
GENERIC = _nfc({
    "pos": ["hay", "tuyệt vời", "hấp dẫn", "thú vị", "vui", "đỉnh", "xuất sắc", "cuốn", "ấn tượng",
            "đáng xem", "ý nghĩa", "tuyệt"],
    "neg": ["chán", "nhạt", "dở", "tệ", "nhàm chán", "thất vọng", "nhảm", "phí thời gian",
            "kém", "xàm"],
    "neg_negatable": ["tệ", "chán", "dở"],
})
GENERIC_FILLERS = _nfc(["", "", "", "", "Mình thấy ", "Xem ", "Công nhận ", "Nói chung là ",
                        "Tổng thể thì ", "Nhìn chung ", "Đánh giá chung là ",
                        "Mình thấy cũng ", "Tối qua xem thấy "])

NEUTRAL = _nfc(["bình thường", "tạm được", "tạm ổn", "cũng được", "tàm tạm", "không có gì đặc biệt",
                "trung bình", "bình thường thôi", "không có gì nổi bật", "ở mức ổn", "tạm chấp nhận được",
                "cũng tạm"])

# Intensifiers: (prefix, suffix) around the adjective; all inside the opinion span.
INTENS_POS = _nfc([("", "")] * 6 + [("rất ", ""), ("rất ", ""), ("", " quá"), ("quá ", ""),
                                    ("cực kỳ ", ""), ("khá ", ""), ("", " lắm"), ("siêu ", ""),
                                    ("thật sự ", ""), ("vô cùng ", ""), ("", " thật"),
                                    ("cực ", ""), ("", " xỉu")])
INTENS_NEG = _nfc([("", "")] * 6 + [("rất ", ""), ("", " quá"), ("quá ", ""), ("hơi ", ""),
                                    ("hơi ", ""), ("cực kỳ ", ""), ("khá ", ""), ("", " lắm"),
                                    ("thật sự ", ""), ("", " thật"), ("quá là ", "")])
NEGATORS = _nfc([("không ", ""), ("không ", ""), ("chẳng ", ""), ("không ", " lắm"),
                 ("chẳng ", " chút nào"), ("không được ", " lắm"), ("chưa ", ""), ("ko ", ""),
                 ("không hề ", ""), ("chả ", "")])
NEGATORS_OF_NEG = _nfc([("không ", ""), ("không hề ", ""), ("chẳng ", " chút nào"),
                        ("không ", " chút nào")])

MODIFIERS = _nfc(["", "", "", "", "", "", "", "hôm nay ", "lần này ", "hôm qua ", "thì ",
                  "đúng là ", "lúc đầu "])
PREFIXES = _nfc(["", "", "", "", "", "", "", "Theo mình thấy thì ", "Công nhận ", "Thật sự là ",
                 "Nói thật ", "Tối qua xem, ", "Mình thấy ", "Cá nhân mình thấy ", "Phải nói là ",
                 "Ý kiến riêng: "])
SUFFIX_SENTENCES = _nfc(["Sẽ tiếp tục theo dõi.", "Ai đồng ý không?", "Mình xem qua youtube.",
                         "Tuần sau mình sẽ xem tiếp.", "Mình là fan lâu năm.",
                         "Cả nhà mình đều xem."])
JOINERS_CONTRAST = _nfc([" nhưng ", ", nhưng ", " nhưng mà ", " còn ", ", còn ", ". Còn ",
                         ". Nhưng "])
JOINERS_ANY = _nfc([", ", " và ", ". ", ", ", " còn ", "; ", "! ", ", cả "])
INNER_JOINERS = _nfc([" và ", ", ", " và "])
INNER_JOINERS_CONTRAST = _nfc([" nhưng ", " nhưng ", " mà ", ", nhưng "])
END_PUNCT = _nfc(["", "", "", ".", ".", "!", "!!", "...", "!!!", " :))", " =))"])
EMOJIS = _nfc(["😍", "😂", "👍", "❤️", "😡", "🙄", "😴", "🥰", "👏", "😢", "🔥", "😆", "💯"])
NO_OPINION = _nfc(["Tối nay mấy giờ chiếu vậy mọi người?", "Ai xem tối qua chưa?",
                   "Cho mình xin link xem lại với.", "Có ai biết bài hát cuối tên gì không?",
                   "Lần đầu mình xem", "Điểm danh những ai đang xem nào", "Tuần sau có chiếu không ạ?",
                   "Xem lại lần thứ 3 rồi", "Mình xem trên app", "Kênh nào chiếu vậy?",
                   "Bao giờ có tập mới vậy ad?", "Tag bạn bè vào xem cùng nè",
                   "Đang xem ở quê với cả nhà", "Đã xem", "Hóng", "Chỗ mình mất sóng rồi"])


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics code point by code point (length preserving).

    Each character is NFD-decomposed and its combining marks dropped; "đ"/"Đ" become "d"/"D".
    A character that would not map to exactly one code point is kept as is.
    """
    out = []
    for ch in text:
        if ch == "đ":
            out.append("d")
            continue
        if ch == "Đ":
            out.append("D")
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def _case_map(text: str, fn) -> str:
    # Length-preserving per-character case change.
    return "".join(fn(c) if len(fn(c)) == 1 else c for c in text)


class _Builder:
    """Appends text segments and remembers code point spans."""

    def __init__(self):
        self.parts: List[str] = []
        self.length = 0

    def add(self, s: str) -> Tuple[int, int]:
        b = self.length
        self.parts.append(s)
        self.length += len(s)
        return b, self.length

    def text(self) -> str:
        return "".join(self.parts)


def _pick_sentiment(rng: random.Random, allow_neutral: bool = True) -> str:
    r = rng.random()
    if not allow_neutral:
        return POS if r < 0.5 else NEG
    return POS if r < 0.45 else (NEG if r < 0.85 else NEU)


def _make_opinion(rng: random.Random, lex: Dict, sentiment: str) -> str:
    if sentiment == NEU:
        s = rng.choice(NEUTRAL)
        if s == "bình thường" and rng.random() < 0.3:
            s = "khá bình thường"
        return s
    if sentiment == POS:
        if lex.get("neg_negatable") and rng.random() < 0.1:
            pre, suf = rng.choice(NEGATORS_OF_NEG)
            return pre + rng.choice(lex["neg_negatable"]) + suf
        pre, suf = rng.choice(INTENS_POS)
        return pre + rng.choice(lex["pos"]) + suf
    # negative: negated positive or negative adjective
    if rng.random() < 0.3:
        pre, suf = rng.choice(NEGATORS)
        return pre + rng.choice(lex["pos"]) + suf
    pre, suf = rng.choice(INTENS_NEG)
    return pre + rng.choice(lex["neg"]) + suf


def _entity_clause(rng: random.Random, b: _Builder, group_name: str, spans: List[Dict]):
    group = GROUPS[group_name]
    frame = rng.choice(group["frames"])
    aspect = frame.get("aspect", group["aspect"])
    ent = rng.choice(group["entities"])
    ent_span = b.add(ent)
    b.add(" ")
    mod = rng.choice(MODIFIERS)
    if mod:
        b.add(mod)
    verb = rng.choice(frame["verbs"])
    if verb:
        b.add(verb + " ")
    n_ops = 1 if rng.random() < 0.75 else 2
    prev = None
    # Neutral opinions are shared by all frames; a frame that overrides its group's aspect
    # (e.g. "chương trình" + "dài" -> Thời lượng) takes none, so the aspect stays unambiguous.
    allow_neutral = "aspect" not in frame
    for k in range(n_ops):
        sent = _pick_sentiment(rng, allow_neutral)
        if k > 0:
            contrast = (sent != prev)
            b.add(rng.choice(INNER_JOINERS_CONTRAST if contrast else INNER_JOINERS))
        op = _make_opinion(rng, frame, sent)
        op_span = b.add(op)
        spans.append({"aspect": aspect, "sentiment": sent, "entity_span": list(ent_span),
                      "opinion_span": list(op_span)})
        prev = sent
    return prev


def _generic_clause(rng: random.Random, b: _Builder, spans: List[Dict], first: bool):
    filler = rng.choice(GENERIC_FILLERS)
    if filler:
        b.add(filler if first else filler[0].lower() + filler[1:])
    sent = _pick_sentiment(rng)
    op = _make_opinion(rng, GENERIC, sent)
    op_span = b.add(op)
    spans.append({"aspect": "Chung", "sentiment": sent, "entity_span": [0, 0],
                  "opinion_span": list(op_span)})


def _capitalize_sentences(text: str) -> str:
    chars = list(text)
    start = True
    for i, c in enumerate(chars):
        if start and c.isalpha():
            u = c.upper()
            if len(u) == 1:
                chars[i] = u
            start = False
        elif c in ".!?":
            start = True
        elif start and not c.isspace() and not c.isalpha():
            # digits, emoji... the next letter still starts a sentence only after punctuation
            pass
    return "".join(chars)


def generate_one(rng: random.Random, idx: str, no_diacritics_ratio: float = 0.25) -> Dict:
    b = _Builder()
    spans: List[Dict] = []
    r = rng.random()
    if r < 0.05:
        b.add(rng.choice(NO_OPINION))
        if rng.random() < 0.3:
            b.add(" " + rng.choice(EMOJIS))
    elif r < 0.17:
        n = 1 if rng.random() < 0.7 else 2
        for k in range(n):
            if k:
                b.add(rng.choice([". ", "! ", ", ", ". "]))
            _generic_clause(rng, b, spans, first=(k == 0))
    else:
        prefix = rng.choice(PREFIXES)
        if prefix:
            b.add(prefix)
        rr = rng.random()
        n = 1 if rr < 0.4 else (2 if rr < 0.82 else 3)
        names = list(GROUP_WEIGHTS)
        weights = [GROUP_WEIGHTS[g] for g in names]
        used: List[str] = []
        for k in range(n):
            g = rng.choices(names, weights)[0]
            tries = 0
            while g in used and tries < 5:
                g = rng.choices(names, weights)[0]
                tries += 1
            used.append(g)
            if k:
                j = rng.choice(JOINERS_CONTRAST + JOINERS_ANY)
                b.add(j)
            _entity_clause(rng, b, g, spans)
    # end punctuation / emoji / trailing sentence
    if spans:
        p = rng.choice(END_PUNCT)
        if p:
            b.add(p)
        if rng.random() < 0.15:
            b.add(" " + "".join(rng.choice(EMOJIS) for _ in range(rng.randint(1, 3))))
        if rng.random() < 0.06:
            if not p or p[-1] not in ".!?":
                b.add(".")
            b.add(" " + rng.choice(SUFFIX_SENTENCES))
    text = b.text()
    style = rng.random()
    if style < 0.15:
        text = _case_map(text, str.lower)
    elif style < 0.18:
        text = _case_map(text, str.upper)
    else:
        text = _capitalize_sentences(text)
    if rng.random() < no_diacritics_ratio:
        text = strip_diacritics(text)
    assert len(text) == b.length
    tuples = []
    for s in spans:
        eb, ee = s["entity_span"]
        ob, oe = s["opinion_span"]
        tuples.append({
            "entity": text[eb:ee],
            "aspect": s["aspect"],
            "opinion": text[ob:oe],
            "sentiment": s["sentiment"],
            "entity_span": [eb, ee],
            "opinion_span": [ob, oe],
        })
    return {"id": idx, "text": text, "tuples": tuples}


def concat_examples(parts: Sequence[Dict], idx: str, sep: str = " ") -> Dict:
    """Joins comments into one long comment, shifting the spans.

    Only comments whose tuples all have an entity (or that have no tuple) may be joined: an
    entity-less opinion after another comment's entity would be paired with that entity.
    """
    texts, tuples, off = [], [], 0
    for k, p in enumerate(parts):
        if any(not t["entity"] for t in p["tuples"]):
            raise ValueError("cannot join a comment with an entity-less opinion: %r" % p["text"])
        if k:
            texts.append(sep)
            off += len(sep)
        for t in p["tuples"]:
            t = dict(t)
            t["entity_span"] = [t["entity_span"][0] + off, t["entity_span"][1] + off]
            t["opinion_span"] = [t["opinion_span"][0] + off, t["opinion_span"][1] + off]
            tuples.append(t)
        texts.append(p["text"])
        off += len(p["text"])
    return {"id": idx, "text": "".join(texts), "tuples": tuples}


def generate_long(n: int, seed: int, min_parts: int = 4, max_parts: int = 14,
                  prefix: str = "long") -> List[Dict]:
    """Long comments (often past a 128-token max_length) made of joined generated comments."""
    rng = random.Random(seed)
    out = []
    pool: List[Dict] = []
    i = 0
    while len(out) < n:
        while len(pool) < max_parts:
            e = generate_one(rng, "p", 0.25)
            if all(t["entity"] for t in e["tuples"]):
                pool.append(e)
        k = rng.randint(min_parts, max_parts)
        parts, pool = pool[:k], pool[k:]
        out.append(concat_examples(parts, "%s-%d-%06d" % (prefix, seed, i)))
        i += 1
    return out


def generate(n: int, seed: int, prefix: str = "gen", no_diacritics_ratio: float = 0.25) -> List[Dict]:
    rng = random.Random(seed)
    return [generate_one(rng, "%s-%d-%06d" % (prefix, seed, i), no_diacritics_ratio)
            for i in range(n)]


def write_jsonl(path: str, rows: Sequence[Dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: str) -> List[Dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix", default="gen")
    ap.add_argument("--no-diacritics-ratio", type=float, default=0.25)
    ap.add_argument("--output", default="-")
    args = ap.parse_args(argv)
    rows = generate(args.n, args.seed, args.prefix, args.no_diacritics_ratio)
    if args.output == "-":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        write_jsonl(args.output, rows)


if __name__ == "__main__":
    main()
