// JSON Lines in and out of eaos-serve: input lines become Items, results become output lines.
//
// Input line:  {"id": "c1", "text": "..."}   (id may also be a JSON number; other keys ignored)
// Output line: {"id":"c1","text":"...","predictions":[{"entity":"pin","aspect":"BATTERY",
//               "opinion":"trâu","sentiment":"positive","confidence":0.97,"entity_span":[0,3],
//               "opinion_span":[4,8]}]}
// plus "error":{"code":N,"message":"..."} only when the item failed and "truncated":true only
// when the text was cut. This {"id","text","predictions"} shape is what the Spark jobs read; spans
// are [begin, end) in code points, and a span that is unset (no entity) is null.
//
// Thread-safety: pure functions.
//
//   absl::StatusOr<eaos::v1::Item> item = ParseItemLine(line, line_number);
//   if (!item.ok()) return item.status();  // "line 12: ..."
//   std::string out = FormatResultLine(*item, result);
#ifndef EAOS_CLIENT_CPP_JSONL_H_
#define EAOS_CLIENT_CPP_JSONL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eaos/v1/eaos.pb.h"

namespace eaos::client {

// Parses one input line (without its newline). `line_number` (1-based) only goes into error
// messages. A numeric id is kept exactly as written ({"id": 42} gives id "42"); a missing or null
// id is empty. Returns INVALID_ARGUMENT starting "line N: " when the line is not a JSON object
// (invalid UTF-8 included), the id is neither a string nor a number, or the text is missing, empty
// or not a string.
absl::StatusOr<eaos::v1::Item> ParseItemLine(absl::string_view line, int64_t line_number);

// An input line read leniently, as `eaos-client --input` reads: a JSON object whose "text" is
// missing, null or not a string still gives an item (id kept, text empty) with `text_error` set to
// INVALID_ARGUMENT "line N: ...", to be answered with that error without calling the server; an
// empty text is an item like any other (the server answers it INVALID_ARGUMENT). Returns
// INVALID_ARGUMENT only for what ParseItemLine refuses besides the text.
struct InputLine {
  eaos::v1::Item item;
  absl::Status text_error;
};
absl::StatusOr<InputLine> ParseInputLine(absl::string_view line, int64_t line_number);

// The "id" of an output line (FormatResultLine's shape; "" when null or absent). Returns
// INVALID_ARGUMENT when the line is not a JSON object or its id is not a string.
absl::StatusOr<std::string> ParseOutputId(absl::string_view line);

// The output line (without a newline) for `result`, answering `item`: id and text come from the
// item. Invalid UTF-8 in any string is written as U+FFFD so that the line is always valid JSON.
std::string FormatResultLine(const eaos::v1::Item& item, const eaos::v1::ItemResult& result);

// Appends `value` to *out as a quoted JSON string (see FormatResultLine for invalid UTF-8).
void AppendJsonString(absl::string_view value, std::string* out);

}  // namespace eaos::client

#endif  // EAOS_CLIENT_CPP_JSONL_H_
