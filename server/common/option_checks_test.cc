#include "server/common/option_checks.h"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace eaos::common {
namespace {

using ::testing::HasSubstr;

TEST(OptionChecks, NamesTheFlagTheRangeAndTheValue) {
  OptionChecks checks;
  checks.Int("max_batch_size", 64, 1, 4096).Int("threads", 1000, 0, 8, "(0: automatic)");
  ASSERT_FALSE(checks.ok());
  EXPECT_EQ(checks.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(checks.status().message(), "--threads must be in [0, 8], got 1000 (0: automatic)");
}

TEST(OptionChecks, ReportsTheFirstFailureOnly) {
  OptionChecks checks;
  checks.Int("a", -1, 0, 1).Int("b", -1, 0, 1).That(false, "c");
  EXPECT_THAT(checks.status().message(), HasSubstr("--a "));
}

TEST(OptionChecks, RealRefusesNanInfinityAndAnOpenBound) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), 0.0, 1.5}) {
    OptionChecks checks;
    checks.Real("memory_fraction", bad, 0, 1, /*lo_open=*/true);
    EXPECT_FALSE(checks.ok()) << bad;
  }
  OptionChecks checks;
  checks.Real("memory_fraction", 1.0, 0, 1, true);
  EXPECT_TRUE(checks.ok());
  checks.Real("memory_fraction", 0.0, 0, 1, false);
  EXPECT_TRUE(checks.ok());
}

TEST(OptionChecks, DurationsRefuseInfinityUnlessAllowedAndNegativeValues) {
  OptionChecks inf;
  inf.Duration("max_queue_delay", absl::InfiniteDuration(), absl::ZeroDuration(), absl::Seconds(10));
  EXPECT_EQ(inf.status().message(), "--max_queue_delay must be in [0, 10s], got inf");
  OptionChecks age;
  age.Duration("max_connection_age", absl::ZeroDuration(), absl::Seconds(1), absl::Hours(1), true);
  EXPECT_EQ(age.status().message(), "--max_connection_age must be in [1s, 1h] or inf, got 0");
  OptionChecks ok;
  ok.Duration("max_connection_age", absl::InfiniteDuration(), absl::Seconds(1), absl::Hours(1), true)
      .Duration("shutdown_grace", absl::Seconds(30), absl::ZeroDuration(), absl::Hours(1));
  EXPECT_TRUE(ok.ok()) << ok.status();
  OptionChecks negative;
  negative.Duration("shutdown_grace", absl::Seconds(-1), absl::ZeroDuration(), absl::Hours(1));
  EXPECT_FALSE(negative.ok());
}

TEST(OptionChecks, AddressesNeedAPortInRange) {
  for (const char* good : {"0.0.0.0:50051", "127.0.0.1:0", "[::1]:65535", ":9464", "unix:/tmp/s",
                           "localhost:80"}) {
    OptionChecks checks;
    checks.Address("listen", good);
    EXPECT_TRUE(checks.ok()) << good << ": " << checks.status();
  }
  for (const char* bad : {"127.0.0.1:70000", "127.0.0.1", "127.0.0.1:-1", "127.0.0.1:+80",
                          "::1:80", "host:", "host:8o", "unix:"}) {
    OptionChecks checks;
    checks.Address("listen", bad);
    EXPECT_FALSE(checks.ok()) << bad;
    EXPECT_THAT(checks.status().message(), HasSubstr("--listen")) << bad;
  }
}

TEST(AddressesCollide, SamePortOnTheSameOrAWildcardHost) {
  EXPECT_TRUE(AddressesCollide("0.0.0.0:50051", "0.0.0.0:50051"));
  EXPECT_TRUE(AddressesCollide("0.0.0.0:50051", "127.0.0.1:50051"));
  EXPECT_TRUE(AddressesCollide("[::]:9464", "127.0.0.1:9464"));
  EXPECT_TRUE(AddressesCollide(":9464", "10.0.0.1:9464"));
  EXPECT_TRUE(AddressesCollide("unix:/a", "unix:/a"));
  EXPECT_FALSE(AddressesCollide("127.0.0.1:0", "127.0.0.1:0"));  // two free ports
  EXPECT_FALSE(AddressesCollide("127.0.0.1:1", "127.0.0.1:2"));
  EXPECT_FALSE(AddressesCollide("127.0.0.1:80", "10.0.0.1:80"));
  EXPECT_FALSE(AddressesCollide("unix:/a", "unix:/b"));
  EXPECT_EQ(PortOf("[::1]:8080"), 8080);
  EXPECT_EQ(HostOf("[::1]:8080"), "::1");
}

}  // namespace
}  // namespace eaos::common
