#include "server/text/utf8.h"

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

size_t WhitespaceLengthAt(absl::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  auto rest = s.substr(pos);
  if (rest.substr(0, 2) == "\xC2\xA0") return 2;      // U+00A0 no-break space
  if (rest.substr(0, 3) == "\xE3\x80\x80") return 3;  // U+3000 ideographic space
  if (rest.size() >= 3 && c == 0xE2 && static_cast<unsigned char>(rest[1]) == 0x80 &&
      static_cast<unsigned char>(rest[2]) <= 0x8B) {
    return 3;  // U+2000..U+200B
  }
  return 0;
}

bool IsBlank(absl::string_view s) {
  for (size_t p = 0; p < s.size();) {
    const size_t ws = WhitespaceLengthAt(s, p);
    if (ws == 0) return false;
    p += ws;
  }
  return true;
}

}  // namespace eaos::text
