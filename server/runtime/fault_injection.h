// FaultInjectingModel: a Model decorator that makes forwards fail the way a full GPU does, so that
// out-of-memory recovery (split, retry, lower the budget) can be proven on a CPU.
//
// Independent faults, reported without running the model:
//   oom_rate        a random fraction of forward passes fail with OutOfMemory() (seeded)
//   oom_above_tokens  a forward whose padded batch exceeds this many tokens fails with
//                   OutOfMemory(), like a device with that much memory
//   error_rate      a random fraction of forward passes fail with INTERNAL, an error that
//                   splitting cannot cure (a broken kernel, a lost device): the batch's items get it
//
// Thread-safety: Forward() may run on several runner threads at once (the random draws are taken
// under a mutex; the wrapped model's own contract applies to the real forward).
//
//   auto model = std::make_unique<FaultInjectingModel>(std::move(real), FaultOptions{.oom_rate = 0.2});
#ifndef EAOS_SERVER_RUNTIME_FAULT_INJECTION_H_
#define EAOS_SERVER_RUNTIME_FAULT_INJECTION_H_

#include <cstdint>
#include <memory>
#include <random>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/runtime/model.h"

namespace eaos::runtime {

struct FaultOptions {
  double oom_rate = 0.0;         // in [0, 1)
  int64_t oom_above_tokens = 0;  // 0: no limit
  double error_rate = 0.0;       // in [0, 1)
  uint64_t seed = 1;

  bool any() const { return oom_rate > 0.0 || oom_above_tokens > 0 || error_rate > 0.0; }
};

class FaultInjectingModel final : public Model {
 public:
  FaultInjectingModel(std::unique_ptr<Model> model, const FaultOptions& options);

  using Model::Forward;
  absl::StatusOr<ModelOutputs> Forward(const Batch& batch, int lane) override;
  std::string device() const override { return model_->device(); }
  uint64_t parameter_count() const override { return model_->parameter_count(); }
  void ReleaseCachedMemory() override { model_->ReleaseCachedMemory(); }
  bool ReadDeviceMemory(DeviceMemory* memory) const override {
    return model_->ReadDeviceMemory(memory);
  }
  absl::StatusOr<int64_t> MeasureForward(const Batch& batch) override {
    return model_->MeasureForward(batch);
  }
  int64_t MemoryBudget(double fraction) const override { return model_->MemoryBudget(fraction); }

 private:
  const std::unique_ptr<Model> model_;
  const FaultOptions options_;
  absl::Mutex mu_;  // runners may call Forward concurrently
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::bernoulli_distribution fail_ ABSL_GUARDED_BY(mu_);
  std::bernoulli_distribution error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_FAULT_INJECTION_H_
