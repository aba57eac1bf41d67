#include "server/scheduler/scheduler.h"

#include <algorithm>
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

size_t Scheduler::NextBatchSize() const {
  size_t rows = 0;
  int64_t longest = 0;
  for (const auto& item : queue_) {
    if (rows == static_cast<size_t>(options_.max_batch_size)) break;
    const int64_t new_longest = std::max(longest, item->length());
    // An item longer than the whole budget still runs, alone.
    if (rows > 0 && static_cast<int64_t>(rows + 1) * new_longest > options_.max_batch_tokens) break;
    ++rows;
    longest = new_longest;
  }
  return rows;
}

bool Scheduler::BatchIsFull() const { return NextBatchSize() < queue_.size(); }

void Scheduler::Loop() {
  while (true) {
    std::vector<std::unique_ptr<WorkItem>> batch;
    int64_t depth = 0;
    {
      absl::MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      // Let the batch fill until it is full or its oldest item has waited long enough.
      const absl::Time flush_at = queue_.front()->enqueue_time + options_.max_queue_delay;
      while (!stopping_ && !BatchIsFull() && absl::Now() < flush_at) {
        cv_.WaitWithDeadline(&mu_, flush_at);
      }
      const size_t take = NextBatchSize();
      batch.reserve(take);
      for (size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      depth = static_cast<int64_t>(queue_.size());
    }
    observer_->OnQueueDepth(depth);
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
