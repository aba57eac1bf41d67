#include "server/common/option_checks.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace eaos::common {
namespace {

std::string DurationText(absl::Duration d) {
  return d == absl::InfiniteDuration() ? "inf" : absl::FormatDuration(d);
}

}  // namespace

void OptionChecks::Fail(absl::string_view flag, absl::string_view range, absl::string_view got,
                        absl::string_view hint) {
  if (!status_.ok()) return;  // the first failure is the one reported
  status_ = absl::InvalidArgumentError(absl::StrCat("--", flag, " must be in ", range, ", got ",
                                                    got, hint.empty() ? "" : " ", hint));
}

OptionChecks& OptionChecks::Int(absl::string_view flag, int64_t value, int64_t lo, int64_t hi,
                                absl::string_view hint) {
  if (value < lo || value > hi) {
    Fail(flag, absl::StrCat("[", lo, ", ", hi, "]"), absl::StrCat(value), hint);
  }
  return *this;
}

OptionChecks& OptionChecks::Real(absl::string_view flag, double value, double lo, double hi,
                                 bool lo_open, absl::string_view hint) {
  const bool above_lo = lo_open ? value > lo : value >= lo;
  if (!std::isfinite(value) || !above_lo || value > hi) {
    Fail(flag, absl::StrCat(lo_open ? "(" : "[", lo, ", ", hi, "]"), absl::StrCat(value), hint);
  }
  return *this;
}

OptionChecks& OptionChecks::Duration(absl::string_view flag, absl::Duration d, absl::Duration lo,
                                     absl::Duration hi, bool infinite_ok, absl::string_view hint) {
  const bool ok = d == absl::InfiniteDuration() ? infinite_ok : d >= lo && d <= hi;
  if (!ok) {
    Fail(flag,
         absl::StrCat("[", DurationText(lo), ", ", DurationText(hi), "]",
                      infinite_ok ? " or inf" : ""),
         DurationText(d), hint);
  }
  return *this;
}

OptionChecks& OptionChecks::Address(absl::string_view flag, absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) {
    return That(address.size() > 5, absl::StrCat("--", flag, ": unix: needs a path"));
  }
  if (PortOf(address) < 0) {
    if (!status_.ok()) return *this;
    status_ = absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " must be HOST:PORT, [IPV6]:PORT or unix:PATH with a port in [0, 65535] "
        "(0: any free port), got \"", address, "\""));
  }
  return *this;
}

OptionChecks& OptionChecks::That(bool ok, absl::string_view message) {
  if (!ok && status_.ok()) status_ = absl::InvalidArgumentError(message);
  return *this;
}

int PortOf(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || absl::StartsWith(address, "unix:")) return -1;
  // An IPv6 host must be bracketed, so the last colon ends it.
  const absl::string_view host = address.substr(0, colon);
  if (absl::StrContains(host, ':') && !(absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))) {
    return -1;
  }
  const absl::string_view port = address.substr(colon + 1);
  int value = 0;
  if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &value)) return -1;
  for (char c : port) {
    if (c < '0' || c > '9') return -1;  // SimpleAtoi accepts "+1" and spaces
  }
  return value <= 65535 ? value : -1;
}

std::string HostOf(absl::string_view address) {
  const size_t colon = address.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? address : address.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

bool AddressesCollide(absl::string_view a, absl::string_view b) {
  if (absl::StartsWith(a, "unix:") || absl::StartsWith(b, "unix:")) return a == b;
  const int port = PortOf(a);
  if (port <= 0 || port != PortOf(b)) return false;
  const auto wildcard = [](const std::string& host) {
    return host.empty() || host == "0.0.0.0" || host == "::";
  };
  const std::string host_a = HostOf(a), host_b = HostOf(b);
  return host_a == host_b || wildcard(host_a) || wildcard(host_b);
}

}  // namespace eaos::common
