#include "server/scheduler/planner.h"

#include <algorithm>
#include <cstdlib>

namespace eaos::scheduler {

Plan PlanBatch(const PlanInput& input, absl::Time now, const PlanLimits& limits) {
  Plan plan;
  const std::vector<Candidate>& window = input.window;
  if (window.empty()) return plan;
  const absl::Duration horizon = limits.deadline_horizon > absl::ZeroDuration()
                                     ? limits.deadline_horizon
                                     : 4 * input.batch_time + limits.max_queue_delay;
  size_t seed = 0;
  if (input.earliest_deadline >= 0 &&
      window[static_cast<size_t>(input.earliest_deadline)].deadline - now < horizon) {
    seed = static_cast<size_t>(input.earliest_deadline);
  }
  // Items arriving now would land beyond the window: waiting cannot grow this batch.
  if (input.queued >= limits.lookahead) plan.full = true;
  absl::Time oldest = window[seed].enqueue_time;
  for (const Candidate& c : window) oldest = std::min(oldest, c.enqueue_time);
  plan.flush_at = std::min(oldest + limits.max_queue_delay,
                           window[seed].deadline - 2 * input.batch_time);

  // The others join nearest in length to the seed first, then in fair order.
  const int64_t anchor = window[seed].length;
  std::vector<size_t> order;
  order.reserve(window.size());
  for (size_t i = 0; i < window.size(); ++i) {
    if (i != seed) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::abs(window[a].length - anchor) < std::abs(window[b].length - anchor);
  });
  plan.rows.push_back(seed);  // an item longer than the whole budget goes alone
  int64_t longest = anchor;
  int64_t real = anchor;
  const int64_t overhead = limits.overhead_tokens;
  for (size_t i : order) {
    if (plan.rows.size() >= limits.max_rows) break;
    const int64_t length = window[i].length;
    const int64_t new_longest = std::max(longest, length);
    const int64_t rows = static_cast<int64_t>(plan.rows.size()) + 1;
    if (rows * new_longest > limits.token_budget) {
      plan.full = true;
      continue;
    }
    // Join only if real tokens per unit of cost do not drop:
    // (real + length) / (overhead + rows * new_longest) >= real / (overhead + (rows - 1) * longest)
    if (overhead > 0 && (real + length) * (overhead + (rows - 1) * longest) <
                            real * (overhead + rows * new_longest)) {
      continue;
    }
    plan.rows.push_back(i);
    longest = new_longest;
    real += length;
  }
  if (plan.rows.size() >= limits.max_rows) plan.full = true;
  std::sort(plan.rows.begin(), plan.rows.end());  // queue order: deterministic, reported in it
  return plan;
}

}  // namespace eaos::scheduler
