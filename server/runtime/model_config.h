// Loading and checking model.json (docs/model-contract.md).
//
// Thread-safety: free functions; the returned config is an immutable value.
//
//   absl::StatusOr<ModelConfig> config = LoadModelConfig("models/demo");
//   if (!config.ok()) { /* message names the field that is wrong */ }
//   absl::StatusOr<std::unique_ptr<text::Tokenizer>> tok = LoadTokenizer(*config, "models/demo");
#ifndef EAOS_SERVER_RUNTIME_MODEL_CONFIG_H_
#define EAOS_SERVER_RUNTIME_MODEL_CONFIG_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eaos/model/v1/model_config.pb.h"
#include "server/runtime/model.h"
#include "server/text/tokenizer.h"

namespace eaos::runtime {

using ModelConfig = ::eaos::model::v1::ModelConfig;
using TokenizerConfig = ::eaos::model::v1::TokenizerConfig;
using SegmenterConfig = ::eaos::model::v1::SegmenterConfig;

// TokenizerConfig.type values.
inline constexpr absl::string_view kSentencepieceTokenizer = "sentencepiece";
inline constexpr absl::string_view kFastBpeTokenizer = "fastbpe";
// TokenizerConfig.id_map values (sentencepiece; empty means kSentencepieceIdMap).
inline constexpr absl::string_view kSentencepieceIdMap = "sentencepiece";
inline constexpr absl::string_view kFairseqIdMap = "fairseq";

// The three outputs of forward() and the label list each one's last dimension indexes.
inline constexpr absl::string_view kSpanOutput = "span_logits";
inline constexpr absl::string_view kAspectOutput = "aspect_logits";
inline constexpr absl::string_view kSentimentOutput = "sentiment_logits";

// What model.json may hold: texts far beyond any encoder's positions are a typo, not a model.
inline constexpr int64_t kMaxMaxLength = 16384;
// model.json is a page of labels; a larger file is not one (and is not read).
inline constexpr uint64_t kMaxModelJsonBytes = uint64_t{1} << 20;

// Parses model.json text and checks it against the contract.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json);

// Reads <model_dir>/model.json and parses it.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

// Checks a parsed config: required fields, label sets, the outputs map. The message says what is
// wrong and what was expected.
absl::Status ValidateModelConfig(const ModelConfig& config);

// The tokenizer model.json names (config.tokenizer_config), its files read from `model_dir`:
// sentencepiece through libeaos_spm.so (`spm_shim_path` as in text::TokenizerOptions; with
// id_map "fairseq" in fairseq's ids, text/fairseq_ids.h), or the native fastBPE tokenizer
// (text/fastbpe.h). The message names the file that is wrong.
absl::StatusOr<std::unique_ptr<text::Tokenizer>> LoadTokenizer(
    const ModelConfig& config, const std::string& model_dir, const std::string& spm_shim_path = "");

// model.json text_normalization values.
inline constexpr absl::string_view kNfcNormalization = "nfc";
inline constexpr absl::string_view kNoNormalization = "none";

// The model input for `text` as the model expects it: its NFC form tokenized (byte ranges mapped
// back into `text`), or `text` as sent when model.json says text_normalization "none". Requests and
// the golden self-test tokenize through this, so both see what the export saw.
absl::StatusOr<text::Encoding> EncodeForModel(const ModelConfig& config,
                                              const text::Tokenizer& tokenizer,
                                              absl::string_view text);

// Each special token id (pad, unk, bos, eos) is an id of a vocabulary of `vocab_size` pieces; the
// message names the id that is not. LoadTokenizer checks this.
absl::Status CheckSpecialIds(const ModelConfig& config, int vocab_size);

// Number of labels of the label list named `label_set` ("span_labels", "aspects", "sentiments").
int LabelCount(const ModelConfig& config, absl::string_view label_set);

// Checks forward() outputs (shapes [rows, cols, labels]) against the config and the batch.
absl::Status CheckOutputs(const ModelConfig& config, const Batch& batch,
                          const ModelOutputs& outputs);

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_MODEL_CONFIG_H_
