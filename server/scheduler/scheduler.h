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
// Items whose deadline has passed or whose caller has cancelled are dropped before they reach the
// model and handed to a runner to answer (Work::expired, Work::cancelled). The queue is bounded:
// Submit() fails fast with RESOURCE_EXHAUSTED instead of blocking.
//
// The scheduler owns no threads and never calls into an item: runners (engine/replica_runner.h)
// pull work with NextWork(), run it and report back with BatchDone() and LowerTokenBudget(). So
// nothing foreign ever runs under the scheduler's lock, and an item is answered only by the runner
// that took it. Every submitted item leaves the scheduler exactly once: in a batch, as expired or
// cancelled, or (Submit refused) back with its caller.
//
// Thread-safety: every method may be called from any thread. The observer is called without the
// lock held: OnRejected and OnQueueDepth on the submitting thread, the others on a runner's.
// Lock order: the scheduler's lock is a leaf (nothing else is taken under it).
//
//   Scheduler scheduler(options, &observer);
//   scheduler.Submit(std::move(items));                // any thread
//   Work work;
//   while (scheduler.NextWork(&work)) { ...run work.batch, answer the rest...
//                                       scheduler.BatchDone(stats); }
//   scheduler.Close();  // stops admitting; NextWork returns false once the queue is drained
#ifndef EAOS_SERVER_SCHEDULER_SCHEDULER_H_
#define EAOS_SERVER_SCHEDULER_SCHEDULER_H_

#include <atomic>
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

namespace eaos::scheduler {

// What the scheduler knows of a queued item. The engine derives its item type from it (the text,
// its encoding, the caller's completion); the scheduler only reads these fields.
struct Item {
  virtual ~Item() = default;
  int64_t length = 0;  // tokens
  // The caller's deadline; past it the item is dropped as expired instead of run.
  absl::Time deadline = absl::InfiniteFuture();
  // Fairness key: items of one call or stream share a flow.
  uint64_t flow = 0;
  // Set (to true) by the caller when it goes away; null: never cancelled. Read without a lock.
  std::shared_ptr<const std::atomic<bool>> gone;
  absl::Time enqueue_time;  // set by Submit

  bool cancelled() const { return gone != nullptr && gone->load(std::memory_order_relaxed); }
};

// What NextWork hands a runner: a batch to run and items to answer without running.
struct Work {
  std::vector<std::unique_ptr<Item>> batch;      // in queue order
  std::vector<std::unique_ptr<Item>> expired;    // their deadline passed in the queue
  std::vector<std::unique_ptr<Item>> cancelled;  // their caller went away
  absl::Time taken;                              // when the batch left the queue

  bool empty() const { return batch.empty() && expired.empty() && cancelled.empty(); }
  void clear() { *this = Work{}; }
};

struct BatchStats {
  int64_t rows = 0;
  int64_t padded_tokens = 0;  // rows x longest row
  int64_t real_tokens = 0;
  absl::Duration process_time;
  std::vector<absl::Duration> queue_waits;  // per item, enqueue -> batch start
  bool failed = false;
};

// Hooks for metrics; default no-ops. Never called with the scheduler's lock held. OnRejected and
// OnQueueDepth may run on a submitting thread; the others on a runner thread.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  // A batch finished (BatchDone).
  virtual void OnBatch(const BatchStats& stats) {}
  virtual void OnQueueDepth(int64_t depth) {}
  virtual void OnRejected(int64_t items) {}
  // Items handed out to be answered without running: deadline passed or caller gone.
  virtual void OnDropped(int64_t expired, int64_t cancelled) {}
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
  // An item whose deadline is closer than this seeds the next batch ahead of fair order
  // (earliest deadline first). 0: four mean batch times plus max_queue_delay.
  absl::Duration deadline_horizon = absl::ZeroDuration();
};

class Scheduler {
 public:
  // `observer` (may be null) must outlive the scheduler. `clock` (null: absl::Now) stamps items
  // and dates budgets and full-queue scans; tests drive a fake one through TakeWork (NextWork
  // waits in real time).
  explicit Scheduler(const SchedulerOptions& options, SchedulerObserver* observer = nullptr,
                     std::function<absl::Time()> clock = nullptr);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Admits all items or none. RESOURCE_EXHAUSTED when the queue lacks room for all of them,
  // UNAVAILABLE after Close(). On error the items are dropped unanswered: the caller answers them.
  absl::Status Submit(std::vector<std::unique_ptr<Item>> items);
  // Whether `items` more would be admitted now, with the status Submit() would refuse them with
  // (counted as rejected when refused). A cheap early answer under overload: callers skip the
  // costly preparation (tokenizing) of work that cannot be queued. Submit() still decides.
  absl::Status CheckRoom(int64_t items);

  // Blocks until there is work for a runner: a batch that may leave under the planner's rules
  // (planner.h), or items to answer without running. False once Close() was called and the queue
  // is empty: the runner exits. `work` is cleared first.
  bool NextWork(Work* work);
  // The non-blocking core of NextWork for time `now`: fills `work` with what is due and returns
  // when to look again: `now` when it took a batch, the planner's flush time when the batch must
  // wait, InfiniteFuture when the queue is empty.
  absl::Time TakeWork(absl::Time now, Work* work);
  // A runner finished a batch that NextWork gave it: feeds the mean batch time (the unit of the
  // deadline rules) and the observer.
  void BatchDone(const BatchStats& stats);

  // Stops admitting (Submit answers UNAVAILABLE) and wakes every runner; queued work is still
  // handed out. Idempotent.
  void Close();

  int64_t queue_depth() const;

  // After an out-of-memory error: batches carry at most `tokens` padded tokens (an item longer
  // than that still runs alone) until `hold` has passed without another call, then the budget
  // returns to options().max_batch_tokens.
  void LowerTokenBudget(int64_t tokens, absl::Duration hold);
  // The budget in force now.
  int64_t token_budget() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  // Queue order: fair start tag, then arrival.
  struct Key {
    double tag;
    uint64_t seq;
    bool operator<(const Key& o) const { return tag != o.tag ? tag < o.tag : seq < o.seq; }
  };
  using Queue = std::map<Key, std::unique_ptr<Item>>;

  // Whether `items` more fit. A full queue first drops its expired and cancelled items, anywhere
  // (into dropped_, for the next runner to answer), at most every kFullPruneInterval: clients that
  // went away must not keep the queue full for the living.
  absl::Status CheckRoomLocked(int64_t items, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t Lookahead() const;
  // Takes an item out of the queue and the flow and deadline books.
  std::unique_ptr<Item> TakeLocked(Queue::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves expired items (anywhere) and cancelled ones (among the first `scan` queued) to dropped_.
  void PruneLocked(absl::Time now, size_t scan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The items the next batch takes, in queue order, as PlanBatch (planner.h) picks them from a
  // view of the queue; *ready says whether they may leave now, *flush_at when they must.
  std::vector<Queue::iterator> SelectBatch(absl::Time now, bool* ready, absl::Time* flush_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // TakeWork under the lock.
  absl::Time TakeWorkLocked(absl::Time now, Work* work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t TokenBudgetLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What the observer hears after work is taken: the queue depth, and the budget when it changed
  // since the last report (-1: unchanged). Taken under the lock, told outside it (Tell).
  struct Report {
    int64_t depth = 0;
    int64_t budget = -1;
  };
  Report ReportLocked(const Work& work) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Tell(const Work& work, const Report& report);

  const SchedulerOptions options_;
  SchedulerObserver null_observer_;
  SchedulerObserver* const observer_;
  const std::function<absl::Time()> clock_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  Queue queue_ ABSL_GUARDED_BY(mu_);
  // Dropped items not yet handed to a runner (pruned by a full queue on a submitting thread).
  std::vector<std::unique_ptr<Item>> dropped_ ABSL_GUARDED_BY(mu_);
  // Queued items that have a deadline, earliest first: expiry and EDF over the whole queue.
  std::multimap<absl::Time, Key> deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  double virtual_time_ ABSL_GUARDED_BY(mu_) = 0;  // start tag of the last item taken
  struct Flow {
    double finish = 0;   // finish tag of its last queued item
    int64_t queued = 0;  // its items in the queue; the entry goes when it drops to 0
  };
  std::map<uint64_t, Flow> flows_ ABSL_GUARDED_BY(mu_);
  // Mean batch time (exponential average): how near a deadline must be to seed a batch.
  absl::Duration batch_time_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(10);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lowered_budget_ ABSL_GUARDED_BY(mu_) = 0;  // 0: options_.max_batch_tokens
  absl::Time lowered_until_ ABSL_GUARDED_BY(mu_);
  int64_t reported_budget_ ABSL_GUARDED_BY(mu_);  // last OnTokenBudget value
  absl::Time last_full_prune_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace eaos::scheduler

#endif  // EAOS_SERVER_SCHEDULER_SCHEDULER_H_
