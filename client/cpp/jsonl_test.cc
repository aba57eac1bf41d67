#include "client/cpp/jsonl.h"

#include <string>

#include "absl/status/status.h"
#include "client/cpp/eaos_client.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace eaos::client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses any JSON object line, as a consumer of the output would.
google::protobuf::Struct ParseObject(const std::string& line) {
  google::protobuf::Struct object;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &object);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << line;
  return object;
}

eaos::v1::ItemResult ResultWithOneTuple() {
  eaos::v1::ItemResult result;
  result.set_id("wire-id-not-used");
  eaos::v1::Tuple* tuple = result.add_tuples();
  tuple->set_entity("pin");
  tuple->set_aspect("BATTERY");
  tuple->set_opinion("trâu");
  tuple->set_sentiment("positive");
  tuple->set_confidence(0.75f);
  tuple->mutable_entity_span()->set_begin(0);
  tuple->mutable_entity_span()->set_end(3);
  tuple->mutable_opinion_span()->set_begin(4);
  tuple->mutable_opinion_span()->set_end(8);
  return result;
}

TEST(ParseItemLine, ReadsIdAndText) {
  absl::StatusOr<eaos::v1::Item> item =
      ParseItemLine(R"({"id": "c1", "text": "pin trâu, giao hàng nhanh"})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "c1");
  EXPECT_EQ(item->text(), "pin trâu, giao hàng nhanh");
}

TEST(ParseItemLine, SkipsAByteOrderMarkOnTheFirstLine) {
  auto item = ParseItemLine("\xEF\xBB\xBF{\"id\": \"a\", \"text\": \"hay\"}", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "a");
  EXPECT_FALSE(ParseItemLine("\xEF\xBB\xBF{\"id\": \"a\", \"text\": \"hay\"}", 2).ok());
}

TEST(ParseItemLine, IgnoresUnknownFieldsAndDecodesEscapes) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(
      R"({"source": {"shop": [1, 2]}, "id": "c2", "text": "gi\u00e1 r\u1ebb\nqu\"\u00e1"})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "c2");
  EXPECT_EQ(item->text(), "giá rẻ\nqu\"á");
}

TEST(ParseItemLine, AcceptsNumericIdAsWritten) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(R"({"id": 42, "text": "ok"})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "42");

  // Longer than a double holds exactly: must not be rounded.
  item = ParseItemLine(R"({"text": "ok", "meta": {"id": "x"}, "id":12345678901234567890123})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "12345678901234567890123");

  item = ParseItemLine(R"({"id": -7.5, "text": "ok"})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "-7.5");
}

TEST(ParseItemLine, MissingIdIsEmpty) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(R"({"text": "ok"})", 1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->id(), "");
}

TEST(ParseItemLine, RejectsMissingTextNamingTheLine) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(R"({"id": "c3"})", 7);
  ASSERT_FALSE(item.ok());
  EXPECT_EQ(item.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(item.status().message()), StartsWith("line 7: "));
  EXPECT_THAT(std::string(item.status().message()), HasSubstr("\"text\""));
}

TEST(ParseItemLine, RejectsEmptyText) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(R"({"id": 5, "text": ""})", 3);
  ASSERT_FALSE(item.ok());
  EXPECT_THAT(std::string(item.status().message()), StartsWith("line 3: "));
}

TEST(ParseItemLine, RejectsIdsThatAreNeitherStringsNorNumbers) {
  absl::StatusOr<eaos::v1::Item> item = ParseItemLine(R"({"id": {"n": 1}, "text": "ok"})", 4);
  ASSERT_FALSE(item.ok());
  EXPECT_EQ(std::string(item.status().message()), "line 4: \"id\" must be a string or a number");
}

TEST(ParseItemLine, RejectsMalformedJsonNamingTheLine) {
  for (const char* line :
       {R"({"id": "c4", "text": )", "not json", R"(["c4", "text"])", R"({"id": "c4", "text": 5})",
        R"({"id": 1, "text": ["a"]})", "", "{\"id\": \"c4\", \"text\": \"\xC3(\"}"}) {
    absl::StatusOr<eaos::v1::Item> item = ParseItemLine(line, 12);
    ASSERT_FALSE(item.ok()) << line;
    EXPECT_EQ(item.status().code(), absl::StatusCode::kInvalidArgument) << line;
    EXPECT_THAT(std::string(item.status().message()), StartsWith("line 12: ")) << line;
    // One line of message: the parser's echo of the input is dropped.
    EXPECT_EQ(std::string(item.status().message()).find('\n'), std::string::npos) << line;
  }
}

TEST(FormatResultLine, WritesTheSparkShape) {
  const std::string line = FormatResultLine(MakeItem("c1", "pin trâu"), ResultWithOneTuple());
  EXPECT_EQ(line,
            R"({"id":"c1","text":"pin trâu","predictions":[{"entity":"pin","aspect":"BATTERY",)"
            R"("opinion":"trâu","sentiment":"positive","confidence":0.75,"entity_span":[0,3],)"
            R"("opinion_span":[4,8]}]})");
}

TEST(FormatResultLine, WritesErrorAndTruncatedOnlyWhenSet) {
  eaos::v1::ItemResult failed;
  failed.mutable_error()->set_code(3);
  failed.mutable_error()->set_message("text is empty");
  EXPECT_EQ(
      FormatResultLine(MakeItem("c2", " "), failed),
      R"({"id":"c2","text":" ","predictions":[],"error":{"code":3,"message":"text is empty"}})");

  eaos::v1::ItemResult truncated;
  truncated.set_truncated(true);
  EXPECT_EQ(FormatResultLine(MakeItem("c3", "dài"), truncated),
            R"({"id":"c3","text":"dài","predictions":[],"truncated":true})");
}

TEST(FormatResultLine, UnsetEntitySpanIsNull) {
  eaos::v1::ItemResult result = ResultWithOneTuple();
  result.mutable_tuples(0)->clear_entity();
  result.mutable_tuples(0)->clear_entity_span();
  const google::protobuf::Struct object =
      ParseObject(FormatResultLine(MakeItem("c4", "trâu"), result));
  const auto& prediction = object.fields().at("predictions").list_value().values(0).struct_value();
  EXPECT_EQ(prediction.fields().at("entity").string_value(), "");
  EXPECT_TRUE(prediction.fields().at("entity_span").has_null_value());
  EXPECT_EQ(prediction.fields().at("opinion_span").list_value().values(1).number_value(), 8);
}

TEST(FormatResultLine, RoundTripsThroughJsonAndBackIntoAnItem) {
  const std::string text = "\"quote\" \\ back\nslash\t\x01 giá rẻ 😀";
  const eaos::v1::Item item = MakeItem("id \"7\"", text);
  const std::string line = FormatResultLine(item, ResultWithOneTuple());
  EXPECT_EQ(line.find('\n'), std::string::npos);

  const google::protobuf::Struct object = ParseObject(line);
  EXPECT_EQ(object.fields().at("id").string_value(), item.id());
  EXPECT_EQ(object.fields().at("text").string_value(), text);
  EXPECT_FALSE(object.fields().contains("error"));
  EXPECT_FALSE(object.fields().contains("truncated"));
  const auto& predictions = object.fields().at("predictions").list_value();
  ASSERT_EQ(predictions.values_size(), 1);
  const auto& prediction = predictions.values(0).struct_value().fields();
  EXPECT_EQ(prediction.at("opinion").string_value(), "trâu");
  EXPECT_FLOAT_EQ(static_cast<float>(prediction.at("confidence").number_value()), 0.75f);
  EXPECT_EQ(prediction.at("entity_span").list_value().values(1).number_value(), 3);

  // An output line is also a valid input line (extra keys ignored).
  absl::StatusOr<eaos::v1::Item> again = ParseItemLine(line, 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), item.id());
  EXPECT_EQ(again->text(), text);
}

TEST(FormatResultLine, ReplacesInvalidUtf8SoTheLineStaysJson) {
  const std::string bad = std::string("ok \xC3") + " \xE0\x80\x80 \xED\xA0\x80 end";
  const google::protobuf::Struct object =
      ParseObject(FormatResultLine(MakeItem("c5", bad), eaos::v1::ItemResult()));
  EXPECT_EQ(object.fields().at("text").string_value(),
            "ok \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
}

}  // namespace
}  // namespace eaos::client
