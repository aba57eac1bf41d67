#include "server/scheduler/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace eaos::scheduler {
namespace {

using ::testing::ElementsAreArray;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

// One row of the table: a queue (lengths, ages, deadlines), limits, and the expected plan.
struct Case {
  std::string name;
  std::vector<int64_t> lengths;           // window in fair order
  std::vector<absl::Duration> waited;     // per item, how long it has been queued (default 0)
  std::vector<absl::Duration> deadlines;  // per item, from now; InfiniteDuration: none
  size_t queued = 0;                      // 0: the window's size
  PlanLimits limits;
  std::vector<size_t> rows;               // expected
  bool full = false;                      // expected
  // Expected flush_at - now; InfiniteDuration when the case does not check it.
  absl::Duration flush_in = absl::InfiniteDuration();
};

PlanLimits Limits(size_t rows, int64_t budget, int64_t overhead = 0,
                  absl::Duration delay = absl::Milliseconds(5), size_t lookahead = 256) {
  PlanLimits l;
  l.max_rows = rows;
  l.token_budget = budget;
  l.overhead_tokens = overhead;
  l.max_queue_delay = delay;
  l.lookahead = lookahead;
  return l;
}

PlanInput InputOf(const Case& c, absl::Time now) {
  PlanInput in;
  absl::Time earliest = absl::InfiniteFuture();
  for (size_t i = 0; i < c.lengths.size(); ++i) {
    Candidate cand;
    cand.length = c.lengths[i];
    cand.enqueue_time = now - (i < c.waited.size() ? c.waited[i] : absl::ZeroDuration());
    if (i < c.deadlines.size() && c.deadlines[i] != absl::InfiniteDuration()) {
      cand.deadline = now + c.deadlines[i];
      if (cand.deadline < earliest) {
        earliest = cand.deadline;
        in.earliest_deadline = static_cast<int>(i);
      }
    }
    in.window.push_back(cand);
  }
  in.queued = c.queued > 0 ? c.queued : c.lengths.size();
  in.batch_time = absl::Milliseconds(10);
  return in;
}

const absl::Duration kNone = absl::InfiniteDuration();

std::vector<Case> Cases() {
  return {
      {"empty window plans nothing", {}, {}, {}, 0, Limits(64, 100), {}, false},
      {"padding counts in the token budget: 3 x 10 fits 40, a row of 30 does not",
       {10, 10, 10, 30}, {}, {}, 0, Limits(64, 40), {0, 1, 2}, true},
      {"an item longer than the whole budget still runs, alone",
       {500, 10}, {}, {}, 0, Limits(64, 100), {0}, true},
      {"max_rows caps the batch and makes it full", {5, 5, 5, 5}, {}, {}, 0, Limits(2, 1000),
       {0, 1}, true},
      {"nearest in length to the seed join first", {10, 90, 12, 11}, {}, {}, 0, Limits(3, 1000),
       {0, 2, 3}, true},
      {"rows come back in queue order whatever the join order", {50, 10, 49, 48}, {}, {}, 0,
       Limits(64, 1000), {0, 1, 2, 3}, false},
      {"the cost check keeps a short item out of a long batch when padding outweighs it",
       // seed 100; a 2-token item would pad to 100: (100+2)/(64+200) < 100/(64+100)
       {100, 2}, {}, {}, 0, Limits(64, 10000, /*overhead=*/64), {0}, false},
      {"the cost check lets similar lengths join", {100, 95}, {}, {}, 0,
       Limits(64, 10000, /*overhead=*/64), {0, 1}, false},
      {"a queue reaching past the look-ahead makes the batch full", {5, 5}, {}, {}, 10,
       Limits(64, 1000, 0, absl::Milliseconds(5), /*lookahead=*/2), {0, 1}, true},
      {"not full: leaves when the oldest has waited max_queue_delay",
       {5, 5}, {absl::Milliseconds(1), absl::Milliseconds(3)}, {}, 0,
       Limits(64, 1000, 0, absl::Milliseconds(5)), {0, 1}, false, absl::Milliseconds(2)},
      {"a near deadline seeds the batch ahead of fair order (EDF)",
       // item 2 is due in 20 ms (< 4 x 10 ms + 5 ms); it seeds, and 12 is nearer to it than 30
       {30, 12, 10}, {}, {kNone, kNone, absl::Milliseconds(20)}, 0, Limits(2, 1000), {1, 2},
       true},
      {"a far deadline does not reorder", {30, 12, 10}, {}, {kNone, kNone, absl::Seconds(10)},
       0, Limits(2, 1000), {0, 1}, true},
      {"the seed's deadline brings the flush forward to two batch times before it",
       {5}, {}, {absl::Milliseconds(24)}, 0, Limits(64, 1000, 0, absl::Milliseconds(5)), {0},
       false, absl::Milliseconds(4)},
  };
}

class PlanBatchTable : public ::testing::TestWithParam<Case> {};

TEST_P(PlanBatchTable, PlansAsTheRulesSay) {
  const Case& c = GetParam();
  const absl::Time now = kT0;
  const Plan plan = PlanBatch(InputOf(c, now), now, c.limits);
  EXPECT_THAT(plan.rows, ElementsAreArray(c.rows));
  EXPECT_EQ(plan.full, c.full);
  if (c.flush_in != absl::InfiniteDuration()) {
    EXPECT_EQ(plan.flush_at - now, c.flush_in);
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, PlanBatchTable, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return "Case" + std::to_string(info.index);
                         });

TEST(PlanBatch, ReadyWhenFullOrDue) {
  Plan plan;
  EXPECT_FALSE(plan.ready(kT0));  // nothing to run
  plan.rows = {0};
  plan.flush_at = kT0 + absl::Milliseconds(3);
  EXPECT_FALSE(plan.ready(kT0));
  EXPECT_TRUE(plan.ready(kT0 + absl::Milliseconds(3)));
  plan.full = true;
  EXPECT_TRUE(plan.ready(kT0));
}

TEST(PlanBatch, TheSamePlanForTheSameViewAndTime) {
  // Pure: no hidden state between calls.
  Case c{"", {40, 10, 20, 30, 10}, {}, {}, 0, Limits(3, 120, 16), {}, false};
  const Plan a = PlanBatch(InputOf(c, kT0), kT0, c.limits);
  const Plan b = PlanBatch(InputOf(c, kT0), kT0, c.limits);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.full, b.full);
  EXPECT_EQ(a.flush_at, b.flush_at);
}

}  // namespace
}  // namespace eaos::scheduler
