// EaosService over the gRPC callback API.
//
// Reactions never block: they validate, tokenize and queue items, then return. Results arrive on
// the engine's runner threads, which finish unary calls and write stream responses. Until an engine
// is attached (model loading), calls answer UNAVAILABLE.
//
// Every request (a Predict call, one stream message) is prepared and queued on the engine current at
// that moment; a stream may span engines when the model is reloaded (ModelManager), and each result
// carries the version of the model that produced it.
//
// Thread-safety: all gRPC entry points run concurrently; SetEngine() may race with calls.
//
// Memory: answers waiting for a stream's client to read them are bounded per stream
// (max_stream_in_flight items) and over all streams (max_unsent_bytes, see unsent_budget.h).
//
//   EaosServiceImpl service(&metrics, {.max_stream_in_flight = 2048});
//   builder.RegisterService(&service);
//   ... service.SetEngine(engine);  // once the model is loaded and warmed up
#ifndef EAOS_SERVER_SERVICE_EAOS_SERVICE_H_
#define EAOS_SERVER_SERVICE_EAOS_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/engine/engine.h"
#include "server/observability/metrics.h"
#include "server/service/unsent_budget.h"

namespace eaos::service {

struct ServiceOptions {
  // Items of one stream admitted but not yet written back; reading pauses at this bound.
  int max_stream_in_flight = 2048;
  // Results packed into one PredictStreamResponse at most.
  int max_results_per_message = 256;
  // Bytes of answers held for streams, summed over every stream (UnsentBudget): past it the
  // streams holding the most stop reading until their clients read.
  int64_t max_unsent_bytes = int64_t{256} << 20;
  // A call whose metadata is larger (HPACK's size: name + value + 32 per entry) fails alone with
  // RESOURCE_EXHAUSTED. The transport's own limit sits above it (TransportMetadataLimit): gRPC
  // 1.51 answers a header block over that one by closing the whole connection.
  int max_metadata_bytes = 8192;
};

// What gRPC's transport is told to accept (GRPC_ARG_MAX_METADATA_SIZE): 4 x the service's limit,
// at least 64 KiB, so that calls up to there reach the service and fail one by one.
int TransportMetadataLimit(int max_metadata_bytes);

// The one place where absl::Status becomes grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

class EaosServiceImpl final : public v1::EaosService::CallbackService {
 public:
  EaosServiceImpl(observability::Metrics* metrics, const ServiceOptions& options);

  // Attaches a loaded engine; returns the one it replaces (nullptr detaches). Requests already
  // prepared on the old engine finish there; the caller drains it with Shutdown().
  std::shared_ptr<engine::Engine> SetEngine(std::shared_ptr<engine::Engine> engine);
  std::shared_ptr<engine::Engine> engine() const;

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
  class UnaryReactor;
  struct Admission;
  // What the scheduler knows of the call an item belongs to.
  struct CallTraits {
    absl::Time deadline = absl::InfiniteFuture();
    uint64_t flow = 0;  // one per call or stream: the fairness key
    // Set by the call's reactor when the caller goes away (OnCancel); queued items share it, so the
    // scheduler reads a flag, never the gRPC context.
    std::shared_ptr<const std::atomic<bool>> gone;
  };
  static absl::Time Deadline(const grpc::CallbackServerContext* context);

  // Prepares the items of one request on the current engine and queues them: make_done(i) gives
  // item i its callback. Per-item rejections come back in the admission; a non-OK status means
  // nothing was queued. If the engine is replaced between preparing and queueing, the request is
  // prepared again on the new one.
  Admission Admit(const google::protobuf::RepeatedPtrField<v1::Item>& items,
                  const v1::PredictOptions& options, const CallTraits& traits,
                  const std::function<engine::WorkItem::Done(int)>& make_done,
                  const std::function<void(int64_t)>& before_submit);

  std::atomic<uint64_t> next_flow_{1};
  UnsentBudget unsent_;
  mutable absl::Mutex engine_mu_;
  std::shared_ptr<engine::Engine> engine_ ABSL_GUARDED_BY(engine_mu_);
  observability::Metrics* const metrics_;
  const ServiceOptions options_;
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_EAOS_SERVICE_H_
