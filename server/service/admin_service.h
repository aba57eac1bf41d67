// EaosAdmin over the gRPC callback API: ReloadModel (proto/eaos/v1/admin.proto).
//
// A reload takes seconds (load, warm-up, self-test), so it runs on a worker thread of its own and
// the reactor finishes when it is done; one reload at a time. Disabled unless `enabled`: the call
// then answers PERMISSION_DENIED and loads nothing.
//
// Thread-safety: gRPC entry points run concurrently; the destructor waits for a running reload.
//
//   AdminServiceImpl admin(&models, /*enabled=*/absl::GetFlag(FLAGS_admin_reload));
//   builder.RegisterService(&admin);
#ifndef EAOS_SERVER_SERVICE_ADMIN_SERVICE_H_
#define EAOS_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "eaos/v1/admin.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/service/model_manager.h"

namespace eaos::service {

class AdminServiceImpl final : public v1::EaosAdmin::CallbackService {
 public:
  // `on_reload` (optional) sees every reload's outcome, e.g. for logs and metrics.
  AdminServiceImpl(ModelManager* models, bool enabled,
                   std::function<void(const absl::StatusOr<ReloadResult>&)> on_reload = nullptr);
  ~AdminServiceImpl() override;

  grpc::ServerUnaryReactor* ReloadModel(grpc::CallbackServerContext* context,
                                        const v1::ReloadModelRequest* request,
                                        v1::ReloadModelResponse* response) override;

 private:
  ModelManager* const models_;
  const bool enabled_;
  const std::function<void(const absl::StatusOr<ReloadResult>&)> on_reload_;
  absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;   // a reload is running
  std::thread worker_ ABSL_GUARDED_BY(mu_);  // the latest reload; joined before the next one
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_ADMIN_SERVICE_H_
