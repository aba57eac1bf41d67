#include "server/engine/replica_runner.h"

#include <pthread.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/engine/work_item.h"

namespace eaos::engine {
namespace {

v1::ItemResult Decode(const WorkItem& item, const runtime::ModelOutputs& outputs, int64_t row,
                      const ReplicaRunner::Context& context) {
  v1::ItemResult result;
  result.set_id(item.id);
  result.set_truncated(item.encoding.truncated);
  result.set_num_tokens(static_cast<uint32_t>(item.encoding.size()));
  result.set_model_version(context.config->version());
  for (auto& tuple :
       context.decoder->Decode(item.text, item.encoding, outputs, row, item.threshold)) {
    *result.add_tuples() = std::move(tuple);
  }
  return result;
}

// Items the queue dropped: answered here, on the runner, never on a submitting thread.
void AnswerDropped(scheduler::Work& work) {
  for (auto& item : work.expired) {
    AsWorkItem(*item).done(absl::DeadlineExceededError(absl::StrCat(
        "deadline exceeded after ", absl::FormatDuration(work.taken - item->enqueue_time),
        " in the queue; the item was not run (raise the deadline or add capacity)")));
  }
  for (auto& item : work.cancelled) {
    AsWorkItem(*item).done(absl::CancelledError("the call was cancelled; the item was not run"));
  }
}

}  // namespace

ReplicaRunner::ReplicaRunner(std::unique_ptr<runtime::Replica> replica, int lanes,
                             const Context& context)
    : replica_(std::move(replica)), context_(context) {
  absl::MutexLock lock(&join_mu_);
  for (int lane = 0; lane < std::max(1, lanes); ++lane) {
    threads_.emplace_back([this, lane] { Loop(lane); });
  }
}

ReplicaRunner::~ReplicaRunner() { Join(); }

void ReplicaRunner::Join() {
  absl::MutexLock lock(&join_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ReplicaRunner::Loop(int lane) {
  // Named for top -H, perf and per-thread CPU accounting ("eaos-runner-0", at most 15 chars).
  pthread_setname_np(pthread_self(), absl::StrCat("eaos-runner-", lane % 100).c_str());
  scheduler::Work work;
  while (context_.scheduler->NextWork(&work)) {
    AnswerDropped(work);
    if (!work.batch.empty()) Run(std::move(work.batch), lane);
  }
}

void ReplicaRunner::Run(std::vector<std::unique_ptr<scheduler::Item>> batch, int lane) {
  scheduler::BatchStats stats;
  stats.rows = static_cast<int64_t>(batch.size());
  std::vector<const std::vector<int64_t>*> rows;
  rows.reserve(batch.size());
  int64_t longest = 0;
  const absl::Time start = absl::Now();
  for (const auto& item : batch) {
    rows.push_back(&AsWorkItem(*item).encoding.ids);
    longest = std::max(longest, item->length);
    stats.real_tokens += item->length;
    stats.queue_waits.push_back(start - item->enqueue_time);
  }
  stats.padded_tokens = stats.rows * longest;

  std::vector<std::optional<v1::ItemResult>> results(batch.size());
  const runtime::RunOutcome outcome =
      replica_->Run(rows, lane, [&](size_t begin, size_t end, const runtime::ModelOutputs& out) {
        for (size_t i = begin; i < end; ++i) {
          results[i] = Decode(AsWorkItem(*batch[i]), out, static_cast<int64_t>(i - begin),
                              context_);
        }
      });
  stats.process_time = absl::Now() - start;
  stats.failed = outcome.failed;
  if (outcome.lower_budget_to > 0) {
    context_.scheduler->LowerTokenBudget(outcome.lower_budget_to, context_.oom_budget_hold);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    WorkItem& item = AsWorkItem(*batch[i]);
    if (!outcome.rows[i].ok()) {
      item.done(outcome.rows[i]);
    } else if (results[i].has_value()) {
      item.done(*std::move(results[i]));
    } else {
      item.done(absl::InternalError("the model produced no outputs for this item"));
    }
  }
  context_.scheduler->BatchDone(stats);
}

}  // namespace eaos::engine
