// Integration tests against the real eaos-server binary and the demo model, over loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/integration/reference.pb.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kMaxTextBytes = 16384;  // the server's default --max_text_bytes
constexpr int kMaxItemsPerRequest = 1000;
constexpr int kTestMaxMessageBytes = 4 << 20;

template <typename Message>
std::vector<Message> ReadJsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<Message> out;
  std::string line;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Message m;
    const auto status = google::protobuf::util::JsonStringToMessage(line, &m, options);
    EXPECT_TRUE(status.ok()) << path << ": " << status.ToString() << "\n" << line;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<v1::Item> FixtureItems() {
  std::vector<v1::Item> items;
  for (const auto& in : ReadJsonl<ReferenceInput>(std::string(EAOS_SOURCE_DIR) +
                                                  "/models/fixtures/reference_texts.jsonl")) {
    v1::Item item;
    item.set_id(in.id());
    item.set_text(in.text());
    items.push_back(std::move(item));
  }
  return items;
}

v1::Item MakeItem(const std::string& id, const std::string& text) {
  v1::Item item;
  item.set_id(id);
  item.set_text(text);
  return item;
}

// One server for the suite (loading the model once); tests that need other flags start their own.
class ServerTest : public SharedServerSuite {
 protected:
  static void SetUpTestSuite() {
    StartSharedServer({absl::StrCat("--max_message_bytes=", kTestMaxMessageBytes)});
  }
  static std::unique_ptr<v1::EaosService::Stub> Stub(const std::string& target) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    return v1::EaosService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }

  static grpc::Status Predict(v1::EaosService::Stub* stub, const std::vector<v1::Item>& items,
                              v1::PredictResponse* response,
                              const v1::PredictOptions* options = nullptr) {
    v1::PredictRequest request;
    for (const auto& item : items) *request.add_items() = item;
    if (options != nullptr) *request.mutable_options() = *options;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub->Predict(&context, request, response);
  }

  // A valid request answered right after something bad: the server keeps serving.
  static void ExpectStillServing() {
    v1::PredictResponse response;
    const grpc::Status s =
        Predict(Stub(shared_server()->target()).get(), {MakeItem("ok", "MC dẫn rất duyên")}, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_FALSE(response.results(0).has_error());
  }

};

TEST_F(ServerTest, HealthIsServingAndModelInfoDescribesTheDemoModel) {
  auto channel = grpc::CreateChannel(shared_server()->target(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "eaos.v1.EaosService", "liveness"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }

  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(Stub(shared_server()->target())->GetModelInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.name(), "eaos-demo");
  EXPECT_FALSE(info.version().empty());
  EXPECT_EQ(info.device(), "cpu");
  EXPECT_THAT(info.aspects(),
              ::testing::IsSupersetOf({"Kịch bản", "Dẫn chương trình", "Khách mời", "Âm thanh",
                                       "Hình ảnh", "Thời lượng", "Chung"}));
  EXPECT_THAT(info.sentiments(),
              ::testing::UnorderedElementsAre("tích cực", "tiêu cực", "trung tính"));
  EXPECT_EQ(info.limits().max_batch_size(), 64u);
  EXPECT_EQ(info.limits().max_text_bytes(), static_cast<uint32_t>(kMaxTextBytes));
}

TEST_F(ServerTest, ReflectionListsTheServices) {
  auto channel = grpc::CreateChannel(shared_server()->target(), grpc::InsecureChannelCredentials());
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"eaos.v1.EaosService", "grpc.health.v1.Health"}));
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, AnnotatesTheSpecExample) {
  v1::PredictResponse response;
  ASSERT_TRUE(
      Predict(Stub(shared_server()->target()).get(), {MakeItem("1", "Chương trình rất hay!")}, &response)
          .ok());
  ASSERT_EQ(response.results_size(), 1);
  const v1::ItemResult& r = response.results(0);
  EXPECT_EQ(r.id(), "1");
  ASSERT_GE(r.tuples_size(), 1);
  const v1::Tuple& t = r.tuples(0);
  EXPECT_EQ(t.entity(), "Chương trình");
  EXPECT_EQ(t.opinion(), "rất hay");
  EXPECT_EQ(t.sentiment(), "tích cực");
  EXPECT_GE(t.confidence(), 0.5f);
  EXPECT_EQ(t.entity_span().begin(), 0u);
  EXPECT_EQ(t.entity_span().end(), 12u);
  EXPECT_EQ(t.opinion_span().begin(), 13u);
  EXPECT_EQ(t.opinion_span().end(), 20u);
  EXPECT_FALSE(r.model_version().empty());
}

// Compares a server result with the Python reference's: same tuples, spans and token counts.
void ExpectSameAsReference(const v1::ItemResult& got, const ReferenceResult& want) {
  SCOPED_TRACE(want.id());
  EXPECT_FALSE(got.has_error()) << got.error().message();
  EXPECT_EQ(got.truncated(), want.truncated());
  EXPECT_EQ(got.num_tokens(), want.num_tokens());
  ASSERT_EQ(got.tuples_size(), want.tuples_size());
  for (int i = 0; i < want.tuples_size(); ++i) {
    const v1::Tuple& g = got.tuples(i);
    const model::v1::GoldenTuple& w = want.tuples(i);
    EXPECT_EQ(g.entity(), w.entity());
    EXPECT_EQ(g.aspect(), w.aspect());
    EXPECT_EQ(g.opinion(), w.opinion());
    EXPECT_EQ(g.sentiment(), w.sentiment());
    EXPECT_NEAR(g.confidence(), w.confidence(), 1e-3);
    ASSERT_EQ(w.opinion_span_size(), 2);
    EXPECT_EQ(g.opinion_span().begin(), w.opinion_span(0));
    EXPECT_EQ(g.opinion_span().end(), w.opinion_span(1));
    if (!w.entity().empty()) {
      ASSERT_EQ(w.entity_span_size(), 2);
      EXPECT_EQ(g.entity_span().begin(), w.entity_span(0));
      EXPECT_EQ(g.entity_span().end(), w.entity_span(1));
    }
  }
}

TEST_F(ServerTest, AnswersEqualThePythonReference) {
  const char* path = std::getenv("EAOS_REFERENCE_OUTPUTS");
  ASSERT_NE(path, nullptr) << "EAOS_REFERENCE_OUTPUTS is set by ctest's python_reference fixture";
  const auto reference = ReadJsonl<ReferenceResult>(path);
  const auto items = FixtureItems();
  ASSERT_EQ(reference.size(), items.size());
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(Stub(shared_server()->target()).get(), items, &response).ok());
  ASSERT_EQ(response.results_size(), static_cast<int>(items.size()));
  int tuples = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(reference[i].id(), items[i].id());
    ExpectSameAsReference(response.results(static_cast<int>(i)), reference[i]);
    tuples += reference[i].tuples_size();
  }
  EXPECT_GT(tuples, static_cast<int>(items.size()) / 2) << "the reference found few tuples";
}

TEST_F(ServerTest, SixtyFourConcurrentStreamsGetEveryItemAnsweredExactlyOnce) {
  constexpr int kStreams = 64;
  constexpr int kItemsPerStream = 40;
  constexpr int kItemsPerMessage = 4;
  const auto texts = FixtureItems();
  auto stub = Stub(shared_server()->target());
  std::vector<std::map<std::string, int>> seen(kStreams);
  std::vector<grpc::Status> statuses(kStreams);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      auto stream = stub->PredictStream(&context);
      std::thread writer([&] {
        for (int i = 0; i < kItemsPerStream; i += kItemsPerMessage) {
          v1::PredictStreamRequest request;
          for (int k = i; k < i + kItemsPerMessage; ++k) {
            *request.add_items() =
                MakeItem(absl::StrCat(s, "/", k), texts[(s + k) % texts.size()].text());
          }
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      v1::PredictStreamResponse response;
      while (stream->Read(&response)) {
        for (const auto& r : response.results()) {
          ++seen[s][r.id()];
          if (r.has_error()) ++errors;
        }
      }
      writer.join();
      statuses[s] = stream->Finish();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  for (int s = 0; s < kStreams; ++s) {
    EXPECT_TRUE(statuses[s].ok()) << s << ": " << statuses[s].error_message();
    ASSERT_EQ(seen[s].size(), static_cast<size_t>(kItemsPerStream)) << "stream " << s;
    for (int k = 0; k < kItemsPerStream; ++k) {
      EXPECT_EQ(seen[s][absl::StrCat(s, "/", k)], 1) << "stream " << s << " item " << k;
    }
  }
  // The server counts a stream in OnDone, which may run just after the client saw its status:
  // poll (bounded) until all 64 are counted.
  std::string metrics;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto scraped = HttpGet(shared_server()->metrics_port(), "/metrics");
    ASSERT_TRUE(scraped.ok()) << scraped.status();
    metrics = *scraped;
    if (metrics.find(R"(eaos_requests_total{code="OK",method="PredictStream"} 64)") !=
        std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(metrics, HasSubstr("eaos_batch_items_count"));
  EXPECT_THAT(metrics, HasSubstr(R"(eaos_requests_total{code="OK",method="PredictStream"} 64)"));
}

TEST_F(ServerTest, BatchingOnAndOffGiveIdenticalTuples) {
  auto unbatched = ServerProcess::Start({"--max_batch_size=1"});
  ASSERT_TRUE(unbatched.ok()) << unbatched.status();
  auto items = FixtureItems();
  // Shuffled copies so each text lands in batches of different shapes and padding.
  std::mt19937 rng(7);
  std::vector<v1::Item> mixed;
  for (int round = 0; round < 3; ++round) {
    std::shuffle(items.begin(), items.end(), rng);
    for (const auto& item : items)
      mixed.push_back(MakeItem(absl::StrCat(round, ":", item.id()), item.text()));
  }
  v1::PredictResponse batched_response, unbatched_response;
  ASSERT_TRUE(Predict(Stub(shared_server()->target()).get(), mixed, &batched_response).ok());
  ASSERT_TRUE(Predict(Stub((*unbatched)->target()).get(), mixed, &unbatched_response).ok());
  ASSERT_EQ(batched_response.results_size(), unbatched_response.results_size());
  for (int i = 0; i < batched_response.results_size(); ++i) {
    const v1::ItemResult& a = batched_response.results(i);
    const v1::ItemResult& b = unbatched_response.results(i);
    SCOPED_TRACE(a.id());
    ASSERT_EQ(a.tuples_size(), b.tuples_size());
    for (int k = 0; k < a.tuples_size(); ++k) {
      v1::Tuple x = a.tuples(k), y = b.tuples(k);
      EXPECT_NEAR(x.confidence(), y.confidence(), 1e-4);
      x.clear_confidence();
      y.clear_confidence();
      EXPECT_EQ(x.SerializeAsString(), y.SerializeAsString()) << x.DebugString() << y.DebugString();
    }
  }
  // The unbatched server really ran one item per batch. A batch is counted just after its items
  // are answered, so the last one may trail the response: poll (bounded).
  const std::string count = "eaos_batch_items_count " + std::to_string(mixed.size()) + "\n";
  absl::StatusOr<std::string> metrics;
  for (int attempt = 0; attempt < 100; ++attempt) {
    metrics = HttpGet((*unbatched)->metrics_port(), "/metrics");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    if (metrics->find(count) != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(*metrics,
              HasSubstr("eaos_batch_items_bucket{le=\"1\"} " + std::to_string(mixed.size())));
  EXPECT_THAT(*metrics, HasSubstr(count));
  EXPECT_EQ((*unbatched)->Terminate(), 0);
}

TEST_F(ServerTest, BadItemsGetClearPerItemErrorsAndGoodOnesStillSucceed) {
  const std::string too_long(kMaxTextBytes + 1, 'a');
  // Long but within the byte limit: more pieces than max_length, so truncated, not rejected.
  std::string many_words;
  for (int i = 0; i < 400; ++i) many_words += "chương trình rất hay ";
  const std::vector<v1::Item> items = {
      MakeItem("good-1", "Khách mời dễ thương"),
      MakeItem("empty", ""),
      MakeItem("blank", " \t\n "),
      MakeItem("bad-utf8", "ch\xC6\xB0\xC6 \xFF hay"),
      MakeItem("too-long", too_long),
      MakeItem("truncated", many_words),
      MakeItem("good-2", "Âm thanh quá tệ"),
  };
  v1::PredictResponse response;
  const grpc::Status status = Predict(Stub(shared_server()->target()).get(), items, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), static_cast<int>(items.size()));
  std::map<std::string, v1::ItemResult> by_id;
  for (const auto& r : response.results()) by_id[r.id()] = r;
  for (const char* good : {"good-1", "good-2", "truncated"}) {
    EXPECT_FALSE(by_id[good].has_error()) << good << ": " << by_id[good].error().message();
  }
  EXPECT_TRUE(by_id["truncated"].truncated());
  EXPECT_EQ(by_id["good-1"].truncated(), false);
  const int invalid = static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(by_id["empty"].error().code(), invalid);
  EXPECT_THAT(by_id["empty"].error().message(), HasSubstr("empty"));
  EXPECT_EQ(by_id["blank"].error().code(), invalid);
  EXPECT_EQ(by_id["bad-utf8"].error().code(), invalid);
  EXPECT_THAT(by_id["bad-utf8"].error().message(), HasSubstr("not valid UTF-8"));
  EXPECT_THAT(by_id["bad-utf8"].error().message(), HasSubstr("offset 4"));
  EXPECT_EQ(by_id["too-long"].error().code(), invalid);
  EXPECT_THAT(by_id["too-long"].error().message(), HasSubstr("16385 bytes"));
  ExpectStillServing();
}

TEST_F(ServerTest, RequestLevelErrorsFailTheCallWithAClearStatus) {
  auto stub = Stub(shared_server()->target());
  {  // too many items in one call
    std::vector<v1::Item> items(kMaxItemsPerRequest + 1, MakeItem("x", "hay"));
    v1::PredictResponse response;
    const grpc::Status s = Predict(stub.get(), items, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("1001 items; the limit is 1000"));
  }
  {  // threshold out of range
    v1::PredictOptions options;
    options.set_confidence_threshold(1.5f);
    v1::PredictResponse response;
    const grpc::Status s = Predict(stub.get(), {MakeItem("x", "hay")}, &response, &options);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("confidence_threshold"));
  }
  {  // a message over the server's limit (4 MiB in this suite)
    std::vector<v1::Item> items(500, MakeItem("x", std::string(10000, 'a')));
    v1::PredictResponse response;
    const grpc::Status s = Predict(stub.get(), items, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(), HasSubstr("larger than max"));
  }
  ExpectStillServing();
}

TEST_F(ServerTest, ThresholdOptionFiltersTuples) {
  auto stub = Stub(shared_server()->target());
  v1::PredictOptions none, all;
  none.set_confidence_threshold(1.0f);
  all.set_confidence_threshold(0.0f);
  v1::PredictResponse strict, lax;
  const std::vector<v1::Item> items = {MakeItem("1", "MC dẫn duyên quá, nhưng âm thanh hơi rè.")};
  ASSERT_TRUE(Predict(stub.get(), items, &strict, &none).ok());
  ASSERT_TRUE(Predict(stub.get(), items, &lax, &all).ok());
  EXPECT_EQ(strict.results(0).tuples_size(), 0);
  EXPECT_GE(lax.results(0).tuples_size(), 1);
}

TEST_F(ServerTest, StreamReportsBadItemsPerItemAndKeepsGoing) {
  auto stub = Stub(shared_server()->target());
  grpc::ClientContext context;
  auto stream = stub->PredictStream(&context);
  v1::PredictStreamRequest first;
  *first.add_items() = MakeItem("a", "Hình ảnh đẹp");
  *first.add_items() = MakeItem("bad", "\xC3\x28");
  ASSERT_TRUE(stream->Write(first));
  v1::PredictStreamRequest second;  // a whole message with an invalid option
  second.mutable_options()->set_confidence_threshold(-1);
  *second.add_items() = MakeItem("c", "Thời lượng quá dài");
  ASSERT_TRUE(stream->Write(second));
  v1::PredictStreamRequest third;
  *third.add_items() = MakeItem("d", "Ánh sáng chói quá");
  ASSERT_TRUE(stream->Write(third));
  stream->WritesDone();
  std::map<std::string, v1::ItemResult> results;
  v1::PredictStreamResponse response;
  while (stream->Read(&response)) {
    for (const auto& r : response.results()) {
      EXPECT_EQ(results.count(r.id()), 0u) << "duplicate " << r.id();
      results[r.id()] = r;
    }
  }
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_FALSE(results["a"].has_error());
  EXPECT_FALSE(results["d"].has_error());
  EXPECT_EQ(results["bad"].error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(results["c"].error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(results["c"].error().message(), HasSubstr("confidence_threshold"));
}

TEST_F(ServerTest, ClientsCancellingMidStreamLeaveTheServerServing) {
  auto stub = Stub(shared_server()->target());
  constexpr int kStreams = 32;
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      grpc::ClientContext context;
      if (s % 2 == 1) {  // half of them hit a deadline instead of cancelling
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(5));
      }
      auto stream = stub->PredictStream(&context);
      v1::PredictStreamRequest request;
      for (int i = 0; i < 100; ++i) {
        *request.add_items() = MakeItem(std::to_string(i), "Âm thanh rè, hình ảnh mờ");
      }
      stream->Write(request);
      v1::PredictStreamResponse response;
      if (s % 2 == 0) {
        stream->Read(&response);  // take at most one message, then walk away
        context.TryCancel();
      }
      while (stream->Read(&response)) {
      }
      const grpc::Status status = stream->Finish();
      EXPECT_FALSE(status.ok());
    });
  }
  for (auto& t : threads) t.join();
  ExpectStillServing();
  // The scheduler drained every abandoned item: the queue ends empty.
  for (int i = 0; i < 100; ++i) {
    auto metrics = HttpGet(shared_server()->metrics_port(), "/metrics");
    ASSERT_TRUE(metrics.ok());
    if (metrics->find("\neaos_queue_items 0\n") != std::string::npos) return;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "queue did not drain";
}

TEST(ServerProcessTest, FullQueueAnswersResourceExhausted) {
  // A queue of 8 items and a 64-item call: rejected whole, with a message that says why.
  auto server = ServerProcess::Start({"--max_queue_items=8", "--max_items_per_request=8"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::EaosService::NewStub(
      grpc::CreateChannel((*server)->target(), grpc::InsecureChannelCredentials()));
  // Many concurrent 8-item calls: some find the queue full.
  std::atomic<int> exhausted{0}, ok{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        v1::PredictRequest request;
        for (int k = 0; k < 8; ++k) *request.add_items() = MakeItem("x", "Chương trình rất hay");
        v1::PredictResponse response;
        grpc::ClientContext context;
        const grpc::Status s = stub->Predict(&context, request, &response);
        if (s.ok()) {
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                   s.error_message().find("queue full") != std::string::npos) {
          ++exhausted;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(exhausted.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ServerProcessTest, SigtermFinishesInFlightStreamsAndExitsZero) {
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::EaosService::NewStub(
      grpc::CreateChannel((*server)->target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->PredictStream(&context);
  v1::PredictStreamRequest request;
  for (int i = 0; i < 200; ++i) *request.add_items() = MakeItem(std::to_string(i), "MC hay quá");
  ASSERT_TRUE(stream->Write(request));
  // The first answers prove the call is in flight on the server; it is not half-closed yet.
  v1::PredictStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  int answered = response.results_size();
  std::thread terminator([&] { EXPECT_EQ((*server)->Terminate(), 0); });
  ASSERT_TRUE((*server)->WaitForLog("draining", absl::Seconds(10)));
  {  // new calls are refused once the drain has begun (polled: the signal is handled async)
    bool refused = false;
    for (int attempt = 0; attempt < 50 && !refused; ++attempt) {
      auto fresh = v1::EaosService::NewStub(
          grpc::CreateChannel((*server)->target(), grpc::InsecureChannelCredentials()));
      grpc::ClientContext refused_context;
      refused_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      v1::ModelInfo info;
      refused = !fresh->GetModelInfo(&refused_context, {}, &info).ok();
      if (!refused) absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_TRUE(refused);
  }
  stream->WritesDone();
  while (stream->Read(&response)) answered += response.results_size();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, 200);
  terminator.join();
  EXPECT_THAT((*server)->log(), HasSubstr("drained; exiting"));
}

TEST(ServerProcessTest, RefusesAModelDirectoryThatBreaksTheContract) {
  const std::string dir = ::testing::TempDir() + "/broken_model";
  std::filesystem::remove_all(dir);
  std::filesystem::copy(DemoModelDir(), dir);
  // model.json promises one aspect fewer than model.pt produces.
  std::ifstream in(dir + "/model.json");
  std::string json((std::istreambuf_iterator<char>(in)), {});
  const std::string needle = "\"Chung\"";
  const size_t at = json.find(needle);
  ASSERT_NE(at, std::string::npos);
  // Remove the label and the comma before it.
  const size_t comma = json.rfind(',', at);
  json.erase(comma, at + needle.size() - comma);
  std::ofstream(dir + "/model.json") << json;

  auto server = ServerProcess::Start({"--model_dir=" + dir}, absl::Seconds(60));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("aspect_logits"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("does not match"));
}

}  // namespace
}  // namespace eaos::testing
