#include "server/text/utf8.h"

#include <utility>

namespace eaos::text {
namespace {

// Length of the sequence introduced by lead byte `c`, or 0 when `c` cannot start one.
int SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;  // continuation byte, overlong 2-byte lead (C0/C1) or beyond U+10FFFF
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

bool IsValidUtf8(absl::string_view s, size_t* error_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    const int len = SequenceLength(c);
    bool ok = len != 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) ok = IsContinuation(p[i + k]);
    if (ok && len == 3) {
      const unsigned char c1 = p[i + 1];
      if (c == 0xE0 && c1 < 0xA0) ok = false;  // overlong
      if (c == 0xED && c1 > 0x9F) ok = false;  // UTF-16 surrogates
    }
    if (ok && len == 4) {
      const unsigned char c1 = p[i + 1];
      if (c == 0xF0 && c1 < 0x90) ok = false;  // overlong
      if (c == 0xF4 && c1 > 0x8F) ok = false;  // > U+10FFFF
    }
    if (!ok) {
      if (error_offset != nullptr) *error_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::vector<uint32_t> CodePointIndex(absl::string_view s) {
  std::vector<uint32_t> index(s.size() + 1);
  uint32_t cp = 0;
  for (size_t b = 0; b < s.size(); ++b) {
    if (b > 0 && !IsContinuation(static_cast<unsigned char>(s[b]))) ++cp;
    index[b] = cp;
  }
  index[s.size()] = s.empty() ? 0 : cp + 1;
  return index;
}

namespace {

// The code point that starts at s[pos] and its byte length; {0, 0} when none does (a truncated
// or invalid sequence: callers validate first, this only must not read past the end).
std::pair<char32_t, size_t> DecodeAt(absl::string_view s, size_t pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const int len = SequenceLength(p[0]);
  if (len == 0 || pos + len > s.size()) return {0, 0};
  if (len == 1) return {p[0], 1};
  char32_t c = p[0] & (0xFF >> (len + 1));
  for (int k = 1; k < len; ++k) c = (c << 6) | (p[k] & 0x3F);
  return {c, static_cast<size_t>(len)};
}

// The word separators of the model contract (docs/model-contract.md; decode.py's set): words and
// span edges depend on it, so it changes only with the contract.
bool IsContractSpace(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  return c == 0xA0 || (c >= 0x2000 && c <= 0x200B) || c == 0x3000;
}

// Unicode's White_Space property, and U+200B.
bool IsSpace(char32_t c) {
  return IsContractSpace(c) || c == 0x85 || c == 0x1680 || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F;
}

// Characters that show nothing on their own: format controls (bidi marks and isolates, joiners,
// the BOM, invisible operators, the soft hyphen, tags), variation selectors, the combining
// grapheme joiner and the Hangul fillers. A text made only of these and spaces is blank.
bool IsInvisible(char32_t c) {
  return c == 0xAD || c == 0x34F || c == 0x61C || c == 0x115F || c == 0x1160 || c == 0x17B4 ||
         c == 0x17B5 || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
         (c >= 0x2066 && c <= 0x206F) || c == 0x3164 || (c >= 0xFE00 && c <= 0xFE0F) ||
         c == 0xFEFF || c == 0xFFA0 || (c >= 0x1D173 && c <= 0x1D17A) || c == 0xE0001 ||
         (c >= 0xE0020 && c <= 0xE007F) || (c >= 0xE0100 && c <= 0xE01EF);
}

}  // namespace

size_t WhitespaceLengthAt(absl::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const auto [c, len] = DecodeAt(s, pos);
  return len > 0 && IsContractSpace(c) ? len : 0;
}

bool IsBlank(absl::string_view s) {
  for (size_t p = 0; p < s.size();) {
    const auto [c, len] = DecodeAt(s, p);
    if (len == 0 || !(IsSpace(c) || IsInvisible(c))) return false;
    p += len;
  }
  return true;
}

}  // namespace eaos::text
