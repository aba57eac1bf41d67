// The gRPC service, engine, scheduler and C++ client together over loopback, with the fake
// tokenizer and model (server/testing/fakes.h) in place of sentencepiece and LibTorch, so that the
// ASan build runs them. (TSan cannot check this layer: Debian's gRPC is not instrumented and its
// thread handoffs look like races; engine_fake_model_test covers the engine under TSan.) Every
// scenario checks the exactly-once rule with an AnswerLedger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/cpp/answer_ledger.h"
#include "client/cpp/eaos_client.h"
#include "grpcpp/grpcpp.h"
#include "server/service/eaos_service.h"
#include "server/testing/fakes.h"

namespace eaos::service {
namespace {

using client::AnswerLedger;
using ::testing::HasSubstr;

// Counts what the scheduler dropped before the model.
class CountingObserver : public engine::EngineObserver {
 public:
  void OnDropped(int64_t expired, int64_t cancelled) override {
    expired_ += expired;
    cancelled_ += cancelled;
  }
  std::atomic<int64_t> expired_{0};
  std::atomic<int64_t> cancelled_{0};
};


class FakeModelService : public ::testing::Test {
 protected:
  void StartServer(engine::EngineOptions engine_options, testing::FakeModelOptions model_options,
                   ServiceOptions service_options = {}) {
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<observability::Metrics>(registry_);
    service_ = std::make_unique<EaosServiceImpl>(metrics_.get(), service_options);
    auto engine = testing::MakeFakeEngine(engine_options, model_options, &dropped_, &model_);
    ASSERT_TRUE(engine.ok()) << engine.status();
    service_->SetEngine(std::shared_ptr<engine::Engine>(*std::move(engine)));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    target_ = absl::StrCat("127.0.0.1:", port);
    channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    stub_ = v1::EaosService::NewStub(channel_);
    auto c = client::Client::CreateWithChannel(channel_, {});
    ASSERT_TRUE(c.ok());
    client_ = *std::move(c);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    if (service_ != nullptr) {
      if (auto engine = service_->SetEngine(nullptr)) engine->Shutdown();
    }
  }

  // The answer of `text` alone in its call: what every batched answer must equal.
  std::string AloneAnswer(const std::string& text) {
    auto results = client_->Predict({client::MakeItem("alone", text)});
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok() || results->size() != 1) return "";
    v1::ItemResult r = (*results)[0];
    r.clear_id();
    return r.SerializeAsString();
  }

  // Waits (bounded) until the engine's queue is empty.
  bool QueueDrains(absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (service_->engine()->queue_depth() == 0) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  // eaos_requests_total{method, code} as the registry holds it now.
  double RequestsTotal(const std::string& method, const std::string& code) {
    for (const auto& family : registry_->Collect()) {
      if (family.name != "eaos_requests_total") continue;
      for (const auto& metric : family.metric) {
        std::map<std::string, std::string> labels;
        for (const auto& l : metric.label) labels[l.name] = l.value;
        if (labels["method"] == method && labels["code"] == code) return metric.counter.value;
      }
    }
    return 0;
  }

  // A gauge (no labels) as the registry holds it now.
  double GaugeValue(const std::string& name) {
    for (const auto& family : registry_->Collect()) {
      if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
    }
    return -1;
  }

  // One fresh unary call succeeds with a tuple-bearing answer.
  void ExpectStillServing() {
    auto results = client_->Predict({client::MakeItem("after", testing::SampleText(1))});
    ASSERT_TRUE(results.ok()) << results.status();
    ASSERT_EQ(results->size(), 1u);
    EXPECT_FALSE((*results)[0].has_error()) << (*results)[0].error().message();
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<observability::Metrics> metrics_;
  CountingObserver dropped_;
  std::unique_ptr<EaosServiceImpl> service_;
  testing::FakeModel* model_ = nullptr;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EaosService::Stub> stub_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(FakeModelService, ConcurrentStreamsAndCallsAreAnsweredExactlyOnceWithTheirOwnAnswers) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 16;
  StartServer(options, {.per_token = absl::Microseconds(2)});
  constexpr int kDistinct = 36;  // testing::SampleText(i) repeats every 36
  std::vector<std::string> want(kDistinct);
  for (int i = 0; i < kDistinct; ++i) want[i] = AloneAnswer(testing::SampleText(i));
  // The fake model tags words, so answers carry tuples.
  int with_tuples = 0;
  for (const std::string& answer : want) {
    v1::ItemResult parsed;
    ASSERT_TRUE(parsed.ParseFromString(answer));
    if (parsed.tuples_size() > 0) ++with_tuples;
  }
  EXPECT_GT(with_tuples, kDistinct / 4);

  AnswerLedger ledger;
  std::atomic<int> wrong{0};
  auto check = [&](v1::ItemResult result) {
    const std::string id = result.id();
    ledger.Answered(id, result.has_error()
                            ? static_cast<absl::StatusCode>(result.error().code())
                            : absl::StatusCode::kOk);
    const int i = std::stoi(id.substr(id.rfind('-') + 1)) % kDistinct;
    result.clear_id();
    if (result.SerializeAsString() != want[i]) ++wrong;
  };
  std::vector<std::thread> threads;
  for (int s = 0; s < 8; ++s) {  // streams
    threads.emplace_back([&, s] {
      int next = 0;
      client::StreamOptions stream_options;
      stream_options.items_per_message = 1 + s;
      stream_options.max_in_flight = 32;
      absl::Status status = client_->PredictStream(
          [&](v1::Item* item) {
            if (next == 150) return false;
            const int i = next++;
            *item = client::MakeItem(absl::StrCat("s", s, "-", i), testing::SampleText(i));
            ledger.Sent(item->id());
            return true;
          },
          [&](v1::ItemResult result) { check(std::move(result)); }, stream_options);
      EXPECT_TRUE(status.ok()) << status;
    });
  }
  for (int u = 0; u < 4; ++u) {  // unary callers
    threads.emplace_back([&, u] {
      for (int call = 0; call < 10; ++call) {
        std::vector<v1::Item> items;
        for (int k = 0; k < 5; ++k) {
          const int i = call * 5 + k;
          items.push_back(client::MakeItem(absl::StrCat("u", u, "-", i), testing::SampleText(i)));
          ledger.Sent(items.back().id());
        }
        auto results = client_->Predict(items);
        ASSERT_TRUE(results.ok()) << results.status();
        for (auto& r : *results) check(std::move(r));
      }
    });
  }
  for (auto& t : threads) t.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kOk), 8 * 150 + 4 * 50) << report.ToString();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(model_->forwards(), 0);
}

// Hundreds of clients that cancel mid-stream, stop reading, or hit their deadline without ever
// half-closing: the server finishes each stream once, drops their queued items before the model,
// and keeps serving.
TEST_F(FakeModelService, HundredsOfStreamsCancelledOrAbandonedMidwayLeaveNothingBehind) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 8;
  StartServer(options, {.fixed = absl::Milliseconds(2), .per_token = absl::Microseconds(5)});
  constexpr int kClients = 240;
  constexpr int kItemsPerClient = 20;
  std::atomic<int> next{0};
  std::atomic<int64_t> results_read{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int c = next++; c < kClients; c = next++) {
        grpc::ClientContext context;
        const int mode = c % 3;
        if (mode == 2) {  // never half-closes; its deadline ends it
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(30));
        }
        // Half the clients on their own connection, dropped with the call.
        std::shared_ptr<grpc::Channel> own;
        std::unique_ptr<v1::EaosService::Stub> own_stub;
        if (c % 2 == 0) {
          grpc::ChannelArguments args;
          args.SetInt("eaos.test.client", c);  // a distinct connection per client
          own = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
          own_stub = v1::EaosService::NewStub(own);
        }
        auto stream = (own_stub ? own_stub.get() : stub_.get())->PredictStream(&context);
        for (int i = 0; i < kItemsPerClient; ++i) {
          v1::PredictStreamRequest request;
          *request.add_items() = client::MakeItem(absl::StrCat(c, "-", i), testing::SampleText(i));
          if (!stream->Write(request)) break;
        }
        v1::PredictStreamResponse response;
        if (mode == 0 && stream->Read(&response)) results_read += response.results_size();
        if (mode != 2) context.TryCancel();
        while (stream->Read(&response)) results_read += response.results_size();
        const grpc::Status status = stream->Finish();
        EXPECT_THAT(status.error_code(),
                    ::testing::AnyOf(grpc::StatusCode::CANCELLED,
                                     grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::OK))
            << status.error_message();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(QueueDrains(absl::Seconds(30))) << service_->engine()->queue_depth();
  // Items whose callers were gone were answered without the model (some ran before the cancel).
  EXPECT_LT(model_->rows_seen(), int64_t{kClients} * kItemsPerClient);
  EXPECT_GT(dropped_.cancelled_.load() + dropped_.expired_.load(), 0);
  ExpectStillServing();
}

// Calls whose deadline is shorter than the queue wait: DEADLINE_EXCEEDED, their items are dropped
// before the model, and calls with room to wait are served meanwhile.
TEST_F(FakeModelService, DeadlinesShorterThanTheQueueWaitAreDroppedBeforeTheModel) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 4;
  StartServer(options, {.fixed = absl::Milliseconds(15)});
  AnswerLedger ledger;
  std::atomic<int> items_sent{0}, calls_ok{0}, calls_expired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 8; ++call) {
        const bool patient = (t + call) % 4 == 0;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             (patient ? std::chrono::milliseconds(20000)
                                      : std::chrono::milliseconds(20)));
        v1::PredictRequest request;
        for (int k = 0; k < 6; ++k) {
          *request.add_items() = client::MakeItem(absl::StrCat(t, "-", call, "-", k), testing::SampleText(k));
          ledger.Sent(request.items().rbegin()->id());
        }
        items_sent += request.items_size();
        v1::PredictResponse response;
        const grpc::Status status = stub_->Predict(&context, request, &response);
        ++(status.ok() ? calls_ok : calls_expired);
        if (status.ok()) {
          ASSERT_EQ(response.results_size(), request.items_size());
          for (const auto& r : response.results()) {
            ledger.Answered(r.id(), r.has_error() ? static_cast<absl::StatusCode>(r.error().code())
                                                  : absl::StatusCode::kOk);
          }
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
              << status.error_message();
          EXPECT_FALSE(patient) << "a 20 s call failed: " << status.error_message();
          for (const auto& item : request.items()) {
            ledger.Answered(item.id(), absl::StatusCode::kDeadlineExceeded);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kDeadlineExceeded), 0) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kOk), 0) << report.ToString();
  EXPECT_TRUE(QueueDrains(absl::Seconds(30)));
  EXPECT_GT(dropped_.expired_.load(), 0);
  EXPECT_LT(model_->rows_seen(), items_sent.load());
  // The metrics count each call with the code its client saw (a call the server finished OK as
  // its deadline passed is DEADLINE_EXCEEDED for the client). OnDone runs after the client has
  // its status: wait for it, bounded.
  const auto counted = [&] {
    return RequestsTotal("Predict", "OK") + RequestsTotal("Predict", "DEADLINE_EXCEEDED") +
           RequestsTotal("Predict", "CANCELLED");
  };
  for (int i = 0; i < 500 && counted() < calls_ok + calls_expired; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  // No call is counted twice, and each is counted with the code its client saw, but for what the
  // server cannot see: a call whose deadline passed before gRPC gave it to the service (never
  // counted; the slow sanitizer builds see several), an answer sent within the deadline that
  // reached the client after it (counted OK), and an expired client's reset that arrived well
  // before the server's own (later) deadline (counted CANCELLED).
  const std::string codes = absl::StrCat(
      "OK=", RequestsTotal("Predict", "OK"), " DEADLINE_EXCEEDED=",
      RequestsTotal("Predict", "DEADLINE_EXCEEDED"), " CANCELLED=", RequestsTotal("Predict", "CANCELLED"),
      "; the clients saw OK=", calls_ok.load(), " DEADLINE_EXCEEDED=", calls_expired.load());
  EXPECT_LE(counted(), calls_ok + calls_expired) << codes;
  EXPECT_GE(RequestsTotal("Predict", "OK"), calls_ok.load()) << codes;
  EXPECT_LE(RequestsTotal("Predict", "DEADLINE_EXCEEDED") + RequestsTotal("Predict", "CANCELLED"),
            calls_expired.load())
      << codes;
  // Most expired calls are seen as such (counting them OK, as the server finished them, gave 0).
  EXPECT_GE(RequestsTotal("Predict", "DEADLINE_EXCEEDED"), calls_expired.load() / 2) << codes;
  EXPECT_GT(RequestsTotal("Predict", "DEADLINE_EXCEEDED"), 0);
  ExpectStillServing();
}

// Injected forward failures: out-of-memory ones are split and retried (answers unchanged), other
// errors fail their batch's items with INTERNAL; either way each item gets one answer.
TEST_F(FakeModelService, InjectedForwardFailuresStillAnswerEveryItemOnce) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 16;
  options.faults.oom_rate = 0.3;
  options.faults.error_rate = 0.1;
  options.oom_budget_hold = absl::Milliseconds(50);
  StartServer(options, {});
  AnswerLedger ledger;
  std::atomic<int> internal_with_reason{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < 6; ++s) {
    threads.emplace_back([&, s] {
      int next = 0;
      absl::Status status = client_->PredictStream(
          [&](v1::Item* item) {
            if (next == 120) return false;
            *item = client::MakeItem(absl::StrCat(s, "-", next), testing::SampleText(next));
            ++next;
            ledger.Sent(item->id());
            return true;
          },
          [&](v1::ItemResult result) {
            const auto code = result.has_error()
                                  ? static_cast<absl::StatusCode>(result.error().code())
                                  : absl::StatusCode::kOk;
            if (code == absl::StatusCode::kInternal &&
                absl::StrContains(result.error().message(), "injected")) {
              ++internal_with_reason;
            }
            ledger.Answered(result.id(), code);
          });
      EXPECT_TRUE(status.ok()) << status;
    });
  }
  for (auto& t : threads) t.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  // Random out-of-memory failures may hit one item alone twice: it then gets RESOURCE_EXHAUSTED.
  EXPECT_EQ(report.count({absl::StatusCode::kOk, absl::StatusCode::kInternal,
                          absl::StatusCode::kResourceExhausted}),
            report.sent)
      << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kOk), 0);
  EXPECT_EQ(internal_with_reason.load(), report.count(absl::StatusCode::kInternal));
  // No "still serving" probe here: with faults injected on purpose, any single item may fail.
}

// A full queue: Predict calls fail fast with RESOURCE_EXHAUSTED and queue nothing; stream items
// get it per item; admitted work is unaffected.
TEST_F(FakeModelService, AFullQueueShedsWithResourceExhaustedAndLosesNothingAdmitted) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 4;
  options.scheduling.max_queue_items = 40;
  options.max_items_per_request = 10;
  StartServer(options, {.fixed = absl::Milliseconds(5)});
  AnswerLedger ledger;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 10; ++call) {
        std::vector<v1::Item> items;
        for (int k = 0; k < 10; ++k) {
          items.push_back(client::MakeItem(absl::StrCat(t, "-", call, "-", k), testing::SampleText(k)));
          ledger.Sent(items.back().id());
        }
        auto results = client_->Predict(items);
        if (results.ok()) {
          for (const auto& r : *results) ledger.Answered(r.id(), absl::StatusCode::kOk);
        } else {
          EXPECT_EQ(results.status().code(), absl::StatusCode::kResourceExhausted)
              << results.status();
          EXPECT_THAT(std::string(results.status().message()), HasSubstr("queue full"));
          for (const auto& item : items) ledger.Answered(item.id(), results.status().code());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kResourceExhausted), 0) << report.ToString();
  EXPECT_GT(report.count(absl::StatusCode::kOk), 0) << report.ToString();
  // Only admitted items reached the model.
  EXPECT_EQ(model_->rows_seen(), report.count(absl::StatusCode::kOk));
  ExpectStillServing();
}

// Streams whose clients stop reading (their HTTP/2 windows stay shut) over several connections:
// the answers the server holds for them stay within --max_unsent_bytes plus one message per
// stream, the streams holding the most stop reading, and once the clients read every item is
// answered exactly once. (Without the budget the same run holds every answer: about 25 MB,
// the model runs all 32,000 items while nobody reads, and the test fails.)
TEST_F(FakeModelService, StalledReadersAreHeldToTheUnsentBudgetAndAnsweredOnceTheyRead) {
  engine::EngineOptions options;
  options.scheduling.max_batch_size = 32;
  options.scheduling.max_queue_items = 100000;
  constexpr int64_t kBudget = 512 << 10;
  StartServer(options, {}, {.max_stream_in_flight = 100000, .max_unsent_bytes = kBudget});
  constexpr int kConnections = 4;
  constexpr int kStreamsPerConnection = 8;
  constexpr int kStreams = kConnections * kStreamsPerConnection;
  constexpr int kMessages = 20;
  constexpr int kItemsPerMessage = 50;
  constexpr int kItems = kStreams * kMessages * kItemsPerMessage;

  std::vector<std::unique_ptr<v1::EaosService::Stub>> stubs;
  for (int c = 0; c < kConnections; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("eaos.test.connection", c);  // a connection each
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);  // the window does not grow while nobody reads
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
    args.SetMaxReceiveMessageSize(-1);
    stubs.push_back(v1::EaosService::NewStub(
        grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args)));
  }
  AnswerLedger ledger;
  for (int s = 0; s < kStreams; ++s) {
    for (int i = 0; i < kMessages * kItemsPerMessage; ++i) ledger.Sent(absl::StrCat(s, "-", i));
  }
  absl::Notification read_now;
  std::atomic<int64_t> answer_bytes{0};
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(kStreams);
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    contexts[s] = std::make_unique<grpc::ClientContext>();
    contexts[s]->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    std::shared_ptr<grpc::ClientReaderWriter<v1::PredictStreamRequest, v1::PredictStreamResponse>>
        stream = stubs[s % kConnections]->PredictStream(contexts[s].get());
    threads.emplace_back([s, stream] {  // writes everything; blocks while the server waits
      for (int m = 0; m < kMessages; ++m) {
        v1::PredictStreamRequest request;
        for (int k = 0; k < kItemsPerMessage; ++k) {
          const int i = m * kItemsPerMessage + k;
          *request.add_items() = client::MakeItem(absl::StrCat(s, "-", i), testing::SampleText(i));
        }
        if (!stream->Write(request)) return;
      }
      stream->WritesDone();
    });
    threads.emplace_back([&, stream] {  // reads nothing until told to
      read_now.WaitForNotification();
      v1::PredictStreamResponse response;
      while (stream->Read(&response)) {
        for (const auto& r : response.results()) {
          answer_bytes += static_cast<int64_t>(r.SpaceUsedLong());
          ledger.Answered(r.id(), r.has_error() ? static_cast<absl::StatusCode>(r.error().code())
                                                : absl::StatusCode::kOk);
        }
      }
      const grpc::Status status = stream->Finish();
      EXPECT_TRUE(status.ok()) << status.error_message();
    });
  }

  // Stalled: wait until the model has seen nothing new for 300 ms (bounded).
  double peak_held = 0;
  int64_t rows = -1;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  for (absl::Time still_since = absl::Now(); absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(20));
    peak_held = std::max(peak_held, GaugeValue("eaos_stream_unsent_bytes"));
    if (model_->rows_seen() != rows) {
      rows = model_->rows_seen();
      still_since = absl::Now();
    } else if (absl::Now() - still_since > absl::Milliseconds(300)) {
      break;
    }
  }
  const double paused = GaugeValue("eaos_streams_paused");
  const int64_t rows_while_stalled = model_->rows_seen();
  read_now.Notify();
  for (auto& t : threads) t.join();

  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kOk), kItems) << report.ToString();
  // While nobody read, the model stopped well short of every item (what it did run sits in the
  // outboxes and in gRPC's per-stream buffers), streams were paused, and what the server held
  // stayed within the budget plus one message per stream (at the mean size).
  const double mean_answer = static_cast<double>(answer_bytes.load()) / kItems;
  const double bound = kBudget + kStreams * kItemsPerMessage * mean_answer * 1.5;
  EXPECT_GT(paused, 0);
  EXPECT_LT(rows_while_stalled, kItems / 2);
  EXPECT_GT(peak_held, 0);
  EXPECT_LE(peak_held, bound) << "mean answer " << mean_answer << " bytes";
  // Without the budget the server would have held every answer: the bound means something.
  EXPECT_GT(static_cast<double>(answer_bytes.load()), 4 * bound);
  // Everything sent: nothing held, nobody paused.
  EXPECT_EQ(GaugeValue("eaos_stream_unsent_bytes"), 0);
  EXPECT_EQ(GaugeValue("eaos_streams_paused"), 0);
  ExpectStillServing();
}

}  // namespace
}  // namespace eaos::service
