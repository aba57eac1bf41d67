#include "server/text/fastbpe.h"

#include <array>
#include <climits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/files.h"
#include "server/text/python_text.h"
#include "server/text/utf8.h"

namespace eaos::text {
namespace {

// The literal texts PhobertTokenizer splits out before BPE (its added tokens), with their ids.
// <mask>'s id depends on the vocabulary and is filled in at load.
constexpr std::array<absl::string_view, 5> kSpecials = {"<s>", "<pad>", "</s>", "<unk>",
                                                        "<mask>"};
constexpr absl::string_view kEndOfWord = "</w>";
constexpr absl::string_view kContinuation = "@@";

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FastBpeTokenizer>> FastBpeTokenizer::Load(
    const FastBpeOptions& options) {
  auto codes = common::ReadFileCapped(options.codes_path, kMaxTokenizerFileBytes, "BPE codes");
  if (!codes.ok()) return codes.status();
  auto vocab = common::ReadFileCapped(options.vocab_path, kMaxTokenizerFileBytes, "vocabulary");
  if (!vocab.ok()) return vocab.status();
  return FromText(*codes, *vocab, options.max_length, options.codes_path, options.vocab_path);
}

absl::StatusOr<std::unique_ptr<FastBpeTokenizer>> FastBpeTokenizer::FromText(
    absl::string_view codes_raw, absl::string_view vocab_raw, int max_length,
    absl::string_view codes_name, absl::string_view vocab_name) {
  if (max_length < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_length must be at least 3 (<s>, one piece, </s>), got ", max_length));
  }
  for (auto [raw, name] : {std::pair{codes_raw, codes_name}, std::pair{vocab_raw, vocab_name}}) {
    size_t bad = 0;
    if (!IsValidUtf8(raw, &bad)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": not valid UTF-8 at byte ", bad, " (fastBPE files are UTF-8)"));
    }
  }
  std::unique_ptr<FastBpeTokenizer> tok(new FastBpeTokenizer());
  tok->max_length_ = max_length;

  // vocab.txt: fairseq's dictionary. PhobertTokenizer reads it with readlines(), strips each line
  // and splits at its last ASCII space; the token before it gets the next id.
  tok->vocab_ = {{"<s>", kFairseqBosId},
                 {"<pad>", kFairseqPadId},
                 {"</s>", kFairseqEosId},
                 {"<unk>", kFairseqUnkId}};
  const std::string vocab_text = UniversalNewlines(vocab_raw);
  std::vector<absl::string_view> vocab_lines = SplitLines(vocab_text);
  if (!vocab_lines.empty() && vocab_lines.back().empty()) vocab_lines.pop_back();
  for (size_t i = 0; i < vocab_lines.size(); ++i) {
    const absl::string_view line = Strip(vocab_lines[i]);
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(vocab_name, " line ", i + 1, ": expected \"<token> <count>\", got \"",
                       vocab_lines[i].substr(0, 80), "\""));
    }
    const absl::string_view word = line.substr(0, space);
    const int64_t id = static_cast<int64_t>(tok->vocab_.size());
    // PhobertTokenizer would silently give a repeated token a new id and the next token the same
    // one; refuse instead of serving ids that disagree with the model's embedding rows.
    if (!tok->vocab_.emplace(std::string(word), id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          vocab_name, " line ", i + 1, ": the token \"", word, "\" is already in the vocabulary",
          (word.size() > 0 && word[0] == '<') ? " (the special tokens are implicit: remove it)"
                                              : ""));
    }
  }
  tok->mask_id_ = static_cast<int64_t>(tok->vocab_.size());
  if (!tok->vocab_.emplace("<mask>", tok->mask_id_).second) {
    return absl::InvalidArgumentError(absl::StrCat(
        vocab_name, ": holds \"<mask>\", which PhoBERT adds after the last entry: remove it"));
  }

  // bpe.codes: PhobertTokenizer reads it with read().split("\n")[:-1] (so a last line without a
  // newline is not used) and keeps the first two fields of lines with exactly three; the rank is
  // the line index, and a repeated pair keeps its last rank.
  const std::string codes_text = UniversalNewlines(codes_raw);
  std::vector<absl::string_view> code_lines = SplitLines(codes_text);
  code_lines.pop_back();
  auto intern = [&](const std::string& s) {
    const auto next = static_cast<int32_t>(tok->symbols_.size());
    return tok->symbols_.emplace(s, next).first->second;
  };
  for (size_t rank = 0; rank < code_lines.size(); ++rank) {
    const std::vector<absl::string_view> fields = SplitFields(code_lines[rank]);
    if (fields.size() != 3) continue;
    const int32_t left = intern(std::string(fields[0]));
    const int32_t right = intern(std::string(fields[1]));
    const int32_t merged = intern(absl::StrCat(fields[0], fields[1]));
    tok->merges_[PairKey(left, right)] = Merge{static_cast<int32_t>(rank), merged};
  }
  return tok;
}

int64_t FastBpeTokenizer::IdOf(absl::string_view piece) const {
  auto it = vocab_.find(piece);
  return it == vocab_.end() ? kFairseqUnkId : it->second;
}

int32_t FastBpeTokenizer::SymbolId(absl::string_view symbol) const {
  auto it = symbols_.find(symbol);
  return it == symbols_.end() ? -1 : it->second;
}

void FastBpeTokenizer::AppendWord(absl::string_view text, uint32_t begin, uint32_t end,
                                  std::vector<Piece>* out) const {
  struct Symbol {
    int32_t id;  // -1: not named by bpe.codes, so never merged
    uint32_t begin, end;
  };
  std::vector<Symbol> word;
  for (uint32_t pos = begin; pos < end;) {
    size_t len = 0;
    DecodeUtf8At(text, pos, &len);
    const auto next = static_cast<uint32_t>(pos + len);
    const absl::string_view ch = text.substr(pos, len);
    const int32_t id = next < end ? SymbolId(ch) : SymbolId(absl::StrCat(ch, kEndOfWord));
    word.push_back({id, pos, next});
    pos = next;
  }
  std::vector<Symbol> merged_word;
  while (word.size() > 1) {
    int32_t best_rank = INT32_MAX;
    const Merge* best = nullptr;
    int32_t best_left = -1, best_right = -1;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      if (word[i].id < 0 || word[i + 1].id < 0) continue;
      auto it = merges_.find(PairKey(word[i].id, word[i + 1].id));
      if (it != merges_.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        best = &it->second;
        best_left = word[i].id;
        best_right = word[i + 1].id;
      }
    }
    if (best == nullptr) break;
    merged_word.clear();
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i].id == best_left && word[i + 1].id == best_right) {
        merged_word.push_back({best->merged, word[i].begin, word[i + 1].end});
        i += 2;
      } else {
        merged_word.push_back(word[i]);
        ++i;
      }
    }
    word.swap(merged_word);
  }
  std::string piece;
  for (size_t i = 0; i < word.size(); ++i) {
    piece.assign(text.data() + word[i].begin, word[i].end - word[i].begin);
    if (i + 1 < word.size()) piece.append(kContinuation.data(), kContinuation.size());
    out->push_back({IdOf(piece), word[i].begin, word[i].end});
  }
}

void FastBpeTokenizer::AppendSegment(absl::string_view text, uint32_t begin, uint32_t end,
                                     std::vector<Piece>* out) const {
  // re.findall(r"\S+\n?", segment)
  uint32_t pos = begin;
  while (pos < end) {
    size_t len = 0;
    if (IsPythonSpace(DecodeUtf8At(text, pos, &len))) {
      pos += static_cast<uint32_t>(len);
      continue;
    }
    const uint32_t word_begin = pos;
    while (pos < end) {
      if (IsPythonSpace(DecodeUtf8At(text, pos, &len))) break;
      pos += static_cast<uint32_t>(len);
    }
    if (pos < end && text[pos] == '\n') ++pos;
    AppendWord(text, word_begin, pos, out);
  }
}

absl::StatusOr<std::vector<Piece>> FastBpeTokenizer::Pieces(absl::string_view text) const {
  size_t bad = 0;
  if (!IsValidUtf8(text, &bad)) {
    return absl::InvalidArgumentError(absl::StrCat("text is not valid UTF-8 at byte ", bad));
  }
  if (text.size() > UINT32_MAX) return absl::InvalidArgumentError("text is larger than 4 GiB");
  std::vector<Piece> out;
  uint32_t segment_begin = 0;
  const auto size = static_cast<uint32_t>(text.size());
  for (uint32_t pos = 0; pos < size;) {
    size_t special_len = 0;
    int64_t special_id = 0;
    if (text[pos] == '<') {
      for (absl::string_view s : kSpecials) {
        if (text.substr(pos, s.size()) == s) {
          special_len = s.size();
          special_id = vocab_.at(std::string(s));
          break;
        }
      }
    }
    if (special_len == 0) {
      ++pos;
      continue;
    }
    AppendSegment(text, segment_begin, pos, &out);
    out.push_back({special_id, pos, static_cast<uint32_t>(pos + special_len)});
    pos += static_cast<uint32_t>(special_len);
    segment_begin = pos;
  }
  AppendSegment(text, segment_begin, size, &out);
  return out;
}

absl::StatusOr<Encoding> FastBpeTokenizer::Encode(absl::string_view text) const {
  absl::StatusOr<std::vector<Piece>> pieces = Pieces(text);
  if (!pieces.ok()) return pieces.status();
  const size_t keep = std::min<size_t>(pieces->size(), static_cast<size_t>(max_length_) - 2);
  Encoding out;
  out.truncated = keep < pieces->size();
  out.ids.reserve(keep + 2);
  out.begins.reserve(keep + 2);
  out.ends.reserve(keep + 2);
  out.ids.push_back(kFairseqBosId);
  out.begins.push_back(0);
  out.ends.push_back(0);
  for (size_t i = 0; i < keep; ++i) {
    out.ids.push_back((*pieces)[i].id);
    out.begins.push_back((*pieces)[i].begin);
    out.ends.push_back((*pieces)[i].end);
  }
  const uint32_t tail = keep > 0 ? (*pieces)[keep - 1].end : 0;
  out.ids.push_back(kFairseqEosId);
  out.begins.push_back(tail);
  out.ends.push_back(tail);
  return out;
}

}  // namespace eaos::text
