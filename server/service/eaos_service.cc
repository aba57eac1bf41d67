#include "server/service/eaos_service.h"

#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace eaos::service {
namespace {

using observability::Method;
using scheduler::WorkItem;

void SetError(const std::string& id, const absl::Status& status, v1::ItemResult* result) {
  result->Clear();
  result->set_id(id);
  result->mutable_error()->set_code(static_cast<int32_t>(status.code()));
  result->mutable_error()->set_message(std::string(status.message()));
}

const absl::Status& NotReady() {
  static const auto* status = new absl::Status(
      absl::UnavailableError("the model is still loading; retry when the health check is SERVING"));
  return *status;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  // absl::StatusCode and grpc::StatusCode share the google.rpc.Code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

EaosServiceImpl::EaosServiceImpl(observability::Metrics* metrics, const ServiceOptions& options)
    : metrics_(metrics), options_(options) {}

// ---------------------------------------------------------------------------------------------
// Predict (unary)

grpc::ServerUnaryReactor* EaosServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                   const v1::PredictRequest* request,
                                                   v1::PredictResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  observability::Metrics* metrics = metrics_;
  auto finish = [reactor, metrics, start](const grpc::Status& status) {
    metrics->RecordRequest(Method::kPredict, status.error_code(), absl::Now() - start);
    reactor->Finish(status);
  };

  engine::Engine* engine = engine_.load();
  if (engine == nullptr) {
    finish(ToGrpcStatus(NotReady()));
    return reactor;
  }
  if (absl::Status s = engine->CheckRequest(request->items_size(), request->options()); !s.ok()) {
    finish(ToGrpcStatus(s));
    return reactor;
  }

  const float threshold = engine::Engine::Threshold(request->options());
  // Result slots exist before any item is queued: their addresses stay valid until Finish.
  for (const v1::Item& item : request->items()) response->add_results()->set_id(item.id());

  struct Pending {
    std::atomic<int64_t> count{0};
  };
  auto pending = std::make_shared<Pending>();
  std::vector<std::unique_ptr<WorkItem>> work;
  for (int i = 0; i < request->items_size(); ++i) {
    const v1::Item& item = request->items(i);
    v1::ItemResult* slot = response->mutable_results(i);
    auto prepared = engine->Prepare(item, threshold);
    if (!prepared.ok()) {
      SetError(item.id(), prepared.status(), slot);
      metrics->RecordItem(false, absl::Now() - start);
      continue;
    }
    (*prepared)->done = [slot, pending, metrics, start, finish,
                         id = item.id()](absl::StatusOr<v1::ItemResult> result) {
      if (result.ok()) {
        *slot = *std::move(result);
      } else {
        SetError(id, result.status(), slot);
      }
      metrics->RecordItem(result.ok(), absl::Now() - start);
      if (pending->count.fetch_sub(1) == 1) finish(grpc::Status::OK);
    };
    work.push_back(*std::move(prepared));
  }
  if (work.empty()) {
    finish(grpc::Status::OK);
    return reactor;
  }
  pending->count.store(static_cast<int64_t>(work.size()));
  if (absl::Status s = engine->Submit(std::move(work)); !s.ok()) {
    // Nothing was queued, so no callback will run: the whole call carries the error.
    finish(ToGrpcStatus(s));
  }
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// PredictStream (bidirectional)
//
// State machine, all under mu_: at most one read and one write outstanding. Decisions are made
// under the lock and carried out after it is released (gRPC may run a reaction inline), so a
// Finish is only decided when no read or write is outstanding.

class EaosServiceImpl::StreamReactor final
    : public grpc::ServerBidiReactor<v1::PredictStreamRequest, v1::PredictStreamResponse>,
      public std::enable_shared_from_this<StreamReactor> {
 public:
  StreamReactor(EaosServiceImpl* service, engine::Engine* engine)
      : service_(service), engine_(engine), start_(absl::Now()) {}

  void Begin() {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      self_ = shared_from_this();
      if (engine_ == nullptr) {
        // finished_ first: an OnCancel racing with this must not plan a second Finish.
        finished_ = true;
        actions = Finishing(ToGrpcStatus(NotReady()));
      } else {
        actions = PlanLocked();
      }
    }
    Act(std::move(actions));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Actions actions;
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        reads_done_ = true;
        actions = PlanLocked();
      }
      Act(std::move(actions));
      return;
    }
    HandleMessage();
  }

  void OnWriteDone(bool ok) override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the client is gone
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  void OnCancel() override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  void OnDone() override {
    service_->metrics_->RecordRequest(Method::kPredictStream, final_code_, absl::Now() - start_);
    std::shared_ptr<StreamReactor> self;
    absl::MutexLock lock(&mu_);
    done_ = true;
    self = std::move(self_);  // released after the lock, possibly the last reference
  }

 private:
  struct Actions {
    bool read = false;
    bool write = false;
    std::optional<grpc::Status> finish;
  };

  static Actions Finishing(grpc::Status status) {
    Actions a;
    a.finish = std::move(status);
    return a;
  }

  // Validates and queues the items of request_, then plans what comes next.
  void HandleMessage() {
    {
      // A message that arrives after the client went away is not worth the model's time.
      Actions actions;
      bool abandoned = false;
      {
        absl::MutexLock lock(&mu_);
        if (broken_ || finished_) {
          abandoned = true;
          reading_ = false;
          actions = PlanLocked();
        }
      }
      if (abandoned) {
        Act(std::move(actions));
        return;
      }
    }
    observability::Metrics* metrics = service_->metrics_;
    const absl::Time arrival = absl::Now();
    std::vector<v1::ItemResult> errors;
    std::vector<std::unique_ptr<WorkItem>> work;

    const absl::Status request_ok =
        engine_->CheckRequest(request_.items_size(), request_.options());
    const float threshold = engine::Engine::Threshold(request_.options());
    for (const v1::Item& item : request_.items()) {
      absl::StatusOr<std::unique_ptr<WorkItem>> prepared =
          request_ok.ok() ? engine_->Prepare(item, threshold) : request_ok;
      if (!prepared.ok()) {
        SetError(item.id(), prepared.status(), &errors.emplace_back());
        continue;
      }
      std::weak_ptr<StreamReactor> weak = weak_from_this();
      (*prepared)->done = [weak, metrics, arrival,
                           id = item.id()](absl::StatusOr<v1::ItemResult> result) {
        metrics->RecordItem(result.ok(), absl::Now() - arrival);
        std::shared_ptr<StreamReactor> self = weak.lock();
        if (self == nullptr) return;  // the stream is over
        v1::ItemResult out;
        if (result.ok()) {
          out = *std::move(result);
        } else {
          SetError(id, result.status(), &out);
        }
        self->Deliver(std::move(out));
      };
      work.push_back(*std::move(prepared));
    }

    const int64_t queued = static_cast<int64_t>(work.size());
    {
      // Count the items before they can complete, so in_flight_ never goes negative.
      absl::MutexLock lock(&mu_);
      in_flight_ += queued;
    }
    if (queued > 0) {
      std::vector<std::string> ids;
      ids.reserve(work.size());
      for (const auto& w : work) ids.push_back(w->id);
      if (absl::Status s = engine_->Submit(std::move(work)); !s.ok()) {
        absl::MutexLock lock(&mu_);
        in_flight_ -= queued;
        for (const std::string& id : ids) SetError(id, s, &errors.emplace_back());
      }
    }
    for (size_t i = 0; i < errors.size(); ++i) metrics->RecordItem(false, absl::Now() - arrival);

    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      for (auto& e : errors) outbox_.push_back(std::move(e));
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  // A result from the scheduler's thread.
  void Deliver(v1::ItemResult result) {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (finished_) return;
      outbox_.push_back(std::move(result));
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  Actions PlanLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (broken_) {
      outbox_.clear();
      if (!reading_ && !writing_) {
        finished_ = true;
        a.finish = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled by the client");
      }
      return a;
    }
    if (!writing_ && !outbox_.empty()) {
      response_.Clear();
      const size_t n =
          std::min(outbox_.size(), static_cast<size_t>(service_->options_.max_results_per_message));
      for (size_t i = 0; i < n; ++i) {
        *response_.add_results() = std::move(outbox_.front());
        outbox_.pop_front();
      }
      writing_ = true;
      a.write = true;
    }
    const int64_t window = in_flight_ + static_cast<int64_t>(outbox_.size());
    if (!reading_ && !reads_done_ && window < service_->options_.max_stream_in_flight) {
      reading_ = true;
      a.read = true;
    }
    if (reads_done_ && !reading_ && !writing_ && in_flight_ == 0 && outbox_.empty()) {
      finished_ = true;
      a.finish = grpc::Status::OK;
    }
    return a;
  }

  void Act(Actions a) {
    if (a.write) StartWrite(&response_);
    if (a.read) StartRead(&request_);
    if (a.finish) {
      final_code_ = a.finish->error_code();
      Finish(*a.finish);
    }
  }

  EaosServiceImpl* const service_;
  engine::Engine* const engine_;
  const absl::Time start_;
  grpc::StatusCode final_code_ = grpc::StatusCode::OK;  // written before Finish, read in OnDone

  v1::PredictStreamRequest request_;    // owned by the outstanding read
  v1::PredictStreamResponse response_;  // owned by the outstanding write

  absl::Mutex mu_;
  std::deque<v1::ItemResult> outbox_ ABSL_GUARDED_BY(mu_);
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // queued in the scheduler
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<StreamReactor> self_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerBidiReactor<v1::PredictStreamRequest, v1::PredictStreamResponse>*
EaosServiceImpl::PredictStream(grpc::CallbackServerContext* context) {
  auto reactor = std::make_shared<StreamReactor>(this, engine_.load());
  reactor->Begin();
  return reactor.get();  // kept alive by its own reference until OnDone
}

// ---------------------------------------------------------------------------------------------
// GetModelInfo

grpc::ServerUnaryReactor* EaosServiceImpl::GetModelInfo(grpc::CallbackServerContext* context,
                                                        const v1::GetModelInfoRequest* request,
                                                        v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  grpc::Status status = grpc::Status::OK;
  if (engine::Engine* engine = engine_.load(); engine == nullptr) {
    status = ToGrpcStatus(NotReady());
  } else {
    *response = engine->Info();
  }
  metrics_->RecordRequest(Method::kGetModelInfo, status.error_code(), absl::Now() - start);
  reactor->Finish(status);
  return reactor;
}

}  // namespace eaos::service
