#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/scheduler/planner.h"

namespace eaos::scheduler {

Scheduler::Scheduler(const SchedulerOptions& options, BatchProcessor* processor,
                     SchedulerObserver* observer)
    : options_(options),
      processor_(processor),
      observer_(observer != nullptr ? observer : &null_observer_) {
  observer_->OnTokenBudget(options_.max_batch_tokens);
  for (int r = 0; r < std::max(1, options_.runners); ++r) {
    threads_.emplace_back([this, r] { Loop(r); });
  }
}

Scheduler::~Scheduler() { Shutdown(); }

absl::Status Scheduler::Submit(std::vector<std::unique_ptr<WorkItem>> items) {
  if (items.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(items.size());
  int64_t depth = 0;
  std::vector<std::unique_ptr<WorkItem>> dropped;
  const absl::Time now = absl::Now();
  absl::Status room;
  {
    absl::MutexLock lock(&mu_);
    room = CheckRoomLocked(n, &dropped);
    if (room.ok()) {
      for (auto& item : items) {
        item->enqueue_time = now;
        // Start-time fair queueing, with tokens as the cost of an item.
        Flow& flow = flows_[item->flow];
        const double start = std::max(virtual_time_, flow.finish);
        flow.finish = start + static_cast<double>(std::max<int64_t>(item->length(), 1));
        ++flow.queued;
        const Key key{start, next_seq_++};
        if (item->deadline != absl::InfiniteFuture()) deadlines_.emplace(item->deadline, key);
        queue_.emplace(key, std::move(item));
      }
      cv_.Signal();
    }
    depth = static_cast<int64_t>(queue_.size());
  }
  AnswerDropped(std::move(dropped), now);
  if (absl::IsResourceExhausted(room)) observer_->OnRejected(n);
  observer_->OnQueueDepth(depth);
  return room;
}

absl::Status Scheduler::CheckRoom(int64_t items) {
  std::vector<std::unique_ptr<WorkItem>> dropped;
  absl::Status room;
  {
    absl::MutexLock lock(&mu_);
    room = CheckRoomLocked(items, &dropped);
  }
  AnswerDropped(std::move(dropped), absl::Now());
  if (absl::IsResourceExhausted(room)) observer_->OnRejected(items);
  return room;
}

absl::Status Scheduler::CheckRoomLocked(int64_t items,
                                        std::vector<std::unique_ptr<WorkItem>>* dropped) {
  // A full scan calls every queued item's cancelled(): bounded in rate, not done per call.
  constexpr absl::Duration kFullPruneInterval = absl::Milliseconds(50);
  if (stopping_) return absl::UnavailableError("server is shutting down");
  const absl::Time now = absl::Now();
  if (static_cast<int64_t>(queue_.size()) + items > options_.max_queue_items &&
      now - last_full_prune_ >= kFullPruneInterval) {
    last_full_prune_ = now;
    PruneLocked(now, queue_.size(), dropped);
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

void Scheduler::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
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
    lowered_until_ = absl::Now() + hold;
    budget = lowered_budget_;
  }
  observer_->OnTokenBudget(budget);
}

int64_t Scheduler::token_budget() const {
  absl::MutexLock lock(&mu_);
  return TokenBudgetLocked(absl::Now());
}

int64_t Scheduler::TokenBudgetLocked(absl::Time now) const {
  return lowered_budget_ > 0 && now < lowered_until_ ? lowered_budget_ : options_.max_batch_tokens;
}

size_t Scheduler::Lookahead() const {
  const size_t max_rows = static_cast<size_t>(options_.max_batch_size);
  return options_.lookahead > 0 ? std::max(static_cast<size_t>(options_.lookahead), max_rows)
                                : 4 * max_rows;
}

std::unique_ptr<WorkItem> Scheduler::TakeLocked(Queue::iterator it) {
  std::unique_ptr<WorkItem> item = std::move(it->second);
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

void Scheduler::PruneLocked(absl::Time now, size_t scan,
                            std::vector<std::unique_ptr<WorkItem>>* dropped) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    dropped->push_back(TakeLocked(queue_.find(deadlines_.begin()->second)));
  }
  size_t seen = 0;
  for (auto it = queue_.begin(); it != queue_.end() && seen < scan;) {
    const WorkItem& item = *it->second;
    if (item.cancelled && item.cancelled()) {
      auto next = std::next(it);
      dropped->push_back(TakeLocked(it));
      it = next;
      continue;
    }
    ++it;
    ++seen;
  }
}

void Scheduler::AnswerDropped(std::vector<std::unique_ptr<WorkItem>> dropped, absl::Time now) {
  if (dropped.empty()) return;
  int64_t expired = 0, cancelled = 0;
  for (auto& item : dropped) {
    if (item->deadline <= now) {
      ++expired;
      item->done(absl::DeadlineExceededError(absl::StrCat(
          "deadline exceeded after ", absl::FormatDuration(now - item->enqueue_time),
          " in the queue; the item was not run (raise the deadline or add capacity)")));
    } else {
      ++cancelled;
      item->done(absl::CancelledError("the call was cancelled; the item was not run"));
    }
  }
  observer_->OnDropped(expired, cancelled);
}

std::vector<Scheduler::Queue::iterator> Scheduler::SelectBatch(absl::Time now, bool* full,
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
    const WorkItem& item = *it->second;
    input.window.push_back({item.length(), item.enqueue_time, item.deadline});
  }
  PlanLimits limits;
  limits.max_rows = static_cast<size_t>(options_.max_batch_size);
  limits.token_budget = TokenBudgetLocked(now);
  limits.overhead_tokens = options_.batch_overhead_tokens;
  limits.max_queue_delay = options_.max_queue_delay;
  limits.lookahead = lookahead;
  limits.deadline_horizon = options_.deadline_horizon;
  const Plan plan = PlanBatch(input, now, limits);
  *full = plan.full;
  *flush_at = plan.flush_at;
  std::vector<Queue::iterator> chosen;
  chosen.reserve(plan.rows.size());
  for (size_t row : plan.rows) chosen.push_back(window[row]);
  return chosen;
}

void Scheduler::Loop(int runner) {
  int64_t reported_budget = options_.max_batch_tokens;
  while (true) {
    std::vector<std::unique_ptr<WorkItem>> batch;
    std::vector<std::unique_ptr<WorkItem>> dropped;
    int64_t depth = 0;
    int64_t budget = 0;
    absl::Time now;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      // Let the batch fill until it is full, its oldest item has waited long enough, or a
      // deadline draws near. Items that expire or are cancelled meanwhile are dropped.
      bool full = false;
      absl::Time flush_at;
      now = absl::Now();
      PruneLocked(now, Lookahead(), &dropped);
      std::vector<Queue::iterator> chosen = SelectBatch(now, &full, &flush_at);
      while (!stopping_ && !full && !chosen.empty() && now < flush_at) {
        cv_.WaitWithDeadline(&mu_, flush_at);
        now = absl::Now();
        PruneLocked(now, Lookahead(), &dropped);
        chosen = SelectBatch(now, &full, &flush_at);
      }
      batch.reserve(chosen.size());
      for (Queue::iterator it : chosen) {
        virtual_time_ = std::max(virtual_time_, it->first.tag);
        batch.push_back(TakeLocked(it));
      }
      depth = static_cast<int64_t>(queue_.size());
      budget = TokenBudgetLocked(now);
      if (depth > 0) cv_.Signal();  // another runner may start on the rest
    }
    AnswerDropped(std::move(dropped), now);
    observer_->OnQueueDepth(depth);
    if (budget != reported_budget) {  // the hold of a lowered budget ended
      reported_budget = budget;
      observer_->OnTokenBudget(budget);
    }
    if (!batch.empty()) RunBatch(std::move(batch), runner);
  }
}

void Scheduler::RunBatch(std::vector<std::unique_ptr<WorkItem>> batch, int runner) {
  BatchStats stats;
  stats.rows = static_cast<int64_t>(batch.size());
  std::vector<const WorkItem*> view;
  view.reserve(batch.size());
  int64_t longest = 0;
  const absl::Time start = absl::Now();
  for (const auto& item : batch) {
    view.push_back(item.get());
    longest = std::max(longest, item->length());
    stats.real_tokens += item->length();
    stats.queue_waits.push_back(start - item->enqueue_time);
  }
  stats.padded_tokens = stats.rows * longest;

  auto results = processor_->Process(view, runner);
  stats.process_time = absl::Now() - start;
  {
    absl::MutexLock lock(&mu_);
    batch_time_ = (batch_time_ * 7 + stats.process_time) / 8;
  }
  if (results.ok() && results->size() != batch.size()) {
    results = absl::InternalError(absl::StrCat("batch processor returned ", results->size(),
                                               " results for ", batch.size(), " items"));
  }
  stats.failed = !results.ok();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (results.ok()) {
      batch[i]->done(std::move((*results)[i]));
    } else {
      batch[i]->done(results.status());
    }
  }
  observer_->OnBatch(stats);
}

}  // namespace eaos::scheduler
