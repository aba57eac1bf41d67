#include "server/runtime/model_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

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

}  // namespace

int LabelCount(const ModelConfig& config, absl::string_view label_set) {
  if (label_set == "span_labels") return config.span_labels_size();
  if (label_set == "aspects") return config.aspects_size();
  if (label_set == "sentiments") return config.sentiments_size();
  return -1;
}

absl::Status ValidateModelConfig(const ModelConfig& config) {
  if (config.name().empty()) return absl::InvalidArgumentError("model.json: name is missing");
  if (config.version().empty()) return absl::InvalidArgumentError("model.json: version is missing");
  if (config.max_length() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: max_length must be >= 3, got ", config.max_length()));
  }
  if (config.tag_scheme() != "BIO") {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json: tag_scheme must be \"BIO\", got \"", config.tag_scheme(), "\""));
  }
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
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // tooling may add fields (architecture, training info)
  const auto status =
      google::protobuf::util::JsonStringToMessage(std::string(json), &config, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.json is not valid: ", status.message().as_string()));
  }
  if (config.tokenizer().empty()) config.set_tokenizer("tokenizer.model");
  if (auto s = ValidateModelConfig(config); !s.ok()) return s;
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/model.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto config = ParseModelConfig(buf.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace eaos::runtime
