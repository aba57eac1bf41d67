#include "server/runtime/host_limits.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/common/files.h"

namespace eaos::runtime {
namespace {

// cgroup and procfs files: a few lines each.
std::optional<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = common::ReadFileCapped(path, common::kMiB, "");
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

std::optional<int> WholeCpus(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return std::nullopt;
  return std::max(1, static_cast<int>(std::floor(quota / period)));
}

// The process's cgroup directories below `root`, most specific first: for cgroup v2
// (`controller` empty) the "0::" path, for v1 the path of `controller`, below root/controller;
// then the root itself (a container sees its own cgroup there).
std::vector<std::string> CgroupDirs(const std::string& root, const std::string& proc_self_cgroup,
                                    const std::string& controller) {
  const bool v2 = controller.empty();
  const std::string base = v2 ? root : root + "/" + controller;
  std::vector<std::string> dirs;
  if (std::optional<std::string> text = ReadFile(proc_self_cgroup)) {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      // "ID:CONTROLLERS:PATH"
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
      if (parts.size() != 3 || parts[2].empty() || parts[2] == "/") continue;
      const bool match =
          v2 ? parts[0] == "0" && parts[1].empty()
             : absl::c_linear_search(
                   std::vector<absl::string_view>(absl::StrSplit(parts[1], ',')), controller);
      if (match) dirs.push_back(base + std::string(parts[2]));
    }
  }
  dirs.push_back(base);
  return dirs;
}

std::optional<int64_t> ReadBytes(const std::string& path) {
  std::optional<std::string> text = ReadFile(path);
  int64_t bytes = 0;
  if (!text || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &bytes)) return std::nullopt;
  return bytes;
}

// v1 reports "no limit" as a huge number (the page-rounded int64 maximum), not "max".
constexpr int64_t kNoLimitAbove = int64_t{1} << 60;

std::optional<int> CgroupCpus(const std::string& root, const std::string& proc_self_cgroup) {
  for (const std::string& dir : CgroupDirs(root, proc_self_cgroup, "")) {
    if (std::optional<std::string> text = ReadFile(dir + "/cpu.max")) return CpusFromCpuMax(*text);
  }
  for (const std::string& dir : CgroupDirs(root, proc_self_cgroup, "cpu")) {
    std::optional<std::string> quota = ReadFile(dir + "/cpu.cfs_quota_us");
    std::optional<std::string> period = ReadFile(dir + "/cpu.cfs_period_us");
    if (quota && period) return CpusFromCfsQuota(*quota, *period);
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> CpusFromCpuMax(absl::string_view text) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  double quota = 0, period = 0;
  if (fields.size() != 2 || fields[0] == "max") return std::nullopt;
  if (!absl::SimpleAtod(fields[0], &quota) || !absl::SimpleAtod(fields[1], &period)) {
    return std::nullopt;
  }
  return WholeCpus(quota, period);
}

std::optional<int> CpusFromCfsQuota(absl::string_view quota_us, absl::string_view period_us) {
  double quota = 0, period = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(quota_us), &quota) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(period_us), &period)) {
    return std::nullopt;
  }
  return WholeCpus(quota, period);  // -1 (unlimited) gives nullopt
}

int UsableCpus(const std::string& cgroup_root, const std::string& proc_self_cgroup) {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) cpus = std::max(1, CPU_COUNT(&mask));
  if (std::optional<int> quota = CgroupCpus(cgroup_root, proc_self_cgroup)) {
    cpus = std::min(cpus, *quota);
  }
  return cpus;
}

int DefaultIntraOpThreads(bool on_cpu) {
  const int cpus = UsableCpus();
  return on_cpu ? std::max(1, cpus - 1) : cpus;
}

std::optional<int64_t> CgroupMemoryRoom(const std::string& cgroup_root,
                                        const std::string& proc_self_cgroup) {
  auto room = [](std::optional<int64_t> limit,
                 std::optional<int64_t> usage) -> std::optional<int64_t> {
    if (!limit || *limit >= kNoLimitAbove) return std::nullopt;
    return std::max<int64_t>(0, *limit - usage.value_or(0));
  };
  for (const std::string& dir : CgroupDirs(cgroup_root, proc_self_cgroup, "")) {
    if (std::optional<std::string> max = ReadFile(dir + "/memory.max")) {
      int64_t limit = 0;  // "max": no limit
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*max), &limit)) return std::nullopt;
      return room(limit, ReadBytes(dir + "/memory.current"));
    }
  }
  for (const std::string& dir : CgroupDirs(cgroup_root, proc_self_cgroup, "memory")) {
    if (std::optional<int64_t> limit = ReadBytes(dir + "/memory.limit_in_bytes")) {
      return room(limit, ReadBytes(dir + "/memory.usage_in_bytes"));
    }
  }
  return std::nullopt;
}

int64_t HostMemoryAvailable() {
  int64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") {
      available = kib * 1024;
      break;
    }
  }
  if (std::optional<int64_t> room = CgroupMemoryRoom()) {
    available = available > 0 ? std::min(available, *room) : *room;
  }
  return available;
}

}  // namespace eaos::runtime
