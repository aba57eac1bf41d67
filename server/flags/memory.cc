// eaos-server --help, one group: memory: the batch budget and out-of-memory recovery.
#include "server/flags/flags.h"

ABSL_FLAG(double, memory_fraction, 0.8,
          "With --max_batch_tokens=0: the share of free device memory (GPU) or available host "
          "memory (CPU) that batches may use");
ABSL_FLAG(int64_t, memory_budget, 0,
          "With --max_batch_tokens=0: plan with this many bytes instead of the memory available "
          "now (e.g. to share a host); 0 = measure");
ABSL_FLAG(absl::Duration, oom_budget_hold, absl::Seconds(30),
          "After a forward runs out of memory, how long batches stay under half its size");
