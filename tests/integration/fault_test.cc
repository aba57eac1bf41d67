// Injected out-of-memory failures against the real eaos-server (--inject_oom_rate,
// --inject_oom_above_tokens): many concurrent streams, every item answered exactly once, and the
// answers equal those of a server without faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cpp/eaos_client.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

const char* const kTexts[] = {
    "Chương trình rất hay", "MC duyên quá, khách mời hơi nhạt", "âm thanh rè, hình ảnh đẹp",
    "thời lượng quá ngắn nhưng kịch bản hấp dẫn", "hôm nay trời mưa",
    "khách mời vui tính, MC dẫn hơi nhạt, âm thanh thì ổn"};

struct Outcome {
  std::map<std::string, int> answers;
  std::map<std::string, std::string> tuples;  // id -> entity|aspect|opinion|sentiment of each
  std::map<std::string, std::string> errors;  // id -> error message
};

// Streams `n` items through 16 concurrent streams and records every answer.
Outcome Annotate(const std::string& target, int n) {
  client::ClientOptions options;
  options.target = target;
  auto client = client::Client::Create(options);
  EXPECT_TRUE(client.ok());
  Outcome out;
  absl::Mutex mu;
  int next = 0;
  client::StreamOptions so;
  so.max_in_flight = 32;
  so.items_per_message = 4;
  const absl::Status status = (*client)->PredictStreamParallel(
      16,
      [&](v1::Item* item) {
        if (next == n) return false;
        item->set_id(absl::StrCat(next));
        item->set_text(kTexts[next % std::size(kTexts)]);
        ++next;
        return true;
      },
      [&](v1::Item, v1::ItemResult r) {
        absl::MutexLock lock(&mu);
        ++out.answers[r.id()];
        if (r.has_error()) {
          out.errors[r.id()] = r.error().message();
          return;
        }
        std::string& t = out.tuples[r.id()];
        for (const auto& tuple : r.tuples()) {
          absl::StrAppend(&t, tuple.entity(), "|", tuple.aspect(), "|", tuple.opinion(), "|",
                          tuple.sentiment(), ";");
        }
      },
      so);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

TEST(InjectedOutOfMemory, EveryItemIsAnsweredOnceWithTheAnswersOfAHealthyServer) {
  constexpr int kItems = 2000;
  auto healthy = ServerProcess::Start();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  const Outcome want = Annotate((*healthy)->target(), kItems);
  EXPECT_EQ((*healthy)->Terminate(), 0);
  ASSERT_EQ(want.errors.size(), 0u);

  // A quarter of all forwards fail at random, and any forward over 300 padded tokens fails.
  auto faulty = ServerProcess::Start({"--inject_oom_rate=0.25", "--inject_oom_above_tokens=300",
                                      "--max_queue_delay=20ms"});
  ASSERT_TRUE(faulty.ok()) << faulty.status();
  const Outcome got = Annotate((*faulty)->target(), kItems);
  ASSERT_EQ(got.answers.size(), static_cast<size_t>(kItems));
  for (const auto& [id, n] : got.answers) ASSERT_EQ(n, 1) << "item " << id;
  // Only an item that failed alone twice in a row (1 in 16) may carry an error, and it says so.
  for (const auto& [id, message] : got.errors) {
    EXPECT_THAT(message, ::testing::HasSubstr("ran out of memory on this text alone")) << id;
  }
  EXPECT_LT(got.errors.size(), static_cast<size_t>(kItems / 8));
  for (const auto& [id, tuples] : got.tuples) EXPECT_EQ(tuples, want.tuples.at(id)) << id;

  auto metrics = HttpGet((*faulty)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  const size_t at = metrics->find("\neaos_forward_oom_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(metrics->substr(at + 24)), 0.0);  // the faults really happened
  std::cout << "injected OOM run: " << got.errors.size() << " of " << kItems
            << " items failed alone twice\n";
  EXPECT_EQ((*faulty)->Terminate(), 0);
}

}  // namespace
}  // namespace eaos::testing
