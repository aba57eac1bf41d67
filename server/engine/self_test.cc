#include "server/engine/self_test.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/common/proto_json.h"

namespace eaos::engine {
namespace {

using ::eaos::model::v1::GoldenSample;
using ::eaos::model::v1::GoldenTuple;

constexpr int kMaxReported = 5;

// A tuple reduced to what must match exactly, plus its confidence.
struct Comparable {
  std::string key;
  std::string text;  // for messages
  double confidence;
};

std::string SpanKey(uint32_t begin, uint32_t end) { return absl::StrCat("[", begin, ",", end, ")"); }

std::string SpanKey(const google::protobuf::RepeatedField<uint32_t>& span) {
  return span.size() == 2 ? SpanKey(span[0], span[1]) : "[]";
}

Comparable FromGolden(const GoldenTuple& t) {
  // No entity: the reference writes its spans as [0, 0), the server leaves them unset.
  const bool entity = !t.entity().empty();
  const std::string key = absl::StrCat(
      "entity \"", t.entity(), "\" ", entity ? SpanKey(t.entity_span()) : "[]", " bytes ",
      entity ? SpanKey(t.entity_byte_span()) : "[]", ", aspect \"", t.aspect(), "\", opinion \"", t.opinion(),
      "\" ", SpanKey(t.opinion_span()), " bytes ", SpanKey(t.opinion_byte_span()),
      ", sentiment \"", t.sentiment(), "\"");
  return {key, absl::StrFormat("(%s, confidence %.4f)", key, t.confidence()), t.confidence()};
}

Comparable FromServed(const v1::Tuple& t) {
  auto span = [](bool has, const v1::Span& s) { return has ? SpanKey(s.begin(), s.end()) : "[]"; };
  auto bytes = [](bool has, const v1::Span& s) {
    return has ? SpanKey(s.byte_begin(), s.byte_end()) : "[]";
  };
  const std::string key = absl::StrCat(
      "entity \"", t.entity(), "\" ", span(t.has_entity_span(), t.entity_span()), " bytes ",
      bytes(t.has_entity_span(), t.entity_span()), ", aspect \"", t.aspect(), "\", opinion \"",
      t.opinion(), "\" ", span(t.has_opinion_span(), t.opinion_span()), " bytes ",
      bytes(t.has_opinion_span(), t.opinion_span()), ", sentiment \"", t.sentiment(), "\"");
  return {key, absl::StrFormat("(%s, confidence %.4f)", key, t.confidence()), t.confidence()};
}

// Sum and sum of absolute values of row 0, positions [0, tokens).
std::pair<double, double> Checksum(const runtime::Logits& logits, int64_t tokens) {
  double sum = 0, abs_sum = 0;
  for (int64_t pos = 0; pos < tokens; ++pos) {
    const float* row = logits.Row(0, pos);
    for (int64_t l = 0; l < logits.labels; ++l) {
      sum += row[l];
      abs_sum += std::fabs(static_cast<double>(row[l]));
    }
  }
  return {sum, abs_sum};
}

const runtime::Logits* OutputByName(const runtime::ModelOutputs& out, absl::string_view name) {
  if (name == runtime::kSpanOutput) return &out.span;
  if (name == runtime::kAspectOutput) return &out.aspect;
  if (name == runtime::kSentimentOutput) return &out.sentiment;
  return nullptr;
}

absl::Status ValidateGolden(const GoldenFile& golden) {
  if (golden.samples().empty()) return absl::InvalidArgumentError("it has no samples");
  if (!(golden.threshold() >= 0 && golden.threshold() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold must be in [0, 1], got ", golden.threshold()));
  }
  if (golden.confidence_tolerance() < 0 || golden.logits_rtol() < 0) {
    return absl::InvalidArgumentError("tolerances must be >= 0");
  }
  for (const GoldenSample& sample : golden.samples()) {
    if (sample.text().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sample \"", sample.id(), "\" has no text"));
    }
    for (absl::string_view name :
         {runtime::kSpanOutput, runtime::kAspectOutput, runtime::kSentimentOutput}) {
      bool found = false;
      for (const auto& c : sample.logits()) found = found || c.output() == name;
      if (!found) {
        return absl::InvalidArgumentError(
            absl::StrCat("sample \"", sample.id(), "\" has no checksum for output \"", name, "\""));
      }
    }
  }
  return absl::OkStatus();
}

// Compares one sample; appends a line per difference.
absl::Status CompareSample(const GoldenFile& golden, const GoldenSample& sample,
                           const ServingPath& path, std::vector<std::string>* diffs) {
  // As Engine::Prepare tokenizes a request (model.json's text_normalization), offsets into the
  // text as given.
  absl::StatusOr<text::Encoding> encoding =
      runtime::EncodeForModel(*path.config, *path.tokenizer, sample.text());
  if (!encoding.ok()) return encoding.status();
  const std::string where = absl::StrCat("sample \"", sample.id(), "\": ");
  if (encoding->size() != sample.num_tokens() || encoding->truncated != sample.truncated()) {
    diffs->push_back(absl::StrCat(where, "tokenizer gives ", encoding->size(), " tokens",
                                  encoding->truncated ? " (truncated)" : "", ", expected ",
                                  sample.num_tokens(), sample.truncated() ? " (truncated)" : "",
                                  " — is tokenizer.model the one the model was trained with?"));
    return absl::OkStatus();  // logits and tuples cannot be compared position by position
  }
  if (!sample.input_ids().empty()) {
    const auto& want = sample.input_ids();
    const size_t wanted = static_cast<size_t>(want.size());
    const size_t common = std::min(encoding->ids.size(), wanted);
    size_t pos = 0;
    while (pos < common && encoding->ids[pos] == want[static_cast<int>(pos)]) ++pos;
    if (pos < common || encoding->ids.size() != wanted) {
      const std::string got_id =
          pos < encoding->ids.size() ? absl::StrCat(encoding->ids[pos]) : "none";
      const std::string want_id =
          pos < wanted ? absl::StrCat(want[static_cast<int>(pos)]) : "none";
      diffs->push_back(absl::StrCat(
          where, "tokenizer gives token id ", got_id, " at position ", pos, ", expected ", want_id,
          " (golden.json input_ids, from the model's own tokenizer) — are the tokenizer files the ",
          "ones the model was trained with?"));
      return absl::OkStatus();  // the model would see other inputs: nothing else is comparable
    }
  }
  const runtime::Batch batch = runtime::Batch::Pad({&encoding->ids},
                                                   path.config->special_tokens().pad_id());
  absl::StatusOr<runtime::ModelOutputs> outputs = path.model->Forward(batch);
  if (!outputs.ok()) return outputs.status();

  for (const auto& expected : sample.logits()) {
    const runtime::Logits* logits = OutputByName(*outputs, expected.output());
    if (logits == nullptr) continue;  // an output the contract does not name: informational
    const auto [sum, abs_sum] = Checksum(*logits, static_cast<int64_t>(encoding->size()));
    const double allowed = golden.logits_rtol() * std::max(std::fabs(expected.abs_sum()), 1.0);
    if (std::fabs(sum - expected.sum()) > allowed ||
        std::fabs(abs_sum - expected.abs_sum()) > allowed) {
      diffs->push_back(absl::StrFormat(
          "%s%s checksum sum=%.6g abs_sum=%.6g, expected sum=%.6g abs_sum=%.6g (allowed %.3g)",
          where, expected.output(), sum, abs_sum, expected.sum(), expected.abs_sum(), allowed));
    }
  }

  const float threshold = static_cast<float>(golden.threshold());
  std::multimap<std::string, Comparable> served;
  for (const v1::Tuple& t :
       path.decoder->Decode(sample.text(), *encoding, *outputs, /*row=*/0, threshold)) {
    Comparable c = FromServed(t);
    served.emplace(c.key, std::move(c));
  }
  const double tol = golden.confidence_tolerance();
  auto on_boundary = [&](double confidence) { return std::fabs(confidence - threshold) <= tol; };
  for (const GoldenTuple& g : sample.tuples()) {
    const Comparable want = FromGolden(g);
    auto it = served.find(want.key);
    if (it == served.end()) {
      if (!on_boundary(want.confidence)) {
        diffs->push_back(absl::StrCat(where, "expected tuple ", want.text, " is missing"));
      }
      continue;
    }
    if (std::fabs(it->second.confidence - want.confidence) > tol) {
      diffs->push_back(absl::StrFormat("%stuple %s has confidence %.6f, expected %.6f (±%g)", where,
                                       want.key, it->second.confidence, want.confidence, tol));
    }
    served.erase(it);
  }
  for (const auto& [key, extra] : served) {
    if (!on_boundary(extra.confidence)) {
      diffs->push_back(absl::StrCat(where, "unexpected tuple ", extra.text));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<GoldenFile>> LoadGoldenFile(const std::string& model_dir,
                                                          absl::string_view file_name) {
  const std::string path = absl::StrCat(model_dir, "/", file_name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  GoldenFile golden;
  if (auto s = common::ReadJsonFile(path, kMaxGoldenFileBytes, "golden file", &golden); !s.ok()) {
    return s;
  }
  if (auto s = ValidateGolden(golden); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not valid: ", s.message()));
  }
  return golden;
}

GoldenFile WithPrecisionTolerances(GoldenFile golden, absl::string_view precision) {
  double floor = 0;  // the same for confidences (absolute) and checksums (relative)
  if (precision == "fp16") floor = 0.01;
  if (precision == "bf16") floor = 0.05;
  golden.set_confidence_tolerance(std::max(golden.confidence_tolerance(), floor));
  golden.set_logits_rtol(std::max(golden.logits_rtol(), floor));
  return golden;
}

absl::StatusOr<v1::SelfTest> RunSelfTest(const GoldenFile& golden, const ServingPath& path) {
  std::vector<std::string> diffs;
  int failed_samples = 0;
  for (const GoldenSample& sample : golden.samples()) {
    const size_t before = diffs.size();
    if (auto s = CompareSample(golden, sample, path, &diffs); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("golden self-test: sample \"", sample.id(),
                                                 "\" could not run: ", s.message()));
    }
    if (diffs.size() > before) ++failed_samples;
  }
  if (!diffs.empty()) {
    const size_t shown = std::min<size_t>(diffs.size(), kMaxReported);
    std::string message = absl::StrCat(
        "golden self-test failed: ", failed_samples, " of ", golden.samples_size(),
        " samples differ from what the export produced (", diffs.size(), " differences",
        diffs.size() > shown ? absl::StrCat(", first ", shown) : "", "): ",
        absl::StrJoin(diffs.begin(), diffs.begin() + shown, "; "));
    return absl::FailedPreconditionError(message);
  }
  v1::SelfTest report;
  report.set_passed(true);
  report.set_samples(static_cast<uint32_t>(golden.samples_size()));
  report.set_detail(absl::StrFormat(
      "%d samples reproduced (tuples, token counts, logits checksums; confidence "
      "within %g, checksums within %g%%)",
      golden.samples_size(), golden.confidence_tolerance(), 100 * golden.logits_rtol()));
  return report;
}

}  // namespace eaos::engine
