// ReplicaRunner: the threads that run batches on one replica of the model (one device).
//
// Each of its threads owns one lane of the replica (on a GPU, a CUDA stream of its device) and
// loops: pull work from the scheduler (Scheduler::NextWork), answer the items the queue dropped
// (DEADLINE_EXCEEDED, CANCELLED), run the batch on the replica (runtime::Replica: the forward and
// its out-of-memory split-and-retry), decode every row and answer every item exactly once, then
// report to the scheduler through its API (BatchDone; LowerTokenBudget after an out-of-memory
// error). The scheduler never calls back into a runner. The threads exit once the scheduler is
// closed and drained.
//
// Thread-safety: the constructor starts the threads; Join() may be called from any one thread.
//
//   ReplicaRunner runner(std::move(replica), /*lanes=*/2, {&config, &decoder, &scheduler, hold});
//   scheduler.Close();
//   runner.Join();
#ifndef EAOS_SERVER_ENGINE_REPLICA_RUNNER_H_
#define EAOS_SERVER_ENGINE_REPLICA_RUNNER_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/decode/decoder.h"
#include "server/runtime/model_config.h"
#include "server/runtime/replica.h"
#include "server/scheduler/scheduler.h"

namespace eaos::engine {

class ReplicaRunner {
 public:
  // What the runners share; everything must outlive the runner.
  struct Context {
    const runtime::ModelConfig* config = nullptr;
    const decode::Decoder* decoder = nullptr;
    scheduler::Scheduler* scheduler = nullptr;
    // After a forward runs out of memory, how long the lowered token budget holds.
    absl::Duration oom_budget_hold = absl::Seconds(30);
  };

  ReplicaRunner(std::unique_ptr<runtime::Replica> replica, int lanes, const Context& context);
  ~ReplicaRunner();  // Join()
  ReplicaRunner(const ReplicaRunner&) = delete;
  ReplicaRunner& operator=(const ReplicaRunner&) = delete;

  // Waits for the threads; they return once the scheduler is closed and drained.
  void Join();

  const runtime::Model& model() const { return replica_->model(); }

 private:
  void Loop(int lane);
  void Run(std::vector<std::unique_ptr<scheduler::Item>> batch, int lane);

  const std::unique_ptr<runtime::Replica> replica_;
  const Context context_;
  absl::Mutex join_mu_;  // Join() may be called twice (explicitly, then by the destructor)
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_REPLICA_RUNNER_H_
