#include "server/testing/fakes.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

#ifndef EAOS_SOURCE_DIR
#error "EAOS_SOURCE_DIR must be defined (the demo model's config is read from the source tree)"
#endif

namespace eaos::testing {
namespace {

constexpr int64_t kFirstPieceId = 4;  // after pad, unk, BOS, EOS
constexpr float kHigh = 8.0f;         // the chosen label's logit; the others are 0

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Span tag indices in the demo config's span_labels: O, B-ENT, I-ENT, B-OPI, I-OPI.
constexpr int64_t kTagO = 0, kTagEntity = 1, kTagOpinion = 3;

int64_t TagOf(int64_t id) {
  if (id < kFirstPieceId) return kTagO;
  switch (id % 4) {
    case 0:
      return kTagEntity;
    case 1:
      return kTagOpinion;
    default:
      return kTagO;
  }
}

void FillOneHot(runtime::Logits* logits, int64_t rows, int64_t cols, int64_t labels,
                const runtime::Batch& batch, int64_t (*pick)(int64_t id, int64_t labels)) {
  logits->rows = rows;
  logits->cols = cols;
  logits->labels = labels;
  logits->data.assign(static_cast<size_t>(rows * cols * labels), 0.0f);
  for (int64_t i = 0; i < rows * cols; ++i) {
    const int64_t label = pick(batch.input_ids[i], labels);
    logits->data[static_cast<size_t>(i * labels + label)] = kHigh;
  }
}

}  // namespace

int64_t FakeTokenizer::IdOf(absl::string_view word) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : word) h = (h ^ c) * 1099511628211ull;
  const auto pieces = static_cast<uint64_t>(vocab_size_ - kFirstPieceId);
  return kFirstPieceId + static_cast<int64_t>(h % pieces);
}

absl::StatusOr<text::Encoding> FakeTokenizer::Encode(absl::string_view text) const {
  text::Encoding e;
  auto add = [&e](int64_t id, uint32_t begin, uint32_t end) {
    e.ids.push_back(id);
    e.begins.push_back(begin);
    e.ends.push_back(end);
  };
  add(2, 0, 0);  // BOS
  size_t i = 0;
  while (i < text.size()) {
    if (IsSpace(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && !IsSpace(text[j])) ++j;
    if (static_cast<int>(e.size()) == max_length_ - 1) {
      e.truncated = true;
      break;
    }
    add(IdOf(text.substr(i, j - i)), static_cast<uint32_t>(i), static_cast<uint32_t>(j));
    i = j;
  }
  add(3, 0, 0);  // EOS
  return e;
}

FakeModel::FakeModel(const runtime::ModelConfig& config, FakeModelOptions options)
    : options_(options),
      span_labels_(config.span_labels_size()),
      aspects_(config.aspects_size()),
      sentiments_(config.sentiments_size()) {}

absl::StatusOr<runtime::ModelOutputs> FakeModel::Forward(const runtime::Batch& batch, int) {
  if (batch.rows <= 0 || batch.cols <= 0 ||
      batch.input_ids.size() != static_cast<size_t>(batch.rows * batch.cols)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed batch ", batch.rows, "x", batch.cols, " with ",
                     batch.input_ids.size(), " ids"));
  }
  const absl::Duration cost = options_.fixed + options_.per_token * batch.tokens();
  if (cost > absl::ZeroDuration()) absl::SleepFor(cost);
  runtime::ModelOutputs out;
  FillOneHot(&out.span, batch.rows, batch.cols, span_labels_, batch,
             +[](int64_t id, int64_t) { return TagOf(id); });
  FillOneHot(&out.aspect, batch.rows, batch.cols, aspects_, batch,
             +[](int64_t id, int64_t n) { return id % n; });
  FillOneHot(&out.sentiment, batch.rows, batch.cols, sentiments_, batch,
             +[](int64_t id, int64_t n) { return (id / 7) % n; });
  rows_seen_ += batch.rows;
  ++forwards_;
  return out;
}

std::string SampleText(int i) {
  static const char* const kWords[] = {"chương", "trình", "rất", "hay", "MC", "duyên",
                                       "âm",     "thanh", "rè",  "😀",  "nhạt", "quá"};
  std::string text;
  for (int w = 0; w < 3 + i % 9; ++w) {
    if (w > 0) text += ' ';
    text += kWords[(i * 7 + w * 3) % 12];
  }
  return text;
}

absl::StatusOr<runtime::ModelConfig> DemoModelConfig() {
  return runtime::LoadModelConfig(std::string(EAOS_SOURCE_DIR) + "/models/demo");
}

absl::StatusOr<std::unique_ptr<engine::Engine>> MakeFakeEngine(
    engine::EngineOptions options, FakeModelOptions model_options,
    engine::EngineObserver* observer, FakeModel** model) {
  absl::StatusOr<runtime::ModelConfig> config = DemoModelConfig();
  if (!config.ok()) return config.status();
  if (options.scheduling.max_batch_tokens == 0) {
    options.scheduling.max_batch_tokens = 64 * static_cast<int>(config->max_length());
  }
  const int vocab = config->architecture().vocab_size() > kFirstPieceId
                        ? static_cast<int>(config->architecture().vocab_size())
                        : 4000;
  auto tokenizer =
      std::make_unique<FakeTokenizer>(vocab, static_cast<int>(config->max_length()));
  auto fake = std::make_unique<FakeModel>(*config, model_options);
  if (model != nullptr) *model = fake.get();
  std::vector<std::unique_ptr<runtime::Model>> replicas;
  replicas.push_back(std::move(fake));
  return engine::Engine::Create(options, *std::move(config), std::move(tokenizer),
                                engine::Engine::WithFaults(options.faults, std::move(replicas)),
                                engine::EngineObservers::Borrow(observer));
}

}  // namespace eaos::testing
