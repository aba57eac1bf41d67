"""Word lists of the synthetic comment generator (generate.py).

Everything is NFC-normalised at import.  Lists named ``*_HELDOUT`` (and the ``"heldout"`` keys of a
group) are phrasings that only the held-out split uses: the training data never contains them, so
the evaluation can report how the model does on wordings it never saw.

A group is one kind of entity.  Each frame of a group lists verbs that may stand between the entity
and its opinion (outside every span) and the opinion words that fit them:

* ``pos`` / ``neg``: adjectives (phrases) of that sentiment,
* ``neg_negatable``: negative words whose negation reads as positive ("không tệ"),
* ``aspect``: overrides the group's aspect for that frame ("chương trình" + "dài" -> Thời lượng).
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


_GROUPS = {
    "show": {
        "aspect": "Kịch bản",
        "entities": ["chương trình", "show", "gameshow", "tập này", "tập hôm nay", "số này",
                     "tập tối qua", "chương trình này", "show này", "mùa này", "tập cuối",
                     "tập mới", "bản Việt", "tập đặc biệt", "đêm chung kết", "tập 5", "tập 12",
                     "mùa giải", "show thực tế này"],
        "heldout": ["tập mở màn", "phiên bản mới"],
        "frames": [
            {"verbs": ["", "", "", "xem", "xem thấy"],
             "pos": ["hay", "hấp dẫn", "thú vị", "cuốn", "vui", "ý nghĩa", "sáng tạo", "mới lạ",
                     "gay cấn", "cảm động", "tuyệt vời", "đỉnh", "xuất sắc", "chất lượng",
                     "giải trí tốt", "đáng xem", "lôi cuốn", "bổ ích", "kịch tính", "chỉn chu"],
             "neg": ["nhàm chán", "nhạt", "nhạt nhẽo", "chán", "dở", "tệ", "nhảm", "sến",
                     "dễ đoán", "rời rạc", "thảm họa", "phí thời gian", "vô bổ", "xàm", "lan man"],
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
                     "tình huống", "phần mở đầu", "đoạn kết", "thử thách", "format", "luật chơi",
                     "vòng thi", "màn đối đầu", "câu chuyện", "phần giao lưu", "tiểu phẩm",
                     "vòng loại", "các trò chơi"],
        "heldout": ["màn kết", "vòng chung kết"],
        "frames": [
            {"verbs": ["", "", "", "xem"],
             "pos": ["hay", "hấp dẫn", "thú vị", "logic", "chặt chẽ", "sáng tạo", "mới lạ",
                     "hài hước", "bất ngờ", "gay cấn", "cuốn", "tuyệt vời", "ý nghĩa", "thông minh",
                     "công bằng", "kịch tính", "độc đáo"],
             "neg": ["nhàm chán", "nhạt", "dễ đoán", "rời rạc", "thiếu logic", "vô lý", "sến",
                     "cũ", "nhảm", "dở", "gượng ép", "lố", "tệ", "khó hiểu", "lộn xộn", "dàn dựng lộ"],
             "neg_negatable": ["tệ", "nhàm chán", "dở", "vô lý"]},
        ],
    },
    "host": {
        "aspect": "Dẫn chương trình",
        "entities": ["MC", "người dẫn", "dẫn chương trình", "người dẫn chương trình", "anh MC",
                     "chị MC", "cặp MC", "host", "hai MC", "MC chính", "nam MC", "nữ MC",
                     "MC Minh Trí", "MC Thu Hà", "MC Quốc Bảo", "lời dẫn", "cách dẫn", "giọng MC"],
        "heldout": ["cô MC", "MC Hoàng Long"],
        "frames": [
            {"verbs": ["", "", "dẫn", "dẫn", "nói chuyện", "dẫn dắt", "pha trò", "ứng biến",
                       "giao lưu"],
             "pos": ["duyên", "có duyên", "dí dỏm", "hài hước", "chuyên nghiệp", "lanh lợi",
                     "nhanh nhẹn", "tự nhiên", "cuốn", "tốt", "mượt", "hay", "khéo", "thông minh",
                     "tinh tế", "lầy", "thu hút"],
             "neg": ["vô duyên", "kém duyên", "nhạt", "lố", "cứng", "cứng nhắc", "lúng túng",
                     "nói nhiều", "dở", "tệ", "thiếu chuyên nghiệp", "giả trân", "nói vấp",
                     "lạc đề", "nhây"],
             "neg_negatable": ["tệ", "dở", "lố"]},
        ],
    },
    "guest_sing": {
        "aspect": "Khách mời",
        "entities": ["ca sĩ", "ca sĩ khách mời", "nữ ca sĩ", "nam ca sĩ", "thí sinh", "cô ca sĩ",
                     "khách mời", "giọng ca", "rapper", "nhóm nhạc", "ca sĩ Lan Anh",
                     "ca sĩ Đức Huy", "thí sinh số 3", "giọng ca nhí", "ca sĩ hát mở màn"],
        "heldout": ["thí sinh cuối", "ca sĩ Bảo Ngọc"],
        "frames": [
            {"verbs": ["hát", "hát", "trình diễn", "thể hiện", "", "biểu diễn", "hát live",
                       "cover"],
             "pos": ["hay", "ngọt", "cảm xúc", "đỉnh", "xuất sắc", "nội lực", "tốt", "chắc",
                     "truyền cảm", "sung", "mượt", "bùng nổ", "lay động"],
             "neg": ["phô", "chênh phô", "yếu", "hụt hơi", "dở", "tệ", "lệch tông", "nhạt",
                     "thiếu cảm xúc", "gào thét", "non", "sai lời"],
             "neg_negatable": ["tệ", "dở", "yếu"]},
        ],
    },
    "guest_act": {
        "aspect": "Khách mời",
        "entities": ["diễn viên", "khách mời", "nghệ sĩ khách mời", "dàn khách mời",
                     "ban giám khảo", "giám khảo", "đội chơi", "người chơi", "nghệ sĩ", "đội xanh",
                     "đội đỏ", "danh hài", "cặp đôi", "khách mời nhí", "diễn viên Quốc Bảo",
                     "người chơi thứ hai", "huấn luyện viên", "dàn cast"],
        "heldout": ["đội vàng", "nghệ sĩ Hoài Linh"],
        "frames": [
            {"verbs": ["", "", "diễn", "chơi", "nói chuyện", "trả lời", "nhận xét", "thi đấu"],
             "pos": ["dễ thương", "hài hước", "tự nhiên", "nhiệt tình", "tài năng", "xinh",
                     "đẹp trai", "duyên", "thân thiện", "dí dỏm", "sâu", "nhập vai", "lầy lội",
                     "đáng yêu", "công tâm", "tinh ý", "máu lửa"],
             "neg": ["đơ", "gượng", "lố", "kém duyên", "vô duyên", "nhạt", "kiêu", "giả tạo",
                     "thiếu năng lượng", "dở", "tệ", "khó chịu", "làm quá", "thiên vị", "ồn ào",
                     "thiếu tôn trọng"],
             "neg_negatable": ["tệ", "dở", "lố", "khó chịu"]},
        ],
    },
    "audio": {
        "aspect": "Âm thanh",
        "entities": ["âm thanh", "nhạc", "nhạc nền", "âm nhạc", "tiếng", "mic", "loa",
                     "bài hát", "phần nhạc", "hiệu ứng âm thanh", "ban nhạc", "bản phối",
                     "âm lượng", "nhạc hiệu", "phần hòa âm", "tiếng trống", "âm thanh trường quay"],
        "heldout": ["nhạc cắt cảnh", "tiếng vỗ tay"],
        "frames": [
            {"verbs": ["", "", "", "nghe", "nghe thấy"],
             "pos": ["hay", "sống động", "rõ", "êm tai", "bắt tai", "chất lượng", "sôi động",
                     "chuẩn", "tốt", "ổn", "đỉnh", "cuốn", "trong trẻo", "hoành tráng", "sâu lắng"],
             "neg": ["rè", "ồn", "nhỏ", "to", "chói tai", "lệch", "bị vang", "bị rè", "dở",
                     "tệ", "lộn xộn", "bị lag", "nhức tai", "bị vọng", "lúc to lúc nhỏ", "bị rú"],
             "neg_negatable": ["tệ", "dở", "ồn", "rè"]},
        ],
    },
    "visual": {
        "aspect": "Hình ảnh",
        "entities": ["hình ảnh", "ánh sáng", "sân khấu", "quay phim", "góc quay", "kỹ xảo",
                     "trang phục", "màu sắc", "phông nền", "dàn dựng", "hiệu ứng", "khung hình",
                     "đồ họa", "cảnh quay", "bối cảnh", "máy quay", "màn hình LED", "ánh đèn",
                     "phục trang", "trang điểm", "chất lượng hình ảnh", "phụ đề"],
        "heldout": ["góc máy", "hậu kỳ"],
        "frames": [
            {"verbs": ["", "", "", "nhìn", "trông"],
             "pos": ["đẹp", "sắc nét", "lung linh", "hoành tráng", "đẹp mắt", "rõ nét",
                     "chuyên nghiệp", "bắt mắt", "ấn tượng", "tinh tế", "chỉn chu", "ổn", "tốt",
                     "sang trọng", "lộng lẫy", "mãn nhãn"],
             "neg": ["mờ", "tối", "rung", "chói", "xấu", "lòe loẹt", "sơ sài", "bị nhòe",
                     "rối mắt", "tệ", "kém", "nghèo nàn", "mờ nhạt", "bị giật", "quê mùa", "rẻ tiền"],
             "neg_negatable": ["tệ", "xấu", "kém"]},
        ],
    },
    "duration": {
        "aspect": "Thời lượng",
        "entities": ["thời lượng", "thời gian phát sóng", "quảng cáo", "thời lượng chương trình",
                     "phần quảng cáo", "giờ phát sóng", "mỗi tập", "thời gian mỗi tập",
                     "khung giờ phát sóng", "giờ chiếu", "lịch phát sóng", "số tập"],
        "heldout": ["thời lượng mỗi tập", "thời gian chờ"],
        "frames": [
            {"verbs": [""],
             "pos": ["hợp lý", "vừa phải", "vừa đủ", "ổn", "phù hợp", "tốt", "gọn gàng"],
             "neg": ["dài", "ngắn", "dài dòng", "lê thê", "nhiều", "ngắn ngủi", "bất hợp lý",
                     "kéo dài", "muộn", "quá tải", "dày đặc", "thất thường"],
             "neg_negatable": ["dài"]},
        ],
    },
    "general": {
        "aspect": "Chung",
        "entities": ["ê-kíp", "ekip", "nhà sản xuất", "ban tổ chức", "nhà đài", "BTC",
                     "đội ngũ sản xuất", "đơn vị sản xuất", "team sản xuất", "kênh"],
        "heldout": ["êkip", "nhà sản xuất chương trình"],
        "frames": [
            {"verbs": ["", "", "làm", "đầu tư"],
             "pos": ["tâm huyết", "chuyên nghiệp", "tốt", "chỉn chu", "có tâm", "giỏi",
                     "sáng tạo", "đỉnh", "chu đáo", "mạnh tay"],
             "neg": ["cẩu thả", "thiếu chuyên nghiệp", "ẩu", "tệ", "kém", "hời hợt", "lười",
                     "qua loa", "thiếu đầu tư"],
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
                     "hợp lý", "to"],
             "neg": ["ít", "ít ỏi", "bèo", "nhỏ", "keo kiệt", "thấp", "mập mờ", "bèo bọt",
                     "không minh bạch", "chán"],
             "neg_negatable": ["ít", "thấp"]},
        ],
    },
    "audience": {
        "aspect": "Khán giả",
        "entities": ["khán giả", "khán giả trường quay", "fan", "người xem", "cổ động viên",
                     "khán giả nhí", "khán giả tại trường quay", "fan cứng"],
        "heldout": ["khán giả hàng đầu", "hội fan"],
        "frames": [
            {"verbs": ["", "", "cổ vũ", "hò hét"],
             "pos": ["nhiệt tình", "cuồng nhiệt", "dễ thương", "văn minh", "sôi nổi", "đông vui",
                     "lịch sự", "đáng yêu"],
             "neg": ["ồn ào", "vô ý thức", "thô lỗ", "thưa thớt", "quá khích", "toxic",
                     "lố", "mất lịch sự"],
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

NEUTRAL = nfc(["bình thường", "tạm được", "tạm ổn", "cũng được", "tàm tạm", "không có gì đặc biệt",
               "trung bình", "bình thường thôi", "không có gì nổi bật", "ở mức ổn",
               "tạm chấp nhận được", "cũng tạm", "không hay không dở", "vừa vừa", "tạm tạm",
               "được", "cũng bình thường"])

# Intensifiers: (prefix, suffix) around the adjective; all inside the opinion span.
INTENS_POS = nfc([("", "")] * 8 + [
    ("rất ", ""), ("rất ", ""), ("", " quá"), ("quá ", ""), ("cực kỳ ", ""), ("khá ", ""),
    ("", " lắm"), ("siêu ", ""), ("thật sự ", ""), ("vô cùng ", ""), ("", " thật"), ("cực ", ""),
    ("", " xỉu"), ("", " ghê"), ("", " quá trời"), ("", " dữ"), ("thực sự ", ""),
    ("cực kì ", ""), ("ngày càng ", ""), ("quá ", " luôn"), ("", " vãi"), ("", " thật sự")])
INTENS_NEG = nfc([("", "")] * 8 + [
    ("rất ", ""), ("", " quá"), ("quá ", ""), ("hơi ", ""), ("hơi ", ""), ("cực kỳ ", ""),
    ("khá ", ""), ("", " lắm"), ("thật sự ", ""), ("", " thật"), ("quá là ", ""),
    ("", " kinh khủng"), ("", " ghê"), ("ngày càng ", ""), ("", " vãi"), ("hơi bị ", ""),
    ("", " quá mức")])
INTENS_HELDOUT = nfc([("", " dã man"), ("hết sức ", ""), ("", " hết nấc")])

NEGATORS = nfc([("không ", ""), ("không ", ""), ("chẳng ", ""), ("không ", " lắm"),
                ("chẳng ", " chút nào"), ("không được ", " lắm"), ("chưa ", ""), ("ko ", ""),
                ("không hề ", ""), ("chả ", ""), ("không thực sự ", ""), ("chưa đủ ", ""),
                ("không ", " gì cả"), ("chẳng ", " gì")])
NEGATORS_OF_NEG = nfc([("không ", ""), ("không hề ", ""), ("chẳng ", " chút nào"),
                       ("không ", " chút nào"), ("không ", " tí nào")])
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
                 "tập này ", "lại "])
PREFIXES = nfc(["", "", "", "", "", "", "", "", "Theo mình thấy thì ", "Công nhận ",
                "Thật sự là ", "Nói thật ", "Tối qua xem, ", "Mình thấy ", "Cá nhân mình thấy ",
                "Phải nói là ", "Ý kiến riêng: ", "Trời ơi, ", "Xem mà thấy ", "Góp ý chút: "])
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
    "dễ thương": ["dễ thw", "dthw", "cute"],
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
