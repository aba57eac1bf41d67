#include "server/text/fairseq_ids.h"

#include <array>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/text/python_text.h"
#include "server/text/utf8.h"

namespace eaos::text {
namespace {

// The specials both classes put first, in id order (kFairseqBosId .. kFairseqUnkId).
constexpr std::array<absl::string_view, 4> kFixedSpecials = {"<s>", "<pad>", "</s>", "<unk>"};
constexpr absl::string_view kMask = "<mask>";

// True when every code point of `token` is one the model has no piece for: sentencepiece reports
// a run of such characters as one unknown piece whose text is exactly that run.
bool SpelledOnlyWithUnknownChars(absl::string_view token,
                                 const absl::flat_hash_set<char32_t>& known) {
  if (token.empty()) return false;
  for (size_t pos = 0; pos < token.size();) {
    size_t len = 0;
    if (known.contains(DecodeUtf8At(token, pos, &len))) return false;
    pos += len;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseFairseqDict(absl::string_view contents,
                                                          absl::string_view name) {
  size_t bad = 0;
  if (!IsValidUtf8(contents, &bad)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": not valid UTF-8 at byte ", bad, " (BartphoTokenizer reads dict.txt as UTF-8)"));
  }
  const std::string text = UniversalNewlines(contents);
  std::vector<absl::string_view> lines = SplitLines(text);
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the file's final newline
  absl::flat_hash_set<std::string> seen(kFixedSpecials.begin(), kFixedSpecials.end());
  std::vector<std::string> tokens;
  tokens.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<absl::string_view> fields = SplitFields(lines[i]);
    if (fields.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " line ", i + 1,
                       ": blank (each line is \"<token> <count>\"; BartphoTokenizer fails on it)"));
    }
    const absl::string_view token = fields[0];
    if (!seen.emplace(token).second) {
      const bool fixed = token == "<s>" || token == "<pad>" || token == "</s>" || token == "<unk>";
      return absl::InvalidArgumentError(absl::StrCat(
          name, " line ", i + 1, ": the token \"", token, "\" is already in the dictionary",
          fixed ? " (<s> <pad> </s> <unk> are ids 0-3 implicitly: remove the line)"
                : " (BartphoTokenizer would give it a second id and the next token the same one)"));
    }
    tokens.emplace_back(token);
  }
  return tokens;
}

absl::StatusOr<FairseqIds> FairseqIds::Build(const std::vector<SpmPiece>& pieces, int unk_id,
                                             const std::vector<std::string>* dict,
                                             absl::string_view dict_name) {
  const size_t n = pieces.size();
  if (unk_id < 0 || static_cast<size_t>(unk_id) >= n) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sentencepiece model's unknown id ", unk_id, " is not one of its ", n,
                     " pieces"));
  }
  if (n > (size_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("the sentencepiece model has ", n, " pieces"));
  }
  // Every token with an id of its own, in id order, as transformers builds its token -> id map.
  std::vector<std::pair<absl::string_view, int64_t>> tokens;
  absl::flat_hash_map<absl::string_view, int64_t> ids;
  auto add = [&](absl::string_view token, int64_t id) {
    if (!ids.emplace(token, id).second) return false;
    tokens.emplace_back(token, id);
    return true;
  };
  for (size_t i = 0; i < kFixedSpecials.size(); ++i) {
    add(kFixedSpecials[i], static_cast<int64_t>(i));
  }

  FairseqIds out;
  out.by_spm_id_.resize(n);
  if (dict == nullptr) {
    // XLMRobertaTokenizer: fairseq_offset 1 over the sentencepiece vocabulary. transformers takes
    // its special tokens' ids from get_vocab(), where id i + 1 spells piece i and a later id wins:
    // a piece <s> <pad> </s> <unk> at id 3 or more (ids 0-2 fall on fairseq's own specials) would
    // move that special off fairseq's id, BOS/EOS included. XLM-R's model has them at 0-2.
    for (size_t i = kFixedSpecials.size() - 1; i < n; ++i) {
      for (size_t k = 0; k < kFixedSpecials.size(); ++k) {
        if (pieces[i].text != kFixedSpecials[k]) continue;
        return absl::InvalidArgumentError(absl::StrCat(
            "the sentencepiece model has \"", pieces[i].text, "\" at id ", i,
            ": XLMRobertaTokenizer would then give it id ", i + 1, " instead of fairseq's ", k,
            " (a model for fairseq ids has <unk> <s> </s> at sentencepiece ids 0-2, as "
            "XLM-RoBERTa's; or give its dict.txt)"));
      }
    }
    out.mask_id_ = static_cast<int64_t>(n) + 1;
    add(kMask, out.mask_id_);
    out.vocab_size_ = static_cast<int>(n) + 2;
    for (size_t i = 0; i < n; ++i) {
      const auto it = ids.find(pieces[i].text);
      out.by_spm_id_[i] = it != ids.end() ? it->second
                          : i == 0        ? kFairseqUnkId
                                          : static_cast<int64_t>(i) + 1;
    }
    // An unknown piece carries the text it covers, which is no piece, so transformers maps it
    // through sentencepiece's unknown id (PieceToId) with the same offset rule.
    out.by_spm_id_[unk_id] = unk_id == 0 ? kFairseqUnkId : int64_t{unk_id} + 1;
  } else {
    // BartphoTokenizer: dict.txt's tokens after the four specials, <mask> last unless listed.
    for (size_t i = 0; i < dict->size(); ++i) {
      if (!add((*dict)[i], static_cast<int64_t>(ids.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            dict_name, " line ", i + 1, ": the token \"", (*dict)[i],
            "\" is already in the dictionary"));
      }
    }
    if (!ids.contains(kMask)) add(kMask, static_cast<int64_t>(ids.size()));
    out.mask_id_ = ids.at(kMask);
    if (ids.size() > (size_t{1} << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(dict_name, ": too many tokens"));
    }
    out.vocab_size_ = static_cast<int>(ids.size());
    for (size_t i = 0; i < n; ++i) {
      const auto it = ids.find(pieces[i].text);
      out.by_spm_id_[i] = it != ids.end() ? it->second : kFairseqUnkId;
    }
    out.by_spm_id_[unk_id] = kFairseqUnkId;  // its text is never a dictionary token (checked below)
  }

  // The one case an id map cannot express: a token that is no piece but could be the text of an
  // unknown piece (see Build's comment in the header).
  absl::flat_hash_set<absl::string_view> piece_texts;
  absl::flat_hash_set<char32_t> known_chars;
  piece_texts.reserve(n);
  for (const SpmPiece& p : pieces) {
    piece_texts.insert(p.text);
    size_t len = 0;
    if (p.matches_text && !p.text.empty()) {
      const char32_t c = DecodeUtf8At(p.text, 0, &len);
      if (len == p.text.size()) known_chars.insert(c);
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto [token, id] = tokens[i];
    if (piece_texts.contains(token) || !SpelledOnlyWithUnknownChars(token, known_chars)) continue;
    const bool from_dict = dict != nullptr && i >= kFixedSpecials.size() &&
                           i - kFixedSpecials.size() < dict->size();
    return absl::InvalidArgumentError(absl::StrCat(
        from_dict ? absl::StrCat(dict_name, " line ", i - kFixedSpecials.size() + 1,
                                 ": the token \"", token, "\"")
                  : absl::StrCat("the special token \"", token, "\""),
        " (id ", id, ") is no piece of the sentencepiece model, and the model has a piece for none "
        "of its characters: sentencepiece would report that text as one unknown piece, which "
        "transformers maps to id ", id, " by its text but the server only by its unknown id"));
  }
  return out;
}

std::vector<SpecialSplit> FairseqIds::SplitSpecials(absl::string_view text) const {
  std::vector<SpecialSplit> out;
  const auto size = static_cast<uint32_t>(text.size());
  uint32_t part = 0;  // start of the text part not yet emitted
  auto emit_part = [&](uint32_t end, bool before_mask) {
    if (before_mask) {
      end = part + static_cast<uint32_t>(RStrip(text.substr(part, end - part)).size());
    }
    if (end > part) out.push_back({part, end, -1});
  };
  size_t pos = text.find('<');
  while (pos != absl::string_view::npos) {
    int64_t id = -1;
    size_t len = 0;
    const absl::string_view rest = text.substr(pos);
    for (size_t i = 0; i < kFixedSpecials.size(); ++i) {
      if (absl::StartsWith(rest, kFixedSpecials[i])) {
        id = static_cast<int64_t>(i);
        len = kFixedSpecials[i].size();
        break;
      }
    }
    const bool is_mask = id < 0 && absl::StartsWith(rest, kMask);
    if (is_mask) {
      id = mask_id_;
      len = kMask.size();
    }
    if (id < 0) {
      pos = text.find('<', pos + 1);
      continue;
    }
    emit_part(static_cast<uint32_t>(pos), is_mask);
    out.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + len), id});
    part = static_cast<uint32_t>(pos + len);
    pos = text.find('<', part);
  }
  emit_part(size, false);
  return out;
}

}  // namespace eaos::text
