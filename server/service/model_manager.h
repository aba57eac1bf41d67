// ModelManager: loads the served model and replaces it while the server keeps answering.
//
// A reload builds a complete new engine beside the serving one (model contract check, warm-up,
// golden self-test), attaches it to the service in one step, then drains the old engine: items it
// had queued finish on it, items admitted afterwards go to the new one. Every item is answered
// exactly once, by one of the two models, and its result names that model's version. If the new
// model cannot be loaded, the old one keeps serving and the error is returned.
//
// While both are loaded the process holds two models: leave room for it (docs/deploy.md).
//
// Shutdown never waits for a load: it detaches and drains the served engine at once, and a load
// still running then discards its engine when it ends (the process normally exits first).
//
// Thread-safety: all methods may be called from any thread; loads are serialised. Lock order:
// load_mu_, then mu_, then the service's engine lock.
//
//   ModelManager models(engine_options, &metrics, &service);
//   absl::StatusOr<v1::ModelInfo> info = models.Load();        // startup
//   absl::StatusOr<ReloadResult> r = models.Reload("");        // SIGHUP: same directory again
//   models.Shutdown();                                         // detach and drain
#ifndef EAOS_SERVER_SERVICE_MODEL_MANAGER_H_
#define EAOS_SERVER_SERVICE_MODEL_MANAGER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "eaos/v1/eaos.pb.h"
#include "server/engine/engine.h"
#include "server/observability/metrics.h"
#include "server/service/eaos_service.h"

namespace eaos::service {

struct ReloadResult {
  v1::ModelInfo previous;
  v1::ModelInfo current;
  std::string model_dir;
};

class ModelManager {
 public:
  // `metrics` (may be null) and `service` are not owned and must outlive the manager; each engine
  // gets its own scheduling books from `metrics` (Metrics::NewEngineObserver).
  ModelManager(engine::EngineOptions options, observability::Metrics* metrics,
               EaosServiceImpl* service);
  ~ModelManager();  // Shutdown()

  // Loads options.model_dir and attaches it to the service.
  absl::StatusOr<v1::ModelInfo> Load();

  // Loads `model_dir` (empty: the directory served now, read again), swaps it in and drains the
  // old model. ABORTED if a reload is already running (try_lock), FAILED_PRECONDITION if nothing is
  // being served yet.
  absl::StatusOr<ReloadResult> Reload(const std::string& model_dir);

  // Detaches the model from the service and finishes its queued work, without waiting for a load
  // in progress (see above). Later loads fail with UNAVAILABLE.
  void Shutdown();

  // Whether a Load or Reload is running now.
  bool loading() const { return loading_.load(); }

 private:
  absl::StatusOr<ReloadResult> ReloadLocked(const std::string& model_dir)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);
  // Attaches `engine` unless Shutdown() came first; returns the engine it replaced, or the
  // UNAVAILABLE status after a Shutdown (`engine` is then drained and dropped).
  absl::StatusOr<std::shared_ptr<engine::Engine>> Attach(std::shared_ptr<engine::Engine> engine,
                                                         const engine::EngineOptions& options);
  engine::EngineObservers Observers() const;

  absl::Mutex load_mu_;  // held for a whole load: one at a time
  std::atomic<bool> loading_{false};
  mutable absl::Mutex mu_;
  engine::EngineOptions options_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  observability::Metrics* const metrics_;
  EaosServiceImpl* const service_;
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_MODEL_MANAGER_H_
