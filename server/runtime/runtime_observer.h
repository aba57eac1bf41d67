// RuntimeObserver: hooks for metrics on the model's own work (forwards, memory); default no-ops.
//
// The runtime calls them (runtime::Replica); observability::Metrics implements them. The
// scheduling side has its own hooks (scheduler::SchedulerObserver).
//
// Thread-safety: called on runner threads, several at once; implementations must be thread-safe.
#ifndef EAOS_SERVER_RUNTIME_RUNTIME_OBSERVER_H_
#define EAOS_SERVER_RUNTIME_RUNTIME_OBSERVER_H_

#include <cstdint>

#include "absl/time/time.h"

namespace eaos::runtime {

class RuntimeObserver {
 public:
  virtual ~RuntimeObserver() = default;
  // One forward pass over `rows` (`padded_tokens`), successful or not, took `time` (outputs on
  // the host included). Rows split after an out-of-memory error report each of their forwards.
  virtual void OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) {}
  // A forward of `rows` (`padded_tokens`) ran out of memory; its rows are split and retried.
  virtual void OnOutOfMemory(int64_t rows, int64_t padded_tokens) {}
  // Accelerator memory after a batch (not called on CPU): in use, held by the allocator, total.
  virtual void OnDeviceMemory(int64_t allocated, int64_t reserved, int64_t limit) {}
};

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_RUNTIME_OBSERVER_H_
