#include "server/runtime/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"

namespace eaos::runtime {
namespace {

using ::testing::HasSubstr;

constexpr char kValid[] = R"json({
  "name": "eaos-demo", "version": "1.0.0", "max_length": 128,
  "tokenizer": "tokenizer.model",
  "special_tokens": {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3},
  "tag_scheme": "BIO",
  "span_labels": ["O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"],
  "aspects": ["Kịch bản", "Chung"],
  "sentiments": ["tích cực", "tiêu cực", "trung tính"],
  "outputs": {"span_logits": "span_labels", "aspect_logits": "aspects",
              "sentiment_logits": "sentiments"},
  "architecture": {"layers": 2}
})json";

std::string Replace(const std::string& from, const std::string& to) {
  return absl::StrReplaceAll(kValid, {{from, to}});
}

TEST(ModelConfig, ParsesTheContractAndIgnoresExtraFields) {
  auto config = ParseModelConfig(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "eaos-demo");
  EXPECT_EQ(config->max_length(), 128u);
  EXPECT_EQ(config->special_tokens().eos_id(), 3);
  EXPECT_EQ(config->aspects(0), "Kịch bản");
  EXPECT_EQ(LabelCount(*config, "sentiments"), 3);
  EXPECT_EQ(LabelCount(*config, "nope"), -1);
}

TEST(ModelConfig, NamesAMissingOutput) {
  auto config = ParseModelConfig(Replace(R"("aspect_logits": "aspects",)", ""));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("outputs lacks \"aspect_logits\""));
}

TEST(ModelConfig, NamesAnOutputMappedToTheWrongLabels) {
  auto config = ParseModelConfig(
      Replace(R"("aspect_logits": "aspects")", R"("aspect_logits": "sentiments")"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("outputs[\"aspect_logits\"] must be"));
}

TEST(ModelConfig, RejectsUnknownOutputs) {
  auto config = ParseModelConfig(Replace(R"("sentiment_logits": "sentiments")",
                                         R"("sentiment_logits": "sentiments", "x": "aspects")"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("unknown outputs: x"));
}

TEST(ModelConfig, RejectsWrongSpanLabels) {
  auto config = ParseModelConfig(Replace(R"("I-OPI"])", R"("I-OP"])"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("span_labels must be exactly"));
}

TEST(ModelConfig, RejectsRepeatedLabels) {
  auto config = ParseModelConfig(Replace(R"(["Kịch bản", "Chung"])", R"(["Chung", "Chung"])"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("aspects repeats the label \"Chung\""));
}

TEST(ModelConfig, RejectsTinyMaxLengthAndSharedSpecialIds) {
  EXPECT_THAT(
      ParseModelConfig(Replace(R"("max_length": 128)", R"("max_length": 2)")).status().message(),
      HasSubstr("max_length must be >= 3"));
  EXPECT_THAT(ParseModelConfig(Replace(R"("eos_id": 3)", R"("eos_id": 2)")).status().message(),
              HasSubstr("must differ"));
}

TEST(ModelConfig, RejectsMalformedJsonAndMissingFiles) {
  EXPECT_THAT(ParseModelConfig("{not json").status().message(),
              HasSubstr("model.json is not valid"));
  auto missing = LoadModelConfig("/nonexistent/model/dir");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/model/dir/model.json"));
}

}  // namespace
}  // namespace eaos::runtime
