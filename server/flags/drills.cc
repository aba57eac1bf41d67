// eaos-server --help, one group: fault injection, for tests and drills only.
#include "server/flags/flags.h"

ABSL_FLAG(double, inject_oom_rate, 0.0,
          "Testing/drills only: fail this fraction of forward passes with an injected "
          "out-of-memory error (recovered by splitting the batch)");
ABSL_FLAG(int64_t, inject_oom_above_tokens, 0,
          "Testing/drills only: fail forwards over this many padded tokens as if the device "
          "had only that much memory; 0 = off");
ABSL_FLAG(absl::Duration, inject_load_delay, absl::ZeroDuration(),
          "Testing/drills only: every model load (startup and reloads) first waits this long, "
          "like a slow disk; a stop signal does not wait for it");
ABSL_FLAG(double, inject_error_rate, 0.0,
          "Testing/drills only: fail this fraction of forward passes with an injected error "
          "that splitting cannot cure (the batch's items get INTERNAL)");
