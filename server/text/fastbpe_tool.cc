// eaos-fastbpe: the server's fastBPE tokenizer on a JSONL of texts, for comparing it with other
// implementations (models/eaos_tools/fastbpe_exactness.py drives it against PhobertTokenizer).
//
//   eaos-fastbpe --codes bpe.codes --vocab vocab.txt [--max_length N] < texts.jsonl > out.jsonl
//
// Each input line is a JSON object with a "text" string; each output line is
// {"ids": [...], "begins": [...], "ends": [...], "truncated": false}: the encoding with <s> and
// </s>, byte ranges into the text's UTF-8. --max_length defaults to no limit. Exit status 1 on a
// load error or a bad line (the message names the line), 2 on bad usage.
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/text/fastbpe.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "eaos-fastbpe: " << why
            << "\nusage: eaos-fastbpe --codes FILE --vocab FILE [--max_length N] < in.jsonl\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  eaos::text::FastBpeOptions options;
  options.max_length = 1 << 30;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage("missing value for " + arg);
    const std::string value = argv[++i];
    if (arg == "--codes") {
      options.codes_path = value;
    } else if (arg == "--vocab") {
      options.vocab_path = value;
    } else if (arg == "--max_length") {
      if (!absl::SimpleAtoi(value, &options.max_length)) return Usage("bad --max_length " + value);
    } else {
      return Usage("unknown flag " + arg);
    }
  }
  if (options.codes_path.empty() || options.vocab_path.empty()) {
    return Usage("--codes and --vocab are required");
  }
  auto tokenizer = eaos::text::FastBpeTokenizer::Load(options);
  if (!tokenizer.ok()) {
    std::cerr << "eaos-fastbpe: " << tokenizer.status() << "\n";
    return 1;
  }
  std::string line;
  for (size_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    google::protobuf::Struct record;
    const auto parsed = google::protobuf::util::JsonStringToMessage(line, &record);
    const auto it = record.fields().find("text");
    if (!parsed.ok() || it == record.fields().end() ||
        it->second.kind_case() != google::protobuf::Value::kStringValue) {
      std::cerr << "eaos-fastbpe: input line " << line_no
                << ": expected a JSON object with a \"text\" string\n";
      return 1;
    }
    auto encoding = (*tokenizer)->Encode(it->second.string_value());
    if (!encoding.ok()) {
      std::cerr << "eaos-fastbpe: input line " << line_no << ": " << encoding.status() << "\n";
      return 1;
    }
    std::cout << "{\"ids\": [" << absl::StrJoin(encoding->ids, ", ") << "], \"begins\": ["
              << absl::StrJoin(encoding->begins, ", ") << "], \"ends\": ["
              << absl::StrJoin(encoding->ends, ", ")
              << "], \"truncated\": " << (encoding->truncated ? "true" : "false") << "}\n";
  }
  return std::cout.good() ? 0 : 1;
}
