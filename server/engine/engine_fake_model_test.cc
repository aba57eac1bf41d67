// The engine's concurrent core — submitters, scheduler, runner threads, fault recovery, drops and
// shutdown — on the fake tokenizer and model, without gRPC: the tests the TSan build runs (and
// ASan too). Every scenario checks the exactly-once rule with an AnswerLedger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/cpp/answer_ledger.h"
#include "server/engine/engine.h"
#include "server/testing/fakes.h"
#include "server/testing/unicode_forms.h"

namespace eaos::engine {
namespace {

using client::AnswerLedger;

v1::Item MakeItem(const std::string& id, const std::string& text) {
  v1::Item item;
  item.set_id(id);
  item.set_text(text);
  return item;
}


// What a caller shares with its items: a deadline, and whether it has gone away.
struct Caller {
  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
};

// Submits `n` items of one flow; each answer goes to the ledger.
absl::Status SubmitFlow(Engine& engine, AnswerLedger& ledger, const std::string& prefix, int n,
                        uint64_t flow, const Caller& caller) {
  std::vector<std::unique_ptr<WorkItem>> items;
  for (int i = 0; i < n; ++i) {
    const std::string id = absl::StrCat(prefix, "-", i);
    auto work = engine.Prepare(MakeItem(id, testing::SampleText(i)), 0.5f);
    if (!work.ok()) return work.status();
    (*work)->flow = flow;
    (*work)->deadline = caller.deadline;
    (*work)->gone = caller.gone;
    (*work)->done = [&ledger, id](absl::StatusOr<v1::ItemResult> r) {
      ledger.Answered(id, r.status().code());
    };
    ledger.Sent(id);
    items.push_back(*std::move(work));
  }
  absl::Status admitted = engine.Submit(std::move(items));
  if (!admitted.ok()) {
    // Nothing was queued: the caller answers its own items, as the service does.
    for (int i = 0; i < n; ++i) ledger.Answered(absl::StrCat(prefix, "-", i), admitted.code());
  }
  return admitted;
}

bool WaitAnswered(const AnswerLedger& ledger, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (ledger.Check().unanswered == 0) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// Submits `calls` flows of `items` each from this thread, waits for every answer, shuts the engine
// down and checks the ledger.
void RunFlowsToTheEnd(Engine& engine, int calls, int items) {
  AnswerLedger ledger;
  for (int call = 0; call < calls; ++call) {
    ASSERT_TRUE(SubmitFlow(engine, ledger, absl::StrCat("c", call), items, call + 1, {}).ok());
  }
  ASSERT_TRUE(WaitAnswered(ledger, absl::Seconds(30)));
  engine.Shutdown();
  EXPECT_TRUE(ledger.Check().ok()) << ledger.Check().ToString();
}

TEST(EngineOnFakes, ManySubmittersTwoRunnersEveryItemAnsweredOnce) {
  EngineOptions options;
  options.scheduling.max_batch_size = 8;
  options.runners_per_device = 2;
  testing::FakeModel* model = nullptr;
  auto engine =
      testing::MakeFakeEngine(options, {.per_token = absl::Microseconds(3)}, nullptr, &model);
  ASSERT_TRUE(engine.ok()) << engine.status();
  AnswerLedger ledger;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 20; ++call) {
        EXPECT_TRUE(
            SubmitFlow(**engine, ledger, absl::StrCat(t, ".", call), 1 + call % 5, t + 1, {}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(WaitAnswered(ledger, absl::Seconds(60)));
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kOk), report.sent) << report.ToString();
  EXPECT_EQ(model->rows_seen(), report.sent);
}

TEST(EngineOnFakes, ExpiredAndAbandonedItemsAreAnsweredWithoutTheModel) {
  EngineOptions options;
  options.scheduling.max_batch_size = 4;
  testing::FakeModel* model = nullptr;
  auto engine =
      testing::MakeFakeEngine(options, {.fixed = absl::Milliseconds(10)}, nullptr, &model);
  ASSERT_TRUE(engine.ok()) << engine.status();
  AnswerLedger ledger;
  std::vector<std::thread> threads;
  std::vector<Caller> leaving(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Caller caller;
      if (t % 2 == 0) caller.deadline = absl::Now() + absl::Milliseconds(15);
      if (t % 2 == 1) caller = leaving[t];
      EXPECT_TRUE(SubmitFlow(**engine, ledger, absl::StrCat("c", t), 30, t + 1, caller).ok());
    });
  }
  for (auto& t : threads) t.join();
  for (Caller& caller : leaving) *caller.gone = true;  // callers hang up while queued
  ASSERT_TRUE(WaitAnswered(ledger, absl::Seconds(60)));
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kDeadlineExceeded), 0) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kCancelled), 0) << report.ToString();
  EXPECT_EQ(model->rows_seen(), report.count(absl::StatusCode::kOk)) << report.ToString();
}

TEST(EngineOnFakes, InjectedFailuresOnTwoRunnersLoseNothing) {
  EngineOptions options;
  options.scheduling.max_batch_size = 16;
  options.runners_per_device = 2;
  options.faults.oom_rate = 0.3;
  options.faults.error_rate = 0.1;
  options.oom_budget_hold = absl::Milliseconds(20);
  auto engine = testing::MakeFakeEngine(options, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  AnswerLedger ledger;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 15; ++call) {
        EXPECT_TRUE(SubmitFlow(**engine, ledger, absl::StrCat(t, ".", call), 8, t + 1, {}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(WaitAnswered(ledger, absl::Seconds(60)));
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count({absl::StatusCode::kOk, absl::StatusCode::kInternal,
                          absl::StatusCode::kResourceExhausted}),
            report.sent)
      << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kInternal), 0) << report.ToString();
}

// Counts what the engine reports of its batches and of each forward pass (runners call it
// concurrently).
class ForwardCounter : public EngineObserver {
 public:
  void OnBatch(const scheduler::BatchStats& stats) override {
    batches += 1;
    batch_rows += stats.rows;
  }
  void OnOutOfMemory(int64_t rows, int64_t padded_tokens) override { ooms += 1; }
  void OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) override {
    forwards += 1;
    forward_rows += rows;
    if (time < shortest_expected) too_short += 1;
  }
  absl::Duration shortest_expected = absl::ZeroDuration();
  std::atomic<int64_t> batches{0}, batch_rows{0}, ooms{0}, forwards{0}, forward_rows{0},
      too_short{0};
};

TEST(EngineOnFakes, EveryForwardPassIsTimedAndReported) {
  EngineOptions options;
  options.scheduling.max_batch_size = 8;
  options.runners_per_device = 2;
  ForwardCounter counter;
  // Each fake forward sleeps at least 2 ms: a reported time below that did not time the forward.
  counter.shortest_expected = absl::Milliseconds(2);
  testing::FakeModel* model = nullptr;
  auto engine =
      testing::MakeFakeEngine(options, {.fixed = absl::Milliseconds(2)}, &counter, &model);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_NO_FATAL_FAILURE(RunFlowsToTheEnd(**engine, 6, 10));
  // Without faults, one forward per batch, and they are the fake model's forwards.
  EXPECT_EQ(counter.forwards.load(), counter.batches.load());
  EXPECT_EQ(counter.forwards.load(), model->forwards());
  EXPECT_EQ(counter.forward_rows.load(), 60);
  EXPECT_EQ(counter.forward_rows.load(), model->rows_seen());
  EXPECT_EQ(counter.too_short.load(), 0);
}

TEST(EngineOnFakes, ForwardsOfASplitBatchAreEachReported) {
  EngineOptions options;
  options.scheduling.max_batch_size = 16;
  options.faults.oom_rate = 0.4;
  options.oom_budget_hold = absl::Milliseconds(20);
  ForwardCounter counter;
  auto engine = testing::MakeFakeEngine(options, {}, &counter);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_NO_FATAL_FAILURE(RunFlowsToTheEnd(**engine, 10, 16));
  ASSERT_GT(counter.ooms.load(), 0);
  // Each out-of-memory error is followed by two half-batch forwards or one retry of a single item.
  EXPECT_GE(counter.forwards.load(), counter.batches.load() + counter.ooms.load());
  EXPECT_GE(counter.forward_rows.load(), counter.batch_rows.load());
}

// Prepares, submits and waits for one item.
absl::StatusOr<v1::ItemResult> AnnotateOne(Engine& engine, const std::string& text) {
  auto work = engine.Prepare(MakeItem("one", text), 0.5f);
  if (!work.ok()) return work.status();
  absl::Notification done;
  absl::StatusOr<v1::ItemResult> out;
  (*work)->done = [&](absl::StatusOr<v1::ItemResult> r) {
    out = std::move(r);
    done.Notify();
  };
  std::vector<std::unique_ptr<WorkItem>> items;
  items.push_back(*std::move(work));
  if (absl::Status s = engine.Submit(std::move(items)); !s.ok()) return s;
  done.WaitForNotification();
  return out;
}

// The engine tokenizes the NFC form (the fake tokenizer's ids hash the word's bytes, so an NFD
// word would get another id and another tag) and cuts spans from the text as sent.
TEST(EngineOnFakes, DecomposedTextGetsTheComposedAnswerWithSpansInTheTextAsSent) {
  auto engine = testing::MakeFakeEngine({}, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  int decomposed = 0, tuples = 0;
  for (int i = 0; i < 36; ++i) {
    const std::string nfc = testing::SampleText(i);
    const std::string nfd = testing::ToNfd(nfc);
    SCOPED_TRACE(nfc);
    decomposed += nfd != nfc;
    auto want = AnnotateOne(**engine, nfc);
    auto got = AnnotateOne(**engine, nfd);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << " " << got.status();
    tuples += got->tuples_size();
    testing::ExpectTheNfcAnswer(nfd, *want, *got);
    // Half decomposed, half composed: the same again.
    const std::string mixed = testing::ToNfd(nfc.substr(0, nfc.size() / 2)) +
                              nfc.substr(nfc.size() / 2);
    if (text::IsValidUtf8(mixed)) {
      auto mixed_got = AnnotateOne(**engine, mixed);
      ASSERT_TRUE(mixed_got.ok()) << mixed_got.status();
      testing::ExpectTheNfcAnswer(mixed, *want, *mixed_got);
    }
  }
  EXPECT_GT(decomposed, 30);
  EXPECT_GT(tuples, 20);
}

TEST(EngineOnFakes, ShutdownUnderLoadAnswersEverythingItAdmitted) {
  EngineOptions options;
  options.scheduling.max_batch_size = 8;
  options.runners_per_device = 2;
  auto engine = testing::MakeFakeEngine(options, {.per_token = absl::Microseconds(20)});
  ASSERT_TRUE(engine.ok()) << engine.status();
  AnswerLedger ledger;
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 400 && !stop.load(); ++call) {
        if (!SubmitFlow(**engine, ledger, absl::StrCat(t, ".", call), 4, t + 1, {}).ok()) {
          ++refused;
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  (*engine)->Shutdown();  // finishes queued work, refuses new work
  stop = true;
  for (auto& t : threads) t.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kOk), 0) << report.ToString();
}

}  // namespace
}  // namespace eaos::engine
