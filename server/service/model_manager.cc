#include "server/service/model_manager.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace eaos::service {

ModelManager::ModelManager(engine::EngineOptions options, observability::Metrics* metrics,
                           EaosServiceImpl* service)
    : metrics_(metrics), service_(service) {
  absl::MutexLock lock(&mu_);
  options_ = std::move(options);
}

ModelManager::~ModelManager() { Shutdown(); }

engine::EngineObservers ModelManager::Observers() const {
  engine::EngineObservers observers;
  if (metrics_ != nullptr) observers = {metrics_->NewEngineObserver(), metrics_};
  return observers;
}

absl::StatusOr<std::shared_ptr<engine::Engine>> ModelManager::Attach(
    std::shared_ptr<engine::Engine> engine, const engine::EngineOptions& options) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      options_ = options;
      return service_->SetEngine(std::move(engine));
    }
  }
  engine->Shutdown();  // never served: nothing queued
  return absl::UnavailableError("the server is shutting down; the loaded model was discarded");
}

absl::StatusOr<v1::ModelInfo> ModelManager::Load() {
  absl::MutexLock load_lock(&load_mu_);
  loading_ = true;
  absl::Cleanup done = [this] { loading_ = false; };
  engine::EngineOptions options;
  {
    absl::MutexLock lock(&mu_);
    options = options_;
  }
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Load(options, Observers());
  if (!engine.ok()) return engine.status();
  std::shared_ptr<engine::Engine> shared = *std::move(engine);
  const v1::ModelInfo info = shared->Info();
  absl::StatusOr<std::shared_ptr<engine::Engine>> old = Attach(std::move(shared), options);
  if (!old.ok()) return old.status();
  if (*old != nullptr) (*old)->Shutdown();
  return info;
}

absl::StatusOr<ReloadResult> ModelManager::Reload(const std::string& model_dir) {
  if (!load_mu_.TryLock()) {
    return absl::AbortedError("another model reload is in progress; retry when it has finished");
  }
  loading_ = true;
  absl::StatusOr<ReloadResult> result = ReloadLocked(model_dir);
  loading_ = false;
  load_mu_.Unlock();
  return result;
}

absl::StatusOr<ReloadResult> ModelManager::ReloadLocked(const std::string& model_dir) {
  const std::shared_ptr<engine::Engine> serving = service_->engine();
  if (serving == nullptr) return absl::FailedPreconditionError("no model is being served yet");

  engine::EngineOptions next;
  {
    absl::MutexLock lock(&mu_);
    next = options_;
  }
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
  absl::StatusOr<std::shared_ptr<engine::Engine>> old = Attach(*std::move(loaded), next);
  if (!old.ok()) return old.status();
  // Requests admitted from here on go to the new engine; the old one answers what it holds.
  if (*old != nullptr) (*old)->Shutdown();
  return result;
}

void ModelManager::Shutdown() {
  std::shared_ptr<engine::Engine> old;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    old = service_->SetEngine(nullptr);
  }
  if (old != nullptr) old->Shutdown();
}

}  // namespace eaos::service
