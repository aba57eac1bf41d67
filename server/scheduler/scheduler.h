// Scheduler: gathers items from ALL concurrent calls and streams into dynamic batches.
//
// Order (fairness): the queue is kept in start-time fair order across flows (a flow is one call or
// one stream). An item's tag is max(virtual time, its flow's previous finish) and a flow's finish
// advances by the item's tokens, so a stream with thousands of queued items cannot push a newcomer
// behind all of them: the newcomer's first item is tagged at the current virtual time and is
// served within a batch or two, while a lone heavy stream still gets the whole device.
//
// Batches (the rules are PlanBatch's, planner.h, a pure function tested without threads): the
// look-ahead window is the first `lookahead` items in that order. A batch is seeded by
// the first of them, or, earliest deadline first, by an item whose deadline is near (within a few
// batch times); it is filled with window items nearest in length to the seed (length bucketing,
// so batches carry little padding). An item joins only if the batch then does more real work per
// unit of cost, with cost modelled as batch_overhead_tokens + rows x longest row. Limits:
// max_batch_size rows and a token budget counted as rows x longest row (padding included; lowered
// for a while after an out-of-memory error). A batch leaves when it cannot grow, when its oldest
// item has waited max_queue_delay, or when waiting would endanger a deadline.
//
// Items whose deadline has passed or whose caller has cancelled are answered (DEADLINE_EXCEEDED,
// CANCELLED) and dropped before they reach the model. The queue is bounded: Submit() fails fast
// with RESOURCE_EXHAUSTED instead of blocking. `runners` threads each form the next batch when
// they are free and hand it to the BatchProcessor (so one batch is formed while another runs);
// every submitted item's callback runs exactly once, with a result or an error.
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
#include <functional>
#include <map>
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
  // The caller's deadline; past it the item is answered DEADLINE_EXCEEDED instead of run.
  absl::Time deadline = absl::InfiniteFuture();
  // Fairness key: items of one call or stream share a flow.
  uint64_t flow = 0;
  // When set and returning true, the caller is gone: the item is answered CANCELLED, not run.
  std::function<bool()> cancelled;
  absl::Time enqueue_time;
  using Done = std::function<void(absl::StatusOr<v1::ItemResult>)>;
  // Called exactly once with the item's result or error, on the scheduler's thread.
  Done done;

  int64_t length() const { return static_cast<int64_t>(encoding.size()); }
};

// Runs one batch. Returns one result per item, in order, or an error for the whole batch.
// `runner` (0 .. runners-1) says which runner thread calls; runners call concurrently.
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;
  virtual absl::StatusOr<std::vector<absl::StatusOr<v1::ItemResult>>> Process(
      const std::vector<const WorkItem*>& batch, int runner) = 0;
};

struct BatchStats {
  int64_t rows = 0;
  int64_t padded_tokens = 0;  // rows x longest row
  int64_t real_tokens = 0;
  absl::Duration process_time;
  std::vector<absl::Duration> queue_waits;  // per item, enqueue -> batch start
  bool failed = false;
};

// Hooks for metrics; default no-ops. Never called with the scheduler's lock held. OnRejected,
// OnQueueDepth and (for items a full queue pruned) OnDropped may run on the submitting thread; the
// others on a runner thread.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnBatch(const BatchStats& stats) {}
  virtual void OnQueueDepth(int64_t depth) {}
  virtual void OnRejected(int64_t items) {}
  // Items answered without running: deadline passed (expired) or caller gone (cancelled).
  virtual void OnDropped(int64_t expired, int64_t cancelled) {}
  // A forward of `rows` items (`padded_tokens`) ran out of memory; the batch is split and retried.
  virtual void OnOutOfMemory(int64_t rows, int64_t padded_tokens) {}
  // One forward pass of the model over `rows` items (`padded_tokens`), successful or not, took
  // `time` (outputs on the host included; padding and decoding not). A batch split after an
  // out-of-memory error reports each of its forwards. Called by the BatchProcessor.
  virtual void OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) {}
  // The token budget in force changed (lowered after an out-of-memory error, or restored).
  virtual void OnTokenBudget(int64_t tokens) {}
  // Accelerator memory after a batch (not called on CPU): in use, held by the allocator, total.
  virtual void OnDeviceMemory(int64_t allocated, int64_t reserved, int64_t limit) {}
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
  // An item whose deadline is closer than this seeds the next batch ahead of fair order
  // (earliest deadline first). 0: four mean batch times plus max_queue_delay.
  absl::Duration deadline_horizon = absl::ZeroDuration();
  // Threads that each take the next batch and run it (e.g. one per GPU, or two per GPU so that
  // one batch is assembled, copied and decoded while the other computes). A free runner takes the
  // next batch: the least-loaded one gets the work.
  int runners = 1;
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
  // Whether `items` more would be admitted now, with the status Submit() would refuse them with
  // (counted as rejected when refused). A cheap early answer under overload: callers skip the
  // costly preparation (tokenizing) of work that cannot be queued. Submit() still decides.
  absl::Status CheckRoom(int64_t items);

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
  // Whether `items` more fit. A full queue first drops its expired and cancelled items, anywhere
  // (into *dropped, for the caller to answer outside the lock), at most every kFullPruneInterval:
  // clients that went away must not keep the queue full for the living.
  absl::Status CheckRoomLocked(int64_t items, std::vector<std::unique_ptr<WorkItem>>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop(int runner);
  // Queue order: fair start tag, then arrival.
  struct Key {
    double tag;
    uint64_t seq;
    bool operator<(const Key& o) const { return tag != o.tag ? tag < o.tag : seq < o.seq; }
  };
  using Queue = std::map<Key, std::unique_ptr<WorkItem>>;

  size_t Lookahead() const;
  // Takes an item out of the queue and the flow and deadline books.
  std::unique_ptr<WorkItem> TakeLocked(Queue::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes expired items (anywhere) and cancelled ones (among the first `scan` queued) into
  // *dropped.
  void PruneLocked(absl::Time now, size_t scan, std::vector<std::unique_ptr<WorkItem>>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The items the next batch takes, in queue order, as PlanBatch (planner.h) picks them from a
  // view of the queue; *full and *flush_at are the plan's.
  std::vector<Queue::iterator> SelectBatch(absl::Time now, bool* full, absl::Time* flush_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers dropped items; outside the lock.
  void AnswerDropped(std::vector<std::unique_ptr<WorkItem>> dropped, absl::Time now);
  int64_t TokenBudgetLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunBatch(std::vector<std::unique_ptr<WorkItem>> batch, int runner);

  const SchedulerOptions options_;
  BatchProcessor* const processor_;
  SchedulerObserver* const observer_;
  SchedulerObserver null_observer_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  Queue queue_ ABSL_GUARDED_BY(mu_);
  // Queued items that have a deadline, earliest first: expiry and EDF over the whole queue.
  std::multimap<absl::Time, Key> deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  double virtual_time_ ABSL_GUARDED_BY(mu_) = 0;  // start tag of the last item taken
  struct Flow {
    double finish = 0;   // finish tag of its last queued item
    int64_t queued = 0;  // its items in the queue; the entry goes when it drops to 0
  };
  std::map<uint64_t, Flow> flows_ ABSL_GUARDED_BY(mu_);
  // Mean forward time (exponential average): how near a deadline must be to seed a batch.
  absl::Duration batch_time_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(10);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lowered_budget_ ABSL_GUARDED_BY(mu_) = 0;  // 0: options_.max_batch_tokens
  absl::Time lowered_until_ ABSL_GUARDED_BY(mu_);
  absl::Time last_full_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<std::thread> threads_;
  absl::Mutex join_mu_;  // Shutdown() may be called twice (explicitly, then by the destructor)
};

}  // namespace eaos::scheduler

#endif  // EAOS_SERVER_SCHEDULER_SCHEDULER_H_
