// Replica: one loaded copy of the model on its device, run the way serving needs it.
//
// Run() turns token rows into as few forwards as memory allows: a forward that runs out of memory
// never fails its rows. Cached device memory is released, the outcome asks for a lower token
// budget, and each half of the rows runs on its own (recursively); a single row that does not fit
// even alone, after one retry, gets RESOURCE_EXHAUSTED while the rest are unaffected. Outputs are
// checked against model.json before anyone reads them.
//
// Thread-safety: Run() may be called from several threads at once, each with its own lane (the
// model's contract, model.h); the observer is called on the calling thread.
//
//   Replica replica(std::move(model), &config, &observer);
//   RunOutcome outcome = replica.Run(rows, /*lane=*/0,
//       [&](size_t begin, size_t end, const ModelOutputs& out) { /* rows [begin, end) */ });
#ifndef EAOS_SERVER_RUNTIME_REPLICA_H_
#define EAOS_SERVER_RUNTIME_REPLICA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/runtime/runtime_observer.h"

namespace eaos::runtime {

struct RunOutcome {
  // Per row: OK where its outputs reached the sink, else why not (the error of the forward that
  // covered it, or RESOURCE_EXHAUSTED for a row that does not fit alone).
  std::vector<absl::Status> rows;
  // A forward failed for a reason other than memory (its rows carry the error).
  bool failed = false;
  // > 0: a forward ran out of memory; batches should stay under this many padded tokens for a
  // while (the scheduler's LowerTokenBudget).
  int64_t lower_budget_to = 0;
};

// Receives the checked outputs of one successful forward that covered rows [begin, end); output
// row r is input row begin + r.
using OutputsSink = std::function<void(size_t begin, size_t end, const ModelOutputs& outputs)>;

class Replica {
 public:
  // `config` and `observer` (may be null) must outlive the replica.
  Replica(std::unique_ptr<Model> model, const ModelConfig* config, RuntimeObserver* observer);

  RunOutcome Run(const std::vector<const std::vector<int64_t>*>& rows, int lane,
                 const OutputsSink& sink);

  Model& model() { return *model_; }
  const Model& model() const { return *model_; }

 private:
  // Runs rows [begin, end) as one forward (split on out-of-memory) into *outcome.
  void RunRange(const std::vector<const std::vector<int64_t>*>& rows, size_t begin, size_t end,
                int lane, const OutputsSink& sink, RunOutcome* outcome);
  absl::StatusOr<ModelOutputs> TimedForward(const Batch& padded, int lane);
  void Fail(size_t begin, size_t end, const absl::Status& status, RunOutcome* outcome) const;

  const std::unique_ptr<Model> model_;
  const ModelConfig* const config_;
  RuntimeObserver null_observer_;
  RuntimeObserver* const observer_;
};

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_REPLICA_H_
