// The JSONL loop the tokenizer tools (eaos-fastbpe, eaos-spm) share: each input line is a JSON
// object with a "text" string; each output line is
// {"ids": [...], "begins": [...], "ends": [...], "truncated": false}, the encoding with BOS and
// EOS and byte ranges into the text's UTF-8.
#ifndef EAOS_SERVER_TEXT_TEXT_TOOL_H_
#define EAOS_SERVER_TEXT_TEXT_TOOL_H_

#include <istream>
#include <ostream>

#include "absl/strings/string_view.h"
#include "server/text/tokenizer.h"

namespace eaos::text {

// Encodes every line of `in` with `tokenizer` onto `out`. Returns the exit status: 0, or 1 on a
// bad line or an encoding error (reported on stderr as "<tool>: input line N: ...").
int EncodeJsonLines(absl::string_view tool, const Tokenizer& tokenizer, std::istream& in,
                    std::ostream& out);

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_TEXT_TOOL_H_
