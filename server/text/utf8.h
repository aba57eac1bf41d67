// UTF-8 validation and byte <-> code point offset mapping.
//
// Thread-safe: free functions without state.
//
//   if (!eaos::text::IsValidUtf8(s)) return InvalidArgument(...);
//   std::vector<uint32_t> cp = eaos::text::CodePointIndex(s);  // cp[byte] = code point index
#ifndef EAOS_SERVER_TEXT_UTF8_H_
#define EAOS_SERVER_TEXT_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace eaos::text {

// Strict UTF-8 (RFC 3629): rejects overlong forms, surrogates, code points above U+10FFFF and
// truncated sequences. On failure, *error_offset (if given) is the byte offset of the bad sequence.
bool IsValidUtf8(absl::string_view s, size_t* error_offset = nullptr);

// For valid UTF-8 `s`, returns a table of size s.size() + 1 where entry b is the index of the code
// point that starts at or contains byte b; entry s.size() is the number of code points.
std::vector<uint32_t> CodePointIndex(absl::string_view s);

// The whitespace of the model contract, which separates words and is trimmed off span edges (ASCII
// space, tab, LF, VT, FF, CR, U+00A0, U+3000 and U+2000..U+200B; the Python decoder's set).
// Returns the byte length of the whitespace character that starts at s[pos], or 0.
size_t WhitespaceLengthAt(absl::string_view s, size_t pos);

// True when `s` is empty or holds only Unicode White_Space (that whitespace and U+0085, U+1680,
// U+2028, U+2029, U+202F, U+205F) and characters that show nothing on their own (format controls such as U+200E, U+2060 and the BOM U+FEFF, variation selectors, the soft
// hyphen, Hangul fillers, tags): a text a reader would see as blank.
bool IsBlank(absl::string_view s);

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_UTF8_H_
