// Prometheus metrics of the server, exposed on their own port (/metrics).
//
// All families and labelled children are built once in the constructor; hot paths only call
// Increment/Observe/Set. Names follow Prometheus conventions (base units, _total, _seconds).
//
// Thread-safety: every method may be called from any thread.
//
//   auto registry = std::make_shared<prometheus::Registry>();
//   Metrics metrics(registry);
//   metrics.RecordRequest(Method::kPredict, grpc::StatusCode::OK, absl::Milliseconds(3));
#ifndef EAOS_SERVER_OBSERVABILITY_METRICS_H_
#define EAOS_SERVER_OBSERVABILITY_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/runtime/runtime_observer.h"
#include "server/scheduler/scheduler.h"

namespace eaos::observability {

enum class Method { kPredict = 0, kPredictStream = 1, kGetModelInfo = 2 };

// The runtime's hooks feed the process-wide families directly; the scheduling hooks come through
// one observer per engine (NewEngineObserver), so that while a reload runs two engines side by
// side, eaos_queue_items is the sum of both queues and not whichever reported last.
class Metrics final : public runtime::RuntimeObserver {
 public:
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);
  ~Metrics() override;

  // The scheduling hooks of one engine; it lives as long as that engine (or longer), and what it
  // added to eaos_queue_items is taken back when it goes.
  std::shared_ptr<scheduler::SchedulerObserver> NewEngineObserver();

  // One finished RPC, by method and status code.
  void RecordRequest(Method method, grpc::StatusCode code, absl::Duration latency);
  // One answered item: ok or an error result; latency from arrival to answer.
  void RecordItem(bool ok, absl::Duration latency);
  // eaos_model_info{name,version,device} = 1 for the loaded model; a later call (a reload)
  // replaces the previous labels, so exactly one series is 1 at a time.
  void SetModelInfo(const std::string& name, const std::string& version, const std::string& device);
  // Accelerator memory in bytes, as the runtime reads it (e.g. LibTorch's CUDA caching allocator):
  // allocated = in use by tensors, reserved = held by the allocator (allocated + cached),
  // limit = total memory of the device. Call it from any thread, e.g. after each batch or on a
  // timer. Never called on CPU, so eaos_device_memory_bytes has no samples there (absent, not 0).
  void SetDeviceMemory(int64_t allocated_bytes, int64_t reserved_bytes, int64_t limit_bytes);

  // Answers held for PredictStream clients (service::UnsentBudget): a change of the bytes held and
  // of the streams that stopped reading because the budget is spent.
  void AddUnsent(int64_t bytes, int paused_streams);

  // A connection to the gRPC port closed at once, unserved (service/acceptor.h): `cap` when
  // --max_connections were already open, `descriptors` when the process was out of them.
  void RecordConnectionRefused(bool out_of_descriptors);

  // runtime::RuntimeObserver
  void OnOutOfMemory(int64_t rows, int64_t padded_tokens) override;
  void OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) override;
  void OnDeviceMemory(int64_t allocated, int64_t reserved, int64_t limit) override;

 private:
  class EngineBooks;
  void RecordBatch(const scheduler::BatchStats& stats);
  void RecordDropped(int64_t expired, int64_t cancelled);

  static constexpr int kMethods = 3;
  static constexpr int kCodes = 17;  // grpc::StatusCode values 0..16

  std::shared_ptr<prometheus::Registry> registry_;
  std::array<std::array<prometheus::Counter*, kCodes>, kMethods> requests_{};
  std::array<prometheus::Histogram*, kMethods> request_latency_{};
  prometheus::Counter* items_ok_;
  prometheus::Counter* items_error_;
  prometheus::Counter* items_rejected_;
  prometheus::Histogram* item_latency_;
  prometheus::Histogram* queue_wait_;
  prometheus::Gauge* queue_items_;
  prometheus::Gauge* unsent_bytes_;
  prometheus::Gauge* streams_paused_;
  prometheus::Counter* batches_;
  prometheus::Counter* batch_failures_;
  prometheus::Histogram* batch_items_;
  prometheus::Histogram* batch_tokens_;
  prometheus::Histogram* batch_padding_ratio_;
  prometheus::Histogram* batch_duration_;
  prometheus::Histogram* forward_duration_;
  prometheus::Counter* real_tokens_;
  prometheus::Counter* padded_tokens_;
  prometheus::Family<prometheus::Gauge>* model_info_;
  prometheus::Family<prometheus::Gauge>* device_memory_;
  prometheus::Counter* dropped_deadline_;
  prometheus::Counter* dropped_cancelled_;
  prometheus::Counter* oom_;
  prometheus::Gauge* token_budget_;
  prometheus::Counter* refused_cap_;
  prometheus::Counter* refused_descriptors_;
  absl::Mutex model_info_mu_;
  prometheus::Gauge* model_info_current_ ABSL_GUARDED_BY(model_info_mu_) = nullptr;
};

}  // namespace eaos::observability

#endif  // EAOS_SERVER_OBSERVABILITY_METRICS_H_
