#include "client/cpp/answer_ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace eaos::client {
namespace {

using ::testing::HasSubstr;

TEST(AnswerLedger, OneAnswerPerSentItemIsClean) {
  AnswerLedger ledger;
  ledger.Sent("a");
  ledger.Sent("b");
  ledger.Sent("c");
  ledger.Answered("a", absl::StatusCode::kOk);
  ledger.Answered("b", absl::StatusCode::kResourceExhausted);
  ledger.Answered("c", absl::StatusCode::kOk);
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.sent, 3);
  EXPECT_EQ(report.answered, 3);
  EXPECT_EQ(report.count(absl::StatusCode::kOk), 2);
  EXPECT_EQ(report.count(absl::StatusCode::kResourceExhausted), 1);
  EXPECT_EQ(report.count(absl::StatusCode::kInternal), 0);
}

TEST(AnswerLedger, SilenceDuplicatesAndStrangersAreEachReported) {
  AnswerLedger ledger;
  ledger.Sent("quiet");
  ledger.Sent("twice");
  ledger.Sent("again");
  ledger.Sent("again");
  ledger.Answered("twice", absl::StatusCode::kOk);
  ledger.Answered("twice", absl::StatusCode::kInternal);
  ledger.Answered("again", absl::StatusCode::kOk);
  ledger.Answered("stranger", absl::StatusCode::kOk);
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.unanswered, 1);
  EXPECT_EQ(report.duplicates, 1);
  EXPECT_EQ(report.unknown, 1);
  EXPECT_EQ(report.resent, 1);
  // The first answer counts: "twice" is OK, not INTERNAL.
  EXPECT_EQ(report.count(absl::StatusCode::kOk), 2);
  const std::string text = report.ToString();
  EXPECT_THAT(text, HasSubstr("'quiet' never answered"));
  EXPECT_THAT(text, HasSubstr("'twice' answered 2 times"));
  EXPECT_THAT(text, HasSubstr("unknown id 'stranger'"));
  EXPECT_THAT(text, HasSubstr("'again' sent 2 times"));
}

TEST(AnswerLedger, ConcurrentRecordingLosesNothing) {
  AnswerLedger ledger;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ledger, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        ledger.Sent(id);
        ledger.Answered(id, absl::StatusCode::kOk);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const AnswerLedger::Report report = ledger.Check();
  EXPECT_TRUE(report.ok()) << report.ToString();
  EXPECT_EQ(report.count(absl::StatusCode::kOk), 2000);
}

}  // namespace
}  // namespace eaos::client
