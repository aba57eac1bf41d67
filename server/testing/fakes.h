// Fakes behind the tokenizer and model interfaces, for tests of everything around the model: the
// scheduler, the engine, the gRPC service and the client, in builds where the real parts cannot
// run (ASan and TSan cannot dlopen the tokenizer shim with RTLD_DEEPBIND, and LibTorch is not
// instrumented).
//
// The fakes are deterministic per token, so an item's answer does not depend on what it was
// batched with, and they produce real tuples through the real decoder:
//   FakeTokenizer  one piece per whitespace-separated word; id = a hash of the word
//   FakeModel      tags each piece from its id (B-ENT, B-OPI or O), with aspect and sentiment
//                  also from the id; optionally sleeps per forward and per token, like a device
//
// Thread-safety: both are safe to call from many threads at once.
//
//   auto engine = MakeFakeEngine({}, {.per_token = absl::Microseconds(20)});
//   (*engine)->Submit(...);
#ifndef EAOS_SERVER_TESTING_FAKES_H_
#define EAOS_SERVER_TESTING_FAKES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/engine/engine.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/text/tokenizer.h"

namespace eaos::testing {

class FakeTokenizer final : public text::Tokenizer {
 public:
  FakeTokenizer(int vocab_size, int max_length)
      : vocab_size_(vocab_size), max_length_(max_length) {}
  absl::StatusOr<text::Encoding> Encode(absl::string_view text) const override;
  int vocab_size() const override { return vocab_size_; }
  int max_length() const override { return max_length_; }

  // The id Encode() gives `word` (ids 0-3 are pad, unk, BOS, EOS).
  int64_t IdOf(absl::string_view word) const;

 private:
  const int vocab_size_;
  const int max_length_;
};

struct FakeModelOptions {
  // Simulated compute: each forward sleeps fixed + per_token x padded tokens.
  absl::Duration fixed = absl::ZeroDuration();
  absl::Duration per_token = absl::ZeroDuration();
};

class FakeModel final : public runtime::Model {
 public:
  FakeModel(const runtime::ModelConfig& config, FakeModelOptions options);

  using runtime::Model::Forward;
  absl::StatusOr<runtime::ModelOutputs> Forward(const runtime::Batch& batch, int lane) override;
  std::string device() const override { return "fake"; }

  // Rows (items) that reached the model, over all forwards.
  int64_t rows_seen() const { return rows_seen_.load(); }
  int64_t forwards() const { return forwards_.load(); }

 private:
  const FakeModelOptions options_;
  const int64_t span_labels_;
  const int64_t aspects_;
  const int64_t sentiments_;
  std::atomic<int64_t> rows_seen_{0};
  std::atomic<int64_t> forwards_{0};
};

// Comment-like texts for tests: 3 to 11 Vietnamese words and an emoji, varied; SampleText(i)
// repeats every 36 values of i.
std::string SampleText(int i);

// The demo model's model.json (labels, special tokens, max_length): the fakes' contract.
absl::StatusOr<runtime::ModelConfig> DemoModelConfig();

// An engine with the demo config, a FakeTokenizer and a FakeModel (wrapped in a
// FaultInjectingModel when options.faults.any(), by Engine::WithFaults). options.scheduling.max_batch_tokens == 0 becomes
// 64 x max_length (fakes have no memory to calibrate). *model, if given, points at the FakeModel.
absl::StatusOr<std::unique_ptr<engine::Engine>> MakeFakeEngine(
    engine::EngineOptions options, FakeModelOptions model_options,
    engine::EngineObserver* observer = nullptr, FakeModel** model = nullptr);

}  // namespace eaos::testing

#endif  // EAOS_SERVER_TESTING_FAKES_H_
