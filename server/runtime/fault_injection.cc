#include "server/runtime/fault_injection.h"

#include "absl/strings/str_cat.h"

namespace eaos::runtime {

FaultInjectingModel::FaultInjectingModel(std::unique_ptr<Model> model, const FaultOptions& options)
    : model_(std::move(model)), options_(options), rng_(options.seed),
      fail_(options.oom_rate),
      error_(options.error_rate) {}

absl::StatusOr<ModelOutputs> FaultInjectingModel::Forward(const Batch& batch, int lane) {
  {
    absl::MutexLock lock(&mu_);
    if (options_.oom_above_tokens > 0 && batch.tokens() > options_.oom_above_tokens) {
      return OutOfMemory(absl::StrCat("injected: batch of ", batch.tokens(),
                                      " padded tokens exceeds the simulated ",
                                      options_.oom_above_tokens, "-token device"));
    }
    if (options_.oom_rate > 0.0 && fail_(rng_)) {
      return OutOfMemory("injected: random forward failure (--inject_oom_rate)");
    }
    if (options_.error_rate > 0.0 && error_(rng_)) {
      return absl::InternalError("forward failed: injected error (--inject_error_rate)");
    }
  }
  return model_->Forward(batch, lane);
}

}  // namespace eaos::runtime
