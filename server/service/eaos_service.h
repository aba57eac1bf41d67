// EaosService over the gRPC callback API.
//
// Reactions never block: they validate, tokenize and queue items, then return. Results arrive on
// the scheduler's thread, which finishes unary calls and writes stream responses. Until an engine
// is attached (model loading), calls answer UNAVAILABLE.
//
// Thread-safety: all gRPC entry points run concurrently; SetEngine() may race with calls.
//
//   EaosServiceImpl service(&metrics, {.max_stream_in_flight = 2048});
//   builder.RegisterService(&service);
//   ... service.SetEngine(engine.get());  // once the model is loaded and warmed up
#ifndef EAOS_SERVER_SERVICE_EAOS_SERVICE_H_
#define EAOS_SERVER_SERVICE_EAOS_SERVICE_H_

#include <atomic>

#include "absl/status/status.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/engine/engine.h"
#include "server/observability/metrics.h"

namespace eaos::service {

struct ServiceOptions {
  // Items of one stream admitted but not yet written back; reading pauses at this bound.
  int max_stream_in_flight = 2048;
  // Results packed into one PredictStreamResponse at most.
  int max_results_per_message = 256;
};

// The one place where absl::Status becomes grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

class EaosServiceImpl final : public v1::EaosService::CallbackService {
 public:
  EaosServiceImpl(observability::Metrics* metrics, const ServiceOptions& options);

  // Attaches the loaded engine (not owned; must outlive every call). nullptr detaches.
  void SetEngine(engine::Engine* engine) { engine_.store(engine); }

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerBidiReactor<v1::PredictStreamRequest, v1::PredictStreamResponse>* PredictStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  class StreamReactor;

  std::atomic<engine::Engine*> engine_{nullptr};
  observability::Metrics* const metrics_;
  const ServiceOptions options_;
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_EAOS_SERVICE_H_
