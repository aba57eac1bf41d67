#include "server/service/unsent_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace eaos::service {
namespace {

TEST(UnsentBudget, ChangesAddUpAndCountTheStreamsThatHoldSomething) {
  UnsentBudget budget(1000);
  budget.Change(0, 300);  // stream a
  budget.Change(0, 200);  // stream b
  EXPECT_EQ(budget.held(), 500);
  EXPECT_EQ(budget.holders(), 2);
  budget.Change(300, 100);  // a sends some
  EXPECT_EQ(budget.held(), 300);
  EXPECT_EQ(budget.holders(), 2);
  budget.Change(200, 0);  // b sends all
  EXPECT_EQ(budget.held(), 100);
  EXPECT_EQ(budget.holders(), 1);
  budget.Change(100, 100);  // no change
  EXPECT_EQ(budget.holders(), 1);
  budget.Change(100, 0);
  EXPECT_EQ(budget.held(), 0);
  EXPECT_EQ(budget.holders(), 0);
}

TEST(UnsentBudget, UnderHalfTheLimitEveryStreamReads) {
  UnsentBudget budget(2000);
  budget.Change(0, 999);
  EXPECT_TRUE(budget.MayRead(999));  // even the one holding it all
  EXPECT_TRUE(budget.MayRead(0));
}

TEST(UnsentBudget, FromHalfTheLimitOnlyStreamsBelowAnEqualShareOfTheHalfRead) {
  struct Case {
    int64_t half;  // of the limit
    std::vector<int64_t> holdings;  // of the streams holding something
    int64_t asking;                 // what the stream asking holds (one of holdings, or 0)
    bool may_read;
  };
  const Case cases[] = {
      {1000, {1000}, 1000, false},          // one stream holds it all
      {1000, {1000}, 0, true},              // a stream holding nothing always reads
      {1000, {900, 100}, 900, false},       // share 500
      {1000, {900, 100}, 100, true},
      {1000, {500, 500}, 500, false},       // exactly the share: no
      {1000, {600, 300, 100}, 300, true},   // share 333
      {1000, {600, 300, 100}, 600, false},
      {1000, {1, 1, 1, 2000}, 1, true},     // the hog stops, the readers go on
      {1000, {1, 1, 1, 2000}, 2000, false},
  };
  for (const Case& c : cases) {
    UnsentBudget budget(2 * c.half);
    for (int64_t h : c.holdings) budget.Change(0, h);
    EXPECT_EQ(budget.MayRead(c.asking), c.may_read)
        << "half the limit " << c.half << ", " << c.holdings.size() << " holders, asking "
        << c.asking;
  }
}

TEST(UnsentBudget, TheQueuedItemEstimateFollowsTheResults) {
  UnsentBudget budget(1 << 20);
  EXPECT_EQ(budget.QueuedItemEstimate(), UnsentBudget::kInitialResultEstimate);
  for (int i = 0; i < 1000; ++i) budget.RecordResultBytes(4000);
  EXPECT_NEAR(budget.QueuedItemEstimate(), 4000, 100);
  for (int i = 0; i < 1000; ++i) budget.RecordResultBytes(200);
  EXPECT_NEAR(budget.QueuedItemEstimate(), 200, 100);
  for (int i = 0; i < 1000; ++i) budget.RecordResultBytes(0);
  EXPECT_GE(budget.QueuedItemEstimate(), 1);  // never zero: queued items always count
}

}  // namespace
}  // namespace eaos::service
