#include "server/text/python_text.h"

namespace eaos::text {
namespace {

// Length of the UTF-8 sequence that starts with byte `b` (1 for a stray continuation byte).
size_t SequenceLength(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

}  // namespace

bool IsPythonSpace(char32_t c) {
  if (c <= 0x20) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

char32_t DecodeUtf8At(absl::string_view s, size_t pos, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  size_t n = SequenceLength(b0);
  if (pos + n > s.size()) n = 1;
  *len = n;
  if (n == 1) return b0;
  char32_t c = b0 & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) c = (c << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  return c;
}

std::string UniversalNewlines(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<absl::string_view> SplitLines(absl::string_view s) {
  std::vector<absl::string_view> lines;
  size_t start = 0;
  for (;;) {
    const size_t nl = s.find('\n', start);
    if (nl == absl::string_view::npos) {
      lines.push_back(s.substr(start));
      return lines;
    }
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
}

std::vector<absl::string_view> SplitFields(absl::string_view line) {
  std::vector<absl::string_view> fields;
  size_t pos = 0, field_start = 0;
  bool in_field = false;
  while (pos < line.size()) {
    size_t len = 0;
    const char32_t c = DecodeUtf8At(line, pos, &len);
    if (IsPythonSpace(c)) {
      if (in_field) fields.push_back(line.substr(field_start, pos - field_start));
      in_field = false;
    } else if (!in_field) {
      in_field = true;
      field_start = pos;
    }
    pos += len;
  }
  if (in_field) fields.push_back(line.substr(field_start));
  return fields;
}

absl::string_view RStrip(absl::string_view s) {
  size_t end = 0;  // one past the last non-whitespace code point
  for (size_t pos = 0; pos < s.size();) {
    size_t len = 0;
    const char32_t c = DecodeUtf8At(s, pos, &len);
    pos += len;
    if (!IsPythonSpace(c)) end = pos;
  }
  return s.substr(0, end);
}

absl::string_view Strip(absl::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t len = 0;
    if (!IsPythonSpace(DecodeUtf8At(s, begin, &len))) break;
    begin += len;
  }
  return RStrip(s.substr(begin));
}

}  // namespace eaos::text
