// Batch planner: which queued items the next batch takes, and when it must leave.
//
// A pure function of a view of the queue, the time and the limits: no threads, no clock, no
// locks, so every selection rule is tested table-driven (planner_test.cc). The Scheduler
// (scheduler.h) builds the view under its lock and acts on the plan.
//
// Rules, in order:
//   seed     the first item in fair order, unless the queue's earliest deadline is nearer than
//            `deadline_horizon` (earliest deadline first): then that item seeds the batch
//   fill     the other window items join nearest in length to the seed first (length bucketing,
//            little padding), then in fair order, while rows <= max_rows and
//            rows x longest <= token_budget (padding counted); an item longer than the whole budget
//            still runs, alone
//   cost     with overhead_tokens > 0 an item joins only if real tokens per unit of cost do not
//            drop, cost = overhead_tokens + rows x longest
//   leave    the batch is `full` (waiting cannot grow it: a limit kept an item out, the batch has
//            max_rows, or the queue reaches past the window); otherwise it leaves at `flush_at`:
//            when its oldest item has waited max_queue_delay, or two batch times before the seed's
//            deadline, whichever is first
//
// Thread-safety: a free function without state.
//
//   PlanInput in{.window = {{.length = 12, .enqueue_time = t0}}, .queued = 1};
//   Plan plan = PlanBatch(in, now, limits);
//   if (plan.full || now >= plan.flush_at) { /* take in.window[plan.rows[i]] */ }
#ifndef EAOS_SERVER_SCHEDULER_PLANNER_H_
#define EAOS_SERVER_SCHEDULER_PLANNER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace eaos::scheduler {

// One queued item as the planner sees it.
struct Candidate {
  int64_t length = 0;  // tokens
  absl::Time enqueue_time;
  absl::Time deadline = absl::InfiniteFuture();
};

struct PlanLimits {
  size_t max_rows = 64;
  int64_t token_budget = 8192;  // rows x longest row
  int64_t overhead_tokens = 64;  // 0: no cost check
  absl::Duration max_queue_delay = absl::Milliseconds(5);
  // Queue items, from the front in fair order, a batch may be picked from.
  size_t lookahead = 256;
  // A deadline nearer than this seeds the batch ahead of fair order. Zero: four batch times plus
  // max_queue_delay.
  absl::Duration deadline_horizon = absl::ZeroDuration();
};

struct PlanInput {
  // The front of the queue in fair order (at most `lookahead` items), optionally followed by the
  // queue's earliest-deadline item when it lies beyond them.
  std::vector<Candidate> window;
  // Index in `window` of the queue's earliest-deadline item; -1 when no queued item has one.
  int earliest_deadline = -1;
  size_t queued = 0;  // items in the whole queue
  // Mean duration of a batch (forward plus decoding), the unit of the deadline rules.
  absl::Duration batch_time = absl::Milliseconds(10);
};

struct Plan {
  // Indices into PlanInput::window of the batch's items, ascending (queue order); empty only when
  // the window is.
  std::vector<size_t> rows;
  bool full = false;  // waiting cannot grow the batch: it may leave now
  absl::Time flush_at = absl::InfiniteFuture();  // when it must leave even if not full

  bool ready(absl::Time now) const { return !rows.empty() && (full || now >= flush_at); }
};

Plan PlanBatch(const PlanInput& input, absl::Time now, const PlanLimits& limits);

}  // namespace eaos::scheduler

#endif  // EAOS_SERVER_SCHEDULER_PLANNER_H_
