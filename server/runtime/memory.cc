#include "server/runtime/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstring>
#include <string>

namespace eaos::runtime {
namespace {

// Counts bytes in use through LibTorch's CPU allocator. Each block is the wrapped allocator's raw
// allocation with a header holding its size; data == context, as LibTorch's raw_allocate() needs.
class CountingAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned, like the CPU allocator

  CountingAllocator(c10::Allocator* inner, CpuMemoryTracker* tracker) {
    inner_ = inner;
    inner_free_ = inner->raw_deleter();
    tracker_ = tracker;
  }

  // c10::Allocator::allocate() is const in LibTorch 1.13 and not in 2.x (2.7), which also made
  // copy_data() pure virtual (1.13 has none). Both allocate() overloads are defined, without
  // `override`: whichever the base class declares is overridden, and the class builds on both.
  c10::DataPtr allocate(size_t n) const { return Allocate(n); }
  c10::DataPtr allocate(size_t n) { return Allocate(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Free; }

  // Usable only when the wrapped allocator can hand out raw blocks (the CPU allocator can).
  static bool CanWrap(c10::Allocator* inner) { return inner->raw_deleter() != nullptr; }

 private:
  static c10::DataPtr Allocate(size_t n) {
    auto* base = static_cast<char*>(inner_->raw_allocate(n + kHeader));
    *reinterpret_cast<size_t*>(base) = n;
    tracker_->Add(static_cast<int64_t>(n));
    char* data = base + kHeader;
    return c10::DataPtr(data, data, &Free, c10::Device(c10::DeviceType::CPU));
  }

  static void Free(void* data) {
    if (data == nullptr) return;
    char* base = static_cast<char*>(data) - kHeader;
    tracker_->Sub(static_cast<int64_t>(*reinterpret_cast<size_t*>(base)));
    inner_free_(base);
  }

  // One instance per process (Install), so the deleter can reach them.
  static inline c10::Allocator* inner_ = nullptr;
  static inline c10::DeleterFnPtr inner_free_ = nullptr;
  static inline CpuMemoryTracker* tracker_ = nullptr;
};

}  // namespace

void CpuMemoryTracker::Add(int64_t bytes) {
  const int64_t now = current_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

CpuMemoryTracker& CpuMemoryTracker::Install() {
  // Both live for the whole process: tensors allocated through the wrapper may outlive anything.
  static CpuMemoryTracker* tracker = [] {
    auto* t = new CpuMemoryTracker;
    c10::Allocator* current = c10::GetCPUAllocator();
    if (CountingAllocator::CanWrap(current)) {
      static auto* allocator = new CountingAllocator(current, t);
      c10::SetCPUAllocator(allocator, /*priority=*/1);
    }
    return t;
  }();
  return *tracker;
}

}  // namespace eaos::runtime
