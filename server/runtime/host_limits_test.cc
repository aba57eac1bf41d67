#include "server/runtime/host_limits.h"

#include <sched.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace eaos::runtime {
namespace {

namespace fs = std::filesystem;

TEST(CpusFromCpuMax, QuotaOverPeriodInWholeCpus) {
  EXPECT_EQ(CpusFromCpuMax("400000 100000\n"), 4);
  EXPECT_EQ(CpusFromCpuMax("250000 100000"), 2);  // 2.5 CPUs: a third thread would be throttled
  EXPECT_EQ(CpusFromCpuMax("50000 100000"), 1);   // half a CPU still runs one thread
  EXPECT_EQ(CpusFromCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax(""), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("lots 100000"), std::nullopt);
  EXPECT_EQ(CpusFromCpuMax("100000 0"), std::nullopt);
}

TEST(CpusFromCfsQuota, UnlimitedIsMinusOne) {
  EXPECT_EQ(CpusFromCfsQuota("300000\n", "100000\n"), 3);
  EXPECT_EQ(CpusFromCfsQuota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(CpusFromCfsQuota("x", "100000"), std::nullopt);
}

// A fake cgroup tree and /proc/self/cgroup in a temporary directory.
class HostLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            (std::string("host_limits_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "cg");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const fs::path& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  int Usable() { return UsableCpus((root_ / "cg").string(), (root_ / "proc_cgroup").string()); }

  static int AffinityCpus() {
    cpu_set_t mask;
    EXPECT_EQ(sched_getaffinity(0, sizeof(mask), &mask), 0);
    return CPU_COUNT(&mask);
  }

  fs::path root_;
};

TEST_F(HostLimitsTest, WithoutAQuotaTheAffinityMaskCounts) {
  Write("proc_cgroup", "0::/\n");
  EXPECT_EQ(Usable(), AffinityCpus());
  Write("cg/cpu.max", "max 100000\n");
  EXPECT_EQ(Usable(), AffinityCpus());
}

TEST_F(HostLimitsTest, ACgroupV2QuotaCapsTheCount) {
  Write("proc_cgroup", "0::/\n");
  Write("cg/cpu.max", "100000 100000\n");
  EXPECT_EQ(Usable(), 1);
}

TEST_F(HostLimitsTest, TheProcessOwnCgroupV2DirectoryWinsOverTheRoot) {
  Write("proc_cgroup", "0::/kubepods/burstable/pod1/c1\n");
  Write("cg/cpu.max", "max 100000\n");
  Write("cg/kubepods/burstable/pod1/c1/cpu.max", "100000 100000\n");
  EXPECT_EQ(Usable(), 1);
}

TEST_F(HostLimitsTest, ACgroupV1QuotaCapsTheCount) {
  Write("proc_cgroup", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n");
  Write("cg/cpu/docker/abc/cpu.cfs_quota_us", "100000\n");
  Write("cg/cpu/docker/abc/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(Usable(), 1);
}

TEST_F(HostLimitsTest, NothingReadableMeansTheAffinityMask) {
  EXPECT_EQ(Usable(), AffinityCpus());
}

TEST_F(HostLimitsTest, ACgroupV2MemoryLimitLeavesLimitMinusUsage) {
  Write("proc_cgroup", "0::/kubepods/pod1\n");
  Write("cg/kubepods/pod1/memory.max", "1073741824\n");  // 1 GiB
  Write("cg/kubepods/pod1/memory.current", "268435456\n");  // 256 MiB in use
  EXPECT_EQ(CgroupMemoryRoom((root_ / "cg").string(), (root_ / "proc_cgroup").string()),
            int64_t{768} << 20);
  Write("cg/kubepods/pod1/memory.current", "2147483648\n");  // over the limit: no room
  EXPECT_EQ(CgroupMemoryRoom((root_ / "cg").string(), (root_ / "proc_cgroup").string()), 0);
}

TEST_F(HostLimitsTest, NoMemoryLimitMeansNoCap) {
  Write("proc_cgroup", "0::/\n");
  Write("cg/memory.max", "max\n");
  Write("cg/memory.current", "268435456\n");
  EXPECT_EQ(CgroupMemoryRoom((root_ / "cg").string(), (root_ / "proc_cgroup").string()),
            std::nullopt);
  // cgroup v1 says "unlimited" with a huge number.
  fs::remove(root_ / "cg/memory.max");
  Write("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(CgroupMemoryRoom((root_ / "cg").string(), (root_ / "proc_cgroup").string()),
            std::nullopt);
}

TEST_F(HostLimitsTest, ACgroupV1MemoryLimitLeavesLimitMinusUsage) {
  Write("proc_cgroup", "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n");
  Write("cg/memory/docker/abc/memory.limit_in_bytes", "4294967296\n");
  Write("cg/memory/docker/abc/memory.usage_in_bytes", "1073741824\n");
  EXPECT_EQ(CgroupMemoryRoom((root_ / "cg").string(), (root_ / "proc_cgroup").string()),
            int64_t{3} << 30);
}

TEST(HostMemoryAvailable, IsPositiveAndWithinTheCgroupRoom) {
  const int64_t available = HostMemoryAvailable();
  EXPECT_GT(available, 0);
  if (std::optional<int64_t> room = CgroupMemoryRoom()) EXPECT_LE(available, *room);
}

TEST(DefaultIntraOpThreads, OnCpuLeavesOneCpuForTheServingThreads) {
  const int cpus = UsableCpus();
  EXPECT_EQ(DefaultIntraOpThreads(/*on_cpu=*/true), std::max(1, cpus - 1));
  EXPECT_EQ(DefaultIntraOpThreads(/*on_cpu=*/false), cpus);
}

}  // namespace
}  // namespace eaos::runtime
