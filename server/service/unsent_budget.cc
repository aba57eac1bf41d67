#include "server/service/unsent_budget.h"

#include <algorithm>

namespace eaos::service {

void UnsentBudget::Change(int64_t before, int64_t after) {
  if (after != before) held_.fetch_add(after - before, std::memory_order_relaxed);
  const int64_t holders = static_cast<int64_t>(after > 0) - static_cast<int64_t>(before > 0);
  if (holders != 0) holders_.fetch_add(holders, std::memory_order_relaxed);
}

bool UnsentBudget::MayRead(int64_t held) const {
  const int64_t half = limit_ / 2;
  if (held_.load(std::memory_order_relaxed) < half) return true;
  const int64_t holders = std::max<int64_t>(1, holders_.load(std::memory_order_relaxed));
  return held < half / holders;
}

void UnsentBudget::RecordResultBytes(int64_t bytes) {
  // An exponential moving average over about 64 results; concurrent updates may lose one another,
  // which only slows the average down.
  const int64_t mean = mean_result_.load(std::memory_order_relaxed);
  mean_result_.store(std::max<int64_t>(1, mean + (bytes - mean) / 64), std::memory_order_relaxed);
}

}  // namespace eaos::service
