// Engine: the loaded model and everything between a request item and its result.
//
// Owns the model config, tokenizer, model, decoder and scheduler. The service asks it to check
// and tokenize items (Prepare) and to queue them (Submit); results come back through each item's
// callback. Load() builds the whole path from a model directory and refuses a directory that
// breaks the model contract.
//
// Thread-safety: all methods may be called concurrently; the engine is shared by every call.
//
//   absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(options);
//   absl::StatusOr<std::unique_ptr<WorkItem>> item = (*engine)->Prepare(request_item, 0.5f);
//   (*item)->done = [](absl::StatusOr<v1::ItemResult> r) { ... };
//   absl::Status admitted = (*engine)->Submit(std::move(items));
#ifndef EAOS_SERVER_ENGINE_ENGINE_H_
#define EAOS_SERVER_ENGINE_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eaos/v1/eaos.pb.h"
#include "server/decode/decoder.h"
#include "server/engine/validation.h"
#include "server/runtime/model.h"
#include "server/runtime/fault_injection.h"
#include "server/runtime/model_config.h"
#include "server/scheduler/scheduler.h"
#include "server/text/tokenizer.h"

namespace eaos::engine {

struct EngineOptions {
  std::string model_dir;
  // "cpu", "cuda", "cuda:N", a comma list "cuda:0,cuda:1", or "cuda:all" (every visible GPU):
  // one model replica per device.
  std::string device = "cpu";
  // Runner threads per replica: 2 on a GPU lets one batch be padded, copied and decoded while the
  // other computes. Each runner takes the next batch when it is free (least-loaded dispatch).
  // 0: 2 on a GPU, 1 on CPU (where the intra-op pool already holds the cores).
  int runners_per_device = 0;
  // Weights and activations: "fp32", or on CUDA "fp16" / "bf16".
  std::string precision = "fp32";
  int intra_op_threads = 0;  // 0: runtime::DefaultIntraOpThreads (CPU: usable CPUs - 1)
  scheduler::SchedulerOptions scheduling;
  int max_items_per_request = 1000;
  int max_text_bytes = 16 * 1024;
  int max_id_bytes = 1024;
  // Replay the model directory's golden.json at load and refuse the model if it differs
  // (self_test.h). A directory without golden.json loads with a warning in ModelInfo.self_test.
  bool golden_check = true;
  // After a forward runs out of memory, how long the lowered token budget holds.
  absl::Duration oom_budget_hold = absl::Seconds(30);
  // scheduling.max_batch_tokens == 0: derive it from measured memory (runtime/calibration.h),
  // using memory_fraction of memory_budget_bytes (0: free device memory / host MemAvailable capped
  // by the cgroup's memory limit: runtime::HostMemoryAvailable).
  double memory_fraction = 0.8;
  int64_t memory_budget_bytes = 0;
  // Injected forward failures (tests, drills); see runtime/fault_injection.h.
  runtime::FaultOptions faults;
};

class Engine {
 public:
  // Loads the model directory: model.json, tokenizer, TorchScript model; runs the warm-up forward
  // that checks the outputs against model.json.
  static absl::StatusOr<std::unique_ptr<Engine>> Load(const EngineOptions& options,
                                                      scheduler::SchedulerObserver* observer);

  // The checks of `options` that need no model (Load and Create run them too): a server can refuse
  // bad flags before it listens.
  static absl::Status ValidateOptions(const EngineOptions& options);

  // For tests: an engine around a given model (e.g. a fake) and tokenizer. Like Load, wraps the
  // model in a runtime::FaultInjectingModel when options.faults asks for injected failures.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options,
                                                        runtime::ModelConfig config,
                                                        std::unique_ptr<text::Tokenizer> tokenizer,
                                                        std::unique_ptr<runtime::Model> model,
                                                        scheduler::SchedulerObserver* observer);
  // One replica per device; scheduling.runners runner threads use them round-robin.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, runtime::ModelConfig config,
      std::unique_ptr<text::Tokenizer> tokenizer,
      std::vector<std::unique_ptr<runtime::Model>> replicas,
      scheduler::SchedulerObserver* observer);

  ~Engine();  // Shutdown()

  // Request-level checks: item count and threshold. INVALID_ARGUMENT with the reason.
  absl::Status CheckRequest(int item_count, const v1::PredictOptions& options) const;

  // Item-level checks (id, empty/oversized/invalid UTF-8 text) and tokenization. The returned item
  // has no callback yet.
  absl::StatusOr<std::unique_ptr<scheduler::WorkItem>> Prepare(const v1::Item& item,
                                                               float threshold) const;

  // See Scheduler::Submit: all or nothing; on error the caller answers the items.
  absl::Status Submit(std::vector<std::unique_ptr<scheduler::WorkItem>> items);
  // See Scheduler::CheckRoom: refuses, before any tokenizing, what Submit() would refuse.
  absl::Status CheckRoom(int64_t items) { return scheduler_->CheckRoom(items); }

  // Finishes queued work and stops the scheduler.
  void Shutdown();

  v1::ModelInfo Info() const;
  const runtime::ModelConfig& config() const { return config_; }
  int64_t queue_depth() const { return scheduler_->queue_depth(); }
  // Padded tokens a batch may carry now (lowered for a while after an out-of-memory error).
  int64_t token_budget() const { return scheduler_->token_budget(); }

  static float Threshold(const v1::PredictOptions& options) {
    return options.has_confidence_threshold() ? options.confidence_threshold() : 0.5f;
  }

 private:
  class Processor;
  RequestLimits limits() const;
  Engine(const EngineOptions& options, runtime::ModelConfig config,
         std::unique_ptr<text::Tokenizer> tokenizer,
         std::vector<std::unique_ptr<runtime::Model>> models, decode::Decoder decoder,
         scheduler::SchedulerObserver* observer);

  const EngineOptions options_;
  scheduler::SchedulerObserver null_observer_;
  scheduler::SchedulerObserver* const observer_;
  const runtime::ModelConfig config_;
  const std::unique_ptr<text::Tokenizer> tokenizer_;
  const std::vector<std::unique_ptr<runtime::Model>> models_;  // one per device
  const decode::Decoder decoder_;
  v1::SelfTest self_test_;
  v1::MemoryCalibration calibration_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
};

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_ENGINE_H_
