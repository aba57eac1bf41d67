#include "server/service/admin_service.h"

#include "server/service/eaos_service.h"

namespace eaos::service {

AdminServiceImpl::AdminServiceImpl(
    ModelManager* models, bool enabled,
    std::function<void(const absl::StatusOr<ReloadResult>&)> on_reload)
    : models_(models), enabled_(enabled), on_reload_(std::move(on_reload)) {}

AdminServiceImpl::~AdminServiceImpl() {
  // The worker takes mu_ when its reload ends: join it without holding mu_ (no new reload can
  // start, gRPC has stopped calling ReloadModel before the service is destroyed).
  std::thread worker;
  {
    absl::MutexLock lock(&mu_);
    worker = std::move(worker_);
  }
  if (worker.joinable()) worker.join();
}

grpc::ServerUnaryReactor* AdminServiceImpl::ReloadModel(grpc::CallbackServerContext* context,
                                                        const v1::ReloadModelRequest* request,
                                                        v1::ReloadModelResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!enabled_) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        "model reload over gRPC is disabled; start eaos-server with --admin_reload, or send "
        "SIGHUP to reload the current model directory"));
    return reactor;
  }
  absl::MutexLock lock(&mu_);
  if (busy_) {
    reactor->Finish(grpc::Status(grpc::StatusCode::ABORTED,
                                 "another model reload is in progress; retry when it has finished"));
    return reactor;
  }
  // The previous worker is past its reload (busy_ is false): joining it does not wait long.
  if (worker_.joinable()) worker_.join();
  busy_ = true;
  worker_ = std::thread([this, reactor, response, dir = request->model_dir()] {
    absl::StatusOr<ReloadResult> result = models_->Reload(dir);
    if (on_reload_) on_reload_(result);
    {
      absl::MutexLock lock(&mu_);
      busy_ = false;
    }
    if (!result.ok()) {
      reactor->Finish(ToGrpcStatus(result.status()));
      return;
    }
    *response->mutable_previous() = std::move(result->previous);
    *response->mutable_current() = std::move(result->current);
    response->set_model_dir(result->model_dir);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace eaos::service
