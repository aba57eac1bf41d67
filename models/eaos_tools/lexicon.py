"""Word lists of the synthetic comment generator (generate.py).

Everything is NFC-normalised at import.  Lists named ``*_HELDOUT`` (and the ``"heldout"`` keys of a
group) are phrasings that only the held-out split uses: the training data never contains them, so
the evaluation can report how the model does on wordings it never saw.

A group is one kind of entity.  Each frame of a group lists verbs that may stand between the entity
and its opinion (outside every span) and the opinion words that fit them:

* ``pos`` / ``neg``: adjectives (phrases) of that sentiment,
* ``neg_negatable``: negative words whose negation reads as positive ("không tệ"),
* ``aspect``: overrides the group's aspect for that frame ("chương trình" + "dài" -> Thời lượng),
* ``weight``: how often the frame is drawn against its group's other frames (default 1).
"""

import unicodedata

POS, NEG, NEU = "tích cực", "tiêu cực", "trung tính"


def nfc(x):
    if isinstance(x, str):
        return unicodedata.normalize("NFC", x)
    if isinstance(x, (list, tuple)):
        return type(x)(nfc(v) for v in x)
    if isinstance(x, dict):
        return {k: nfc(v) for k, v in x.items()}
    return x


# Length opinions of show and script entities ("tập này dài quá", "phần mở đầu lê thê"): aspect
# Thời lượng, no neutral opinion (the aspect would be ambiguous); drawn half as often as a frame
# without a weight.
_DURATION_FRAME = {
    "verbs": [""], "aspect": "Thời lượng", "weight": 0.5,
    "pos": ["vừa phải", "vừa đủ", "hợp lý", "gọn"],
    "neg": ["dài", "dài dòng", "ngắn", "lê thê", "ngắn ngủi", "kéo dài", "dài lê thê"],
    "neg_negatable": ["dài"]}

_GROUPS = {
    "show": {
        "aspect": "Kịch bản",
        "entities": ["chương trình", "show", "gameshow", "tập này", "tập hôm nay", "số này",
                     "tập tối qua", "chương trình này", "show này", "mùa này", "tập cuối",
                     "tập mới", "bản Việt", "tập đặc biệt", "đêm chung kết", "tập 5", "tập 12",
                     "mùa giải", "show thực tế này", "gameshow này", "chương trình năm nay",
                     "tập 1", "mùa 2", "tập đầu", "tập vừa rồi", "số đặc biệt", "phần 2"],
        "heldout": ["tập mở màn", "phiên bản mới"],
        "frames": [
            {"verbs": ["", "", "", "xem", "xem thấy", "coi", "làm", "coi thấy"],
             "pos": ["hay", "hấp dẫn", "thú vị", "cuốn", "vui", "ý nghĩa", "sáng tạo", "mới lạ",
                     "gay cấn", "cảm động", "tuyệt vời", "đỉnh", "xuất sắc", "chất lượng",
                     "giải trí tốt", "đáng xem", "lôi cuốn", "bổ ích", "kịch tính", "chỉn chu",
                     "hay ho", "đáng mong chờ", "mãn nhãn", "hài", "ổn áp", "đỉnh cao", "xịn",
                     "đáng đồng tiền", "chữa lành", "nhân văn"],
             "neg": ["nhàm chán", "nhạt", "nhạt nhẽo", "chán", "dở", "tệ", "nhảm", "sến",
                     "dễ đoán", "rời rạc", "thảm họa", "phí thời gian", "vô bổ", "xàm", "lan man",
                     "nhàm", "chán ngắt", "vô vị", "nhảm nhí", "câu view", "sượng", "dở tệ",
                     "thất vọng", "xuống cấp", "đuối"],
             "neg_negatable": ["tệ", "chán", "nhàm chán", "dở"]},
            _DURATION_FRAME,
        ],
    },
    "script": {
        "aspect": "Kịch bản",
        "entities": ["kịch bản", "nội dung", "cốt truyện", "phần thi", "trò chơi", "câu hỏi",
                     "tình huống", "phần mở đầu", "đoạn kết", "thử thách", "format", "luật chơi",
                     "vòng thi", "màn đối đầu", "câu chuyện", "phần giao lưu", "tiểu phẩm",
                     "vòng loại", "các trò chơi", "cái kết", "phần chơi", "câu đố",
                     "phần hỏi đáp", "các thử thách", "phần thi cuối", "kết thúc", "plot",
                     "mạch truyện", "lời thoại"],
        "heldout": ["màn kết", "vòng chung kết"],
        "frames": [
            {"verbs": ["", "", "", "xem", "được viết", "được xây dựng", "diễn biến", "đọc"],
             "pos": ["hay", "hấp dẫn", "thú vị", "logic", "chặt chẽ", "sáng tạo", "mới lạ",
                     "hài hước", "bất ngờ", "gay cấn", "cuốn", "tuyệt vời", "ý nghĩa", "thông minh",
                     "công bằng", "kịch tính", "độc đáo", "hợp lý", "mới mẻ", "cuốn hút", "lạ",
                     "tự nhiên", "có chiều sâu", "khó đoán", "mượt"],
             "neg": ["nhàm chán", "nhạt", "dễ đoán", "rời rạc", "thiếu logic", "vô lý", "sến",
                     "cũ", "nhảm", "dở", "gượng ép", "lố", "tệ", "khó hiểu", "lộn xộn", "dàn dựng lộ",
                     "lặp lại", "phi lý", "cũ kỹ", "nhảm nhí", "sượng", "dài dòng", "ba chấm",
                     "vô duyên", "khó chơi", "thiếu công bằng"],
             "neg_negatable": ["tệ", "nhàm chán", "dở", "vô lý"]},
            _DURATION_FRAME,
        ],
    },
    "host": {
        "aspect": "Dẫn chương trình",
        "entities": ["MC", "người dẫn", "dẫn chương trình", "người dẫn chương trình", "anh MC",
                     "chị MC", "cặp MC", "host", "hai MC", "MC chính", "nam MC", "nữ MC",
                     "MC Minh Trí", "MC Thu Hà", "MC Quốc Bảo", "lời dẫn", "cách dẫn", "giọng MC",
                     "MC mới", "người dẫn mới", "MC khách mời", "bạn MC", "hai người dẫn"],
        "heldout": ["cô MC", "MC Hoàng Long"],
        "frames": [
            {"verbs": ["", "", "dẫn", "dẫn", "nói chuyện", "dẫn dắt", "pha trò", "ứng biến",
                       "giao lưu", "xử lý tình huống", "tương tác", "điều phối", "nói", "ăn nói",
                       "dẫn dắt chương trình", "giao tiếp", "bắt sóng"],
             "pos": ["duyên", "có duyên", "dí dỏm", "hài hước", "chuyên nghiệp", "lanh lợi",
                     "nhanh nhẹn", "tự nhiên", "cuốn", "tốt", "mượt", "hay", "khéo", "thông minh",
                     "tinh tế", "lầy", "thu hút", "ăn ý", "khéo léo", "linh hoạt", "lịch sự",
                     "năng động", "duyên dáng", "mặn", "chắc tay"],
             "neg": ["vô duyên", "kém duyên", "nhạt", "lố", "cứng", "cứng nhắc", "lúng túng",
                     "nói nhiều", "dở", "tệ", "thiếu chuyên nghiệp", "giả trân", "nói vấp",
                     "lạc đề", "nhây", "nói lắp", "vụng về", "lố lăng", "nói dài", "ồn ào",
                     "thiếu tự nhiên", "sượng", "hời hợt"],
             "neg_negatable": ["tệ", "dở", "lố"]},
        ],
    },
    "guest_sing": {
        "aspect": "Khách mời",
        "entities": ["ca sĩ", "ca sĩ khách mời", "nữ ca sĩ", "nam ca sĩ", "thí sinh", "cô ca sĩ",
                     "khách mời", "giọng ca", "rapper", "nhóm nhạc", "ca sĩ Lan Anh",
                     "ca sĩ Đức Huy", "thí sinh số 3", "giọng ca nhí", "ca sĩ hát mở màn",
                     "ca sĩ mới", "các thí sinh", "thí sinh nhí", "nhóm nữ", "giọng nữ chính"],
        "heldout": ["thí sinh cuối", "ca sĩ Bảo Ngọc"],
        "frames": [
            {"verbs": ["hát", "hát", "trình diễn", "thể hiện", "", "biểu diễn", "hát live",
                       "cover", "lên nốt cao", "trình bày", "xử lý bài hát", "nhảy", "rap"],
             "pos": ["hay", "ngọt", "cảm xúc", "đỉnh", "xuất sắc", "nội lực", "tốt", "chắc",
                     "truyền cảm", "sung", "mượt", "bùng nổ", "lay động", "nhẹ nhàng", "sâu lắng",
                     "ấn tượng", "máu lửa", "vững", "chuẩn", "ổn định", "sáng giọng", "tình cảm"],
             "neg": ["phô", "chênh phô", "yếu", "hụt hơi", "dở", "tệ", "lệch tông", "nhạt",
                     "thiếu cảm xúc", "gào thét", "non", "sai lời", "lạc giọng", "vỡ giọng",
                     "run", "đuối", "chói", "sai nhịp", "hát nhép", "gượng"],
             "neg_negatable": ["tệ", "dở", "yếu"]},
        ],
    },
    "guest_act": {
        "aspect": "Khách mời",
        "entities": ["diễn viên", "khách mời", "nghệ sĩ khách mời", "dàn khách mời",
                     "ban giám khảo", "giám khảo", "đội chơi", "người chơi", "nghệ sĩ", "đội xanh",
                     "đội đỏ", "danh hài", "cặp đôi", "khách mời nhí", "diễn viên Quốc Bảo",
                     "người chơi thứ hai", "huấn luyện viên", "dàn cast", "diễn viên khách mời",
                     "cặp đôi chính", "khách mời tuần này", "hội đồng giám khảo", "dàn giám khảo"],
        "heldout": ["đội vàng", "nghệ sĩ Hoài Linh"],
        "frames": [
            {"verbs": ["", "", "diễn", "chơi", "nói chuyện", "trả lời", "nhận xét", "thi đấu",
                       "chấm điểm", "chấm", "diễn xuất", "phản ứng", "góp ý", "tham gia"],
             "pos": ["dễ thương", "hài hước", "tự nhiên", "nhiệt tình", "tài năng", "xinh",
                     "đẹp trai", "duyên", "thân thiện", "dí dỏm", "sâu", "nhập vai", "lầy lội",
                     "đáng yêu", "công tâm", "tinh ý", "máu lửa", "tự tin", "chân thành",
                     "vui tính", "nhiệt huyết", "khéo", "hợp lý", "chuẩn", "có tâm"],
             "neg": ["đơ", "gượng", "lố", "kém duyên", "vô duyên", "nhạt", "kiêu", "giả tạo",
                     "thiếu năng lượng", "dở", "tệ", "khó chịu", "làm quá", "thiên vị", "ồn ào",
                     "thiếu tôn trọng", "khó tính", "gắt", "khắt khe", "phũ", "kiêu ngạo",
                     "thiếu tập trung", "vô tâm", "nói nhiều"],
             "neg_negatable": ["tệ", "dở", "lố", "khó chịu"]},
        ],
    },
    "audio": {
        "aspect": "Âm thanh",
        "entities": ["âm thanh", "nhạc", "nhạc nền", "âm nhạc", "tiếng", "mic", "loa",
                     "bài hát", "phần nhạc", "hiệu ứng âm thanh", "ban nhạc", "bản phối",
                     "âm lượng", "nhạc hiệu", "phần hòa âm", "tiếng trống", "âm thanh trường quay",
                     "tiếng mic", "âm bass", "phần âm thanh", "nhạc phim", "ca khúc chủ đề"],
        "heldout": ["nhạc cắt cảnh", "tiếng vỗ tay"],
        "frames": [
            {"verbs": ["", "", "", "nghe", "nghe thấy", "phát", "thu", "vang lên"],
             "pos": ["hay", "sống động", "rõ", "êm tai", "bắt tai", "chất lượng", "sôi động",
                     "chuẩn", "tốt", "ổn", "đỉnh", "cuốn", "trong trẻo", "hoành tráng", "sâu lắng",
                     "dễ chịu", "rõ ràng", "sạch", "chill", "êm", "ấm", "da diết", "mạnh mẽ"],
             "neg": ["rè", "ồn", "nhỏ", "to", "chói tai", "lệch", "vang", "dở", "nhiễu",
                     "tệ", "lộn xộn", "lag", "nhức tai", "vọng", "lúc to lúc nhỏ", "rú", "méo",
                     "ù", "rè rè", "nhỏ xíu", "khó nghe", "lệch tiếng", "tạp âm"],
             "neg_negatable": ["tệ", "dở", "ồn", "rè"]},
        ],
    },
    "visual": {
        "aspect": "Hình ảnh",
        "entities": ["hình ảnh", "ánh sáng", "sân khấu", "quay phim", "góc quay", "kỹ xảo",
                     "trang phục", "màu sắc", "phông nền", "dàn dựng", "hiệu ứng", "khung hình",
                     "đồ họa", "cảnh quay", "bối cảnh", "máy quay", "màn hình LED", "ánh đèn",
                     "phục trang", "trang điểm", "chất lượng hình ảnh", "phụ đề", "màu phim",
                     "chất lượng video", "thiết kế sân khấu", "ánh sáng sân khấu", "hình",
                     "cảnh", "visual", "outfit"],
        "heldout": ["góc máy", "hậu kỳ"],
        "frames": [
            {"verbs": ["", "", "", "nhìn", "trông", "được thiết kế", "được dàn dựng", "lên hình",
                       "quay"],
             "pos": ["đẹp", "sắc nét", "lung linh", "hoành tráng", "đẹp mắt", "rõ nét",
                     "chuyên nghiệp", "bắt mắt", "ấn tượng", "tinh tế", "chỉn chu", "ổn", "tốt",
                     "sang trọng", "lộng lẫy", "mãn nhãn", "tươi sáng", "rực rỡ", "hài hòa",
                     "nét", "công phu", "xịn", "thẩm mỹ", "sáng sủa"],
             "neg": ["mờ", "tối", "rung", "chói", "xấu", "lòe loẹt", "sơ sài", "nhòe",
                     "rối mắt", "tệ", "kém", "nghèo nàn", "mờ nhạt", "giật", "quê mùa", "rẻ tiền",
                     "giả", "tối om", "chói mắt", "thô", "lỗi", "nhòa", "lag", "sến"],
             "neg_negatable": ["tệ", "xấu", "kém"]},
        ],
    },
    "duration": {
        "aspect": "Thời lượng",
        "entities": ["thời lượng", "thời gian phát sóng", "quảng cáo", "thời lượng chương trình",
                     "phần quảng cáo", "giờ phát sóng", "mỗi tập", "thời gian mỗi tập",
                     "khung giờ phát sóng", "giờ chiếu", "lịch phát sóng", "số tập",
                     "phần giới thiệu", "đoạn quảng cáo", "thời gian quảng cáo"],
        "heldout": ["thời lượng mỗi tập", "thời gian chờ"],
        "frames": [
            {"verbs": ["", "", "", "chen vào", "chèn vào", "chiếu", "phát", "chen"],
             "pos": ["hợp lý", "vừa phải", "vừa đủ", "ổn", "phù hợp", "tốt", "gọn gàng",
                     "đúng giờ", "vừa vặn", "gọn", "ít", "ngắn gọn"],
             "neg": ["dài", "ngắn", "dài dòng", "lê thê", "nhiều", "ngắn ngủi", "bất hợp lý",
                     "kéo dài", "muộn", "quá tải", "dày đặc", "thất thường", "chen ngang liên tục",
                     "trễ", "lố", "dày", "liên tục"],
             "neg_negatable": ["dài"]},
        ],
    },
    "general": {
        "aspect": "Chung",
        "entities": ["ê-kíp", "ekip", "nhà sản xuất", "ban tổ chức", "nhà đài", "BTC",
                     "đội ngũ sản xuất", "đơn vị sản xuất", "team sản xuất", "kênh",
                     "đạo diễn", "biên kịch", "nhà đài VTV", "bên sản xuất", "ê kíp"],
        "heldout": ["êkip", "nhà sản xuất chương trình"],
        "frames": [
            {"verbs": ["", "", "làm", "đầu tư", "làm việc", "tổ chức", "làm ăn", "chuẩn bị",
                       "sắp xếp", "xử lý"],
             "pos": ["tâm huyết", "chuyên nghiệp", "tốt", "chỉn chu", "có tâm", "giỏi",
                     "sáng tạo", "đỉnh", "chu đáo", "mạnh tay", "tận tâm", "kỹ", "kỹ lưỡng",
                     "bài bản", "nhanh", "tử tế"],
             "neg": ["cẩu thả", "thiếu chuyên nghiệp", "ẩu", "tệ", "kém", "hời hợt", "lười",
                     "qua loa", "thiếu đầu tư", "vô trách nhiệm", "chậm", "tùy tiện", "lộn xộn"],
             "neg_negatable": ["tệ", "kém", "ẩu"]},
        ],
    },
    "prize": {
        "aspect": "Giải thưởng",
        "entities": ["giải thưởng", "phần thưởng", "tiền thưởng", "giải nhất", "giải đặc biệt",
                     "quà tặng", "cơ cấu giải thưởng", "giá trị giải thưởng"],
        "heldout": ["giải phụ", "phần quà"],
        "frames": [
            {"verbs": ["", "", "", "nhìn"],
             "pos": ["hấp dẫn", "giá trị", "lớn", "khủng", "xứng đáng", "hậu hĩnh", "ý nghĩa",
                     "hợp lý", "to", "đáng giá", "hời", "công bằng", "ổn"],
             "neg": ["ít", "ít ỏi", "bèo", "nhỏ", "keo kiệt", "thấp", "mập mờ", "bèo bọt",
                     "không minh bạch", "chán", "keo", "thiếu công bằng", "vô lý"],
             "neg_negatable": ["ít", "thấp"]},
        ],
    },
    "audience": {
        "aspect": "Khán giả",
        "entities": ["khán giả", "khán giả trường quay", "fan", "người xem", "cổ động viên",
                     "khán giả nhí", "khán giả tại trường quay", "fan cứng"],
        "heldout": ["khán giả hàng đầu", "hội fan"],
        "frames": [
            {"verbs": ["", "", "cổ vũ", "hò hét", "vỗ tay", "ủng hộ", "tương tác"],
             "pos": ["nhiệt tình", "cuồng nhiệt", "dễ thương", "văn minh", "sôi nổi", "đông vui",
                     "lịch sự", "đáng yêu", "đông", "sôi động", "dễ mến", "có tâm"],
             "neg": ["ồn ào", "vô ý thức", "thô lỗ", "thưa thớt", "quá khích", "toxic",
                     "lố", "mất lịch sự", "ồn", "mất trật tự", "khó chịu", "vắng", "vô duyên"],
             "neg_negatable": ["ồn ào", "lố"]},
        ],
    },
}

GROUPS = nfc(_GROUPS)
GROUP_WEIGHTS = {"show": 14, "script": 12, "host": 14, "guest_sing": 8, "guest_act": 10,
                 "audio": 12, "visual": 12, "duration": 7, "general": 4, "prize": 5, "audience": 4}

# Opinions of entity-less clauses (aspect "Chung").
GENERIC = nfc({
    "pos": ["hay", "tuyệt vời", "hấp dẫn", "thú vị", "vui", "đỉnh", "xuất sắc", "cuốn", "ấn tượng",
            "đáng xem", "ý nghĩa", "tuyệt", "đỉnh của chóp", "hết nước chấm", "quá đã", "ưng",
            "chất"],
    "neg": ["chán", "nhạt", "dở", "tệ", "nhàm chán", "thất vọng", "nhảm", "phí thời gian",
            "kém", "xàm", "tụt mood", "chán ngắt"],
    "neg_negatable": ["tệ", "chán", "dở"],
})
GENERIC_FILLERS = nfc(["", "", "", "", "Mình thấy ", "Xem ", "Công nhận ", "Nói chung là ",
                       "Tổng thể thì ", "Nhìn chung ", "Đánh giá chung là ", "Mình thấy cũng ",
                       "Tối qua xem thấy ", "Cảm nhận là ", "Xem xong thấy "])
GENERIC_FILLERS_HELDOUT = nfc(["Nói thật lòng là ", "Xem hết rồi, "])

# ("thôi", "cũng" around them are particles outside the span: "bình thường thôi", "cũng tạm ổn")
NEUTRAL = nfc(["bình thường", "tạm được", "tạm ổn", "cũng được", "tàm tạm", "không có gì đặc biệt",
               "trung bình", "không có gì nổi bật", "ở mức ổn", "tạm chấp nhận được",
               "không hay không dở", "vừa vừa", "tạm tạm", "được", "bình bình", "ở mức trung bình",
               "không có gì để nói", "chấp nhận được", "thường thường", "không khen không chê"])

# Evaluative words that fit every group: drawn for some clauses of any entity, so that a clause's
# aspect must come from its entity and not from the opinion word ("khách mời chẳng hấp dẫn").
SHARED = nfc({
    "pos": ["hay", "hấp dẫn", "tốt", "ổn", "ok", "đỉnh", "tuyệt vời", "xuất sắc", "ấn tượng",
            "chất lượng", "xịn", "tuyệt", "ưng", "ưng ý",
            "oke", "chất"],
    "neg": ["tệ", "dở", "chán", "nhạt", "kém", "thất vọng", "dở tệ", "tệ hại", "có vấn đề",
            "chưa tới", "phèn", "đáng thất vọng"],
})
SHARED_RATIO = 0.2

# Intensifiers: (prefix, suffix) around the adjective; all inside the opinion span.
INTENS_POS = nfc([("", "")] * 8 + [
    ("rất ", ""), ("rất ", ""), ("", " quá"), ("quá ", ""), ("cực kỳ ", ""), ("khá ", ""),
    ("", " lắm"), ("siêu ", ""), ("thật sự ", ""), ("vô cùng ", ""), ("", " thật"), ("cực ", ""),
    ("", " xỉu"), ("", " ghê"), ("", " quá trời"), ("", " dữ"), ("thực sự ", ""),
    ("cực kì ", ""), ("ngày càng ", ""), ("quá ", " luôn"), ("", " vãi"), ("", " thật sự"),
    ("khá là ", ""), ("", " cực"), ("", " thiệt"), ("", " hết chỗ chê"), ("", " quá xá"),
    ("", " hết sảy"), ("rất là ", ""), ("", " kinh"), ("siêu cấp ", ""), ("", " lắm luôn"),
    ("", " ghê gớm"), ("quá trời ", "")])
INTENS_NEG = nfc([("", "")] * 8 + [
    ("rất ", ""), ("", " quá"), ("quá ", ""), ("hơi ", ""), ("hơi ", ""), ("cực kỳ ", ""),
    ("khá ", ""), ("", " lắm"), ("thật sự ", ""), ("", " thật"), ("quá là ", ""),
    ("", " kinh khủng"), ("", " ghê"), ("ngày càng ", ""), ("", " vãi"), ("hơi bị ", ""),
    ("", " quá mức"), ("khá là ", ""), ("", " thiệt"), ("rất là ", ""), ("", " quá xá"),
    ("", " thật sự"), ("", " vô cùng"), ("", " kinh"), ("quá trời ", ""),
    ("", " cực"), ("hơi hơi ", ""), ("", " không chịu được"), ("", " không chịu nổi"),
    ("", " hết chịu nổi")])
INTENS_HELDOUT = nfc([("", " dã man"), ("hết sức ", ""), ("", " hết nấc")])

NEGATORS = nfc([("không ", ""), ("không ", ""), ("chẳng ", ""), ("không ", " lắm"),
                ("chẳng ", " chút nào"), ("không được ", " lắm"), ("chưa ", ""), ("ko ", ""),
                ("không hề ", ""), ("chả ", ""), ("không thực sự ", ""), ("chưa đủ ", ""),
                ("không ", " gì cả"), ("chẳng ", " gì")])
NEGATORS_OF_NEG = nfc([("không ", ""), ("không ", ""), ("không hề ", ""), ("chẳng ", " chút nào"),
                       ("không ", " chút nào"), ("không ", " tí nào"), ("chẳng ", ""),
                       ("không còn ", ""), ("chưa bao giờ ", ""), ("ko ", ""), ("chả ", "")])
# First words of negative opinions whose negation does not read as positive ("không thiếu
# logic"); longer phrases are not negated either.
NOT_NEGATABLE_HEADS = nfc({"thiếu", "không", "bất", "lúc", "phí", "dàn", "hát", "sai", "ba",
                           "chưa", "có"})
NEGATORS_HELDOUT = nfc([("đâu có ", ""), ("chẳng hề ", "")])

# Comparisons: the comparative phrase is the opinion span, the reference after it is not.
COMPARE_REFS = nfc(["tập trước", "mùa trước", "năm ngoái", "mùa 1", "các tập trước", "bản gốc",
                    "mấy show khác", "hồi trước", "lần trước", "mùa đầu", "mấy tập trước",
                    "bên kia"])
COMPARE_REFS_HELDOUT = nfc(["phiên bản cũ", "hồi mới lên sóng"])

# Held-out templates' extra words: "Sao <entity> <opinion> vậy?", "<entity> <opinion> nên <...>".
QUESTION_ENDS_HELDOUT = nfc([" vậy", " thế", " vậy trời", " thế nhỉ"])
CONSEQUENCES_HELDOUT = nfc(["mình chuyển kênh luôn", "mình xem tới cuối", "cả nhà đều xem",
                            "mình tắt tivi", "mình sẽ xem lại"])

MODIFIERS = nfc(["", "", "", "", "", "", "", "", "hôm nay ", "lần này ", "hôm qua ", "thì ",
                 "đúng là ", "lúc đầu ", "năm nay ", "cũng ", "vẫn ", "dạo này ", "bữa nay ",
                 "tập này ", "lại ", "mùa này ", "tuần này ", "giờ ", "bây giờ ", "thì lại ",
                 "thì cũng ", "hôm nay thì ", "công nhận ", "thấy ", "thì thấy ", "mới đầu ",
                 "vẫn cứ ", "tối qua ", "hồi đầu ", "thì vẫn ",
                 "nói chung ", "thì đúng là "])
# Verbs outside the span that take one sentiment: "bị" before a negative word ("âm thanh bị rè"),
# "được cái" before a positive one ("MC được cái dễ thương").
# Topic frames around an entity, outside the spans: "Về MC thì ...", "chỉ có sân khấu là đẹp".
TOPICS = nfc([("Về ", "thì "), ("Riêng ", "thì "), ("Chỉ có ", "là ")])
NEG_VERBS = nfc(["bị", "bị", "nghe bị", "bị cái"])
POS_VERBS = nfc(["được cái", "được cái là"])
VERB_RATIO = 0.1
# After the opinion, outside the span: particles ("hay thiệt sự luôn á", "bình thường thôi") and
# tails ("không hay như mình nghĩ").
POST_PARTICLES = nfc(["thôi", "á", "à", "ạ", "nha", "nè", "ha", "luôn á", "nữa", "thôi à",
                      "ấy", "đấy", "hà", "nhen", "cơ"])
POST_PARTICLE_RATIO = 0.1
NEGATED_TAILS = nfc(["như mình nghĩ", "như mọi người nói", "như lời đồn", "như kỳ vọng",
                     "như quảng cáo", "như mùa trước", "như mọi khi"])
# Remarks after a clause that carry no tuple ("Quảng cáo nhiều quá, xem mệt").
REMARKS = nfc(["xem mệt", "nên cắt bớt", "khóc luôn", "xem mà buồn ngủ", "mong tập sau",
               "nhìn chóng mặt", "cười đau bụng", "chắc mình bỏ", "thôi khỏi xem", "đề nghị sửa lại",
               "mình xem hoài", "ai cũng khen", "cả nhà mình cười", "xem mà bực", "tua luôn",
               "nghe mà nổi da gà", "mong mùa sau", "không biết nói sao", "xem không nổi",
               "chắc rating cao", "mình cho 8 điểm", "nổi hết da gà", "mình share rồi"])
REMARK_RATIO = 0.08
PREFIXES = nfc(["", "", "", "", "", "", "", "", "Theo mình thấy thì ", "Công nhận ",
                "Thật sự là ", "Nói thật ", "Tối qua xem, ", "Mình thấy ", "Cá nhân mình thấy ",
                "Phải nói là ", "Ý kiến riêng: ", "Trời ơi, ", "Xem mà thấy ", "Góp ý chút: ",
                "Thật sự mà nói thì ", "Tối qua cả nhà cùng xem, ", "Mình theo dõi từ mùa đầu, ",
                "Là fan lâu năm, ", "Xem mấy mùa rồi, ", "Hôm qua mới xem, ", "Nói chung là ",
                "Xem xong tập này, ", "Cảm nhận của mình: ", "Review nhanh: ", "Ủa, ",
                "Mình mong chờ lắm mà ", "Công bằng mà nói thì ", "Thú thật là "])
PREFIXES_HELDOUT = nfc(["Xem xong mới thấy ", "Nói gì thì nói chứ "])
SUFFIX_SENTENCES = nfc(["Sẽ tiếp tục theo dõi.", "Ai đồng ý không?", "Mình xem qua youtube.",
                        "Tuần sau mình sẽ xem tiếp.", "Mình là fan lâu năm.",
                        "Cả nhà mình đều xem.", "Hóng tập sau.", "Like cho ekip."])
JOINERS_CONTRAST = nfc([" nhưng ", ", nhưng ", " nhưng mà ", " còn ", ", còn ", ". Còn ",
                        ". Nhưng ", ", tuy nhiên ", " mà ", ", có điều "])
JOINERS_ANY = nfc([", ", " và ", ". ", ", ", " còn ", "; ", "! ", ", cả ", ", thêm nữa ",
                   " với lại ", "\n"])
JOINERS_HELDOUT = nfc([", trong khi ", ". Ngoài ra "])
INNER_JOINERS = nfc([" và ", ", ", " và ", " lại còn ", ", lại "])
INNER_JOINERS_CONTRAST = nfc([" nhưng ", " nhưng ", " mà ", ", nhưng ", " song "])
# negative then positive: "nói nhiều quá, nhưng được cái duyên"
INNER_JOINERS_BUT_GOOD = nfc([", nhưng được cái ", " nhưng được cái ", ", được cái ",
                              " nhưng bù lại ", ", bù lại "])
OPINION_FIRST_SEPS = nfc([", ", " - ", "... ", "! "])
END_PUNCT = nfc(["", "", "", ".", ".", "!", "!!", "...", "!!!", " :))", " =))", " :(", "?!"])
EMOJIS = nfc(["😍", "😂", "👍", "❤️", "😡", "🙄", "😴", "🥰", "👏", "😢", "🔥", "😆", "💯",
              "🤣", "😭", "👎", "🤔", "😤", "🙏", "✨"])
NO_OPINION = nfc(["Tối nay mấy giờ chiếu vậy mọi người?", "Ai xem tối qua chưa?",
                  "Cho mình xin link xem lại với.", "Có ai biết bài hát cuối tên gì không?",
                  "Lần đầu mình xem", "Điểm danh những ai đang xem nào", "Tuần sau có chiếu không ạ?",
                  "Xem lại lần thứ 3 rồi", "Mình xem trên app", "Kênh nào chiếu vậy?",
                  "Bao giờ có tập mới vậy ad?", "Tag bạn bè vào xem cùng nè",
                  "Đang xem ở quê với cả nhà", "Đã xem", "Hóng", "Chỗ mình mất sóng rồi",
                  "Ai cho mình hỏi tên ca sĩ hát đầu với", "Tập sau có ai vậy mọi người?",
                  "Mình đến từ Cần Thơ", "Ủa sao tuần này không chiếu?", "Có ai giống mình không",
                  "Xem đi xem lại mấy lần", "Chương trình chiếu lúc mấy giờ vậy?",
                  "Mai có tập mới không mọi người"])

# Teen-code / chat spellings: word or phrase -> replacements.  Applied word by word (longest
# phrase first) to some comments; spans are computed after the replacement.
TEENCODE = nfc({
    "không": ["ko", "k", "hông", "khum", "hok", "kh", "kg"],
    "được": ["dc", "đc", "đk"],
    "quá": ["qá", "wá", "quá trời"],
    "vậy": ["z", "zậy", "dzậy", "v"],
    "gì": ["j", "gì"],
    "người": ["ng", "ngừi"],
    "rồi": ["r", "rùi"],
    "cũng": ["cx", "cũg"],
    "với": ["vs", "zới"],
    "bình thường": ["bt", "bth", "bìn thường"],
    "mình": ["mk", "mìn"],
    "thích": ["thik", "thix"],
    "nhiều": ["nhìu"],
    "vui": ["zui"],
    "thật": ["thiệt"],
    "dễ thương": ["dễ thw", "dthw", "cute", "dth"],
    "mọi người": ["mn", "mng"],
    "chương trình": ["ct", "chương chình"],
    "xinh": ["xink"],
    "buồn": ["bùn"],
    "thôi": ["thui"],
    "luôn": ["lun"],
    "rất": ["rấc", "rứt"],
    "chán": ["chán", "chánnn"],
    "hay": ["hay", "hayyy", "hayy"],
    "đẹp": ["đẹp", "đẹpp"],
    "vô duyên": ["vô dziên"],
    "anh": ["a"],
    "chị": ["c"],
    "thấy": ["thấy", "thấyy"],
    "biết": ["bít"],
    "nhưng": ["nhưg", "nhug"],
    "và": ["vs", "và"],
    "duyên": ["duyên", "dzuyên"],
    "kịch bản": ["kb", "kịch bản"],
    "quảng cáo": ["qc"],
    "chương trình này": ["ct nì", "ctr này", "chương trình nì"],
    "này": ["ni", "nì", "nầy"],
    "vãi": ["vl", "vcl", "vãi"],
    "thật sự": ["thiệt sự", "thực sự", "thật sự"],
    "giám khảo": ["gk", "giám khảo"],
    "ban giám khảo": ["bgk"],
    "không chịu được": ["ko chịu đc", "k chịu nổi"],
    "ok": ["oke", "okela", "ôkê"],
    "khách mời": ["khách mời", "kmời"],
    "ca sĩ": ["ca sĩ", "cs"],
    "hát": ["hát", "hat"],
    "à": ["à", "àaa"],
    "đỉnh": ["đỉnh", "đỉnhhh", "đỉnh kout"],
})

# Noise outside every span (discourse particles and filler phrases), and the syllables of random
# person names ("MC Tường Vy"), so that the model does not rely on a closed list of words.
# (none that reads as an opinion word once its diacritics are stripped: "kiểu"/"kiêu", "đó"/"dở")
NOISE = nfc(["ơi", "nha", "nhé", "haha", "hihi", "kkk", "nè", "nói chung", "ấy", "đấy", "nữa",
             "hả", "ha", "hehe", "ủa", "chời ơi", "ê", "mọi người", "các bạn", "ad ơi",
             "hôm bữa", "lúc nãy", "chắc là", "hình như", "có lẽ", "theo tôi", "đối với mình",
             "riêng mình", "coi xong", "nghe nói", "lần đầu", "từ đầu đến cuối", "cả nhà", "công bằng mà nói",
             "nói trắng ra", "xin lỗi", "thú thật", "tóm lại", "dù sao", "tất nhiên"])
SYLLABLE_ONSETS = ["b", "c", "ch", "d", "đ", "g", "h", "k", "kh", "l", "m", "n", "ng", "nh", "ph",
                   "qu", "r", "s", "t", "th", "tr", "v", "x", ""]
SYLLABLE_VOWELS = nfc(["a", "á", "à", "ả", "ã", "ạ", "ă", "ắ", "â", "ấ", "ầ", "e", "é", "ê", "ế",
                       "ề", "i", "í", "o", "ó", "ò", "ô", "ố", "ồ", "ơ", "ớ", "ờ", "u", "ú", "ư",
                       "ứ", "ừ", "ươ", "ướ", "iê", "iế", "uô", "uố", "oa", "oá"])
SYLLABLE_CODAS = ["", "", "n", "ng", "m", "c", "t", "p", "nh", "ch", "i", "o", "u", "y"]
# Roles that take a person's name (random syllables) as an entity: "MC Tường Vy", "ca sĩ Bảo Lâm".
NAMED_ROLES = nfc({"host": ["MC", "người dẫn", "host"],
                   "guest_sing": ["ca sĩ", "thí sinh", "rapper", "giọng ca"],
                   "guest_act": ["diễn viên", "nghệ sĩ", "danh hài", "người chơi", "giám khảo"]})
