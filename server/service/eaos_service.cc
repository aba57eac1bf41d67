#include "server/service/eaos_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace eaos::service {
namespace {

using observability::Method;
using engine::WorkItem;

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

// RESOURCE_EXHAUSTED when the call's metadata is over `limit` bytes, counted as HPACK counts a
// header list (RFC 7541 4.1: name + value + 32 per entry).
absl::Status CheckMetadata(const grpc::CallbackServerContext* context, int limit) {
  int64_t bytes = 0;
  for (const auto& [key, value] : context->client_metadata()) {
    bytes += static_cast<int64_t>(key.size() + value.size()) + 32;
  }
  if (bytes <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("the call's metadata is ", bytes,
                                                   " bytes; the limit is ", limit,
                                                   " (--max_metadata_bytes)"));
}

}  // namespace

int TransportMetadataLimit(int max_metadata_bytes) {
  return static_cast<int>(std::clamp<int64_t>(int64_t{4} * max_metadata_bytes, 64 << 10, 1 << 30));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  // absl::StatusCode and grpc::StatusCode share the google.rpc.Code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

EaosServiceImpl::EaosServiceImpl(observability::Metrics* metrics, const ServiceOptions& options)
    : unsent_(options.max_unsent_bytes), metrics_(metrics), options_(options) {}

// ---------------------------------------------------------------------------------------------
// Predict (unary)

std::shared_ptr<engine::Engine> EaosServiceImpl::SetEngine(std::shared_ptr<engine::Engine> engine) {
  absl::MutexLock lock(&engine_mu_);
  std::swap(engine_, engine);
  return engine;
}

std::shared_ptr<engine::Engine> EaosServiceImpl::engine() const {
  absl::MutexLock lock(&engine_mu_);
  return engine_;
}

struct EaosServiceImpl::Admission {
  absl::Status status;  // not OK: nothing was queued and the whole request fails with it
  std::vector<std::pair<int, absl::Status>> rejected;  // items refused one by one (index, why)
  int64_t queued = 0;
};

absl::Time EaosServiceImpl::Deadline(const grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();  // no deadline set
  }
  return absl::FromChrono(deadline);
}

EaosServiceImpl::Admission EaosServiceImpl::Admit(
    const google::protobuf::RepeatedPtrField<v1::Item>& items, const v1::PredictOptions& options,
    const CallTraits& traits,
    const std::function<WorkItem::Done(int)>& make_done,
    const std::function<void(int64_t)>& count) {
  // A reload can retire the engine between Prepare and Submit; more than one reload in that window
  // is not worth waiting for.
  constexpr int kAttempts = 3;
  Admission admission;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    admission = Admission{};
    const std::shared_ptr<engine::Engine> engine = this->engine();
    if (engine == nullptr) {
      admission.status = NotReady();
      return admission;
    }
    admission.status = engine->CheckRequest(items.size(), options);
    if (!admission.status.ok()) return admission;
    // Under overload, refuse before tokenizing: shedding must cost less than serving.
    admission.status = engine->CheckRoom(items.size());
    if (!admission.status.ok()) {
      if (this->engine() == engine) return admission;  // a full queue or shutdown, not a reload
      continue;
    }
    const float threshold = engine::Engine::Threshold(options);
    std::vector<std::unique_ptr<WorkItem>> work;
    for (int i = 0; i < items.size(); ++i) {
      absl::StatusOr<std::unique_ptr<WorkItem>> prepared = engine->Prepare(items[i], threshold);
      if (!prepared.ok()) {
        admission.rejected.emplace_back(i, prepared.status());
        continue;
      }
      (*prepared)->done = make_done(i);
      (*prepared)->deadline = traits.deadline;
      (*prepared)->flow = traits.flow;
      (*prepared)->gone = traits.gone;
      work.push_back(*std::move(prepared));
    }
    const int64_t n = static_cast<int64_t>(work.size());
    if (n == 0) return admission;
    count(n);  // before any item can complete
    admission.status = engine->Submit(std::move(work));
    if (admission.status.ok()) {
      admission.queued = n;
      return admission;
    }
    count(-n);
    if (this->engine() == engine) return admission;  // a full queue or shutdown, not a reload
  }
  return admission;
}

// ---------------------------------------------------------------------------------------------
// Predict (unary)

namespace {

// The code the client saw: a call that gRPC cancelled (the client's cancel, its deadline, a broken
// connection) ended so for the client whatever the server finished it with.
//
// The server cannot tell the client's deadline from the client's cancel: both arrive as one
// RST_STREAM. Its own deadline is the client's plus the request's transit (gRPC sends a relative
// timeout), and the reset of an expired client arrives about one transit after the client's
// deadline, so near the server's deadline either may come first. A cancel within a tenth of the
// call's timeout of the deadline (at least 5 ms, at most 100 ms) is counted as the deadline.
grpc::StatusCode CodeSeenByClient(grpc::StatusCode finished, bool cancelled, absl::Time start,
                                  absl::Time deadline) {
  if (!cancelled) return finished;
  const absl::Duration slack =
      std::clamp((deadline - start) / 10, absl::Milliseconds(5), absl::Milliseconds(100));
  return absl::Now() >= deadline - slack ? grpc::StatusCode::DEADLINE_EXCEEDED
                                         : grpc::StatusCode::CANCELLED;
}

}  // namespace

// The unary call's reactor: Finish once every item is answered; OnCancel raises the flag its
// queued items share, so the scheduler drops them without asking gRPC. OnDone records the call
// in the metrics with the code the client saw.
class EaosServiceImpl::UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  UnaryReactor(observability::Metrics* metrics, absl::Time deadline)
      : metrics_(metrics), deadline_(deadline) {}
  void OnCancel() override { gone_->store(true, std::memory_order_relaxed); }
  void OnDone() override {
    const grpc::StatusCode code = CodeSeenByClient(
        finished_code_.load(std::memory_order_relaxed), gone_->load(std::memory_order_relaxed),
        start_, deadline_);
    metrics_->RecordRequest(Method::kPredict, code, absl::Now() - start_);
    delete this;
  }
  void FinishWith(const grpc::Status& status) {
    finished_code_.store(status.error_code(), std::memory_order_relaxed);
    Finish(status);
  }
  std::shared_ptr<const std::atomic<bool>> gone() const { return gone_; }

 private:
  observability::Metrics* const metrics_;
  const absl::Time deadline_;
  const absl::Time start_ = absl::Now();
  std::atomic<grpc::StatusCode> finished_code_{grpc::StatusCode::OK};
  const std::shared_ptr<std::atomic<bool>> gone_ = std::make_shared<std::atomic<bool>>(false);
};

grpc::ServerUnaryReactor* EaosServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                   const v1::PredictRequest* request,
                                                   v1::PredictResponse* response) {
  // Deletes itself in OnDone, after Finish, and records the call there.
  auto* reactor = new UnaryReactor(metrics_, Deadline(context));
  const absl::Time start = absl::Now();
  observability::Metrics* metrics = metrics_;
  auto finish = [reactor](const grpc::Status& status) { reactor->FinishWith(status); };
  if (absl::Status status = CheckMetadata(context, options_.max_metadata_bytes); !status.ok()) {
    finish(ToGrpcStatus(status));
    return reactor;
  }

  // Result slots exist before any item is queued: their addresses stay valid until Finish.
  for (const v1::Item& item : request->items()) response->add_results()->set_id(item.id());
  // Items not yet answered, plus one held by this function until the rejected slots are written.
  auto pending = std::make_shared<std::atomic<int64_t>>(1);
  auto answered = [pending, finish] {
    if (pending->fetch_sub(1) == 1) finish(grpc::Status::OK);
  };
  const CallTraits traits{Deadline(context), next_flow_.fetch_add(1), reactor->gone()};
  const Admission admission = Admit(
      request->items(), request->options(), traits,
      [&](int i) -> WorkItem::Done {
        return [slot = response->mutable_results(i), metrics, start, answered,
                id = request->items(i).id()](absl::StatusOr<v1::ItemResult> result) {
          const bool ok = result.ok();
          if (ok) {
            *slot = *std::move(result);
          } else {
            SetError(id, result.status(), slot);
          }
          metrics->RecordItem(ok, absl::Now() - start);
          answered();
        };
      },
      [&](int64_t delta) { pending->fetch_add(delta); });
  if (!admission.status.ok()) {
    finish(ToGrpcStatus(admission.status));  // nothing was queued: no callback will run
    return reactor;
  }
  for (const auto& [i, status] : admission.rejected) {
    SetError(request->items(i).id(), status, response->mutable_results(i));
    metrics->RecordItem(false, absl::Now() - start);
  }
  answered();
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
  StreamReactor(EaosServiceImpl* service, grpc::CallbackServerContext* context)
      : service_(service),
        start_(absl::Now()),
        refused_(CheckMetadata(context, service->options_.max_metadata_bytes)) {
    // Queued items may outlive the stream (a client that went away): they watch a flag the
    // stream shares with them rather than the context.
    traits_ = {Deadline(context), service->next_flow_.fetch_add(1), gone_};
  }

  void Begin() {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      self_ = shared_from_this();
      if (!refused_.ok() || service_->engine() == nullptr) {
        // finished_ first: an OnCancel racing with this must not plan a second Finish.
        finished_ = true;
        actions = Finishing(ToGrpcStatus(refused_.ok() ? NotReady() : refused_));
        final_code_ = actions.finish->error_code();
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
      writing_bytes_ = 0;
      if (!ok) {
        broken_ = true;  // the client is gone
        gone_->store(true, std::memory_order_relaxed);
      }
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  void OnCancel() override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      gone_->store(true, std::memory_order_relaxed);
      broken_ = true;
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  void OnDone() override {
    std::shared_ptr<StreamReactor> self;
    grpc::StatusCode code;
    {
      absl::MutexLock lock(&mu_);
      code = CodeSeenByClient(final_code_, gone_->load(std::memory_order_relaxed), start_,
                              traits_.deadline);
      // Whatever is still queued for it is dropped or answered into the void: it no longer
      // holds anything for a client.
      released_ = true;
      RecountLocked();
      SetPausedLocked(false);
      self = std::move(self_);  // released after the lock, possibly the last reference
    }
    service_->metrics_->RecordRequest(Method::kPredictStream, code, absl::Now() - start_);
  }

 private:
  struct Unsent {
    v1::ItemResult result;
    int64_t bytes;  // result.SpaceUsedLong()
  };
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
    std::weak_ptr<StreamReactor> weak = weak_from_this();
    const Admission admission = service_->Admit(
        request_.items(), request_.options(), traits_,
        [&](int i) -> WorkItem::Done {
          return [weak, metrics, arrival,
                  id = request_.items(i).id()](absl::StatusOr<v1::ItemResult> result) {
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
        },
        [&](int64_t delta) {
          // Counted before the items can complete, so in_flight_ never goes negative.
          absl::MutexLock lock(&mu_);
          in_flight_ += delta;
        });
    // Items that were not queued are answered here with their error.
    // Per-item rejections count as item errors; a refused message (queue full: counted as
    // rejected by the scheduler) counts once, as for Predict.
    std::vector<v1::ItemResult> errors;
    if (admission.status.ok()) {
      for (const auto& [i, status] : admission.rejected) {
        SetError(request_.items(i).id(), status, &errors.emplace_back());
        metrics->RecordItem(false, absl::Now() - arrival);
      }
    } else {
      for (const v1::Item& item : request_.items()) {
        SetError(item.id(), admission.status, &errors.emplace_back());
      }
    }

    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      for (auto& e : errors) {
        const auto bytes = static_cast<int64_t>(e.SpaceUsedLong());
        outbox_bytes_ += bytes;
        outbox_.push_back({std::move(e), bytes});
      }
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  // A result, on an engine runner's thread.
  void Deliver(v1::ItemResult result) {
    const int64_t bytes = static_cast<int64_t>(result.SpaceUsedLong());
    service_->unsent_.RecordResultBytes(bytes);
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (finished_) {
        RecountLocked();
        return;
      }
      outbox_.push_back({std::move(result), bytes});
      outbox_bytes_ += bytes;
      actions = PlanLocked();
    }
    Act(std::move(actions));
  }

  // Tells the server-wide budget what this stream holds now: its outbox, the message being
  // written, and its queued items at the budget's estimate.
  void RecountLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t held =
        released_ ? 0
                  : outbox_bytes_ + writing_bytes_ +
                        in_flight_ * service_->unsent_.QueuedItemEstimate();
    if (held == held_) return;
    service_->unsent_.Change(held_, held);
    service_->metrics_->AddUnsent(held - held_, 0);
    held_ = held;
  }

  void SetPausedLocked(bool paused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (paused == paused_) return;
    paused_ = paused;
    service_->metrics_->AddUnsent(0, paused ? 1 : -1);
  }

  Actions PlanLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (broken_) {
      outbox_.clear();
      outbox_bytes_ = 0;
      RecountLocked();
      SetPausedLocked(false);
      if (!reading_ && !writing_) {
        finished_ = true;
        a.finish = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled by the client");
        final_code_ = grpc::StatusCode::CANCELLED;
      }
      return a;
    }
    if (!writing_ && !outbox_.empty()) {
      response_.Clear();
      const size_t n =
          std::min(outbox_.size(), static_cast<size_t>(service_->options_.max_results_per_message));
      // The bytes move from the outbox to the message being written, where they stay counted
      // until gRPC has sent it (OnWriteDone).
      for (size_t i = 0; i < n; ++i) {
        *response_.add_results() = std::move(outbox_.front().result);
        writing_bytes_ += outbox_.front().bytes;
        outbox_bytes_ -= outbox_.front().bytes;
        outbox_.pop_front();
      }
      writing_ = true;
      a.write = true;
    }
    RecountLocked();
    const int64_t window = in_flight_ + static_cast<int64_t>(outbox_.size());
    const bool may_read =
        !reading_ && !reads_done_ && window < service_->options_.max_stream_in_flight;
    const bool within_budget = !may_read || service_->unsent_.MayRead(held_);
    SetPausedLocked(!within_budget);
    if (may_read && within_budget) {
      reading_ = true;
      a.read = true;
    }
    if (reads_done_ && !reading_ && !writing_ && in_flight_ == 0 && outbox_.empty()) {
      finished_ = true;
      a.finish = grpc::Status::OK;
      final_code_ = grpc::StatusCode::OK;
    }
    return a;
  }

  void Act(Actions a) {
    if (a.write) StartWrite(&response_);
    if (a.read) StartRead(&request_);
    if (a.finish) Finish(*a.finish);
  }

  EaosServiceImpl* const service_;
  const absl::Time start_;
  const absl::Status refused_;  // not OK: the call is ended with it at once (its metadata)
  const std::shared_ptr<std::atomic<bool>> gone_ = std::make_shared<std::atomic<bool>>(false);
  CallTraits traits_;
  grpc::StatusCode final_code_ ABSL_GUARDED_BY(mu_) = grpc::StatusCode::OK;  // what Finish got

  v1::PredictStreamRequest request_;    // owned by the outstanding read
  v1::PredictStreamResponse response_;  // owned by the outstanding write

  absl::Mutex mu_;
  std::deque<Unsent> outbox_ ABSL_GUARDED_BY(mu_);
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // queued in the scheduler
  // What this stream holds for its client, in bytes (UnsentBudget).
  int64_t outbox_bytes_ ABSL_GUARDED_BY(mu_) = 0;   // results in outbox_
  int64_t writing_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // results in response_ while writing_
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;           // as last told to the budget
  bool paused_ ABSL_GUARDED_BY(mu_) = false;        // not reading because of the budget
  bool released_ ABSL_GUARDED_BY(mu_) = false;      // OnDone ran: holds nothing any more
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<StreamReactor> self_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerBidiReactor<v1::PredictStreamRequest, v1::PredictStreamResponse>*
EaosServiceImpl::PredictStream(grpc::CallbackServerContext* context) {
  auto reactor = std::make_shared<StreamReactor>(this, context);
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
  if (absl::Status metadata = CheckMetadata(context, options_.max_metadata_bytes);
      !metadata.ok()) {
    status = ToGrpcStatus(metadata);
  } else if (std::shared_ptr<engine::Engine> engine = this->engine(); engine == nullptr) {
    status = ToGrpcStatus(NotReady());
  } else {
    *response = engine->Info();
    // The word segmenter the model was trained with (clients segment before sending).
    if (const auto& config = engine->config(); config.has_segmenter()) {
      response->mutable_segmenter()->set_package(config.segmenter().package());
      response->mutable_segmenter()->set_version(config.segmenter().version());
    }
  }
  metrics_->RecordRequest(Method::kGetModelInfo, status.error_code(), absl::Now() - start);
  reactor->Finish(status);
  return reactor;
}

}  // namespace eaos::service
