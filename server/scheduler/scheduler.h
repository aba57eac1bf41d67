// Scheduler: gathers items from ALL concurrent calls and streams into dynamic batches.
//
// A batch always holds the oldest queued item; it is filled from the next queued items (a
// look-ahead window) nearest in length to that item. An item joins only if the batch then does
// more real work per unit of cost, with cost modelled as batch_overhead_tokens + rows x longest
// row, so a long text does not pad a batch of short ones. Limits: max_batch_size rows and
// max_batch_tokens counted as rows x longest row (padding included). A batch leaves when it
// cannot grow (a limit stops a queued item) or when its oldest item has waited max_queue_delay. The
// queue is bounded: Submit() fails fast with RESOURCE_EXHAUSTED instead of blocking. One thread
// forms batches and hands them to a BatchProcessor; every submitted item's callback runs exactly
// once, with a result or an error.
//
// Thread-safety: Submit() and queue_depth() may be called from any thread; callbacks run on the
// scheduler's thread and must not block.
//
//   Scheduler scheduler(options, &processor);
//   auto item = std::make_unique<WorkItem>();
//   item->encoding = ...; item->done = [](absl::StatusOr<v1::ItemResult> r) { ... };
//   absl::Status admitted = scheduler.Submit(MakeVector(std::move(item)));
//   scheduler.Shutdown();  // finishes queued work, then stops
#ifndef EAOS_SERVER_SCHEDULER_SCHEDULER_H_
#define EAOS_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "eaos/v1/eaos.pb.h"
#include "server/text/tokenizer.h"

namespace eaos::scheduler {

// One item on its way through the model.
struct WorkItem {
  std::string id;
  std::string text;
  text::Encoding encoding;
  float threshold = 0.5f;
  absl::Time enqueue_time;
  using Done = std::function<void(absl::StatusOr<v1::ItemResult>)>;
  // Called exactly once with the item's result or error, on the scheduler's thread.
  Done done;

  int64_t length() const { return static_cast<int64_t>(encoding.size()); }
};

// Runs one batch. Returns one result per item, in order, or an error for the whole batch.
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;
  virtual absl::StatusOr<std::vector<absl::StatusOr<v1::ItemResult>>> Process(
      const std::vector<const WorkItem*>& batch) = 0;
};

struct BatchStats {
  int64_t rows = 0;
  int64_t padded_tokens = 0;  // rows x longest row
  int64_t real_tokens = 0;
  absl::Duration process_time;
  std::vector<absl::Duration> queue_waits;  // per item, enqueue -> batch start
  bool failed = false;
};

// Hooks for metrics; default no-ops. Called on the scheduler's thread (OnRejected on the caller's).
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnBatch(const BatchStats& stats) {}
  virtual void OnQueueDepth(int64_t depth) {}
  virtual void OnRejected(int64_t items) {}
  // A forward of `rows` items (`padded_tokens`) ran out of memory; the batch is split and retried.
  virtual void OnOutOfMemory(int64_t rows, int64_t padded_tokens) {}
  // The token budget in force changed (lowered after an out-of-memory error, or restored).
  virtual void OnTokenBudget(int64_t tokens) {}
};

struct SchedulerOptions {
  int max_batch_size = 64;
  int max_batch_tokens = 8192;
  absl::Duration max_queue_delay = absl::Milliseconds(5);
  int max_queue_items = 20000;
  // Queued items, from the oldest, a batch may be picked from; at least max_batch_size
  // (0: 4 x max_batch_size).
  int lookahead = 0;
  // Fixed cost of one forward pass, in tokens' worth of compute: how much padding a larger batch
  // is worth. 0 disables the cost check (items join while the limits allow).
  int batch_overhead_tokens = 64;
};

class Scheduler {
 public:
  // `processor` and `observer` (may be null) must outlive the scheduler.
  Scheduler(const SchedulerOptions& options, BatchProcessor* processor,
            SchedulerObserver* observer = nullptr);
  ~Scheduler();  // Shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Admits all items or none. RESOURCE_EXHAUSTED when the queue lacks room for all of them,
  // UNAVAILABLE after Shutdown() began. On error no callback runs; the caller answers the items.
  absl::Status Submit(std::vector<std::unique_ptr<WorkItem>> items);

  // Stops admitting, runs everything already queued, joins the thread. Idempotent.
  void Shutdown();

  int64_t queue_depth() const;

  // After an out-of-memory error: batches carry at most `tokens` padded tokens (an item longer
  // than that still runs alone) until `hold` has passed without another call, then the budget
  // returns to options().max_batch_tokens.
  void LowerTokenBudget(int64_t tokens, absl::Duration hold);
  // The budget in force now.
  int64_t token_budget() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  void Loop();
  // Queue positions (ascending) of the items the next batch takes; *full is set when a limit
  // (rows or tokens), not the cost check, kept a queued item out: waiting cannot grow the batch.
  std::vector<size_t> SelectBatch(bool* full) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t TokenBudgetLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunBatch(std::vector<std::unique_ptr<WorkItem>> batch);

  const SchedulerOptions options_;
  BatchProcessor* const processor_;
  SchedulerObserver* const observer_;
  SchedulerObserver null_observer_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::unique_ptr<WorkItem>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lowered_budget_ ABSL_GUARDED_BY(mu_) = 0;  // 0: options_.max_batch_tokens
  absl::Time lowered_until_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace eaos::scheduler

#endif  // EAOS_SERVER_SCHEDULER_SCHEDULER_H_
