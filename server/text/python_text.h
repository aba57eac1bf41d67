// Python's str methods on UTF-8, as transformers' tokenizers apply them to tokenizer files and
// texts: whitespace (str.isspace), text-mode newlines, str.split() and str.strip().
//
// Thread-safe: free functions without state. Inputs are valid UTF-8 (a stray byte is taken as one
// code point, so callers on unvalidated input still advance).
#ifndef EAOS_SERVER_TEXT_PYTHON_TEXT_H_
#define EAOS_SERVER_TEXT_PYTHON_TEXT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace eaos::text {

// True for the code points Python's str.isspace() accepts (what `\s` matches in a Python regex,
// what str.split() and str.strip() remove): U+0009..U+000D, U+001C..U+001F, U+0020, U+0085,
// U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. Not U+200B (zero width
// space) nor U+FEFF.
bool IsPythonSpace(char32_t c);

// The code point at s[pos]; *len receives its byte length.
char32_t DecodeUtf8At(absl::string_view s, size_t pos, size_t* len);

// Python's text-mode reading: "\r\n" and a lone "\r" become "\n" (universal newlines).
std::string UniversalNewlines(absl::string_view s);

// str.split("\n"): a text ending in "\n" gives an empty last line.
std::vector<absl::string_view> SplitLines(absl::string_view s);

// str.split() without arguments: the fields between runs of whitespace.
std::vector<absl::string_view> SplitFields(absl::string_view line);

// str.strip() and str.rstrip() without arguments.
absl::string_view Strip(absl::string_view s);
absl::string_view RStrip(absl::string_view s);

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_PYTHON_TEXT_H_
