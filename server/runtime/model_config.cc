#include "server/runtime/model_config.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/common/files.h"
#include "server/common/proto_json.h"
#include "server/text/fairseq_ids.h"
#include "server/text/fastbpe.h"
#include "server/text/normalize.h"

namespace eaos::runtime {
namespace {

const std::set<std::string>& RequiredSpanLabels() {
  static const auto* labels = new std::set<std::string>{"O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"};
  return *labels;
}

absl::Status CheckUnique(const google::protobuf::RepeatedPtrField<std::string>& labels,
                         absl::string_view field) {
  if (labels.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  std::set<std::string> seen;
  for (const auto& label : labels) {
    if (label.empty())
      return absl::InvalidArgumentError(absl::StrCat(field, " has an empty label"));
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(absl::StrCat(field, " repeats the label \"", label, "\""));
    }
  }
  return absl::OkStatus();
}

// model.json's "tokenizer": a string (the sentencepiece file) or an object.
absl::StatusOr<TokenizerConfig> ParseTokenizerField(const google::protobuf::Value* value) {
  TokenizerConfig out;
  if (value == nullptr) {
    out.set_type(std::string(kSentencepieceTokenizer));
    out.set_model("tokenizer.model");
    out.set_id_map(std::string(kSentencepieceIdMap));
    return out;
  }
  if (value->kind_case() == google::protobuf::Value::kStringValue) {
    out.set_type(std::string(kSentencepieceTokenizer));
    out.set_model(value->string_value().empty() ? "tokenizer.model" : value->string_value());
    out.set_id_map(std::string(kSentencepieceIdMap));
    return out;
  }
  if (value->kind_case() != google::protobuf::Value::kStructValue) {
    return absl::InvalidArgumentError(
        "tokenizer must be a file name (a sentencepiece model) or an object such as "
        "{\"type\": \"fastbpe\", \"codes\": \"bpe.codes\", \"vocab\": \"vocab.txt\"}");
  }
  // Only libprotobuf walks the Struct's map (see model_config.proto, field 13): back to JSON,
  // then into TokenizerConfig, which refuses unknown keys and non-string values.
  std::string object;
  if (!google::protobuf::util::MessageToJsonString(value->struct_value(), &object).ok()) {
    return absl::InternalError("tokenizer: cannot re-encode the object");
  }
  if (auto s = common::ParseJson(object, &out, {.ignore_unknown_fields = false}); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer has an unknown key or a value that is not a string (known keys: "
                     "type, model, codes, vocab, id_map, dict; all strings): ",
                     s.message()));
  }
  if (out.type().empty()) out.set_type(std::string(kSentencepieceTokenizer));
  if (out.type() == kSentencepieceTokenizer && out.id_map().empty()) {
    out.set_id_map(std::string(kSentencepieceIdMap));
  }
  return out;
}

// fairseq's special ids, which PhoBERT's fastBPE and fairseq-trained sentencepiece models share.
absl::Status CheckFairseqSpecialIds(const ModelConfig& config, absl::string_view which) {
  const auto& st = config.special_tokens();
  if (st.bos_id() != text::kFairseqBosId || st.pad_id() != text::kFairseqPadId ||
      st.eos_id() != text::kFairseqEosId || st.unk_id() != text::kFairseqUnkId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.json: ", which, " has fairseq's special ids bos_id=0 pad_id=1 eos_id=2 "
        "unk_id=3, but special_tokens says bos_id=",
        st.bos_id(), " pad_id=", st.pad_id(), " eos_id=", st.eos_id(), " unk_id=", st.unk_id()));
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenizer(const ModelConfig& config) {
  // A config built in code without a tokenizer (decoder and engine tests on fakes) has nothing to
  // check; ParseModelConfig always fills tokenizer_config from model.json.
  if (!config.has_tokenizer_config()) return absl::OkStatus();
  const TokenizerConfig& tok = config.tokenizer_config();
  if (tok.type() == kSentencepieceTokenizer) {
    if (tok.model().empty()) return absl::InvalidArgumentError("model.json: tokenizer.model is empty");
    if (!tok.codes().empty() || !tok.vocab().empty()) {
      return absl::InvalidArgumentError(
          "model.json: tokenizer.codes/vocab belong to \"type\": \"fastbpe\", not sentencepiece");
    }
    if (tok.id_map() == kFairseqIdMap) {
      return CheckFairseqSpecialIds(config,
                                    "a sentencepiece tokenizer with \"id_map\": \"fairseq\"");
    }
    if (!tok.id_map().empty() && tok.id_map() != kSentencepieceIdMap) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.json: tokenizer.id_map must be \"", kSentencepieceIdMap, "\" or \"", kFairseqIdMap,
          "\" (XLM-RoBERTa, BARTpho), got \"", tok.id_map(), "\""));
    }
    if (!tok.dict().empty()) {
      return absl::InvalidArgumentError(
          "model.json: tokenizer.dict (a fairseq dict.txt) belongs to \"id_map\": \"fairseq\"");
    }
    return absl::OkStatus();
  }
  if (tok.type() == kFastBpeTokenizer) {
    if (tok.codes().empty() || tok.vocab().empty()) {
      return absl::InvalidArgumentError(
          "model.json: a fastbpe tokenizer needs \"codes\" (e.g. \"bpe.codes\") and \"vocab\" "
          "(e.g. \"vocab.txt\")");
    }
    if (!tok.model().empty() || !tok.id_map().empty() || !tok.dict().empty()) {
      return absl::InvalidArgumentError(
          "model.json: tokenizer.model/id_map/dict belong to sentencepiece; fastbpe uses codes and "
          "vocab");
    }
    return CheckFairseqSpecialIds(config, "a fastbpe tokenizer");
  }
  return absl::InvalidArgumentError(absl::StrCat("model.json: tokenizer.type must be \"",
                                                 kSentencepieceTokenizer, "\" or \"",
                                                 kFastBpeTokenizer, "\", got \"", tok.type(),
                                                 "\""));
}

// model.json's optional "segmenter": the word segmenter the model was trained with. The server
// only reports it (GetModelInfo); the clients segment, so only the packages they know are taken.
absl::Status ValidateSegmenter(const ModelConfig& config) {
  if (!config.has_segmenter()) return absl::OkStatus();
  const SegmenterConfig& seg = config.segmenter();
  if (seg.package() != "pyvi" && seg.package() != "underthesea") {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.json: segmenter.package must be \"pyvi\" or \"underthesea\" (the segmenters the "
        "clients run), got \"", seg.package(), "\""));
  }
  constexpr absl::string_view kVersionChars =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-!";
  const bool version_ok = !seg.version().empty() &&
                          absl::string_view(seg.version()).find_first_not_of(kVersionChars) ==
                              absl::string_view::npos;
  if (!version_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.json: segmenter.version must be the package's version as pip pins it (e.g. "
        "\"0.1.1\"), got \"", seg.version(), "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<text::Tokenizer>> LoadTokenizer(const ModelConfig& config,
                                                               const std::string& model_dir,
                                                               const std::string& spm_shim_path) {
  if (auto s = ValidateTokenizer(config); !s.ok()) return s;
  const TokenizerConfig& tok = config.tokenizer_config();
  const int max_length = static_cast<int>(config.max_length());
  absl::StatusOr<std::unique_ptr<text::Tokenizer>> tokenizer;
  if (tok.type() == kFastBpeTokenizer) {
    text::FastBpeOptions options;
    options.codes_path = model_dir + "/" + tok.codes();
    options.vocab_path = model_dir + "/" + tok.vocab();
    options.max_length = max_length;
    auto fastbpe = text::FastBpeTokenizer::Load(options);
    if (!fastbpe.ok()) return fastbpe.status();
    tokenizer = std::unique_ptr<text::Tokenizer>(*std::move(fastbpe));
  } else {
    text::TokenizerOptions options;
    options.model_path = model_dir + "/" + tok.model();
    options.shim_path = spm_shim_path;
    options.bos_id = config.special_tokens().bos_id();
    options.eos_id = config.special_tokens().eos_id();
    options.max_length = max_length;
    if (tok.id_map() == kFairseqIdMap) {
      options.id_map = text::IdMap::kFairseq;
      if (!tok.dict().empty()) options.dict_path = model_dir + "/" + tok.dict();
    }
    tokenizer = text::Tokenizer::Load(options);
    if (!tokenizer.ok()) return tokenizer.status();
  }
  if (auto s = CheckSpecialIds(config, (*tokenizer)->vocab_size()); !s.ok()) return s;
  return tokenizer;
}

absl::StatusOr<text::Encoding> EncodeForModel(const ModelConfig& config,
                                              const text::Tokenizer& tokenizer,
                                              absl::string_view text) {
  if (config.text_normalization() == kNoNormalization) return tokenizer.Encode(text);
  return text::EncodeNfc(tokenizer, text);
}

absl::Status CheckSpecialIds(const ModelConfig& config, int vocab_size) {
  const auto& st = config.special_tokens();
  for (auto [name, id] : {std::pair{"pad_id", st.pad_id()}, std::pair{"unk_id", st.unk_id()},
                          std::pair{"bos_id", st.bos_id()}, std::pair{"eos_id", st.eos_id()}}) {
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.json: special_tokens.", name, "=", id, " is not an id of the tokenizer, whose ",
          "vocabulary has ", vocab_size, " pieces (ids 0..", vocab_size - 1, ")"));
    }
  }
  return absl::OkStatus();
}

int LabelCount(const ModelConfig& config, absl::string_view label_set) {
  if (label_set == "span_labels") return config.span_labels_size();
  if (label_set == "aspects") return config.aspects_size();
  if (label_set == "sentiments") return config.sentiments_size();
  return -1;
}

absl::Status ValidateModelConfig(const ModelConfig& config) {
  if (config.name().empty()) return absl::InvalidArgumentError("model.json: name is missing");
  if (config.version().empty()) return absl::InvalidArgumentError("model.json: version is missing");
  if (config.max_length() < 3 || config.max_length() > kMaxMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: max_length must be in [3, ",
                                                   kMaxMaxLength, "], got ", config.max_length()));
  }
  if (!config.text_normalization().empty() && config.text_normalization() != kNfcNormalization &&
      config.text_normalization() != kNoNormalization) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: text_normalization must be \"nfc\" or \"none\", got \"",
                     config.text_normalization(), "\""));
  }
  if (config.tag_scheme() != "BIO") {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: tag_scheme must be \"BIO\", got \"", config.tag_scheme(), "\""));
  }
  if (auto s = ValidateTokenizer(config); !s.ok()) return s;
  if (auto s = ValidateSegmenter(config); !s.ok()) return s;
  for (auto [labels, field] :
       {std::pair{&config.span_labels(), "span_labels"}, std::pair{&config.aspects(), "aspects"},
        std::pair{&config.sentiments(), "sentiments"}}) {
    if (auto s = CheckUnique(*labels, field); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("model.json: ", s.message()));
    }
  }
  const std::set<std::string> span(config.span_labels().begin(), config.span_labels().end());
  if (span != RequiredSpanLabels()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.json: span_labels must be exactly {", absl::StrJoin(RequiredSpanLabels(), ", "),
        "}, got {", absl::StrJoin(config.span_labels(), ", "), "}"));
  }
  const auto& st = config.special_tokens();
  if (st.bos_id() == st.eos_id() || st.bos_id() == st.pad_id() || st.eos_id() == st.pad_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: special_tokens pad/bos/eos must differ, got pad_id=", st.pad_id(),
                     " bos_id=", st.bos_id(), " eos_id=", st.eos_id()));
  }
  const std::map<std::string, std::string> expected = {
      {std::string(kSpanOutput), "span_labels"},
      {std::string(kAspectOutput), "aspects"},
      {std::string(kSentimentOutput), "sentiments"}};
  for (const auto& [output, label_set] : expected) {
    auto it = config.outputs().find(output);
    if (it == config.outputs().end()) {
      return absl::InvalidArgumentError(absl::StrCat("model.json: outputs lacks \"", output,
                                                     "\" (expected \"", output, "\": \"", label_set,
                                                     "\")"));
    }
    if (it->second != label_set) {
      return absl::InvalidArgumentError(absl::StrCat("model.json: outputs[\"", output,
                                                     "\"] must be \"", label_set, "\", got \"",
                                                     it->second, "\""));
    }
  }
  if (config.outputs_size() != static_cast<int>(expected.size())) {
    std::vector<std::string> extra;
    for (const auto& [output, unused] : config.outputs()) {
      if (expected.count(output) == 0) extra.push_back(output);
    }
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: unknown outputs: ", absl::StrJoin(extra, ", ")));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view json) {
  ModelConfig config;
  // Unknown keys are skipped: tooling may add fields (architecture, training info).
  if (auto status = common::ParseJson(json, &config); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model.json is not valid: ", status.message()));
  }
  absl::StatusOr<TokenizerConfig> tokenizer =
      ParseTokenizerField(config.has_tokenizer() ? &config.tokenizer() : nullptr);
  if (!tokenizer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model.json: ", tokenizer.status().message()));
  }
  *config.mutable_tokenizer_config() = *std::move(tokenizer);
  if (auto s = ValidateModelConfig(config); !s.ok()) return s;
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/model.json";
  absl::StatusOr<std::string> json = common::ReadFileCapped(path, kMaxModelJsonBytes, "model config");
  if (!json.ok()) return json.status();
  auto config = ParseModelConfig(*json);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status CheckOutputs(const ModelConfig& config, const Batch& batch,
                          const ModelOutputs& outputs) {
  for (auto [name, logits] :
       {std::pair{kSpanOutput, &outputs.span}, std::pair{kAspectOutput, &outputs.aspect},
        std::pair{kSentimentOutput, &outputs.sentiment}}) {
    const auto it = config.outputs().find(std::string(name));
    const std::string label_set = it == config.outputs().end() ? "" : it->second;
    const int expected = LabelCount(config, label_set);
    if (logits->rows != batch.rows || logits->cols != batch.cols || logits->labels != expected) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model.pt does not match model.json: output \"", name, "\" has shape [", logits->rows,
          ", ", logits->cols, ", ", logits->labels, "] but model.json has ", expected, " ",
          label_set, " (expected [", batch.rows, ", ", batch.cols, ", ", expected, "])"));
    }
  }
  return absl::OkStatus();
}

}  // namespace eaos::runtime
