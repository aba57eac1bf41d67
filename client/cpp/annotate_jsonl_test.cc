#include "client/cpp/annotate_jsonl.h"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
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
  options.existing_output = ExistingOutput::kOverwrite;
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
  options.existing_output = ExistingOutput::kOverwrite;
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
  options.existing_output = ExistingOutput::kOverwrite;
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
  options.existing_output = ExistingOutput::kOverwrite;
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
  summary.skipped = 7;
  summary.retries = 2;
  EXPECT_EQ(FormatSummary(summary),
            "items=1000 skipped=7 errors=3 retries=2 seconds=4.00 items/s=250.0");
}

// id -> the number of output lines with that id.
absl::flat_hash_map<std::string, int> IdsOf(const std::vector<std::string>& lines) {
  absl::flat_hash_map<std::string, int> ids;
  for (const std::string& line : lines) {
    google::protobuf::Struct object;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok()) << line;
    ++ids[object.fields().at("id").string_value()];
  }
  return ids;
}

TEST(AnnotateJsonl, WritesLinesWithoutAStringTextAsErrorsAndGoesOn) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("texts.jsonl");
  options.output_path = TempPath("texts_out.jsonl");
  options.existing_output = ExistingOutput::kOverwrite;
  WriteFile(options.input_path,
            "{\"id\": \"a\", \"text\": \"một\"}\n"
            "{\"id\": \"null\", \"text\": null}\n"
            "{\"id\": \"missing\"}\n"
            "{\"id\": \"number\", \"text\": 7}\n"
            "{\"id\": \"b\", \"text\": \"hai\"}\n");
  AnnotateJsonlSummary summary;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  EXPECT_EQ(summary.items, 5);
  EXPECT_EQ(summary.errors, 3);
  EXPECT_EQ(server.stats().items_received, 2);  // the three are answered without a call
  for (const std::string& line : ReadLines(options.output_path)) {
    if (absl::StrContains(line, "\"id\":\"a\"") || absl::StrContains(line, "\"id\":\"b\"")) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr("\"error\"")));
    } else {
      EXPECT_THAT(line, HasSubstr("\"error\":{\"code\":3,"));
    }
  }
}

TEST(AnnotateJsonl, RefusesAnExistingOutputWithoutResumeOrOverwriteAndKeepsIt) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("refuse.jsonl");
  options.output_path = TempPath("refuse_out.jsonl");
  WriteFile(options.input_path, "{\"id\": \"a\", \"text\": \"một\"}\n");
  WriteFile(options.output_path, "earlier results\n");
  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("--resume"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("--overwrite"));
  EXPECT_TRUE(summary.refused);
  EXPECT_FALSE(summary.started);
  EXPECT_EQ(ReadLines(options.output_path), std::vector<std::string>{"earlier results"});
  EXPECT_EQ(server.stats().streams, 0);

  options.existing_output = ExistingOutput::kOverwrite;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  EXPECT_EQ(IdsOf(ReadLines(options.output_path)).size(), 1u);
}

TEST(AnnotateJsonl, ResumeCutsATornLastLineAndSkipsTheIdsAlreadyWritten) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("resume.jsonl");
  options.output_path = TempPath("resume_out.jsonl");
  std::string input;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"x\"}\n");
  WriteFile(options.input_path, input);
  // Ids 0..9 done, and id 10 torn in the middle of its line.
  std::string earlier;
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&earlier, "{\"id\":\"", i, "\",\"text\":\"x\",\"predictions\":[]}\n");
  }
  earlier.append("{\"id\":\"10\",\"text\":\"x\",\"predic");
  WriteFile(options.output_path, earlier);
  options.existing_output = ExistingOutput::kResume;

  AnnotateJsonlSummary summary;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  EXPECT_EQ(summary.skipped, 10);
  EXPECT_EQ(summary.items, 90);
  const absl::flat_hash_map<std::string, int> ids = IdsOf(ReadLines(options.output_path));
  EXPECT_EQ(ids.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ids.at(absl::StrCat(i)), 1) << i;
}

TEST(AnnotateJsonl, ResumeRefusesInputLinesWithoutIds) {
  FakeEaosServer server(OutOfOrder());
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("noid.jsonl");
  options.output_path = TempPath("noid_out.jsonl");
  WriteFile(options.input_path, "{\"id\": \"a\", \"text\": \"x\"}\n{\"text\": \"y\"}\n");
  WriteFile(options.output_path, "{\"id\":\"a\",\"text\":\"x\",\"predictions\":[]}\n");
  options.existing_output = ExistingOutput::kResume;
  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 2 has no \"id\""));
  EXPECT_TRUE(summary.refused);
  EXPECT_EQ(ReadLines(options.output_path).size(), 1u);
}

TEST(AnnotateJsonl, WithRetriesAFailedStreamStillWritesEveryItemOnce) {
  StreamBehaviour behaviour = OutOfOrder();
  behaviour.fail_after_items = 10;
  behaviour.fail_stream = 0;
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("retry.jsonl");
  options.output_path = TempPath("retry_out.jsonl");
  options.existing_output = ExistingOutput::kOverwrite;
  options.num_streams = 2;
  options.stream.retry.enabled = true;
  options.stream.retry.initial_backoff = absl::Milliseconds(1);
  options.stream.retry.max_backoff = absl::Milliseconds(2);
  std::string input;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"x\"}\n");
  WriteFile(options.input_path, input);
  AnnotateJsonlSummary summary;
  ASSERT_TRUE(AnnotateJsonl(*client, options, &summary).ok());
  EXPECT_EQ(summary.items, 300);
  EXPECT_EQ(summary.retries, 1);
  const absl::flat_hash_map<std::string, int> ids = IdsOf(ReadLines(options.output_path));
  EXPECT_EQ(ids.size(), 300u);
  for (const auto& [id, count] : ids) EXPECT_EQ(count, 1) << id;
}

TEST(AnnotateJsonl, FailFastStopsAtTheFirstFailedItemNamingIt) {
  StreamBehaviour behaviour;  // answers each item as it comes, in order
  FakeEaosServer server(behaviour);
  std::unique_ptr<Client> client = Connect(server);
  AnnotateJsonlOptions options;
  options.input_path = TempPath("failfast.jsonl");
  options.output_path = TempPath("failfast_out.jsonl");
  options.existing_output = ExistingOutput::kOverwrite;
  options.fail_fast = true;
  options.num_streams = 1;
  options.stream.items_per_message = 1;
  options.stream.max_in_flight = 1;
  std::string input = "{\"id\": \"first\", \"text\": \"x\"}\n{\"id\": \"b1\", \"text\": \"bad\"}\n";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&input, "{\"id\": ", i, ", \"text\": \"x\"}\n");
  WriteFile(options.input_path, input);
  AnnotateJsonlSummary summary;
  const absl::Status status = AnnotateJsonl(*client, options, &summary);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("item b1 failed: bad text (--fail_fast)"));
  EXPECT_EQ(summary.errors, 1);
  EXPECT_LT(summary.items, 100);  // one item in flight at a time: it stops right after b1
  EXPECT_EQ(static_cast<int64_t>(ReadLines(options.output_path).size()), summary.items);
}

}  // namespace
}  // namespace eaos::client
