#include "server/service/model_manager.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace eaos::service {

ModelManager::ModelManager(engine::EngineOptions options, observability::Metrics* metrics,
                           EaosServiceImpl* service)
    : options_(std::move(options)), metrics_(metrics), service_(service) {}

engine::EngineObservers ModelManager::Observers() const {
  engine::EngineObservers observers;
  if (metrics_ != nullptr) observers = {metrics_->NewEngineObserver(), metrics_};
  return observers;
}

ModelManager::~ModelManager() { Shutdown(); }

absl::StatusOr<v1::ModelInfo> ModelManager::Load() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Load(options_, Observers());
  if (!engine.ok()) return engine.status();
  std::shared_ptr<engine::Engine> shared = *std::move(engine);
  const v1::ModelInfo info = shared->Info();
  if (std::shared_ptr<engine::Engine> old = service_->SetEngine(std::move(shared))) {
    old->Shutdown();
  }
  return info;
}

absl::StatusOr<ReloadResult> ModelManager::Reload(const std::string& model_dir) {
  if (!mu_.TryLock()) {
    return absl::AbortedError("another model reload is in progress; retry when it has finished");
  }
  absl::StatusOr<ReloadResult> result = ReloadLocked(model_dir);
  mu_.Unlock();
  return result;
}

absl::StatusOr<ReloadResult> ModelManager::ReloadLocked(const std::string& model_dir) {
  const std::shared_ptr<engine::Engine> serving = service_->engine();
  if (serving == nullptr) return absl::FailedPreconditionError("no model is being served yet");

  engine::EngineOptions next = options_;
  if (!model_dir.empty()) next.model_dir = model_dir;
  absl::StatusOr<std::unique_ptr<engine::Engine>> loaded = engine::Engine::Load(next, Observers());
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat("cannot load ", next.model_dir, " (still serving ",
                                     serving->config().name(), " ", serving->config().version(),
                                     "): ", loaded.status().message()));
  }
  ReloadResult result;
  result.previous = serving->Info();
  result.current = (*loaded)->Info();
  result.model_dir = next.model_dir;
  std::shared_ptr<engine::Engine> old = service_->SetEngine(*std::move(loaded));
  // Requests admitted from here on go to the new engine; the old one answers what it holds.
  if (old != nullptr) old->Shutdown();
  options_ = std::move(next);
  return result;
}

void ModelManager::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (std::shared_ptr<engine::Engine> old = service_->SetEngine(nullptr)) old->Shutdown();
}

}  // namespace eaos::service
