#include "server/runtime/replica.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime/torch_model.h"

namespace eaos::runtime {

Replica::Replica(std::unique_ptr<Model> model, const ModelConfig* config,
                 RuntimeObserver* observer)
    : model_(std::move(model)),
      config_(config),
      observer_(observer != nullptr ? observer : &null_observer_) {}

RunOutcome Replica::Run(const std::vector<const std::vector<int64_t>*>& rows, int lane,
                        const OutputsSink& sink) {
  RunOutcome outcome;
  outcome.rows.assign(rows.size(), absl::OkStatus());
  if (!rows.empty()) RunRange(rows, 0, rows.size(), lane, sink, &outcome);
  if (Model::DeviceMemory memory; model_->ReadDeviceMemory(&memory)) {
    observer_->OnDeviceMemory(memory.allocated, memory.reserved, memory.limit);
  }
  return outcome;
}

void Replica::Fail(size_t begin, size_t end, const absl::Status& status,
                   RunOutcome* outcome) const {
  for (size_t i = begin; i < end; ++i) outcome->rows[i] = status;
}

void Replica::RunRange(const std::vector<const std::vector<int64_t>*>& rows, size_t begin,
                       size_t end, int lane, const OutputsSink& sink, RunOutcome* outcome) {
  const std::vector<const std::vector<int64_t>*> range(rows.begin() + begin, rows.begin() + end);
  const Batch padded = Batch::Pad(range, config_->special_tokens().pad_id());
  absl::StatusOr<ModelOutputs> outputs = TimedForward(padded, lane);
  if (!outputs.ok() && IsOutOfMemory(outputs.status())) {
    model_->ReleaseCachedMemory();
    observer_->OnOutOfMemory(padded.rows, padded.tokens());
    // What did not fit will not fit next time either: batches stay under half of it for a while.
    const int64_t budget = std::max<int64_t>(padded.tokens() / 2, padded.cols);
    outcome->lower_budget_to =
        outcome->lower_budget_to > 0 ? std::min(outcome->lower_budget_to, budget) : budget;
    if (end - begin > 1) {
      const size_t mid = begin + (end - begin) / 2;
      RunRange(rows, begin, mid, lane, sink, outcome);
      RunRange(rows, mid, end, lane, sink, outcome);
      return;
    }
    // One row: the released cache may have been what was missing; try once more.
    absl::StatusOr<ModelOutputs> again = TimedForward(padded, lane);
    if (!again.ok() && IsOutOfMemory(again.status())) {
      Fail(begin, end,
           absl::ResourceExhaustedError(absl::StrCat(
               "the model ran out of memory on this text alone (", padded.cols,
               " tokens); shorten it or lower max_length (", outputs.status().message(), ")")),
           outcome);
      return;
    }
    outputs = std::move(again);
  }
  if (outputs.ok()) {
    // Cheap, and the decoder indexes label lists by these dimensions.
    if (absl::Status s = CheckOutputs(*config_, padded, *outputs); !s.ok()) outputs = s;
  }
  if (!outputs.ok()) {
    outcome->failed = true;
    Fail(begin, end, outputs.status(), outcome);
    return;
  }
  sink(begin, end, *outputs);
}

absl::StatusOr<ModelOutputs> Replica::TimedForward(const Batch& padded, int lane) {
  const absl::Time start = absl::Now();
  absl::StatusOr<ModelOutputs> outputs = model_->Forward(padded, lane);
  observer_->OnForward(padded.rows, padded.tokens(), absl::Now() - start);
  return outputs;
}

}  // namespace eaos::runtime
