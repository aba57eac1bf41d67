#include "server/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace eaos::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// The scheduler's fields plus a name to check routing by.
struct TestItem final : Item {
  std::string id;
};

std::unique_ptr<TestItem> MakeItem(const std::string& id, int64_t length) {
  auto item = std::make_unique<TestItem>();
  item->id = id;
  item->length = length;
  return item;
}

template <typename... T>
std::vector<std::unique_ptr<Item>> Items(T... items) {
  std::vector<std::unique_ptr<Item>> v;
  (v.push_back(std::move(items)), ...);
  return v;
}

std::vector<std::string> Ids(const std::vector<std::unique_ptr<Item>>& items) {
  std::vector<std::string> ids;
  for (const auto& item : items) ids.push_back(static_cast<const TestItem&>(*item).id);
  return ids;
}

std::vector<int64_t> Lengths(const std::vector<std::unique_ptr<Item>>& items) {
  std::vector<int64_t> lengths;
  for (const auto& item : items) lengths.push_back(item->length);
  return lengths;
}

// Limits only: the cost check is off unless a test turns it on.
SchedulerOptions Options(int batch_size, int batch_tokens, absl::Duration delay) {
  SchedulerOptions o;
  o.batch_overhead_tokens = 0;
  o.max_batch_size = batch_size;
  o.max_batch_tokens = batch_tokens;
  o.max_queue_delay = delay;
  o.max_queue_items = 1000;
  return o;
}

// A scheduler on a clock the test moves: every decision is taken at a time the test chose, on the
// test's thread (TakeWork), so nothing sleeps and nothing depends on timing.
class Simulation {
 public:
  explicit Simulation(const SchedulerOptions& options, SchedulerObserver* observer = nullptr)
      : scheduler_(options, observer, [this] { return now_; }) {}

  Scheduler& scheduler() { return scheduler_; }
  absl::Time now() const { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

  // TakeWork at the current time.
  Work Take() {
    Work work;
    next_ = scheduler_.TakeWork(now_, &work);
    return work;
  }
  absl::Time next() const { return next_; }

  // Takes batches, moving the clock to each flush time when nothing is due, until the queue is
  // empty; returns the batches' item lengths. Dropped items go to *dropped when given.
  std::vector<std::vector<int64_t>> RunAll(std::vector<std::string>* dropped = nullptr) {
    std::vector<std::vector<int64_t>> batches;
    for (int step = 0; step < 100000; ++step) {
      Work work = Take();
      if (dropped != nullptr) {
        for (auto* list : {&work.expired, &work.cancelled}) {
          for (const std::string& id : Ids(*list)) dropped->push_back(id);
        }
      }
      if (!work.batch.empty()) {
        batches.push_back(Lengths(work.batch));
        continue;
      }
      if (next_ == absl::InfiniteFuture()) break;
      if (next_ > now_) now_ = next_;
    }
    return batches;
  }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  absl::Time next_;
  Scheduler scheduler_;
};

TEST(Scheduler, TokenBudgetCountsPadding) {
  // 3 rows x 10 = 30 fits in 40; a 4th row of 30 would make 4 x 30 = 120 padded tokens.
  Simulation sim(Options(64, 40, absl::Milliseconds(20)));
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 10), MakeItem("b", 10), MakeItem("c", 10),
                                MakeItem("d", 30)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 10, 10), ElementsAre(30)));
}

TEST(Scheduler, ALoweredTokenBudgetHoldsForItsTimeThenReturns) {
  Simulation sim(Options(64, 40, absl::Milliseconds(20)));
  sim.scheduler().LowerTokenBudget(20, absl::Milliseconds(300));
  EXPECT_EQ(sim.scheduler().token_budget(), 20);
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 10), MakeItem("b", 10), MakeItem("c", 10),
                                MakeItem("d", 10)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 10), ElementsAre(10, 10)));
  sim.Advance(absl::Milliseconds(400));
  EXPECT_EQ(sim.scheduler().token_budget(), 40);
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("e", 10), MakeItem("f", 10), MakeItem("g", 10),
                                MakeItem("h", 10)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 10, 10, 10)));
}

TEST(Scheduler, ItemsPastTheirDeadlineAreHandedOutAsExpiredWithoutRunning) {
  Simulation sim(Options(64, 1000, absl::Milliseconds(1)));
  auto late = MakeItem("late", 7);
  late->deadline = sim.now() + absl::Milliseconds(20);
  auto fine = MakeItem("fine", 8);
  fine->deadline = sim.now() + absl::Seconds(60);
  ASSERT_TRUE(sim.scheduler().Submit(Items(std::move(late), std::move(fine))).ok());
  sim.Advance(absl::Milliseconds(60));
  Work work = sim.Take();
  EXPECT_THAT(Ids(work.expired), ElementsAre("late"));
  EXPECT_THAT(work.cancelled, IsEmpty());
  EXPECT_THAT(Ids(work.batch), ElementsAre("fine"));  // the expired item never reaches a batch
  EXPECT_EQ(work.taken, sim.now());
  EXPECT_EQ(sim.scheduler().queue_depth(), 0);
}

// `n` items of length 6 (ids PREFIX0..) whose caller is gone once `*gone` is set.
std::vector<std::unique_ptr<Item>> CancellableItems(const std::string& prefix, int n,
                                                    const std::shared_ptr<std::atomic<bool>>& gone) {
  std::vector<std::unique_ptr<Item>> items;
  for (int i = 0; i < n; ++i) {
    items.push_back(MakeItem(absl::StrCat(prefix, i), 6));
    items.back()->gone = gone;
  }
  return items;
}

TEST(Scheduler, ItemsOfACancelledCallAreHandedOutAsCancelledWithoutRunning) {
  Simulation sim(Options(64, 1000, absl::Milliseconds(1)));
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(sim.scheduler().Submit(CancellableItems("c", 3, gone)).ok());
  gone->store(true);
  Work work = sim.Take();
  EXPECT_THAT(Ids(work.cancelled), UnorderedElementsAre("c0", "c1", "c2"));
  EXPECT_THAT(work.batch, IsEmpty());
  EXPECT_EQ(sim.next(), absl::InfiniteFuture());  // nothing left
}

// Clients that went away must not keep a full queue full: before refusing, the queue drops its
// cancelled items wherever they are (the look-ahead window alone would free them only slowly),
// and hands them to the next runner, never answering them on the submitting thread.
TEST(Scheduler, AFullQueueFirstDropsTheItemsOfCallersThatLeft) {
  SchedulerOptions options = Options(64, 1000, absl::Milliseconds(1));
  options.max_queue_items = 6;
  options.lookahead = 64;
  Simulation sim(options);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(sim.scheduler().Submit(CancellableItems("dead", 6, gone)).ok());
  EXPECT_EQ(sim.scheduler().CheckRoom(2).code(), absl::StatusCode::kResourceExhausted);
  gone->store(true);
  // Within the interval between full scans the queue still counts them.
  EXPECT_EQ(sim.scheduler().CheckRoom(2).code(), absl::StatusCode::kResourceExhausted);
  sim.Advance(absl::Milliseconds(60));
  EXPECT_TRUE(sim.scheduler().CheckRoom(2).ok());
  ASSERT_TRUE(sim.scheduler().Submit(Items(MakeItem("alive", 4))).ok());
  Work work = sim.Take();
  EXPECT_EQ(work.cancelled.size(), 6u);
  EXPECT_THAT(work.batch, IsEmpty());  // "alive" has not waited its queue delay yet
  sim.Advance(absl::Milliseconds(1));
  work = sim.Take();
  EXPECT_THAT(Ids(work.batch), ElementsAre("alive"));
  EXPECT_THAT(work.cancelled, IsEmpty());  // each dropped item is handed out once
}

TEST(Scheduler, ANearDeadlineSeedsTheNextBatchAheadOfOlderItems) {
  SchedulerOptions options = Options(1, 1000, absl::Milliseconds(1));
  options.deadline_horizon = absl::Seconds(30);
  Simulation sim(options);
  std::vector<std::unique_ptr<Item>> relaxed;
  for (int i = 0; i < 5; ++i) relaxed.push_back(MakeItem(absl::StrCat("r", i), 10));
  ASSERT_TRUE(sim.scheduler().Submit(std::move(relaxed)).ok());
  auto urgent = MakeItem("urgent", 20);
  urgent->flow = 0;  // same flow, queued last: only its deadline can move it forward
  urgent->deadline = sim.now() + absl::Seconds(20);  // within the horizon, far from expiring
  ASSERT_TRUE(sim.scheduler().Submit(Items(std::move(urgent))).ok());
  std::vector<std::string> dropped;
  const auto batches = sim.RunAll(&dropped);
  ASSERT_EQ(batches.size(), 6u);
  EXPECT_THAT(batches[0], ElementsAre(20));
  EXPECT_THAT(dropped, IsEmpty());
}

TEST(Scheduler, AHeavyStreamDoesNotStarveALightOne) {
  Simulation sim(Options(4, 1000, absl::Milliseconds(1)));
  // Flow 1 queues 200 items; then flow 2 sends 4 items of another length.
  std::vector<std::unique_ptr<Item>> heavy;
  for (int i = 0; i < 200; ++i) {
    heavy.push_back(MakeItem(absl::StrCat("h", i), 10));
    heavy.back()->flow = 1;
  }
  ASSERT_TRUE(sim.scheduler().Submit(std::move(heavy)).ok());
  std::vector<std::unique_ptr<Item>> light;
  for (int i = 0; i < 4; ++i) {
    light.push_back(MakeItem(absl::StrCat("l", i), 11));
    light.back()->flow = 2;
  }
  ASSERT_TRUE(sim.scheduler().Submit(std::move(light)).ok());
  // Fair order interleaves the two flows: the light flow's items are all served within the first
  // few batches instead of after the heavy flow's 50 batches.
  const auto batches = sim.RunAll();
  int light_seen = 0;
  size_t last_batch_with_light = 0;
  size_t items = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    items += batches[b].size();
    for (int64_t length : batches[b]) {
      if (length == 11) {
        ++light_seen;
        last_batch_with_light = b;
      }
    }
  }
  EXPECT_EQ(items, 204u);
  EXPECT_EQ(light_seen, 4);
  EXPECT_LE(last_batch_with_light, 2u);
}

TEST(Scheduler, ShortItemAfterALongOneStillRespectsTheBudget) {
  Simulation sim(Options(64, 60, absl::Milliseconds(20)));
  // 30 then 5, 5: 3 rows x 30 = 90 > 60, so only two rows fit.
  ASSERT_TRUE(
      sim.scheduler().Submit(Items(MakeItem("a", 30), MakeItem("b", 5), MakeItem("c", 5))).ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(30, 5), ElementsAre(5)));
}

TEST(Scheduler, GroupsItemsOfSimilarLengthAroundTheOldest) {
  // FIFO would pad the short items to 100; the long one waits for the next batch instead.
  Simulation sim(Options(64, 200, absl::Milliseconds(20)));
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 10), MakeItem("long", 100), MakeItem("b", 12),
                                MakeItem("c", 9), MakeItem("d", 11)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 12, 9, 11), ElementsAre(100)));
}

TEST(Scheduler, CostModelKeepsALongItemOutOfABatchOfShortOnes) {
  SchedulerOptions options = Options(64, 8192, absl::Milliseconds(20));
  options.batch_overhead_tokens = 64;
  Simulation sim(options);
  // The budget would allow 5 x 100 tokens, but 4 short rows padded to 100 would quadruple the
  // cost for 100 more real tokens: the long item runs on its own.
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 10), MakeItem("b", 12), MakeItem("long", 100),
                                MakeItem("c", 9), MakeItem("d", 11)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 12, 9, 11), ElementsAre(100)));
}

TEST(Scheduler, CostModelStillBatchesItemsOfSimilarLength) {
  SchedulerOptions options = Options(64, 8192, absl::Milliseconds(20));
  options.batch_overhead_tokens = 64;
  Simulation sim(options);
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 20), MakeItem("b", 30), MakeItem("c", 25),
                                MakeItem("d", 18)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(20, 30, 25, 18)));
}

TEST(Scheduler, LookaheadBoundsHowFarBatchesReachPastTheOldest) {
  SchedulerOptions options = Options(2, 200, absl::Milliseconds(20));
  options.lookahead = 2;  // the oldest and the one behind it
  Simulation sim(options);
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("a", 10), MakeItem("long", 100), MakeItem("b", 10)))
                  .ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(10, 100), ElementsAre(10)));
}

TEST(Scheduler, AFullBatchLeavesWithoutWaitingForTheDelay) {
  // Batching off: a lone item does not wait the (long) queue delay.
  Simulation one(Options(1, 1000, absl::Seconds(30)));
  ASSERT_TRUE(one.scheduler().Submit(Items(MakeItem("alone", 5))).ok());
  EXPECT_THAT(Ids(one.Take().batch), ElementsAre("alone"));
  // Exactly max_batch_size items: the batch is full at once.
  Simulation four(Options(4, 1000, absl::Seconds(30)));
  ASSERT_TRUE(four.scheduler()
                  .Submit(Items(MakeItem("a", 5), MakeItem("b", 5), MakeItem("c", 5),
                                MakeItem("d", 5)))
                  .ok());
  EXPECT_THAT(Ids(four.Take().batch), ElementsAre("a", "b", "c", "d"));
}

TEST(Scheduler, ItemLongerThanTheBudgetRunsAlone) {
  Simulation sim(Options(64, 16, absl::Milliseconds(5)));
  ASSERT_TRUE(sim.scheduler().Submit(Items(MakeItem("big", 50), MakeItem("small", 4))).ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(50), ElementsAre(4)));
}

TEST(Scheduler, MaxBatchSizeSplitsBatches) {
  Simulation sim(Options(4, 10000, absl::Milliseconds(20)));
  std::vector<std::unique_ptr<Item>> items;
  for (int i = 0; i < 10; ++i) items.push_back(MakeItem(std::to_string(i), 5));
  ASSERT_TRUE(sim.scheduler().Submit(std::move(items)).ok());
  const auto batches = sim.RunAll();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 4u);
  EXPECT_EQ(batches[1].size(), 4u);
  EXPECT_EQ(batches[2].size(), 2u);
}

TEST(Scheduler, MaxBatchSizeOneRunsItemsOneByOne) {
  Simulation sim(Options(1, 10000, absl::Milliseconds(20)));
  ASSERT_TRUE(
      sim.scheduler().Submit(Items(MakeItem("a", 5), MakeItem("b", 6), MakeItem("c", 5))).ok());
  EXPECT_THAT(sim.RunAll(), ElementsAre(ElementsAre(5), ElementsAre(6), ElementsAre(5)));
}

TEST(Scheduler, APartialBatchWaitsForTheQueueDelayThenTakesEverythingQueued) {
  const absl::Duration delay = absl::Milliseconds(200);
  Simulation sim(Options(64, 10000, delay));
  const absl::Time start = sim.now();
  ASSERT_TRUE(sim.scheduler().Submit(Items(MakeItem("a", 5))).ok());
  sim.Advance(absl::Milliseconds(150));
  ASSERT_TRUE(sim.scheduler().Submit(Items(MakeItem("b", 5))).ok());
  EXPECT_THAT(sim.Take().batch, IsEmpty());
  EXPECT_EQ(sim.next(), start + delay);  // the oldest item's delay, not the newest's
  sim.Advance(absl::Milliseconds(49));
  EXPECT_THAT(sim.Take().batch, IsEmpty());
  sim.Advance(absl::Milliseconds(1));
  EXPECT_THAT(Ids(sim.Take().batch), ElementsAre("a", "b"));
}

TEST(Scheduler, BoundedQueueIsAllOrNothingAndAcceptsAgainAfterDraining) {
  SchedulerOptions options = Options(1, 10000, absl::ZeroDuration());
  options.max_queue_items = 3;
  Simulation sim(options);
  ASSERT_TRUE(sim.scheduler()
                  .Submit(Items(MakeItem("q1", 5), MakeItem("q2", 5), MakeItem("q3", 5)))
                  .ok());
  const absl::Status full = sim.scheduler().Submit(Items(MakeItem("rejected", 5)));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), HasSubstr("queue full: 3 items waiting, limit 3"));
  EXPECT_THAT(Ids(sim.Take().batch), ElementsAre("q1"));
  // One slot is free: two items do not fit in it, and neither of them is queued.
  EXPECT_EQ(sim.scheduler().Submit(Items(MakeItem("x", 5), MakeItem("y", 5))).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sim.scheduler().queue_depth(), 2);
  EXPECT_TRUE(sim.scheduler().Submit(Items(MakeItem("later", 5))).ok());
  std::vector<std::string> taken;
  for (int i = 0; i < 3; ++i) {
    for (const std::string& id : Ids(sim.Take().batch)) taken.push_back(id);
  }
  EXPECT_THAT(taken, ElementsAre("q2", "q3", "later"));
}

// Counts what the scheduler reports.
class CountingObserver : public SchedulerObserver {
 public:
  void OnQueueDepth(int64_t depth) override { depth_ = depth; }
  void OnRejected(int64_t items) override { rejected_ += items; }
  void OnDropped(int64_t expired, int64_t cancelled) override {
    expired_ += expired;
    cancelled_ += cancelled;
  }
  void OnTokenBudget(int64_t tokens) override { budgets_.push_back(tokens); }
  void OnBatch(const BatchStats& stats) override { batches_ += 1; }

  int64_t depth_ = -1, rejected_ = 0, expired_ = 0, cancelled_ = 0, batches_ = 0;
  std::vector<int64_t> budgets_;
};

TEST(Scheduler, TheObserverHearsDepthRejectionsDropsBudgetsAndBatches) {
  CountingObserver observer;
  SchedulerOptions options = Options(8, 100, absl::ZeroDuration());
  options.max_queue_items = 2;
  Simulation sim(options, &observer);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(sim.scheduler().Submit(CancellableItems("gone", 1, gone)).ok());
  EXPECT_EQ(observer.depth_, 1);
  EXPECT_FALSE(sim.scheduler().Submit(Items(MakeItem("a", 1), MakeItem("b", 1))).ok());
  EXPECT_EQ(observer.rejected_, 2);
  gone->store(true);
  sim.scheduler().LowerTokenBudget(50, absl::Seconds(1));
  Work work = sim.Take();
  EXPECT_EQ(observer.cancelled_, 1);
  EXPECT_EQ(observer.depth_, 0);
  sim.Advance(absl::Seconds(2));
  ASSERT_TRUE(sim.scheduler().Submit(Items(MakeItem("c", 3))).ok());
  work = sim.Take();
  EXPECT_THAT(Ids(work.batch), ElementsAre("c"));
  BatchStats stats;
  stats.rows = 1;
  sim.scheduler().BatchDone(stats);
  EXPECT_EQ(observer.batches_, 1);
  // Initial budget, lowered, then restored when its hold ended.
  EXPECT_THAT(observer.budgets_, ElementsAre(100, 50, 100));
}

// The real thing: submitters and runners on their own threads, on the wall clock, with NextWork.
TEST(Scheduler, RunnersGetEveryItemExactlyOnceFromManySubmitters) {
  SchedulerOptions options = Options(16, 512, absl::Milliseconds(1));
  options.max_queue_items = 100000;  // this test is about routing, not admission
  options.batch_overhead_tokens = 64;
  Scheduler scheduler(options);
  absl::Mutex mu;
  std::map<std::string, int> seen;
  std::vector<std::vector<int64_t>> batches;
  std::vector<std::thread> runners;
  for (int r = 0; r < 2; ++r) {
    runners.emplace_back([&] {
      Work work;
      while (scheduler.NextWork(&work)) {
        absl::MutexLock lock(&mu);
        for (const std::string& id : Ids(work.batch)) ++seen[id];
        if (!work.batch.empty()) batches.push_back(Lengths(work.batch));
      }
    });
  }
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto item = MakeItem(absl::StrCat(t, "-", i), 1 + (i * 7 + t) % 30);
        item->flow = static_cast<uint64_t>(t);
        EXPECT_TRUE(scheduler.Submit(Items(std::move(item))).ok());
      }
    });
  }
  for (auto& th : submitters) th.join();
  scheduler.Close();  // the runners drain the queue, then NextWork returns false
  for (auto& th : runners) th.join();
  EXPECT_EQ(scheduler.queue_depth(), 0);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
  for (const auto& batch : batches) {
    EXPECT_LE(batch.size(), 16u);
    EXPECT_LE(static_cast<int64_t>(batch.size()) * *std::max_element(batch.begin(), batch.end()),
              512);
  }
}

TEST(Scheduler, CloseHandsOutQueuedWorkAtOnceThenRefusesAndEndsTheRunners) {
  Scheduler scheduler(Options(2, 1000, absl::Seconds(10)));
  ASSERT_TRUE(
      scheduler.Submit(Items(MakeItem("a", 3), MakeItem("b", 3), MakeItem("c", 3))).ok());
  scheduler.Close();
  EXPECT_EQ(scheduler.Submit(Items(MakeItem("late", 3))).code(), absl::StatusCode::kUnavailable);
  // No waiting for the 10 s delay: closing means nothing more will join these batches.
  Work work;
  ASSERT_TRUE(scheduler.NextWork(&work));
  EXPECT_THAT(Ids(work.batch), ElementsAre("a", "b"));
  ASSERT_TRUE(scheduler.NextWork(&work));
  EXPECT_THAT(Ids(work.batch), ElementsAre("c"));
  EXPECT_FALSE(scheduler.NextWork(&work));
  EXPECT_TRUE(work.empty());
}

}  // namespace
}  // namespace eaos::scheduler
