// eaos-spm: the server's sentencepiece tokenizer on a JSONL of texts, for comparing it with other
// implementations (models/eaos_tools/spm_exactness.py drives it against transformers'
// XLMRobertaTokenizer and BartphoTokenizer).
//
//   eaos-spm --model sentencepiece.bpe.model [--id_map fairseq [--dict dict.txt]]
//            [--max_length N] < texts.jsonl > out.jsonl
//
// Input and output lines as eaos-fastbpe's (text_tool.h). --id_map is "sentencepiece" (the
// default; BOS 2, EOS 3 as models/demo) or "fairseq". --max_length defaults to no limit. Exit
// status 1 on a load error or a bad line (the message names the line), 2 on bad usage.
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "server/text/fairseq_ids.h"
#include "server/text/text_tool.h"
#include "server/text/tokenizer.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "eaos-spm: " << why
            << "\nusage: eaos-spm --model FILE [--id_map sentencepiece|fairseq [--dict FILE]] "
               "[--max_length N] < in.jsonl\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  eaos::text::TokenizerOptions options;
  options.max_length = 1 << 30;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage("missing value for " + arg);
    const std::string value = argv[++i];
    if (arg == "--model") {
      options.model_path = value;
    } else if (arg == "--dict") {
      options.dict_path = value;
    } else if (arg == "--id_map") {
      if (value == "fairseq") {
        options.id_map = eaos::text::IdMap::kFairseq;
        options.bos_id = eaos::text::kFairseqBosId;
        options.eos_id = eaos::text::kFairseqEosId;
      } else if (value != "sentencepiece") {
        return Usage("bad --id_map " + value);
      }
    } else if (arg == "--max_length") {
      if (!absl::SimpleAtoi(value, &options.max_length)) return Usage("bad --max_length " + value);
    } else {
      return Usage("unknown flag " + arg);
    }
  }
  if (options.model_path.empty()) return Usage("--model is required");
  if (!options.dict_path.empty() && options.id_map != eaos::text::IdMap::kFairseq) {
    return Usage("--dict needs --id_map fairseq");
  }
  auto tokenizer = eaos::text::Tokenizer::Load(options);
  if (!tokenizer.ok()) {
    std::cerr << "eaos-spm: " << tokenizer.status() << "\n";
    return 1;
  }
  return eaos::text::EncodeJsonLines("eaos-spm", **tokenizer, std::cin, std::cout);
}
