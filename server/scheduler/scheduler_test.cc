#include "server/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace eaos::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records every batch (the lengths of its items) and answers each item with its own id.
class RecordingProcessor : public BatchProcessor {
 public:
  absl::StatusOr<std::vector<absl::StatusOr<v1::ItemResult>>> Process(
      const std::vector<const WorkItem*>& batch, int runner) override {
    if (gate_ != nullptr) {
      if (!started_.WaitForNotificationWithTimeout(absl::ZeroDuration())) started_.Notify();
      gate_->WaitForNotification();
    }
    std::vector<int64_t> lengths;
    std::vector<absl::StatusOr<v1::ItemResult>> results;
    for (const WorkItem* item : batch) {
      lengths.push_back(item->length());
      v1::ItemResult r;
      r.set_id(item->id);
      r.set_num_tokens(static_cast<uint32_t>(item->length()));
      results.push_back(r);
    }
    absl::MutexLock lock(&mu_);
    batches_.push_back(lengths);
    if (!fail_with_.ok()) return fail_with_;
    return results;
  }

  std::vector<std::vector<int64_t>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

  absl::Notification* gate_ = nullptr;  // when set, Process blocks until notified
  absl::Notification started_;
  absl::Status fail_with_;

 private:
  absl::Mutex mu_;
  std::vector<std::vector<int64_t>> batches_ ABSL_GUARDED_BY(mu_);
};

// Collects the results of items, keyed by id; counts deliveries to catch duplicates.
class Results {
 public:
  std::unique_ptr<WorkItem> Item(const std::string& id, int64_t length) {
    auto item = std::make_unique<WorkItem>();
    item->id = id;
    item->encoding.ids.assign(length, 7);
    item->done = [this, id](absl::StatusOr<v1::ItemResult> r) {
      absl::MutexLock lock(&mu_);
      ++deliveries_[id];
      if (r.ok()) {
        ids_[id] = r->id();
      } else {
        errors_[id] = r.status();
      }
    };
    return item;
  }
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return deliveries_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  std::map<std::string, int> deliveries() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }
  std::map<std::string, std::string> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  std::map<std::string, absl::Status> errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> deliveries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> ids_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> errors_ ABSL_GUARDED_BY(mu_);
};

template <typename... T>
std::vector<std::unique_ptr<WorkItem>> Items(T... items) {
  std::vector<std::unique_ptr<WorkItem>> v;
  (v.push_back(std::move(items)), ...);
  return v;
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

TEST(Scheduler, TokenBudgetCountsPadding) {
  RecordingProcessor processor;
  Results results;
  // 3 rows x 10 = 30 fits in 40; a 4th row of 30 would make 4 x 30 = 120 padded tokens.
  Scheduler scheduler(Options(64, 40, absl::Milliseconds(20)), &processor);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("a", 10), results.Item("b", 10), results.Item("c", 10),
                                results.Item("d", 30)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(10, 10, 10), ElementsAre(30)));
}

TEST(Scheduler, ALoweredTokenBudgetHoldsForItsTimeThenReturns) {
  RecordingProcessor processor;
  Results results;
  Scheduler scheduler(Options(64, 40, absl::Milliseconds(20)), &processor);
  scheduler.LowerTokenBudget(20, absl::Milliseconds(300));
  EXPECT_EQ(scheduler.token_budget(), 20);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("a", 10), results.Item("b", 10), results.Item("c", 10),
                                results.Item("d", 10)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(10, 10), ElementsAre(10, 10)));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(scheduler.token_budget(), 40);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("e", 10), results.Item("f", 10), results.Item("g", 10),
                                results.Item("h", 10)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(8));
  EXPECT_THAT(processor.batches().back(), ElementsAre(10, 10, 10, 10));
}

// Holds the scheduler's thread inside a first batch, so that the queue fills behind it.
void BlockOnFirstBatch(Scheduler& scheduler, RecordingProcessor& processor, Results& results,
                       absl::Notification& gate) {
  processor.gate_ = &gate;
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("blocker", 5))).ok());
  processor.started_.WaitForNotification();
}

TEST(Scheduler, ItemsPastTheirDeadlineAreAnsweredWithoutRunning) {
  RecordingProcessor processor;
  Results results;
  absl::Notification gate;
  Scheduler scheduler(Options(64, 1000, absl::Milliseconds(1)), &processor);
  BlockOnFirstBatch(scheduler, processor, results, gate);
  auto late = results.Item("late", 7);
  late->deadline = absl::Now() + absl::Milliseconds(20);
  auto fine = results.Item("fine", 8);
  fine->deadline = absl::Now() + absl::Seconds(60);
  ASSERT_TRUE(scheduler.Submit(Items(std::move(late), std::move(fine))).ok());
  absl::SleepFor(absl::Milliseconds(60));
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(3));
  const auto errors = results.errors();
  ASSERT_EQ(errors.count("late"), 1u);
  EXPECT_EQ(errors.at("late").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(errors.at("late").message()), HasSubstr("in the queue"));
  EXPECT_EQ(errors.count("fine"), 0u);
  // The expired item never reached the model: batches are the blocker, then "fine" alone.
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(5), ElementsAre(8)));
  for (const auto& [id, n] : results.deliveries()) EXPECT_EQ(n, 1) << id;
}

// `n` items of length 6 (ids PREFIX0..) whose caller is gone once `*gone` is set.
std::vector<std::unique_ptr<WorkItem>> CancellableItems(Results& results, const std::string& prefix,
                                                        int n,
                                                        std::shared_ptr<std::atomic<bool>> gone) {
  std::vector<std::unique_ptr<WorkItem>> items;
  for (int i = 0; i < n; ++i) {
    items.push_back(results.Item(absl::StrCat(prefix, i), 6));
    items.back()->cancelled = [gone] { return gone->load(); };
  }
  return items;
}

TEST(Scheduler, ItemsOfACancelledCallAreAnsweredWithoutRunning) {
  RecordingProcessor processor;
  Results results;
  absl::Notification gate;
  Scheduler scheduler(Options(64, 1000, absl::Milliseconds(1)), &processor);
  BlockOnFirstBatch(scheduler, processor, results, gate);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(scheduler.Submit(CancellableItems(results, "c", 3, gone)).ok());
  gone->store(true);
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(results.errors().at(absl::StrCat("c", i)).code(), absl::StatusCode::kCancelled);
  }
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(5)));
}

// Clients that went away must not keep a full queue full: before refusing, the queue drops its
// cancelled items wherever they are (the look-ahead window alone would free them only slowly).
TEST(Scheduler, AFullQueueFirstDropsTheItemsOfCallersThatLeft) {
  RecordingProcessor processor;
  Results results;
  absl::Notification gate;
  SchedulerOptions options = Options(64, 1000, absl::Milliseconds(1));
  options.max_queue_items = 6;
  Scheduler scheduler(options, &processor);
  BlockOnFirstBatch(scheduler, processor, results, gate);
  auto gone = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(scheduler.Submit(CancellableItems(results, "dead", 6, gone)).ok());
  EXPECT_EQ(scheduler.CheckRoom(2).code(), absl::StatusCode::kResourceExhausted);  // all alive
  gone->store(true);
  absl::SleepFor(absl::Milliseconds(60));  // past the interval between full scans
  EXPECT_TRUE(scheduler.CheckRoom(2).ok());
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("alive", 4))).ok());
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(8));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(results.errors().at(absl::StrCat("dead", i)).code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(results.errors().count("alive"), 0u);
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(5), ElementsAre(4)));
  for (const auto& [id, n] : results.deliveries()) EXPECT_EQ(n, 1) << id;
}

TEST(Scheduler, ANearDeadlineSeedsTheNextBatchAheadOfOlderItems) {
  RecordingProcessor processor;
  Results results;
  absl::Notification gate;
  SchedulerOptions options = Options(1, 1000, absl::Milliseconds(1));
  options.deadline_horizon = absl::Seconds(30);
  Scheduler scheduler(options, &processor);
  BlockOnFirstBatch(scheduler, processor, results, gate);
  std::vector<std::unique_ptr<WorkItem>> relaxed;
  for (int i = 0; i < 5; ++i) relaxed.push_back(results.Item(absl::StrCat("r", i), 10));
  ASSERT_TRUE(scheduler.Submit(std::move(relaxed)).ok());
  auto urgent = results.Item("urgent", 20);
  urgent->flow = 0;  // same flow, queued last: only its deadline can move it forward
  urgent->deadline = absl::Now() + absl::Seconds(20);  // within the horizon, far from expiring
  ASSERT_TRUE(scheduler.Submit(Items(std::move(urgent))).ok());
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(7));
  const auto batches = processor.batches();
  ASSERT_EQ(batches.size(), 7u);
  EXPECT_THAT(batches[1], ElementsAre(20));  // right after the blocker
  EXPECT_EQ(results.errors().size(), 0u);
}

TEST(Scheduler, AHeavyStreamDoesNotStarveALightOne) {
  RecordingProcessor processor;
  Results results;
  absl::Notification gate;
  Scheduler scheduler(Options(4, 1000, absl::Milliseconds(1)), &processor);
  BlockOnFirstBatch(scheduler, processor, results, gate);
  // Flow 1 queues 200 items; then flow 2 sends 4 items of another length.
  std::vector<std::unique_ptr<WorkItem>> heavy;
  for (int i = 0; i < 200; ++i) {
    heavy.push_back(results.Item(absl::StrCat("h", i), 10));
    heavy.back()->flow = 1;
  }
  ASSERT_TRUE(scheduler.Submit(std::move(heavy)).ok());
  std::vector<std::unique_ptr<WorkItem>> light;
  for (int i = 0; i < 4; ++i) {
    light.push_back(results.Item(absl::StrCat("l", i), 11));
    light.back()->flow = 2;
  }
  ASSERT_TRUE(scheduler.Submit(std::move(light)).ok());
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(205));
  // Fair order interleaves the two flows: the light flow's items are all served within the first
  // few batches instead of after the heavy flow's 50 batches.
  const auto batches = processor.batches();
  int light_seen = 0;
  size_t last_batch_with_light = 0;
  for (size_t b = 1; b < batches.size(); ++b) {
    for (int64_t length : batches[b]) {
      if (length == 11) {
        ++light_seen;
        last_batch_with_light = b;
      }
    }
  }
  EXPECT_EQ(light_seen, 4);
  EXPECT_LE(last_batch_with_light, 3u);
  for (const auto& [id, n] : results.deliveries()) EXPECT_EQ(n, 1) << id;
}

// Counts batches inside Process at once; each waits for the gate.
class ConcurrencyProbe : public BatchProcessor {
 public:
  absl::StatusOr<std::vector<absl::StatusOr<v1::ItemResult>>> Process(
      const std::vector<const WorkItem*>& batch, int runner) override {
    {
      absl::MutexLock lock(&mu_);
      ++inside_;
      max_inside_ = std::max(max_inside_, inside_);
      runners_.insert(runner);
    }
    gate_.WaitForNotificationWithTimeout(absl::Seconds(10));
    absl::MutexLock lock(&mu_);
    --inside_;
    std::vector<absl::StatusOr<v1::ItemResult>> results;
    for (const WorkItem* item : batch) {
      v1::ItemResult r;
      r.set_id(item->id);
      results.push_back(r);
    }
    return results;
  }
  bool WaitInside(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return inside_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
  }
  absl::Notification gate_;
  absl::Mutex mu_;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> runners_ ABSL_GUARDED_BY(mu_);
};

TEST(Scheduler, SeveralRunnersRunBatchesAtOnce) {
  ConcurrencyProbe processor;
  Results results;
  SchedulerOptions options = Options(2, 1000, absl::Milliseconds(1));
  options.runners = 2;
  Scheduler scheduler(options, &processor);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("a", 5), results.Item("b", 5), results.Item("c", 5),
                                results.Item("d", 5)))
                  .ok());
  // Both runners are inside Process with a batch each before either finishes.
  EXPECT_TRUE(processor.WaitInside(2));
  processor.gate_.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  for (const auto& [id, n] : results.deliveries()) EXPECT_EQ(n, 1) << id;
  absl::MutexLock lock(&processor.mu_);
  EXPECT_EQ(processor.runners_, (std::set<int>{0, 1}));
}

TEST(Scheduler, ShortItemAfterALongOneStillRespectsTheBudget) {
  RecordingProcessor processor;
  Results results;
  Scheduler scheduler(Options(64, 60, absl::Milliseconds(20)), &processor);
  // 30 then 5, 5: 3 rows x 30 = 90 > 60, so only two rows fit.
  ASSERT_TRUE(
      scheduler.Submit(Items(results.Item("a", 30), results.Item("b", 5), results.Item("c", 5)))
          .ok());
  ASSERT_TRUE(results.WaitFor(3));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(30, 5), ElementsAre(5)));
}

TEST(Scheduler, GroupsItemsOfSimilarLengthAroundTheOldest) {
  RecordingProcessor processor;
  Results results;
  // FIFO would pad the short items to 100; the long one waits for the next batch instead.
  Scheduler scheduler(Options(64, 200, absl::Milliseconds(20)), &processor);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("a", 10), results.Item("long", 100),
                                results.Item("b", 12), results.Item("c", 9), results.Item("d", 11)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(10, 12, 9, 11), ElementsAre(100)));
}

TEST(Scheduler, CostModelKeepsALongItemOutOfABatchOfShortOnes) {
  RecordingProcessor processor;
  Results results;
  SchedulerOptions options = Options(64, 8192, absl::Milliseconds(20));
  options.batch_overhead_tokens = 64;
  Scheduler scheduler(options, &processor);
  // The budget would allow 5 x 100 tokens, but 4 short rows padded to 100 would quadruple the
  // cost for 100 more real tokens: the long item runs on its own.
  ASSERT_TRUE(
      scheduler
          .Submit(Items(results.Item("a", 10), results.Item("b", 12), results.Item("long", 100),
                        results.Item("c", 9), results.Item("d", 11)))
          .ok());
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(10, 12, 9, 11), ElementsAre(100)));
}

TEST(Scheduler, CostModelStillBatchesItemsOfSimilarLength) {
  RecordingProcessor processor;
  Results results;
  SchedulerOptions options = Options(64, 8192, absl::Milliseconds(20));
  options.batch_overhead_tokens = 64;
  Scheduler scheduler(options, &processor);
  ASSERT_TRUE(scheduler
                  .Submit(Items(results.Item("a", 20), results.Item("b", 30), results.Item("c", 25),
                                results.Item("d", 18)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(20, 30, 25, 18)));
}

TEST(Scheduler, LookaheadBoundsHowFarBatchesReachPastTheOldest) {
  RecordingProcessor processor;
  Results results;
  SchedulerOptions options = Options(2, 200, absl::Milliseconds(20));
  options.lookahead = 2;  // the oldest and the one behind it
  Scheduler scheduler(options, &processor);
  ASSERT_TRUE(
      scheduler
          .Submit(Items(results.Item("a", 10), results.Item("long", 100), results.Item("b", 10)))
          .ok());
  ASSERT_TRUE(results.WaitFor(3));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(10, 100), ElementsAre(10)));
}

TEST(Scheduler, AFullBatchLeavesWithoutWaitingForTheDelay) {
  RecordingProcessor processor;
  Results results;
  // Batching off: a lone item must not wait the (long) queue delay.
  Scheduler one(Options(1, 1000, absl::Seconds(30)), &processor);
  ASSERT_TRUE(one.Submit(Items(results.Item("alone", 5))).ok());
  ASSERT_TRUE(results.WaitFor(1, absl::Seconds(5)));
  // Exactly max_batch_size items: the batch is full at once.
  Scheduler four(Options(4, 1000, absl::Seconds(30)), &processor);
  ASSERT_TRUE(four.Submit(Items(results.Item("a", 5), results.Item("b", 5), results.Item("c", 5),
                                results.Item("d", 5)))
                  .ok());
  ASSERT_TRUE(results.WaitFor(5, absl::Seconds(5)));
}

TEST(Scheduler, ItemLongerThanTheBudgetRunsAlone) {
  RecordingProcessor processor;
  Results results;
  Scheduler scheduler(Options(64, 16, absl::Milliseconds(5)), &processor);
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("big", 50), results.Item("small", 4))).ok());
  ASSERT_TRUE(results.WaitFor(2));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(50), ElementsAre(4)));
}

TEST(Scheduler, MaxBatchSizeSplitsBatches) {
  RecordingProcessor processor;
  Results results;
  Scheduler scheduler(Options(4, 10000, absl::Milliseconds(20)), &processor);
  std::vector<std::unique_ptr<WorkItem>> items;
  for (int i = 0; i < 10; ++i) items.push_back(results.Item(std::to_string(i), 5));
  ASSERT_TRUE(scheduler.Submit(std::move(items)).ok());
  ASSERT_TRUE(results.WaitFor(10));
  const auto batches = processor.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 4u);
  EXPECT_EQ(batches[1].size(), 4u);
  EXPECT_EQ(batches[2].size(), 2u);
}

TEST(Scheduler, MaxBatchSizeOneRunsItemsOneByOne) {
  RecordingProcessor processor;
  Results results;
  Scheduler scheduler(Options(1, 10000, absl::Milliseconds(20)), &processor);
  ASSERT_TRUE(
      scheduler.Submit(Items(results.Item("a", 5), results.Item("b", 6), results.Item("c", 5)))
          .ok());
  ASSERT_TRUE(results.WaitFor(3));
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(5), ElementsAre(6), ElementsAre(5)));
}

TEST(Scheduler, FlushesAPartialBatchAfterTheQueueDelay) {
  RecordingProcessor processor;
  Results results;
  const absl::Duration delay = absl::Milliseconds(200);  // long enough for both Submits
  Scheduler scheduler(Options(64, 10000, delay), &processor);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("a", 5))).ok());
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("b", 5))).ok());
  ASSERT_TRUE(results.WaitFor(2));
  // The batch was not full, so it waited for the delay and then took both items together.
  EXPECT_GE(absl::Now() - start, delay);
  EXPECT_THAT(processor.batches(), ElementsAre(ElementsAre(5, 5)));
}

TEST(Scheduler, BoundedQueueRejectsWhenFullAndAcceptsAfterDraining) {
  RecordingProcessor processor;
  absl::Notification gate;
  processor.gate_ = &gate;
  Results results;
  SchedulerOptions options = Options(1, 10000, absl::ZeroDuration());
  options.max_queue_items = 3;
  Scheduler scheduler(options, &processor);
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("running", 5))).ok());
  processor.started_.WaitForNotification();  // "running" left the queue and blocks the model
  ASSERT_TRUE(
      scheduler.Submit(Items(results.Item("q1", 5), results.Item("q2", 5), results.Item("q3", 5)))
          .ok());
  const absl::Status full = scheduler.Submit(Items(results.Item("rejected", 5)));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(full.message()), ::testing::HasSubstr("queue full"));
  // All or nothing: two items do not fit in the one free slot after one more drains.
  gate.Notify();
  ASSERT_TRUE(results.WaitFor(4));
  EXPECT_EQ(results.deliveries().count("rejected"), 0u);
  EXPECT_TRUE(scheduler.Submit(Items(results.Item("later", 5))).ok());
  ASSERT_TRUE(results.WaitFor(5));
}

TEST(Scheduler, RoutesEveryResultToItsCallerExactlyOnce) {
  RecordingProcessor processor;
  Results results;
  SchedulerOptions options = Options(16, 512, absl::Milliseconds(1));
  options.max_queue_items = 100000;  // this test is about routing, not admission
  options.batch_overhead_tokens = 64;
  Scheduler scheduler(options, &processor);
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat(t, "-", i);
        ASSERT_TRUE(scheduler.Submit(Items(results.Item(id, 1 + (i * 7 + t) % 30))).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(results.WaitFor(kThreads * kPerThread));
  const auto deliveries = results.deliveries();
  const auto ids = results.ids();
  ASSERT_EQ(deliveries.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& [id, count] : deliveries) {
    EXPECT_EQ(count, 1) << id;
    EXPECT_EQ(ids.at(id), id);
  }
  for (const auto& batch : processor.batches()) {
    EXPECT_LE(batch.size(), 16u);
    EXPECT_LE(static_cast<int64_t>(batch.size()) * *std::max_element(batch.begin(), batch.end()),
              512);
  }
}

TEST(Scheduler, BatchFailureAnswersEveryItemWithTheError) {
  RecordingProcessor processor;
  processor.fail_with_ = absl::InternalError("forward failed: boom");
  Results results;
  Scheduler scheduler(Options(8, 1000, absl::Milliseconds(1)), &processor);
  ASSERT_TRUE(scheduler.Submit(Items(results.Item("a", 3), results.Item("b", 4))).ok());
  ASSERT_TRUE(results.WaitFor(2));
  const auto errors = results.errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors.at("a").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(errors.at("b").message(), "forward failed: boom");
}

TEST(Scheduler, ShutdownFinishesQueuedWorkThenRefusesNewWork) {
  RecordingProcessor processor;
  Results results;
  auto scheduler = std::make_unique<Scheduler>(Options(2, 1000, absl::Seconds(10)), &processor);
  ASSERT_TRUE(
      scheduler->Submit(Items(results.Item("a", 3), results.Item("b", 3), results.Item("c", 3)))
          .ok());
  scheduler->Shutdown();  // does not wait for the 10 s delay
  EXPECT_EQ(results.deliveries().size(), 3u);
  EXPECT_EQ(scheduler->Submit(Items(results.Item("late", 3))).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace eaos::scheduler
