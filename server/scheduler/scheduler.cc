#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace eaos::scheduler {

Scheduler::Scheduler(const SchedulerOptions& options, BatchProcessor* processor,
                     SchedulerObserver* observer)
    : options_(options),
      processor_(processor),
      observer_(observer != nullptr ? observer : &null_observer_),
      thread_([this] { Loop(); }) {}

Scheduler::~Scheduler() { Shutdown(); }

absl::Status Scheduler::Submit(std::vector<std::unique_ptr<WorkItem>> items) {
  if (items.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(items.size());
  int64_t depth = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    if (static_cast<int64_t>(queue_.size()) + n > options_.max_queue_items) {
      depth = static_cast<int64_t>(queue_.size());
      observer_->OnRejected(n);
      return absl::ResourceExhaustedError(
          absl::StrCat("queue full: ", depth, " items waiting, limit ", options_.max_queue_items,
                       "; retry with backoff"));
    }
    const absl::Time now = absl::Now();
    for (auto& item : items) {
      item->enqueue_time = now;
      queue_.push_back(std::move(item));
    }
    depth = static_cast<int64_t>(queue_.size());
    cv_.Signal();
  }
  observer_->OnQueueDepth(depth);
  return absl::OkStatus();
}

void Scheduler::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
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

std::vector<size_t> Scheduler::SelectBatch(bool* full) const {
  *full = false;
  std::vector<size_t> chosen;
  if (queue_.empty()) return chosen;
  const size_t max_rows = static_cast<size_t>(options_.max_batch_size);
  const size_t lookahead = options_.lookahead > 0
                               ? std::max(static_cast<size_t>(options_.lookahead), max_rows)
                               : 4 * max_rows;
  const size_t window = std::min(queue_.size(), lookahead);
  // Items arriving now would land beyond the window: waiting cannot grow this batch.
  if (queue_.size() >= lookahead) *full = true;
  // The oldest item always goes (an item longer than the whole budget goes alone); the others are
  // tried nearest in length first, then oldest first.
  const int64_t anchor = queue_.front()->length();
  std::vector<size_t> order(window - 1);
  for (size_t i = 1; i < window; ++i) order[i - 1] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::abs(queue_[a]->length() - anchor) < std::abs(queue_[b]->length() - anchor);
  });
  chosen.push_back(0);
  int64_t longest = anchor;
  int64_t real = anchor;
  const int64_t overhead = options_.batch_overhead_tokens;
  const int64_t budget = TokenBudgetLocked(absl::Now());
  for (size_t i : order) {
    if (chosen.size() == max_rows) break;
    const int64_t length = queue_[i]->length();
    const int64_t new_longest = std::max(longest, length);
    const int64_t rows = static_cast<int64_t>(chosen.size()) + 1;
    if (rows * new_longest > budget) {
      *full = true;
      continue;
    }
    // Join only if real tokens per unit of cost do not drop:
    // (real + length) / (overhead + rows * new_longest) >= real / (overhead + (rows - 1) * longest)
    if (overhead > 0 && (real + length) * (overhead + (rows - 1) * longest) <
                            real * (overhead + rows * new_longest)) {
      continue;
    }
    chosen.push_back(i);
    longest = new_longest;
    real += length;
  }
  if (chosen.size() == max_rows) *full = true;
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

void Scheduler::Loop() {
  int64_t reported_budget = options_.max_batch_tokens;
  while (true) {
    std::vector<std::unique_ptr<WorkItem>> batch;
    int64_t depth = 0;
    int64_t budget = 0;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      // Let the batch fill until it is full or its oldest item has waited long enough.
      const absl::Time flush_at = queue_.front()->enqueue_time + options_.max_queue_delay;
      bool full = false;
      std::vector<size_t> chosen = SelectBatch(&full);
      while (!stopping_ && !full && absl::Now() < flush_at) {
        cv_.WaitWithDeadline(&mu_, flush_at);
        chosen = SelectBatch(&full);
      }
      batch.reserve(chosen.size());
      for (size_t i : chosen) batch.push_back(std::move(queue_[i]));
      // Erase back to front so earlier positions stay valid; all lie near the front.
      for (auto it = chosen.rbegin(); it != chosen.rend(); ++it) {
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
      depth = static_cast<int64_t>(queue_.size());
      budget = TokenBudgetLocked(absl::Now());
    }
    observer_->OnQueueDepth(depth);
    if (budget != reported_budget) {  // the hold of a lowered budget ended
      reported_budget = budget;
      observer_->OnTokenBudget(budget);
    }
    RunBatch(std::move(batch));
  }
}

void Scheduler::RunBatch(std::vector<std::unique_ptr<WorkItem>> batch) {
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

  auto results = processor_->Process(view);
  stats.process_time = absl::Now() - start;
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
