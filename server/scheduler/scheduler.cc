#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/scheduler/planner.h"

namespace eaos::scheduler {
Scheduler::Scheduler(const SchedulerOptions& options, SchedulerObserver* observer,
                     std::function<absl::Time()> clock)
    : options_(options),
      observer_(observer != nullptr ? observer : &null_observer_),
      clock_(clock != nullptr ? std::move(clock)
                              : std::function<absl::Time()>([] { return absl::Now(); })),
      reported_budget_(options.max_batch_tokens) {
  observer_->OnTokenBudget(options_.max_batch_tokens);
}

absl::Status Scheduler::Submit(std::vector<std::unique_ptr<Item>> items) {
  if (items.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(items.size());
  int64_t depth = 0;
  const absl::Time now = clock_();
  absl::Status room;
  {
    absl::MutexLock lock(&mu_);
    const size_t dropped_before = dropped_.size();
    room = CheckRoomLocked(n, now);
    if (room.ok()) {
      for (auto& item : items) {
        item->enqueue_time = now;
        // Start-time fair queueing, with tokens as the cost of an item.
        Flow& flow = flows_[item->flow];
        const double start = std::max(virtual_time_, flow.finish);
        flow.finish = start + static_cast<double>(std::max<int64_t>(item->length, 1));
        ++flow.queued;
        const Key key{start, next_seq_++};
        if (item->deadline != absl::InfiniteFuture()) deadlines_.emplace(item->deadline, key);
        queue_.emplace(key, std::move(item));
      }
      cv_.Signal();
    } else if (dropped_.size() > dropped_before) {
      cv_.Signal();  // a runner answers what the full queue dropped
    }
    depth = static_cast<int64_t>(queue_.size());
  }
  if (absl::IsResourceExhausted(room)) observer_->OnRejected(n);
  observer_->OnQueueDepth(depth);
  return room;
}

absl::Status Scheduler::CheckRoom(int64_t items) {
  absl::Status room;
  {
    absl::MutexLock lock(&mu_);
    const size_t dropped_before = dropped_.size();
    room = CheckRoomLocked(items, clock_());
    if (dropped_.size() > dropped_before) cv_.Signal();
  }
  if (absl::IsResourceExhausted(room)) observer_->OnRejected(items);
  return room;
}

absl::Status Scheduler::CheckRoomLocked(int64_t items, absl::Time now) {
  // A full scan reads every queued item's flag: bounded in rate, not done per call.
  constexpr absl::Duration kFullPruneInterval = absl::Milliseconds(50);
  if (closed_) return absl::UnavailableError("server is shutting down");
  if (static_cast<int64_t>(queue_.size()) + items > options_.max_queue_items &&
      now - last_full_prune_ >= kFullPruneInterval) {
    last_full_prune_ = now;
    PruneLocked(now, queue_.size());
  }
  const int64_t depth = static_cast<int64_t>(queue_.size());
  if (depth + items > options_.max_queue_items) {
    return absl::ResourceExhaustedError(absl::StrCat("queue full: ", depth,
                                                     " items waiting, limit ",
                                                     options_.max_queue_items,
                                                     "; retry with backoff"));
  }
  return absl::OkStatus();
}

void Scheduler::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  cv_.SignalAll();
}

int64_t Scheduler::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

void Scheduler::LowerTokenBudget(int64_t tokens, absl::Duration hold) {
  int64_t budget = 0;
  {
    absl::MutexLock lock(&mu_);
    lowered_budget_ = std::max<int64_t>(1, std::min<int64_t>(tokens, options_.max_batch_tokens));
    lowered_until_ = clock_() + hold;
    budget = lowered_budget_;
    reported_budget_ = budget;
  }
  observer_->OnTokenBudget(budget);
}

int64_t Scheduler::token_budget() const {
  absl::MutexLock lock(&mu_);
  return TokenBudgetLocked(clock_());
}

int64_t Scheduler::TokenBudgetLocked(absl::Time now) const {
  return lowered_budget_ > 0 && now < lowered_until_ ? lowered_budget_ : options_.max_batch_tokens;
}

size_t Scheduler::Lookahead() const {
  const size_t max_rows = static_cast<size_t>(options_.max_batch_size);
  return options_.lookahead > 0 ? std::max(static_cast<size_t>(options_.lookahead), max_rows)
                                : 4 * max_rows;
}

std::unique_ptr<Item> Scheduler::TakeLocked(Queue::iterator it) {
  std::unique_ptr<Item> item = std::move(it->second);
  if (item->deadline != absl::InfiniteFuture()) {
    auto [first, last] = deadlines_.equal_range(item->deadline);
    for (auto d = first; d != last; ++d) {
      if (d->second.seq == it->first.seq) {
        deadlines_.erase(d);
        break;
      }
    }
  }
  if (--flows_[item->flow].queued == 0) flows_.erase(item->flow);
  queue_.erase(it);
  return item;
}

void Scheduler::PruneLocked(absl::Time now, size_t scan) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    dropped_.push_back(TakeLocked(queue_.find(deadlines_.begin()->second)));
  }
  size_t seen = 0;
  for (auto it = queue_.begin(); it != queue_.end() && seen < scan;) {
    if (it->second->cancelled()) {
      auto next = std::next(it);
      dropped_.push_back(TakeLocked(it));
      it = next;
      continue;
    }
    ++it;
    ++seen;
  }
}

std::vector<Scheduler::Queue::iterator> Scheduler::SelectBatch(absl::Time now, bool* ready,
                                                                absl::Time* flush_at) {
  // The planner sees the front of the queue in fair order and, when it lies beyond, the item with
  // the queue's earliest deadline; the decision itself is PlanBatch's (planner.h).
  std::vector<Queue::iterator> window;
  const size_t lookahead = Lookahead();
  window.reserve(std::min(queue_.size(), lookahead) + 1);
  Queue::iterator earliest = queue_.end();
  if (!deadlines_.empty()) earliest = queue_.find(deadlines_.begin()->second);
  PlanInput input;
  input.queued = queue_.size();
  input.batch_time = batch_time_;
  for (auto it = queue_.begin(); it != queue_.end() && window.size() < lookahead; ++it) {
    if (it == earliest) input.earliest_deadline = static_cast<int>(window.size());
    window.push_back(it);
  }
  if (earliest != queue_.end() && input.earliest_deadline < 0) {
    input.earliest_deadline = static_cast<int>(window.size());
    window.push_back(earliest);
  }
  input.window.reserve(window.size());
  for (Queue::iterator it : window) {
    const Item& item = *it->second;
    input.window.push_back({item.length, item.enqueue_time, item.deadline});
  }
  PlanLimits limits;
  limits.max_rows = static_cast<size_t>(options_.max_batch_size);
  limits.token_budget = TokenBudgetLocked(now);
  limits.overhead_tokens = options_.batch_overhead_tokens;
  limits.max_queue_delay = options_.max_queue_delay;
  limits.lookahead = lookahead;
  limits.deadline_horizon = options_.deadline_horizon;
  const Plan plan = PlanBatch(input, now, limits);
  // Closing: what is queued leaves now, nothing more will join it.
  *ready = plan.ready(now) || (closed_ && !plan.rows.empty());
  *flush_at = plan.flush_at;
  std::vector<Queue::iterator> chosen;
  chosen.reserve(plan.rows.size());
  for (size_t row : plan.rows) chosen.push_back(window[row]);
  return chosen;
}

absl::Time Scheduler::TakeWorkLocked(absl::Time now, Work* work) {
  work->taken = now;
  // Items that expired or were cancelled while waiting are dropped before a batch is planned.
  PruneLocked(now, Lookahead());
  for (auto& item : dropped_) {
    (item->deadline <= now ? work->expired : work->cancelled).push_back(std::move(item));
  }
  dropped_.clear();
  if (queue_.empty()) return absl::InfiniteFuture();
  bool ready = false;
  absl::Time flush_at;
  std::vector<Queue::iterator> chosen = SelectBatch(now, &ready, &flush_at);
  if (!ready) return flush_at;
  work->batch.reserve(chosen.size());
  for (Queue::iterator it : chosen) {
    virtual_time_ = std::max(virtual_time_, it->first.tag);
    work->batch.push_back(TakeLocked(it));
  }
  if (!queue_.empty()) cv_.Signal();  // another runner may start on the rest
  return now;
}

absl::Time Scheduler::TakeWork(absl::Time now, Work* work) {
  work->clear();
  absl::Time next;
  Report report;
  {
    absl::MutexLock lock(&mu_);
    next = TakeWorkLocked(now, work);
    if (!work->empty()) report = ReportLocked(*work);
  }
  if (!work->empty()) Tell(*work, report);
  return next;
}

bool Scheduler::NextWork(Work* work) {
  work->clear();
  Report report;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      const absl::Time now = clock_();
      // Let a batch fill until it is full, its oldest item has waited long enough, or a deadline
      // draws near (the planner's flush time); answer what was dropped meanwhile at once.
      const absl::Time next = TakeWorkLocked(now, work);
      if (!work->empty()) break;
      if (closed_ && queue_.empty()) return false;
      if (next == absl::InfiniteFuture()) {
        cv_.Wait(&mu_);
      } else {
        cv_.WaitWithDeadline(&mu_, next);
      }
    }
    report = ReportLocked(*work);
  }
  Tell(*work, report);
  return true;
}

Scheduler::Report Scheduler::ReportLocked(const Work& work) {
  Report report;
  report.depth = static_cast<int64_t>(queue_.size());
  const int64_t budget = TokenBudgetLocked(work.taken);
  if (budget != reported_budget_) report.budget = budget;  // the hold of a lowered budget ended
  reported_budget_ = budget;
  return report;
}

void Scheduler::Tell(const Work& work, const Report& report) {
  if (!work.expired.empty() || !work.cancelled.empty()) {
    observer_->OnDropped(static_cast<int64_t>(work.expired.size()),
                         static_cast<int64_t>(work.cancelled.size()));
  }
  observer_->OnQueueDepth(report.depth);
  if (report.budget >= 0) observer_->OnTokenBudget(report.budget);
}

void Scheduler::BatchDone(const BatchStats& stats) {
  {
    absl::MutexLock lock(&mu_);
    batch_time_ = (batch_time_ * 7 + stats.process_time) / 8;
  }
  observer_->OnBatch(stats);
}

}  // namespace eaos::scheduler
