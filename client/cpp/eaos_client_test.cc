#include "client/cpp/eaos_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cpp/internal/fake_eaos_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace eaos::client {
namespace {

using internal::FakeEaosServer;
using internal::StreamBehaviour;
using ::testing::HasSubstr;

std::unique_ptr<Client> Connect(const FakeEaosServer& server) {
  EXPECT_TRUE(server.ok());
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(server.client_options());
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

// Items "0".."n-1" with texts "text 0".. ; `id_of` may map several items to one id.
ItemSource CountingSource(int64_t n, std::string (*id_of)(int64_t) = nullptr) {
  auto next = std::make_shared<int64_t>(0);
  return [n, next, id_of](eaos::v1::Item* item) {
    if (*next >= n) return false;
    const int64_t i = (*next)++;
    item->set_id(id_of != nullptr ? id_of(i) : absl::StrCat(i));
    item->set_text(absl::StrCat("text ", i));
    return true;
  };
}

// Collects results; fails the test if the sink is ever entered concurrently or a result does not
// answer the item it is paired with.
class Collector {
 public:
  ItemResultSink Sink() {
    return [this](eaos::v1::Item item, eaos::v1::ItemResult result) {
      EXPECT_EQ(inside_.fetch_add(1), 0) << "sink called concurrently";
      EXPECT_EQ(result.id(), item.id());
      ASSERT_EQ(result.tuples_size(), 1);
      EXPECT_EQ(result.tuples(0).opinion(), item.text());
      absl::MutexLock lock(&mu_);
      ++count_by_text_[item.text()];
      ++total_;
      confidences_.push_back(result.tuples(0).confidence());
      inside_.fetch_sub(1);
    };
  }
  int64_t total() const {
    absl::MutexLock lock(&mu_);
    return total_;
  }
  // Whether texts "text 0".."text n-1" each came back exactly once and nothing else did.
  void ExpectEachOnce(int64_t n) const {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(total_, n);
    EXPECT_EQ(count_by_text_.size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      auto it = count_by_text_.find(absl::StrCat("text ", i));
      ASSERT_NE(it, count_by_text_.end()) << "no result for item " << i;
      EXPECT_EQ(it->second, 1) << "item " << i;
    }
  }
  std::vector<float> confidences() const {
    absl::MutexLock lock(&mu_);
    return confidences_;
  }

 private:
  std::atomic<int> inside_{0};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> count_by_text_ ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<float> confidences_ ABSL_GUARDED_BY(mu_);
};

StreamBehaviour OutOfOrderPacked(int answer_at, int results_per_message) {
  StreamBehaviour behaviour;
  behaviour.answer_at = answer_at;
  behaviour.results_per_message = results_per_message;
  return behaviour;
}

TEST(ClientCreate, RejectsBadOptions) {
  ClientOptions options;
  options.timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ClientOptions();
  options.target = "";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ClientOptions();
  options.max_message_bytes = 0;
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientPredict, ReturnsOneResultPerItemInRequestOrder) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  eaos::v1::PredictOptions options;
  options.set_confidence_threshold(0.25f);
  absl::StatusOr<std::vector<eaos::v1::ItemResult>> results = client->Predict(
      {MakeItem("a", "pin trâu"), MakeItem("b", "bad"), MakeItem("c", "rẻ")}, options);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].id(), "a");
  EXPECT_EQ((*results)[0].tuples(0).opinion(), "pin trâu");
  EXPECT_FLOAT_EQ((*results)[0].tuples(0).confidence(), 0.25f);
  EXPECT_EQ((*results)[1].error().code(), 3);
  EXPECT_EQ((*results)[2].tuples(0).opinion(), "rẻ");
}

TEST(ClientPredict, KeepsTheServersErrorCodeAndMessage) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  eaos::v1::PredictOptions options;
  options.set_confidence_threshold(2.0f);
  absl::StatusOr<std::vector<eaos::v1::ItemResult>> results =
      client->Predict({MakeItem("a", "x")}, options);
  EXPECT_EQ(results.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(results.status().message(), "confidence_threshold must lie in [0, 1]");
}

TEST(ClientPredict, MakesNoCallForNoItems) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  absl::StatusOr<std::vector<eaos::v1::ItemResult>> results = client->Predict({});
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(results->empty());
  EXPECT_EQ(server.stats().predict_calls, 0);
}

TEST(ClientPredict, FailsUnavailableWithoutServer) {
  ClientOptions options;
  options.target = "127.0.0.1:1";
  options.timeout = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Predict({MakeItem("a", "x")}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientGetModelInfo, ReturnsTheServersInfo) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  absl::StatusOr<eaos::v1::ModelInfo> info = client->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "fake-eaos");
  EXPECT_EQ(info->limits().max_items_per_request(), 64u);
}

TEST(ClientPredictStream, GivesEveryItemExactlyOneResultWhenAnsweredOutOfOrder) {
  FakeEaosServer server(OutOfOrderPacked(/*answer_at=*/7, /*results_per_message=*/3));
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  constexpr int kItems = 1000;
  EXPECT_TRUE(client->PredictStreamWithItems(CountingSource(kItems), collector.Sink()).ok());
  collector.ExpectEachOnce(kItems);
  EXPECT_EQ(server.stats().max_results_per_response, 3);  // several results per message
  EXPECT_EQ(server.stats().items_received, kItems);
}

TEST(ClientPredictStream, RestoresTheCallersIdsEvenWhenTheyRepeat) {
  FakeEaosServer server(OutOfOrderPacked(/*answer_at=*/5, /*results_per_message=*/2));
  std::unique_ptr<Client> client = Connect(server);
  // Every item has id "same" or "other": results must still pair with their own text.
  Collector collector;
  const auto id_of = [](int64_t i) -> std::string { return i % 2 == 0 ? "same" : "other"; };
  EXPECT_TRUE(client->PredictStreamWithItems(CountingSource(101, id_of), collector.Sink()).ok());
  collector.ExpectEachOnce(101);

  // The plain sink sees the caller's ids too.
  absl::flat_hash_map<std::string, int> ids;
  EXPECT_TRUE(client
                  ->PredictStream(CountingSource(50, id_of),
                                  [&ids](eaos::v1::ItemResult result) { ++ids[result.id()]; })
                  .ok());
  EXPECT_EQ(ids["same"], 25);
  EXPECT_EQ(ids["other"], 25);
  EXPECT_EQ(ids.size(), 2u);
}

TEST(ClientPredictStream, KeepsAtMostMaxInFlightItemsUnanswered) {
  // The fake reads everything that comes and holds its answers back: without a window the client
  // would send all items during the first hold.
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/8, /*results_per_message=*/3);
  behaviour.hold = absl::Milliseconds(10);
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options;
  options.items_per_message = 4;
  options.max_in_flight = 10;
  options.deadline = absl::Now() + absl::Seconds(20);  // a window bug would hang, not pass
  Collector collector;
  ASSERT_TRUE(client->PredictStreamWithItems(CountingSource(300), collector.Sink(), options).ok());
  collector.ExpectEachOnce(300);
  const internal::FakeStats stats = server.stats();
  EXPECT_LE(stats.max_outstanding, 10);
  EXPECT_GE(stats.max_outstanding, 8);  // the window was used, not just one message at a time
  EXPECT_LE(stats.max_items_per_request, 4);
}

TEST(ClientPredictStream, SendsOptionsWithEveryMessage) {
  FakeEaosServer server(OutOfOrderPacked(/*answer_at=*/1, /*results_per_message=*/1));
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options;
  options.items_per_message = 3;
  options.options.set_confidence_threshold(0.8f);
  Collector collector;
  ASSERT_TRUE(client->PredictStreamWithItems(CountingSource(10), collector.Sink(), options).ok());
  for (float confidence : collector.confidences()) EXPECT_FLOAT_EQ(confidence, 0.8f);
  EXPECT_EQ(collector.confidences().size(), 10u);
}

TEST(ClientPredictStream, EndsOkWithNoItems) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  EXPECT_TRUE(client->PredictStreamWithItems(CountingSource(0), collector.Sink()).ok());
  EXPECT_EQ(collector.total(), 0);
}

TEST(ClientPredictStream, PropagatesTheServersErrorStatus) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/4, /*results_per_message=*/2);
  behaviour.fail_after_items = 40;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  const absl::Status status =
      client->PredictStreamWithItems(CountingSource(1000), collector.Sink());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "queue full, retry later");
  EXPECT_LT(collector.total(), 1000);
}

TEST(ClientPredictStream, ReportsDataLossWhenTheServerEndsOkWithItemsUnanswered) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/4, /*results_per_message=*/2);
  behaviour.drop_first = true;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  const absl::Status status = client->PredictStreamWithItems(CountingSource(30), collector.Sink());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("1 of 30 items unanswered"));
  EXPECT_EQ(collector.total(), 29);
}

TEST(ClientPredictStream, ReportsInternalWhenTheServerAnswersAnItemTwice) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/4, /*results_per_message=*/2);
  behaviour.answer_first_twice = true;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  const absl::Status status = client->PredictStreamWithItems(CountingSource(30), collector.Sink());
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), HasSubstr("already answered"));
}

TEST(ClientPredictStream, StopsAtTheDeadline) {
  StreamBehaviour behaviour;
  behaviour.hang = true;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options;
  options.max_in_flight = 16;
  options.deadline = absl::Now() + absl::Milliseconds(300);
  Collector collector;
  const absl::Status status =
      client->PredictStreamWithItems(CountingSource(1000), collector.Sink(), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ClientPredictStream, RejectsBadStreamOptions) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options;
  options.max_in_flight = 0;
  Collector collector;
  EXPECT_EQ(client->PredictStreamWithItems(CountingSource(1), collector.Sink(), options).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.stats().streams, 0);
}

TEST(ClientPredictStreamParallel, SharesOneSourceAcrossStreams) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/6, /*results_per_message=*/4);
  behaviour.hold = absl::Milliseconds(1);
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options;
  options.items_per_message = 8;
  options.max_in_flight = 32;
  Collector collector;
  constexpr int kItems = 3000;
  ASSERT_TRUE(
      client->PredictStreamParallel(4, CountingSource(kItems), collector.Sink(), options).ok());
  collector.ExpectEachOnce(kItems);
  EXPECT_EQ(server.stats().streams, 4);
  EXPECT_LE(server.stats().max_outstanding, 32);
}

TEST(ClientPredictStreamParallel, CancelsTheOtherStreamsWhenOneFails) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/1, /*results_per_message=*/1);
  behaviour.fail_after_items = 20;
  behaviour.fail_stream = 0;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  Collector collector;
  constexpr int64_t kItems = 50'000'000;  // far more than can finish before the cancellation
  const absl::Status status =
      client->PredictStreamParallel(3, CountingSource(kItems), collector.Sink());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_LT(collector.total(), kItems);
}

StreamOptions FastRetries() {
  StreamOptions options;
  options.retry.enabled = true;
  options.retry.initial_backoff = absl::Milliseconds(1);
  options.retry.max_backoff = absl::Milliseconds(5);
  options.retry.give_up_after = absl::Seconds(60);
  return options;
}

TEST(ClientPredictStreamParallel, RetriesAFailedStreamResendingOnlyWhatWasNotAnswered) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/4, /*results_per_message=*/2);
  // The first stream dies RESOURCE_EXHAUSTED with items unanswered.
  behaviour.fail_after_items = 20;
  behaviour.fail_stream = 0;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options = FastRetries();
  std::atomic<int> notices{0};
  options.on_retry = [&](const RetryNotice& notice) {
    EXPECT_EQ(notice.reason.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_GT(notice.resend, 0);
    ++notices;
  };
  Collector collector;
  constexpr int kItems = 2000;
  ASSERT_TRUE(
      client->PredictStreamParallel(3, CountingSource(kItems), collector.Sink(), options).ok());
  collector.ExpectEachOnce(kItems);
  EXPECT_EQ(notices.load(), 1);
  EXPECT_EQ(server.stats().streams, 4);
}

TEST(ClientPredictStreamParallel, RetriesItemsTheServerRefusesAndNeverHandsThemToTheSink) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/1, /*results_per_message=*/3);
  behaviour.refuse_items = 50;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  StreamOptions options = FastRetries();
  options.items_per_message = 8;
  std::atomic<int> notices{0};
  options.on_retry = [&](const RetryNotice& notice) {
    EXPECT_EQ(notice.reason.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(std::string(notice.reason.message()), HasSubstr("queue full"));
    ++notices;
  };
  Collector collector;  // fails the test if a refused answer (no tuple) reaches the sink
  constexpr int kItems = 500;
  ASSERT_TRUE(
      client->PredictStreamParallel(2, CountingSource(kItems), collector.Sink(), options).ok());
  collector.ExpectEachOnce(kItems);
  EXPECT_EQ(server.stats().refused, 50);
  EXPECT_GE(notices.load(), 1);
  EXPECT_EQ(server.stats().items_received, kItems + 50);
}

TEST(ClientPredictStreamParallel, WithoutRetriesRefusedItemsReachTheSinkWithTheirError) {
  StreamBehaviour behaviour = OutOfOrderPacked(/*answer_at=*/1, /*results_per_message=*/1);
  behaviour.refuse_items = 5;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  std::atomic<int> refused{0};
  std::atomic<int> total{0};
  ASSERT_TRUE(client
                  ->PredictStreamParallel(1, CountingSource(20),
                                          [&](eaos::v1::Item, eaos::v1::ItemResult result) {
                                            ++total;
                                            if (result.error().code() == 8) ++refused;
                                          })
                  .ok());
  EXPECT_EQ(total.load(), 20);
  EXPECT_EQ(refused.load(), 5);
}

TEST(ClientPredictStreamParallel, GivesUpAfterMaxAttemptsWithTheLastReason) {
  ClientOptions client_options;
  client_options.target = "127.0.0.1:1";  // nothing listens there
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(client_options);
  ASSERT_TRUE(client.ok());
  StreamOptions options = FastRetries();
  options.retry.max_attempts = 3;
  std::atomic<int> notices{0};
  options.on_retry = [&](const RetryNotice& notice) {
    EXPECT_EQ(notice.attempt, notices.load() + 1);
    EXPECT_EQ(notice.reason.code(), absl::StatusCode::kUnavailable);
    ++notices;
  };
  Collector collector;
  const absl::Status status =
      (*client)->PredictStreamParallel(1, CountingSource(10), collector.Sink(), options);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(notices.load(), 2);
  EXPECT_EQ(collector.total(), 0);
}

TEST(ClientPredictStreamParallel, CancellationEndsTheCallWithCancelled) {
  StreamBehaviour behaviour;
  behaviour.hang = true;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  Cancellation cancellation;
  StreamOptions options = FastRetries();
  options.cancellation = &cancellation;
  std::thread canceller([&] {
    for (int i = 0; i < 1000 && server.stats().streams < 2; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    cancellation.Cancel();
  });
  Collector collector;
  const absl::Status status =
      client->PredictStreamParallel(2, CountingSource(100), collector.Sink(), options);
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(cancellation.cancelled());
  EXPECT_EQ(collector.total(), 0);
}

}  // namespace
}  // namespace eaos::client
