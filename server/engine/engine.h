// Engine: the loaded model and everything between a request item and its result.
//
// Built from immutable parts: Load() produces the config, tokenizer, one replica per device,
// the memory calibration and the golden self-test result before any thread starts; then the
// engine starts its scheduler (the queue and the batch planner) and one ReplicaRunner per replica
// (the threads that run batches). The service checks and tokenizes items (Prepare) and queues
// them (Submit); each item's `done` runs on a runner thread.
//
// Request path: service -> Engine::Prepare/Submit -> Scheduler (planner.h) -> ReplicaRunner ->
// runtime::Replica (forward, out-of-memory split) -> decode::Decoder -> the item's `done`.
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
#include "server/engine/replica_runner.h"
#include "server/engine/validation.h"
#include "server/engine/work_item.h"
#include "server/runtime/fault_injection.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/runtime/replica.h"
#include "server/scheduler/scheduler.h"
#include "server/text/tokenizer.h"

namespace eaos::engine {

// Both kinds of hook, for a test or a tool that watches everything one engine does.
class EngineObserver : public scheduler::SchedulerObserver, public runtime::RuntimeObserver {};

// Who hears about an engine's work. `scheduling` is the engine's own (kept alive with it, one per
// engine, so that two engines during a reload keep separate books, e.g. their queue gauges);
// `runtime` is not owned and must outlive the engine. Either may be null.
struct EngineObservers {
  std::shared_ptr<scheduler::SchedulerObserver> scheduling;
  runtime::RuntimeObserver* runtime = nullptr;

  // Both hooks of `observer` (may be null), which must outlive the engine.
  static EngineObservers Borrow(EngineObserver* observer);
};

struct EngineOptions {
  std::string model_dir;
  // "cpu", "cuda", "cuda:N", a comma list "cuda:0,cuda:1", or "cuda:all" (every visible GPU):
  // one model replica per device.
  std::string device = "cpu";
  // Runner threads per replica: 2 on a GPU lets one batch be padded, copied and decoded while the
  // other computes. Each runner takes the next batch when it is free (least-loaded dispatch).
  // 0: 2 on a GPU, 1 on CPU (where the intra-op pool already holds the cores).
  int runners_per_device = 0;
  // Weights and activations: "fp32", on CUDA "fp16" / "bf16", on CPU "int8" (model.int8.pt).
  std::string precision = "fp32";
  // 0: on CPU chosen at load by measured cost (thread_choice.h: usable CPUs, or usable CPUs - 1
  // when the serving work needs a core of its own); on a GPU the usable CPUs.
  int intra_op_threads = 0;
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
  // Tests and drills: every Load first sleeps this long, like a slow disk or a hung mount, to show
  // that a stop signal does not wait for a load.
  absl::Duration inject_load_delay = absl::ZeroDuration();
};

// Upper bounds of the options (ValidateOptions): far beyond any useful setting, low enough that
// a typo (an extra zero, a byte count for a token count) is refused instead of served.
inline constexpr int kMaxBatchSize = 4096;
inline constexpr int kMaxQueueItems = 10'000'000;
inline constexpr int kMaxBatchTokens = 1 << 30;

class Engine {
 public:
  // Loads the model directory: model.json, tokenizer, one TorchScript replica per device (each
  // checked by a warm-up forward against model.json), the memory calibration when
  // max_batch_tokens is 0, the golden self-test; then decorates the replicas with injected faults
  // when options.faults asks for them, and starts serving. Never throws: a library exception while
  // loading (std::bad_alloc included) becomes an error status naming the model directory.
  static absl::StatusOr<std::unique_ptr<Engine>> Load(const EngineOptions& options,
                                                      EngineObservers observers = {});

  // The checks of `options` that need no model (Load and Create run them too): a server can refuse
  // bad flags before it listens.
  static absl::Status ValidateOptions(const EngineOptions& options);

  // For tests: an engine around given replicas (e.g. fakes), one per device, served as they are:
  // no calibration, no self-test, and options.faults is not applied (wrap a replica in
  // runtime::FaultInjectingModel, as WithFaults does). runners_per_device threads per replica.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, runtime::ModelConfig config,
      std::unique_ptr<text::Tokenizer> tokenizer,
      std::vector<std::unique_ptr<runtime::Model>> replicas, EngineObservers observers = {});
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, runtime::ModelConfig config,
      std::unique_ptr<text::Tokenizer> tokenizer, std::unique_ptr<runtime::Model> model,
      EngineObservers observers = {});

  // `replicas`, each wrapped in a FaultInjectingModel when `faults` asks for any.
  static std::vector<std::unique_ptr<runtime::Model>> WithFaults(
      const runtime::FaultOptions& faults, std::vector<std::unique_ptr<runtime::Model>> replicas);

  ~Engine();  // Shutdown()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Request-level checks: item count and threshold. INVALID_ARGUMENT with the reason.
  absl::Status CheckRequest(int item_count, const v1::PredictOptions& options) const;

  // Item-level checks (id, empty/oversized/invalid UTF-8 text) and tokenization. The returned item
  // has no callback yet.
  absl::StatusOr<std::unique_ptr<WorkItem>> Prepare(const v1::Item& item, float threshold) const;

  // See Scheduler::Submit: all or nothing; on error the caller answers the items.
  absl::Status Submit(std::vector<std::unique_ptr<WorkItem>> items);
  // See Scheduler::CheckRoom: refuses, before any tokenizing, what Submit() would refuse.
  absl::Status CheckRoom(int64_t items) { return scheduler_.CheckRoom(items); }

  // Stops admitting, lets the runners finish the queued work, joins them. Idempotent.
  void Shutdown();

  v1::ModelInfo Info() const;
  const runtime::ModelConfig& config() const { return parts_.config; }
  int64_t queue_depth() const { return scheduler_.queue_depth(); }
  // Padded tokens a batch may carry now (lowered for a while after an out-of-memory error).
  int64_t token_budget() const { return scheduler_.token_budget(); }

  static float Threshold(const v1::PredictOptions& options) {
    return options.has_confidence_threshold() ? options.confidence_threshold() : 0.5f;
  }

  // What an engine is made of besides its replicas, complete before it starts (Load's steps
  // produce it).
  struct Parts {
    EngineOptions options;  // resolved: no 0 left that means "choose for me"
    runtime::ModelConfig config;
    std::unique_ptr<text::Tokenizer> tokenizer;
    v1::MemoryCalibration calibration;
    v1::SelfTest self_test;
    v1::ThreadChoice thread_choice;
    v1::LoadPhases load_phases;
  };

 private:
  Engine(Parts parts, decode::Decoder decoder,
         std::vector<std::unique_ptr<runtime::Model>> replicas, EngineObservers observers);
  // Checks the parts, builds the decoder and starts the engine on `replicas` (one per device).
  static absl::StatusOr<std::unique_ptr<Engine>> Start(
      Parts parts, std::vector<std::unique_ptr<runtime::Model>> replicas,
      EngineObservers observers);
  // Load's steps; may throw (LibTorch, allocation).
  static absl::StatusOr<std::unique_ptr<Engine>> LoadSteps(const EngineOptions& options,
                                                           EngineObservers observers);
  RequestLimits limits() const;

  const Parts parts_;
  const decode::Decoder decoder_;
  const EngineObservers observers_;
  scheduler::Scheduler scheduler_;
  std::vector<std::unique_ptr<ReplicaRunner>> runners_;  // one per replica; started last
};

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_ENGINE_H_
