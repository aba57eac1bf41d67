#include "server/runtime/cpus.h"

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

namespace eaos::runtime {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<int> WholeCpus(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return std::nullopt;
  return std::max(1, static_cast<int>(std::floor(quota / period)));
}

// The process's cgroup directories below `root`, most specific first: for cgroup v2 the "0::"
// path, for v1 the "cpu" controller's path; then the root itself (a container sees its own
// cgroup there).
std::vector<std::string> CgroupDirs(const std::string& root, const std::string& proc_self_cgroup,
                                    bool v2) {
  std::vector<std::string> dirs;
  if (std::optional<std::string> text = ReadFile(proc_self_cgroup)) {
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      // "ID:CONTROLLERS:PATH"
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
      if (parts.size() != 3 || parts[2].empty() || parts[2] == "/") continue;
      const bool match = v2 ? parts[0] == "0" && parts[1].empty()
                            : absl::c_linear_search(
                                  std::vector<absl::string_view>(absl::StrSplit(parts[1], ',')),
                                  "cpu");
      if (match) dirs.push_back(root + (v2 ? "" : "/cpu") + std::string(parts[2]));
    }
  }
  dirs.push_back(v2 ? root : root + "/cpu");
  return dirs;
}

std::optional<int> CgroupCpus(const std::string& root, const std::string& proc_self_cgroup) {
  for (const std::string& dir : CgroupDirs(root, proc_self_cgroup, /*v2=*/true)) {
    if (std::optional<std::string> text = ReadFile(dir + "/cpu.max")) return CpusFromCpuMax(*text);
  }
  for (const std::string& dir : CgroupDirs(root, proc_self_cgroup, /*v2=*/false)) {
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

}  // namespace eaos::runtime
