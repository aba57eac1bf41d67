#include "server/common/proto_json.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eaos/model/v1/model_config.pb.h"
#include "server/common/files.h"

namespace eaos::common {
namespace {

using ::eaos::model::v1::SpecialTokens;
using ::testing::HasSubstr;

TEST(ParseJson, FillsTheMessageAndSkipsUnknownKeysByDefault) {
  SpecialTokens tokens;
  tokens.set_unk_id(9);  // cleared first
  ASSERT_TRUE(ParseJson(R"({"pad_id": 1, "bos_id": 0, "extra": true})", &tokens).ok());
  EXPECT_EQ(tokens.pad_id(), 1);
  EXPECT_EQ(tokens.unk_id(), 0);
}

TEST(ParseJson, RefusesUnknownKeysWhenAskedAndBadJsonAlways) {
  SpecialTokens tokens;
  absl::Status strict = ParseJson(R"({"extra": 1})", &tokens, {.ignore_unknown_fields = false});
  EXPECT_EQ(strict.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(strict.message(), HasSubstr("extra"));
  EXPECT_EQ(ParseJson("{", &tokens).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJson(R"({"pad_id": "one"})", &tokens).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadJsonFile, ErrorsNameWhatAndThePath) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("eaos_proto_json_" + std::to_string(::getpid()) + ".json"))
                               .string();
  std::ofstream(path) << R"({"pad_id": )";
  SpecialTokens tokens;
  absl::Status bad = ReadJsonFile(path, kMiB, "golden file", &tokens);
  EXPECT_THAT(bad.message(), HasSubstr("golden file " + path + " is not valid"));
  std::ofstream(path) << R"({"pad_id": 3})";
  EXPECT_TRUE(ReadJsonFile(path, kMiB, "golden file", &tokens).ok());
  EXPECT_EQ(tokens.pad_id(), 3);
  EXPECT_EQ(ReadJsonFile(path, 4, "golden file", &tokens).code(),
            absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove(path);
  EXPECT_EQ(ReadJsonFile(path, kMiB, "golden file", &tokens).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace eaos::common
