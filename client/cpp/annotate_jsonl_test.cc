#include "client/cpp/annotate_jsonl.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/internal/fake_eaos_service.h"
#include "client/cpp/jsonl.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace eaos::client {
namespace {

using internal::FakeEaosServer;
using internal::StreamBehaviour;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/annotate_jsonl_test_", name);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good());
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ReadAll(std::FILE* file) {
  std::rewind(file);
  std::string contents;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) contents.append(buffer, n);
  return contents;
}

std::unique_ptr<Client> Connect(const FakeEaosServer& server) {
  EXPECT_TRUE(server.ok());
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(server.client_options());
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

StreamBehaviour OutOfOrder() {
  StreamBehaviour behaviour;
  behaviour.answer_at = 5;
  behaviour.results_per_message = 3;
  return behaviour;
}

TEST(AnnotateJsonl, WritesOneResultLinePerInputLine) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  // Numeric and string ids, blank lines, CRLF endings, an item the server fails.
  std::string input;
  constexpr int kItems = 400;
  for (int i = 0; i < kItems; ++i) {
    const std::string text = i == 17 ? "bad" : absl::StrCat("bình luận số ", i);
    if (i % 2 == 0) {
      absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"", text, "\"}\n");
    } else {
      absl::StrAppend(&input, "{\"text\": \"", text, "\", \"id\": \"", i, "\"}\r\n");
    }
    if (i % 50 == 0) input.append("\n  \n");
  }
  AnnotateJsonlOptions options;
  options.input_path = TempPath("in.jsonl");
  options.output_path = TempPath("out.jsonl");
  options.num_streams = 3;
  options.stream.items_per_message = 7;
  WriteFile(options.input_path, input);

  AnnotateJsonlSummary summary;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  EXPECT_EQ(summary.items, kItems);
  EXPECT_EQ(summary.errors, 1);

  const std::vector<std::string> lines = ReadLines(options.output_path);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kItems));
  absl::flat_hash_map<std::string, int> seen;
  for (const std::string& line : lines) {
    google::protobuf::Struct object;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok()) << line;
    const std::string id = object.fields().at("id").string_value();
    const std::string text = object.fields().at("text").string_value();
    ++seen[id];
    if (text == "bad") {
      EXPECT_EQ(object.fields().at("error").struct_value().fields().at("code").number_value(), 3);
      continue;
    }
    EXPECT_EQ(text, absl::StrCat("bình luận số ", id));
    const auto& predictions = object.fields().at("predictions").list_value();
    ASSERT_EQ(predictions.values_size(), 1) << line;
    EXPECT_EQ(predictions.values(0).struct_value().fields().at("opinion").string_value(), text);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(seen[absl::StrCat(i)], 1) << i;
}

TEST(AnnotateJsonl, StopsAtAMalformedLineNamingFileAndLine) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("malformed.jsonl");
  options.output_path = TempPath("malformed_out.jsonl");
  options.num_streams = 2;
  WriteFile(options.input_path,
            "{\"id\": \"a\", \"text\": \"một\"}\n"
            "\n"
            "{\"id\": \"b\", \"text\": \"hai\"}\n"
            "{\"id\": \"c\", \"text\": \"ba\"\n"
            "{\"id\": \"d\", \"text\": \"bốn\"}\n");

  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("malformed.jsonl: line 4: "));
  // The items read before the bad line are still answered and written; nothing after it is sent.
  EXPECT_EQ(summary.items, 2);
  EXPECT_EQ(ReadLines(options.output_path).size(), 2u);
  EXPECT_EQ(server.stats().items_received, 2);
}

TEST(AnnotateJsonl, ReturnsTheStreamFailure) {
  StreamBehaviour behaviour = OutOfOrder();
  behaviour.fail_after_items = 10;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("fail.jsonl");
  options.output_path = TempPath("fail_out.jsonl");
  std::string input;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"x\"}\n");
  WriteFile(options.input_path, input);

  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_LT(summary.items, 200);
  EXPECT_EQ(static_cast<int64_t>(ReadLines(options.output_path).size()), summary.items);
}

TEST(AnnotateJsonl, FailsNotFoundForAMissingInput) {
  FakeEaosServer server;
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("does_not_exist.jsonl");
  options.output_path = TempPath("unused_out.jsonl");
  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("does_not_exist.jsonl"));
}

TEST(AnnotateJsonl, DrawsProgressAgainstTheLineCount) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("progress.jsonl");
  options.output_path = TempPath("progress_out.jsonl");
  std::string input;
  for (int i = 0; i < 50; ++i) absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"x\"}\n\n");
  WriteFile(options.input_path, input);
  std::FILE* progress = std::tmpfile();
  ASSERT_NE(progress, nullptr);
  options.progress = progress;

  AnnotateJsonlSummary summary;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  const std::string drawn = ReadAll(progress);
  std::fclose(progress);
  EXPECT_THAT(drawn, HasSubstr("50/50 100.0%"));  // final redraw; blank lines not counted
  EXPECT_THAT(drawn, HasSubstr("items/s"));
  EXPECT_EQ(drawn.back(), '\n');
}

TEST(FormatSummary, ListsItemsErrorsSecondsAndRate) {
  AnnotateJsonlSummary summary;
  summary.items = 1000;
  summary.errors = 3;
  summary.elapsed = absl::Seconds(4);
  EXPECT_EQ(FormatSummary(summary), "items=1000 errors=3 seconds=4.00 items/s=250.0");
}

}  // namespace
}  // namespace eaos::client
