// Range checks of command-line options, with messages that name the flag and the allowed range:
// "--max_batch_size must be in [1, 4096], got 0". The server's options are checked in one pass
// before it listens (service/server.h ValidateServerOptions, engine/engine.h ValidateOptions).
//
// Not thread-safe (a value used by one thread); the first failing check is the one reported.
//
//   OptionChecks checks;
//   checks.Int("max_batch_size", options.max_batch_size, 1, 4096)
//       .Duration("max_queue_delay", options.max_queue_delay, absl::ZeroDuration(), absl::Seconds(10));
//   if (!checks.ok()) return checks.status();
#ifndef EAOS_SERVER_COMMON_OPTION_CHECKS_H_
#define EAOS_SERVER_COMMON_OPTION_CHECKS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace eaos::common {

class OptionChecks {
 public:
  // value in [lo, hi]. `hint` (optional) is appended: "(0: calibrate)".
  OptionChecks& Int(absl::string_view flag, int64_t value, int64_t lo, int64_t hi,
                    absl::string_view hint = "");
  // value in [lo, hi], or (lo, hi] when lo_open; NaN and infinities always fail.
  OptionChecks& Real(absl::string_view flag, double value, double lo, double hi, bool lo_open,
                     absl::string_view hint = "");
  // d in [lo, hi]; InfiniteDuration passes only when infinite_ok ("inf" then names it).
  OptionChecks& Duration(absl::string_view flag, absl::Duration d, absl::Duration lo,
                         absl::Duration hi, bool infinite_ok = false, absl::string_view hint = "");
  // "HOST:PORT", "[V6]:PORT" or "unix:PATH"; a port in [0, 65535] (0: any free port).
  OptionChecks& Address(absl::string_view flag, absl::string_view address);
  // Any check: fails with `message` (which should name the flag) unless `ok`.
  OptionChecks& That(bool ok, absl::string_view message);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

 private:
  void Fail(absl::string_view flag, absl::string_view range, absl::string_view got,
            absl::string_view hint);

  absl::Status status_;
};

// The port of "HOST:PORT" / "[V6]:PORT", or -1 when there is none or it is not a number in
// [0, 65535]; "unix:" addresses have none.
int PortOf(absl::string_view address);
// The host part ("0.0.0.0", "::1", "" for ":50051").
std::string HostOf(absl::string_view address);

// True when two listen addresses would compete for one port: equal non-zero ports on the same
// host or where either host is a wildcard (empty, 0.0.0.0, ::, [::]); equal unix paths.
bool AddressesCollide(absl::string_view a, absl::string_view b);

}  // namespace eaos::common

#endif  // EAOS_SERVER_COMMON_OPTION_CHECKS_H_
