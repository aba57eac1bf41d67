// The eaos-client CLI and library against the real eaos-server binary over loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "client/cpp/eaos_client.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

using ::testing::HasSubstr;

class ClientCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Terminate(), 0);
    }
    delete server_;
    server_ = nullptr;
  }
  static std::string Cli() {
    return absl::StrCat(EAOS_CLIENT_BINARY, " --target=", server_->target());
  }
  static ServerProcess* server_;
};
ServerProcess* ClientCliTest::server_ = nullptr;

TEST_F(ClientCliTest, AnnotatesTextsGivenAsArguments) {
  auto [code, out] = RunCommand(Cli() + " 'Chương trình rất hay!' 'Âm thanh quá tệ'");
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(R"("id":"1")"));
  EXPECT_THAT(out, HasSubstr(R"("id":"2")"));
  EXPECT_THAT(out, HasSubstr(R"("opinion":"rất hay")"));
}

TEST_F(ClientCliTest, StreamsAJsonlFileThroughConcurrentStreams) {
  const std::string input = ::testing::TempDir() + "/cli_in.jsonl";
  const std::string output = ::testing::TempDir() + "/cli_out.jsonl";
  {
    std::ofstream in(input);
    for (int i = 0; i < 500; ++i) {
      in << R"({"id": "r)" << i << R"(", "text": "MC dẫn duyên quá, nhưng âm thanh hơi rè )" << i
         << "\"}\n";
    }
  }
  auto [code, out] = RunCommand(Cli() + " --input=" + input + " --output=" + output +
                                " --streams=8 --overwrite");
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("items=500"));
  std::ifstream result(output);
  std::map<std::string, int> seen;
  std::string line;
  while (std::getline(result, line)) {
    const size_t at = line.find(R"("id":")");
    ASSERT_NE(at, std::string::npos) << line;
    ++seen[line.substr(at + 6, line.find('"', at + 6) - at - 6)];
    EXPECT_THAT(line, HasSubstr(R"("predictions":[)"));
    EXPECT_THAT(line, ::testing::Not(HasSubstr(R"("error")")));
  }
  ASSERT_EQ(seen.size(), 500u);
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
}

TEST_F(ClientCliTest, InfoPrintsTheModel) {
  auto [code, out] = RunCommand(Cli() + " --info");
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("eaos-demo"));
  EXPECT_THAT(out, HasSubstr("max_batch_tokens"));
}

TEST_F(ClientCliTest, LibraryStreamsAndReportsPerItemErrors) {
  client::ClientOptions options;
  options.target = server_->target();
  auto client = client::Client::Create(options);
  ASSERT_TRUE(client.ok());
  std::vector<v1::Item> items = {client::MakeItem("a", "Hình ảnh đẹp"), client::MakeItem("b", ""),
                                 client::MakeItem("c", "Khách mời nhạt")};
  size_t next = 0;
  std::map<std::string, v1::ItemResult> results;
  const absl::Status status = (*client)->PredictStream(
      [&](v1::Item* item) {
        if (next == items.size()) return false;
        *item = items[next++];
        return true;
      },
      [&](v1::ItemResult r) { results[r.id()] = r; });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(results.size(), 3u);
  EXPECT_FALSE(results["a"].has_error());
  EXPECT_EQ(results["b"].error().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(results["c"].has_error());
}

TEST(ClientCliNoServer, UnreachableServerIsANonZeroExitWithTheStatus) {
  auto [code, out] =
      RunCommand(absl::StrCat(EAOS_CLIENT_BINARY, " --target=127.0.0.1:1 --timeout=2s x"));
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("UNAVAILABLE"));
}

TEST(ClientCliNoServer, RefusesToOverwriteItsInputAndKeepsIt) {
  const std::string path = ::testing::TempDir() + "/cli_same.jsonl";
  const std::string content = "{\"id\": \"1\", \"text\": \"hay\"}\n";
  std::ofstream(path) << content;
  auto [code, out] = RunCommand(absl::StrCat(EAOS_CLIENT_BINARY, " --target=127.0.0.1:1 --input=",
                                             path, " --output=", path));
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("is the input file"));
  std::ifstream in(path);
  std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, content);
}

TEST(ClientCliNoServer, BadStreamOptionsAreUsageErrors) {
  auto [code, out] = RunCommand(absl::StrCat(EAOS_CLIENT_BINARY,
                                             " --target=127.0.0.1:1 --input=x --max_in_flight=0"));
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("--max_in_flight"));
}

TEST_F(ClientCliTest, TextsTheServerOrClientCannotAnnotateAreErrorLinesAndTheRunGoesOn) {
  const std::string input = ::testing::TempDir() + "/cli_bad_texts.jsonl";
  const std::string output = ::testing::TempDir() + "/cli_bad_texts_out.jsonl";
  std::ofstream(input) << R"({"id": "ok1", "text": "Chương trình rất hay"})" "\n"
                       << R"({"id": "empty", "text": ""})" "\n"
                       << R"({"id": "blank", "text": " \t "})" "\n"
                       << R"({"id": "null", "text": null})" "\n"
                       << R"({"id": "missing"})" "\n"
                       << R"({"id": "number", "text": 42})" "\n"
                       << R"({"id": "long", "text": ")" << std::string(20000, 'a') << "\"}\n"
                       << R"({"id": "ok2", "text": "Âm thanh quá tệ"})" "\n";
  auto [code, out] =
      RunCommand(Cli() + " --input=" + input + " --output=" + output + " --overwrite");
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("items=8 skipped=0 errors=6"));
  std::ifstream result(output);
  int lines = 0;
  for (std::string line; std::getline(result, line); ++lines) {
    const bool good = line.find(R"("id":"ok)") != std::string::npos;
    EXPECT_EQ(line.find(R"("error":{"code":3,)") != std::string::npos, !good) << line;
  }
  EXPECT_EQ(lines, 8);
}

TEST(ClientCliNoServer, HelpExitsZeroWithGroupedFlagsAndTheExitCodes) {
  auto [code, out] = RunCommand(absl::StrCat(EAOS_CLIENT_BINARY, " --help"));
  EXPECT_EQ(code, 0) << out;
  for (const char* text : {"Connection:", "File mode (--input):", "Retries (--input):", "--resume",
                           "--overwrite", "--give_up_after", "130"}) {
    EXPECT_THAT(out, HasSubstr(text));
  }
  EXPECT_THAT(out, ::testing::Not(HasSubstr("client/cpp/main.cc")));  // no build paths
}

TEST(ClientCliNoServer, UnknownFlagsAndBadValuesExitTwo) {
  for (const char* flags : {"--no_such_flag=1 x", "--streams=many --input=x", "--retries x"}) {
    auto [code, out] = RunCommand(absl::StrCat(EAOS_CLIENT_BINARY, " ", flags));
    EXPECT_EQ(code, 2) << flags << ": " << out;
    EXPECT_THAT(out, HasSubstr("--help")) << flags;
  }
}

TEST(ClientCliNoServer, AMissingInputIsAUsageErrorWithNoSummary) {
  auto [code, out] = RunCommand(
      absl::StrCat(EAOS_CLIENT_BINARY, " --target=127.0.0.1:1 --input=/nonexistent/in.jsonl"));
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("cannot open input"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("items=")));
}

TEST(ClientCliNoServer, ResumeAndOverwriteAreExclusiveAndNeedAnOutputFile) {
  for (const char* flags : {"--input=x --output=y --resume --overwrite", "--input=x --resume"}) {
    auto [code, out] =
        RunCommand(absl::StrCat(EAOS_CLIENT_BINARY, " --target=127.0.0.1:1 ", flags));
    EXPECT_EQ(code, 2) << flags << ": " << out;
  }
}

TEST_F(ClientCliTest, FailFastStopsAtTheFirstFailedItemWithExit1) {
  const std::string input = ::testing::TempDir() + "/cli_fail_fast.jsonl";
  const std::string output = ::testing::TempDir() + "/cli_fail_fast_out.jsonl";
  {
    std::ofstream in(input);
    in << R"({"id": "empty", "text": ""})" "\n";
    for (int i = 0; i < 200; ++i) in << R"({"id": ")" << i << R"(", "text": "MC hay"})" "\n";
  }
  auto [code, out] = RunCommand(Cli() + " --input=" + input + " --output=" + output +
                                " --overwrite --fail_fast --streams=1");
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("item empty failed"));
  EXPECT_THAT(out, HasSubstr("--fail_fast"));
}

}  // namespace
}  // namespace eaos::testing
