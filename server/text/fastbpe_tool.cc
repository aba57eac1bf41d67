// eaos-fastbpe: the server's fastBPE tokenizer on a JSONL of texts, for comparing it with other
// implementations (models/eaos_tools/fastbpe_exactness.py drives it against PhobertTokenizer).
//
//   eaos-fastbpe --codes bpe.codes --vocab vocab.txt [--max_length N] < texts.jsonl > out.jsonl
//
// Input and output lines: text_tool.h (the encoding with <s> and </s>, byte ranges into the
// text's UTF-8). --max_length defaults to no limit. Exit status 1 on a load error or a bad line
// (the message names the line), 2 on bad usage.
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "server/text/fastbpe.h"
#include "server/text/text_tool.h"

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
  return eaos::text::EncodeJsonLines("eaos-fastbpe", **tokenizer, std::cin, std::cout);
}
