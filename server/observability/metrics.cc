#include "server/observability/metrics.h"

#include <atomic>
#include <cmath>

namespace eaos::observability {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr std::array<const char*, 3> kMethodNames = {"Predict", "PredictStream", "GetModelInfo"};
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// Seconds from 100 us to ~100 s, roughly x2.5 apart.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    100};
}

prometheus::Histogram::BucketBoundaries PowersOfTwo(int max_exponent) {
  prometheus::Histogram::BucketBoundaries b;
  for (int e = 0; e <= max_exponent; ++e) b.push_back(std::ldexp(1.0, e));
  return b;
}

}  // namespace

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry) : registry_(std::move(registry)) {
  auto& requests = BuildCounter()
                       .Name("eaos_requests_total")
                       .Help("Finished RPCs by method and gRPC status code")
                       .Register(*registry_);
  auto& request_latency = BuildHistogram()
                              .Name("eaos_request_duration_seconds")
                              .Help("RPC duration from start to finish, by method")
                              .Register(*registry_);
  for (int m = 0; m < kMethods; ++m) {
    for (int c = 0; c < kCodes; ++c) {
      requests_[m][c] = &requests.Add({{"method", kMethodNames[m]}, {"code", kCodeNames[c]}});
    }
    request_latency_[m] = &request_latency.Add({{"method", kMethodNames[m]}}, LatencyBuckets());
  }

  auto& items = BuildCounter()
                    .Name("eaos_items_total")
                    .Help("Items answered, by outcome (ok, error, rejected: queue full)")
                    .Register(*registry_);
  items_ok_ = &items.Add({{"outcome", "ok"}});
  items_error_ = &items.Add({{"outcome", "error"}});
  items_rejected_ = &items.Add({{"outcome", "rejected"}});
  item_latency_ = &BuildHistogram()
                       .Name("eaos_item_latency_seconds")
                       .Help("Item latency from arrival at the server to its answer")
                       .Register(*registry_)
                       .Add({}, LatencyBuckets());
  queue_wait_ = &BuildHistogram()
                     .Name("eaos_queue_wait_seconds")
                     .Help("Time an item waited in the queue before its batch started")
                     .Register(*registry_)
                     .Add({}, LatencyBuckets());
  queue_items_ = &BuildGauge()
                      .Name("eaos_queue_items")
                      .Help("Items waiting in the scheduler queue (the autoscaling signal)")
                      .Register(*registry_)
                      .Add({});
  unsent_bytes_ = &BuildGauge()
                       .Name("eaos_stream_unsent_bytes")
                       .Help("Bytes of answers held for PredictStream clients: queued (estimated), "
                             "waiting to be written, being written (bounded by --max_unsent_bytes)")
                       .Register(*registry_)
                       .Add({});
  streams_paused_ = &BuildGauge()
                         .Name("eaos_streams_paused")
                         .Help("PredictStream calls not reading new messages because "
                               "--max_unsent_bytes is spent and they hold more than their share")
                         .Register(*registry_)
                         .Add({});
  batches_ = &BuildCounter()
                  .Name("eaos_batches_total")
                  .Help("Batches run through the model")
                  .Register(*registry_)
                  .Add({});
  batch_failures_ = &BuildCounter()
                         .Name("eaos_batch_failures_total")
                         .Help("Batches whose forward pass failed (every item got the error)")
                         .Register(*registry_)
                         .Add({});
  batch_items_ = &BuildHistogram()
                      .Name("eaos_batch_items")
                      .Help("Items per batch")
                      .Register(*registry_)
                      .Add({}, PowersOfTwo(10));
  batch_tokens_ = &BuildHistogram()
                       .Name("eaos_batch_tokens")
                       .Help("Tokens per batch, padding included (rows x longest row)")
                       .Register(*registry_)
                       .Add({}, PowersOfTwo(17));
  batch_padding_ratio_ = &BuildHistogram()
                              .Name("eaos_batch_padding_ratio")
                              .Help("Share of a batch's tokens that are padding")
                              .Register(*registry_)
                              .Add({}, prometheus::Histogram::BucketBoundaries{
                                           0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});
  batch_duration_ = &BuildHistogram()
                         .Name("eaos_batch_duration_seconds")
                         .Help("Model forward plus decoding time per batch")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets());
  forward_duration_ = &BuildHistogram()
                           .Name("eaos_forward_duration_seconds")
                           .Help("Model forward time per forward pass (outputs on the host "
                                 "included; padding and decoding not)")
                           .Register(*registry_)
                           .Add({}, LatencyBuckets());
  auto& tokens = BuildCounter()
                     .Name("eaos_tokens_total")
                     .Help("Tokens run through the model, by kind (real, padded: real + padding)")
                     .Register(*registry_);
  real_tokens_ = &tokens.Add({{"kind", "real"}});
  padded_tokens_ = &tokens.Add({{"kind", "padded"}});
  model_info_ = &BuildGauge()
                     .Name("eaos_model_info")
                     .Help("The loaded model (value 1), labelled with name, version and device")
                     .Register(*registry_);
  device_memory_ = &BuildGauge()
                        .Name("eaos_device_memory_bytes")
                        .Help("Accelerator memory by state: allocated (tensors), reserved (held "
                              "by the allocator), limit (device total); absent on CPU")
                        .Register(*registry_);
  auto& dropped = BuildCounter()
                      .Name("eaos_items_dropped_total")
                      .Help("Items answered without running, by reason (deadline: it passed in "
                            "the queue; cancelled: the caller went away)")
                      .Register(*registry_);
  dropped_deadline_ = &dropped.Add({{"reason", "deadline"}});
  dropped_cancelled_ = &dropped.Add({{"reason", "cancelled"}});
  oom_ = &BuildCounter()
              .Name("eaos_forward_oom_total")
              .Help("Forward passes that ran out of memory (the batch was split and retried)")
              .Register(*registry_)
              .Add({});
  token_budget_ = &BuildGauge()
                       .Name("eaos_batch_token_budget")
                       .Help("Padded tokens a batch may carry now (lowered for a while after an "
                             "out-of-memory error)")
                       .Register(*registry_)
                       .Add({});
  auto& refused = BuildCounter()
                      .Name("eaos_connections_refused_total")
                      .Help("Connections to the gRPC port closed at once, unserved, by reason "
                            "(cap: --max_connections open; descriptors: none left)")
                      .Register(*registry_);
  refused_cap_ = &refused.Add({{"reason", "cap"}});
  refused_descriptors_ = &refused.Add({{"reason", "descriptors"}});
}

void Metrics::RecordConnectionRefused(bool out_of_descriptors) {
  (out_of_descriptors ? refused_descriptors_ : refused_cap_)->Increment();
}

void Metrics::RecordRequest(Method method, grpc::StatusCode code, absl::Duration latency) {
  const int m = static_cast<int>(method);
  const int c = static_cast<int>(code);
  requests_[m][(c >= 0 && c < kCodes) ? c : static_cast<int>(grpc::StatusCode::UNKNOWN)]
      ->Increment();
  request_latency_[m]->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::RecordItem(bool ok, absl::Duration latency) {
  (ok ? items_ok_ : items_error_)->Increment();
  item_latency_->Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::SetModelInfo(const std::string& name, const std::string& version,
                           const std::string& device) {
  absl::MutexLock lock(&model_info_mu_);
  prometheus::Gauge* next =
      &model_info_->Add({{"name", name}, {"version", version}, {"device", device}});
  if (model_info_current_ != nullptr && model_info_current_ != next) {
    model_info_->Remove(model_info_current_);
  }
  next->Set(1);
  model_info_current_ = next;
}

void Metrics::SetDeviceMemory(int64_t allocated_bytes, int64_t reserved_bytes,
                              int64_t limit_bytes) {
  // Family::Add returns the existing child for the same labels (and is thread-safe).
  device_memory_->Add({{"state", "allocated"}}).Set(static_cast<double>(allocated_bytes));
  device_memory_->Add({{"state", "reserved"}}).Set(static_cast<double>(reserved_bytes));
  device_memory_->Add({{"state", "limit"}}).Set(static_cast<double>(limit_bytes));
}

void Metrics::RecordBatch(const scheduler::BatchStats& stats) {
  batches_->Increment();
  if (stats.failed) batch_failures_->Increment();
  batch_items_->Observe(static_cast<double>(stats.rows));
  batch_tokens_->Observe(static_cast<double>(stats.padded_tokens));
  if (stats.padded_tokens > 0) {
    batch_padding_ratio_->Observe(1.0 - static_cast<double>(stats.real_tokens) /
                                            static_cast<double>(stats.padded_tokens));
  }
  batch_duration_->Observe(absl::ToDoubleSeconds(stats.process_time));
  real_tokens_->Increment(static_cast<double>(stats.real_tokens));
  padded_tokens_->Increment(static_cast<double>(stats.padded_tokens));
  for (const absl::Duration wait : stats.queue_waits) {
    queue_wait_->Observe(absl::ToDoubleSeconds(wait));
  }
}

void Metrics::AddUnsent(int64_t bytes, int paused_streams) {
  if (bytes != 0) unsent_bytes_->Increment(static_cast<double>(bytes));
  if (paused_streams != 0) streams_paused_->Increment(paused_streams);
}

void Metrics::RecordDropped(int64_t expired, int64_t cancelled) {
  dropped_deadline_->Increment(static_cast<double>(expired));
  dropped_cancelled_->Increment(static_cast<double>(cancelled));
}

// One engine's scheduling hooks. The queue gauge gets this engine's change since its last report,
// so the gauge is the sum of every live engine's last depth.
class Metrics::EngineBooks final : public scheduler::SchedulerObserver {
 public:
  explicit EngineBooks(Metrics* metrics) : metrics_(metrics) {}
  ~EngineBooks() override { OnQueueDepth(0); }

  void OnBatch(const scheduler::BatchStats& stats) override { metrics_->RecordBatch(stats); }
  void OnQueueDepth(int64_t depth) override {
    const int64_t change = depth - depth_.exchange(depth);
    if (change != 0) metrics_->queue_items_->Increment(static_cast<double>(change));
  }
  void OnRejected(int64_t items) override {
    metrics_->items_rejected_->Increment(static_cast<double>(items));
  }
  void OnDropped(int64_t expired, int64_t cancelled) override {
    metrics_->RecordDropped(expired, cancelled);
  }
  void OnTokenBudget(int64_t tokens) override {
    metrics_->token_budget_->Set(static_cast<double>(tokens));
  }

 private:
  Metrics* const metrics_;
  std::atomic<int64_t> depth_{0};
};

std::shared_ptr<scheduler::SchedulerObserver> Metrics::NewEngineObserver() {
  return std::make_shared<EngineBooks>(this);
}

Metrics::~Metrics() = default;

void Metrics::OnOutOfMemory(int64_t rows, int64_t padded_tokens) { oom_->Increment(); }

void Metrics::OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) {
  forward_duration_->Observe(absl::ToDoubleSeconds(time));
}

void Metrics::OnDeviceMemory(int64_t allocated, int64_t reserved, int64_t limit) {
  SetDeviceMemory(allocated, reserved, limit);
}

}  // namespace eaos::observability
