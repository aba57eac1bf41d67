#include "server/text/normalize.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace eaos::text {
namespace {

// ICU's NFC instance (its data is built into libicudata; null only if ICU cannot initialize).
const icu::Normalizer2* Nfc() {
  static const icu::Normalizer2* const nfc = [] {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(error);
    return U_SUCCESS(error) ? n : nullptr;
  }();
  return nfc;
}

// Below U+0300 every code point is NFC-inert on its own: a segment made only of them (e.g. an
// ASCII letter with no mark after it) is left as it is without asking ICU.
constexpr UChar32 kFirstNonInert = 0x300;

icu::StringPiece Piece(absl::string_view s) {
  return icu::StringPiece(s.data(), static_cast<int32_t>(s.size()));
}

}  // namespace

bool IsNfc(absl::string_view s) {
  const icu::Normalizer2* nfc = Nfc();
  if (nfc == nullptr) return true;
  // Code points below U+0300 are NFC whatever follows them but a mark, and a mark (U+0300 and
  // up) starts with a byte of 0xCC or more: a text without such a byte is NFC as it is.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0xCC; })) {
    return true;
  }
  UErrorCode error = U_ZERO_ERROR;
  const bool yes = nfc->isNormalizedUTF8(Piece(s), error);
  return U_FAILURE(error) || yes;
}

NfcText NfcText::Of(absl::string_view original) {
  NfcText out;
  out.original_ = original;
  const icu::Normalizer2* nfc = Nfc();
  if (nfc == nullptr || IsNfc(original)) return out;

  const auto* s = reinterpret_cast<const uint8_t*>(original.data());
  const int64_t n = static_cast<int64_t>(original.size());
  out.normalized_.reserve(original.size() + original.size() / 4);
  out.begin_of_.reserve(original.size() + 1);
  out.end_of_.reserve(original.size() + 1);

  // Appends original [begin, end) as it is: byte for byte.
  auto keep = [&](int64_t begin, int64_t end) {
    out.normalized_.append(original.data() + begin, static_cast<size_t>(end - begin));
    for (int64_t b = begin; b < end; ++b) {
      out.begin_of_.push_back(static_cast<uint32_t>(b));
      out.end_of_.push_back(static_cast<uint32_t>(b));
    }
  };
  // Appends the NFC form of the segment original [begin, end); a changed one maps as a whole.
  auto flush = [&](int64_t begin, int64_t end, UChar32 max_cp) {
    if (begin >= end) return;
    if (max_cp < kFirstNonInert) return keep(begin, end);
    const size_t nb = out.normalized_.size();
    UErrorCode error = U_ZERO_ERROR;
    icu::StringByteSink<std::string> sink(&out.normalized_);
    nfc->normalizeUTF8(0, Piece(original.substr(begin, end - begin)), sink, nullptr, error);
    const absl::string_view got = absl::string_view(out.normalized_).substr(nb);
    if (U_FAILURE(error) || got == original.substr(begin, end - begin)) {
      out.normalized_.resize(nb);
      return keep(begin, end);
    }
    const size_t ne = out.normalized_.size();
    out.segments_.push_back({static_cast<uint32_t>(nb), static_cast<uint32_t>(ne),
                             static_cast<uint32_t>(begin), static_cast<uint32_t>(end)});
    out.begin_of_.push_back(static_cast<uint32_t>(begin));
    out.end_of_.push_back(static_cast<uint32_t>(begin));
    for (size_t o = nb + 1; o < ne; ++o) {
      out.begin_of_.push_back(static_cast<uint32_t>(begin));
      out.end_of_.push_back(static_cast<uint32_t>(end));
    }
  };

  int64_t segment = 0;  // start of the open segment
  UChar32 max_cp = 0;   // its largest code point
  int64_t i = 0;
  while (i < n) {
    const int64_t at = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) {  // ill-formed: closes the segment and stays as it is
      flush(segment, at, max_cp);
      keep(at, i);
      segment = i;
      max_cp = 0;
      continue;
    }
    if (at > segment && nfc->hasBoundaryBefore(c)) {
      flush(segment, at, max_cp);
      segment = at;
      max_cp = 0;
    }
    max_cp = std::max(max_cp, c);
  }
  flush(segment, n, max_cp);
  out.begin_of_.push_back(static_cast<uint32_t>(n));
  out.end_of_.push_back(static_cast<uint32_t>(n));
  out.changed_ = !out.segments_.empty();
  if (!out.changed_) {  // ICU's quick check said no, but no segment changed
    out.normalized_.clear();
    out.begin_of_.clear();
    out.end_of_.clear();
  }
  return out;
}

uint32_t NfcText::OriginalBegin(size_t offset) const {
  if (!changed_) return static_cast<uint32_t>(std::min(offset, original_.size()));
  return begin_of_[std::min(offset, begin_of_.size() - 1)];
}

uint32_t NfcText::OriginalEnd(size_t offset) const {
  if (!changed_) return static_cast<uint32_t>(std::min(offset, original_.size()));
  return end_of_[std::min(offset, end_of_.size() - 1)];
}

absl::StatusOr<Encoding> EncodeNfc(const Tokenizer& tokenizer, absl::string_view text) {
  const NfcText nfc = NfcText::Of(text);
  absl::StatusOr<Encoding> encoding = tokenizer.Encode(nfc.text());
  if (!encoding.ok() || !nfc.changed()) return encoding;
  const size_t size = nfc.text().size();
  for (size_t i = 0; i < encoding->size(); ++i) {
    uint32_t& b = encoding->begins[i];
    uint32_t& e = encoding->ends[i];
    if (b > e || e > size) {
      return absl::InternalError(absl::StrCat("tokenizer: position ", i, " has byte range [", b,
                                              ", ", e, ") outside the ", size, "-byte text"));
    }
    const uint32_t original_begin = nfc.OriginalBegin(b);
    e = e == b ? original_begin : nfc.OriginalEnd(e);
    b = original_begin;
  }
  return encoding;
}

}  // namespace eaos::text
