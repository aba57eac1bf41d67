"""Model tooling for eaos-serve: data generation, training, export, reference inference.

The contract with the C++ server is docs/model-contract.md (one directory up from models/).
"""

SPAN_LABELS = ["O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"]
ASPECTS = ["Kịch bản", "Dẫn chương trình", "Khách mời", "Âm thanh", "Hình ảnh", "Thời lượng", "Chung",
           "Giải thưởng", "Khán giả"]
SENTIMENTS = ["tích cực", "tiêu cực", "trung tính"]
SPECIAL_TOKENS = {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3}
OUTPUTS = {
    "span_logits": "span_labels",
    "aspect_logits": "aspects",
    "sentiment_logits": "sentiments",
}
