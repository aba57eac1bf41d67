#include "server/text/text_tool.h"

#include <iostream>
#include <string>

#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace eaos::text {

int EncodeJsonLines(absl::string_view tool, const Tokenizer& tokenizer, std::istream& in,
                    std::ostream& out) {
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    google::protobuf::Struct record;
    const auto parsed = google::protobuf::util::JsonStringToMessage(line, &record);
    const auto it = record.fields().find("text");
    if (!parsed.ok() || it == record.fields().end() ||
        it->second.kind_case() != google::protobuf::Value::kStringValue) {
      std::cerr << tool << ": input line " << line_no
                << ": expected a JSON object with a \"text\" string\n";
      return 1;
    }
    auto encoding = tokenizer.Encode(it->second.string_value());
    if (!encoding.ok()) {
      std::cerr << tool << ": input line " << line_no << ": " << encoding.status() << "\n";
      return 1;
    }
    out << "{\"ids\": [" << absl::StrJoin(encoding->ids, ", ") << "], \"begins\": ["
        << absl::StrJoin(encoding->begins, ", ") << "], \"ends\": ["
        << absl::StrJoin(encoding->ends, ", ")
        << "], \"truncated\": " << (encoding->truncated ? "true" : "false") << "}\n";
  }
  return out.good() ? 0 : 1;
}

}  // namespace eaos::text
