// What this process may really use of the host: CPUs and memory, as its container sees them.
//
// std::thread::hardware_concurrency() and /proc/meminfo describe the machine. In a container both
// are wrong: the affinity mask (cpuset) may allow fewer CPUs, a CPU quota (Kubernetes
// resources.limits.cpu: cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) throttles every
// thread beyond it, and a memory limit (limits.memory: v2 memory.max, v1 memory.limit_in_bytes)
// gets the process killed long before MemAvailable runs out. A thread pool sized to a 64-CPU node
// in a 4-CPU pod spends its time throttled; batches planned for a node's free memory in a 4 GiB
// pod end in an OOM kill.
//
// `cgroup_root` (tests) replaces /sys/fs/cgroup and `proc_self_cgroup` replaces /proc/self/cgroup;
// the process's own cgroup directory (from /proc/self/cgroup) is read first, then the root (inside
// a container the root is its own cgroup).
//
//   int cpus = eaos::runtime::UsableCpus();
//   int threads = eaos::runtime::DefaultIntraOpThreads(/*on_cpu=*/true);
//   int64_t bytes = eaos::runtime::HostMemoryAvailable();
#ifndef EAOS_SERVER_RUNTIME_HOST_LIMITS_H_
#define EAOS_SERVER_RUNTIME_HOST_LIMITS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace eaos::runtime {

// CPUs allowed by a cgroup v2 cpu.max file's text ("max 100000" or "QUOTA PERIOD"): the quota in
// whole CPUs, rounded down, at least 1; nullopt when unlimited or unreadable.
std::optional<int> CpusFromCpuMax(absl::string_view text);
// The same for cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us (quota -1: unlimited).
std::optional<int> CpusFromCfsQuota(absl::string_view quota_us, absl::string_view period_us);

// The CPUs of the affinity mask, capped by the cgroup's CPU quota when there is one.
int UsableCpus(const std::string& cgroup_root = "/sys/fs/cgroup",
               const std::string& proc_self_cgroup = "/proc/self/cgroup");

// The model's intra-op threads when --threads is not given. On CPU: one fewer than the usable
// CPUs (at least 1). The gRPC threads (reading, tokenizing, writing) and the decoder need CPU
// while the model computes; when the model's pool holds every CPU, one of its threads is preempted
// by them and the whole forward waits for it (a parallel region ends with its slowest thread).
// Measured on 2 CPUs: docs/benchmarks.md#intra-op-threads. On a GPU the pool only runs host-side
// work: all usable CPUs.
int DefaultIntraOpThreads(bool on_cpu);

// Bytes the cgroup's memory limit still leaves (limit - usage, at least 0); nullopt when there is
// no limit or none can be read.
std::optional<int64_t> CgroupMemoryRoom(const std::string& cgroup_root = "/sys/fs/cgroup",
                                        const std::string& proc_self_cgroup = "/proc/self/cgroup");

// Bytes this process could still allocate: the host's MemAvailable (/proc/meminfo), capped by
// CgroupMemoryRoom(); 0 if unknown.
int64_t HostMemoryAvailable();

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_HOST_LIMITS_H_
