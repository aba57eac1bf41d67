// Sentencepiece tokenizer with byte offsets back into the original UTF-8 text.
//
// Sentencepiece itself lives behind libeaos_spm.so (see spm_shim.h); this class dlopens it, so
// nothing else in the process sees sentencepiece's embedded protobuf.
//
// Thread-safety: Encode() is const and safe to call from many threads at once.
//
//   auto tok = Tokenizer::Load({.model_path = dir + "/tokenizer.model", .max_length = 128});
//   absl::StatusOr<Encoding> e = (*tok)->Encode("Chương trình rất hay!");
//   // e->ids = {bos, ..., eos}; e->begins/ends give each position's byte range in the text.
#ifndef EAOS_SERVER_TEXT_TOKENIZER_H_
#define EAOS_SERVER_TEXT_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace eaos::text {

// Model input for one text: [BOS] pieces... [EOS], at most max_length positions.
struct Encoding {
  std::vector<int64_t> ids;
  // Byte range [begins[i], ends[i]) of position i in the text; BOS and EOS have empty ranges.
  std::vector<uint32_t> begins;
  std::vector<uint32_t> ends;
  bool truncated = false;  // the text had more than max_length - 2 pieces

  size_t size() const { return ids.size(); }
};

// Tokenizer files (a sentencepiece model, bpe.codes, vocab.txt) are a few MiB; a file beyond this
// is not one and is refused before it is read.
inline constexpr uint64_t kMaxTokenizerFileBytes = uint64_t{256} << 20;

// The ids a sentencepiece model's pieces have in the model (docs/model-contract.md,
// "fairseq ids").
enum class IdMap {
  kSentencepiece,  // sentencepiece's own ids (models trained here, e.g. models/demo)
  // fairseq's, as transformers' XLMRobertaTokenizer (no dict_path) or BartphoTokenizer (dict_path)
  // map them; the literal specials <s> <pad> </s> <unk> <mask> in a text are those ids
  // (server/text/fairseq_ids.h). bos_id and eos_id must be 0 and 2.
  kFairseq,
};

struct TokenizerOptions {
  std::string model_path;  // the sentencepiece .model file
  // libeaos_spm.so to load; empty: $EAOS_SPM_SHIM, else beside the executable, else the
  // installed library path. The library is loaded once per process: the first Load() decides.
  std::string shim_path;
  int64_t bos_id = 2;
  int64_t eos_id = 3;
  int max_length = 128;  // counts BOS and EOS
  IdMap id_map = IdMap::kSentencepiece;
  // kFairseq: fairseq's dict.txt (BartphoTokenizer's monolingual_vocab_file); empty: the
  // sentencepiece vocabulary itself, offset by one (XLMRobertaTokenizer).
  std::string dict_path;
};

// Text -> model input. Load() gives the sentencepiece tokenizer of a model directory; tests and
// sanitizer builds (which cannot dlopen the shim, see spm_shim.h) use fakes behind this interface.
class Tokenizer {
 public:
  // The sentencepiece tokenizer at options.model_path, through libeaos_spm.so, with the ids of
  // options.id_map.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const TokenizerOptions& options);
  virtual ~Tokenizer() = default;

  // `text` must be valid UTF-8 (callers validate first).
  virtual absl::StatusOr<Encoding> Encode(absl::string_view text) const = 0;
  virtual int vocab_size() const = 0;
  virtual int max_length() const = 0;  // positions per encoding, BOS and EOS included
};

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_TOKENIZER_H_
