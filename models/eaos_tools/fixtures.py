"""Writes models/fixtures/reference_texts.jsonl: fixed comments for the C++ integration test.

    cd models && /usr/bin/python3 -m eaos_tools.fixtures [--output fixtures/reference_texts.jsonl]

Hand-written edge cases (diacritics / none, multi-clause, negation, emoji, whitespace, unknown
characters, a text longer than max_length pieces, texts with no opinion) followed by generated
comments from a fixed seed.  The output is deterministic.
"""

import argparse
import json
import os
import unicodedata

from .generate import generate

_LONG = ("Chương trình hôm nay rất hay, MC dẫn duyên, ca sĩ hát ngọt, âm thanh sống động, "
         "hình ảnh đẹp, kịch bản hấp dẫn, thời lượng hợp lý. ") * 8 + "Nhưng quảng cáo hơi nhiều."

HAND = [
    "Chương trình rất hay!",
    "Chuong trinh rat hay!",
    "chương trình rất hay",
    "CHƯƠNG TRÌNH RẤT HAY!",
    "MC dẫn duyên quá, nhưng âm thanh hơi rè.",
    "mc dan duyen qua nhung am thanh hoi re",
    "Kịch bản không hay, khách mời chẳng hấp dẫn.",
    "Kich ban khong hay, khach moi chang hap dan.",
    "Hay quá!",
    "Hay qua!",
    "Chán thật sự 😴",
    "Tối nay mấy giờ chiếu vậy mọi người?",
    "Cho mình xin link xem lại với.",
    "Sân khấu lung linh 😍😍",
    "Thời lượng hơi dài nhưng nội dung cực kỳ thú vị",
    "Ca sĩ hát rất ngọt và ánh sáng đẹp. Còn quảng cáo quá nhiều!!!",
    "Nhạc nền bình thường, hình ảnh tạm được",
    "Người dẫn chương trình nói nhiều quá, khách mời thì dễ thương 🥰",
    "Diễn viên diễn đơ, kịch bản dễ đoán, chẳng có gì hấp dẫn.",
    "Tập này không tệ, MC dẫn khá ổn còn nhạc hơi ồn",
    "Show này chán quá =))",
    "Quay phim rung, ánh sáng tối, âm thanh nhỏ. Thất vọng!",
    "Góc quay đẹp, trang phục lòe loẹt",
    "Ban giám khảo nhiệt tình, thí sinh hát chênh phô",
    "thoi luong vua phai, ca si hat hay, mc hoi vo duyen",
    "  Show này chán quá  ",
    "MC   dẫn   hay   lắm",
    "Chương trình hay.\nMC dẫn duyên.",
    "Âm thanh\thay, hình ảnh\tđẹp",
    "Tập 12 hay quá, 10 điểm!",
    "Chương trình ko hay lắm",
    "Chương trình rất hay! 節目很好",
    "😍😍😍",
    "👍",
    unicodedata.normalize("NFD", "Chương trình rất hay!"),
    "\"Kịch bản\" hơi nhạt... (theo mình)",
    "Ê-kíp làm có tâm, nhà sản xuất tâm huyết 👏👏",
    "MC dẫn duyên và rất hài hước nhưng hơi nói nhiều",
    _LONG,
    # Unicode spaces (no-break, ideographic, thin) that span edges are trimmed of.
    "MC\u00a0dẫn rất\u3000duyên,\u00a0âm thanh hay\u2009!",
    # teen-code, comparisons, opinion-first, the aspects added with the richer generator
    "mn ơi mc dẫn hay wá mà âm thanh k rõ lắm",
    "ct hôm nay chán xỉu, ko xem nữa",
    "Mùa này hay hơn mùa trước, giải thưởng cũng hấp dẫn",
    "Âm thanh không sống động bằng tập trước",
    "Dễ thương quá, khách mời tập này",
    "Khán giả trường quay nhiệt tình 👏, giải thưởng hơi bèo",
    "MC vừa duyên vừa hài hước",
]


def build(n_generated: int = 24, seed: int = 31337):
    rows = [{"id": "hand-%02d" % i, "text": t} for i, t in enumerate(HAND)]
    for e in generate(n_generated, seed, prefix="fixture"):
        rows.append({"id": e["id"], "text": e["text"]})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--output", default=os.path.join(here, "fixtures", "reference_texts.jsonl"))
    args = ap.parse_args(argv)
    rows = build()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("wrote %d texts to %s" % (len(rows), args.output))


if __name__ == "__main__":
    main()
