// fairseq's ids over a sentencepiece model, exactly as transformers (4.46.3) maps pieces to ids
// for models trained with fairseq (docs/model-contract.md, "fairseq ids"):
//
//   XLMRobertaTokenizer (no dict.txt): <s>=0 <pad>=1 </s>=2 <unk>=3, every other piece its
//     sentencepiece id + 1, sentencepiece's id 0 -> <unk>, <mask> = pieces + 1.
//   BartphoTokenizer (dict.txt, "monolingual_vocab_file"): <s>=0 <pad>=1 </s>=2 <unk>=3, then the
//     first field of each dict.txt line in order, <mask> last unless dict.txt holds it; a piece
//     dict.txt does not hold -> <unk>.
//
// Both classes first split the literal texts <s> <pad> </s> <unk> <mask> out of the text (their
// added tokens; <mask> also takes the whitespace before it) and give sentencepiece each remaining
// part on its own. SplitSpecials does that split; ModelId maps a sentencepiece id.
//
// Thread-safety: immutable after Build(); every const method may be called from many threads.
//
//   auto ids = FairseqIds::Build(pieces, /*unk_id=*/0, &dict_tokens, "dict.txt");
//   for (const SpecialSplit& part : ids->SplitSpecials(text)) { ... }
#ifndef EAOS_SERVER_TEXT_FAIRSEQ_IDS_H_
#define EAOS_SERVER_TEXT_FAIRSEQ_IDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace eaos::text {

// fairseq's dictionary layout (also PhoBERT's, server/text/fastbpe.h).
inline constexpr int64_t kFairseqBosId = 0;  // <s>
inline constexpr int64_t kFairseqPadId = 1;  // <pad>
inline constexpr int64_t kFairseqEosId = 2;  // </s>
inline constexpr int64_t kFairseqUnkId = 3;  // <unk>

// One piece of a sentencepiece model: its text and whether sentencepiece can report a character
// of the text as that piece (normal and user-defined pieces can; unknown, control, unused and
// byte pieces cannot stand for the character they spell).
struct SpmPiece {
  std::string text;
  bool matches_text = true;
};

// A part of a text: [begin, end) bytes, either a literal special token (special_id >= 0) or text
// for sentencepiece (special_id < 0; never empty).
struct SpecialSplit {
  uint32_t begin;
  uint32_t end;
  int64_t special_id;
};

// dict.txt's tokens as BartphoTokenizer reads the file: text-mode lines ("\n", "\r\n" or "\r"),
// each one's first whitespace-separated field (Python's str.split()). A line without a field, a
// repeated token or one of <s> <pad> </s> <unk> (which come first implicitly) is refused with
// `name` and the line number: BartphoTokenizer would fail or give two tokens one id.
absl::StatusOr<std::vector<std::string>> ParseFairseqDict(absl::string_view contents,
                                                          absl::string_view name);

class FairseqIds {
 public:
  // `pieces` are the sentencepiece model's, by id; `unk_id` its unknown piece. `dict` null:
  // XLMRobertaTokenizer's layout; else BartphoTokenizer's with those tokens (`dict_name` labels
  // errors). Refused: a token that maps to an id of its own but is no piece of the model and is
  // spelled only with characters the model does not know: sentencepiece would report such
  // characters as an unknown piece with that very text, which transformers maps by its text and
  // the server (which sees only the unknown id) cannot.
  static absl::StatusOr<FairseqIds> Build(const std::vector<SpmPiece>& pieces, int unk_id,
                                          const std::vector<std::string>* dict,
                                          absl::string_view dict_name = "dict.txt");

  // The model id of sentencepiece id `spm_id` (in [0, pieces)), or -1 when out of range.
  int64_t ModelId(int spm_id) const {
    return spm_id >= 0 && static_cast<size_t>(spm_id) < by_spm_id_.size() ? by_spm_id_[spm_id]
                                                                           : -1;
  }
  int64_t mask_id() const { return mask_id_; }
  // Ids 0 .. vocab_size() - 1 are the model's (its embedding rows).
  int vocab_size() const { return vocab_size_; }

  // `text` (valid UTF-8, < 4 GiB) split as transformers' tokenize() splits it before
  // sentencepiece: the literal specials, and the parts between them with the whitespace before
  // a <mask> removed (its AddedToken has lstrip); empty parts are dropped.
  std::vector<SpecialSplit> SplitSpecials(absl::string_view text) const;

 private:
  FairseqIds() = default;

  std::vector<int64_t> by_spm_id_;
  int64_t mask_id_ = 0;
  int vocab_size_ = 0;
};

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_FAIRSEQ_IDS_H_
