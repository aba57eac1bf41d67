// Peak memory of a forward pass, measured where the model runs.
//
// CUDA: LibTorch's caching-allocator statistics (peak allocated bytes, reset before the pass).
// CPU: a counting wrapper around LibTorch's CPU allocator, installed on first use; it adds one small
// allocation per tensor allocation, so it is only installed when the server calibrates on CPU.
//
// Thread-safety: CpuMemoryTracker is process-wide and thread-safe (atomics).
//
//   CpuMemoryTracker& t = CpuMemoryTracker::Install();
//   t.ResetPeak();  ... forward ...  int64_t peak = t.peak() - baseline;
#ifndef EAOS_SERVER_RUNTIME_MEMORY_H_
#define EAOS_SERVER_RUNTIME_MEMORY_H_

#include <atomic>
#include <cstdint>

namespace eaos::runtime {

class CpuMemoryTracker {
 public:
  // Wraps the current CPU allocator (once per process) and returns the tracker.
  static CpuMemoryTracker& Install();

  int64_t current() const { return current_.load(std::memory_order_relaxed); }
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  // Starts a new peak from the bytes in use now.
  void ResetPeak() { peak_.store(current(), std::memory_order_relaxed); }

  void Add(int64_t bytes);
  void Sub(int64_t bytes) { current_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  CpuMemoryTracker() = default;
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
};


}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_MEMORY_H_
