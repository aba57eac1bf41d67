// Model directories end to end: the export tool's tiny (demo) and base-size (12 layers, hidden 768)
// directories load in the real eaos-server and pass the golden self-test; a directory whose
// golden answers differ from what the server computes, or that is incomplete, stops the server
// with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/cpp/eaos_client.h"
#include "eaos/model/v1/golden.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

absl::StatusOr<v1::ModelInfo> Info(const ServerProcess& server) {
  client::ClientOptions options;
  options.target = server.target();
  auto c = client::Client::Create(options);
  if (!c.ok()) return c.status();
  return (*c)->GetModelInfo();
}

model::v1::GoldenFile ReadGolden(const fs::path& path) {
  std::stringstream json;
  json << std::ifstream(path).rdbuf();
  model::v1::GoldenFile golden;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json.str(), &golden, options).ok());
  return golden;
}

void WriteGolden(const fs::path& path, const model::v1::GoldenFile& golden) {
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(golden, &json).ok());
  std::ofstream(path, std::ios::trunc) << json;
}

class ModelDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / absl::StrCat("eaos_model_dir_", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(DemoModelDir(), dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ModelDir, TheDemoModelPassesItsGoldenSelfTest) {
  ASSERT_TRUE(fs::exists(dir_ / "golden.json")) << "the demo model is exported with golden.json";
  auto server = ServerProcess::Start({"--model_dir=" + dir_.string()});
  ASSERT_TRUE(server.ok()) << server.status();
  auto info = Info(**server);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->self_test().passed()) << info->self_test().detail();
  EXPECT_GT(info->self_test().samples(), 0u);
  EXPECT_GT(info->sizes().parameters(), 0u);
  EXPECT_GT(info->sizes().layers(), 0u);
  EXPECT_TRUE(info->calibration().calibrated());  // --max_batch_tokens defaults to 0
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(ModelDir, TheBaseSizeExportLoadsAndPassesItsGoldenSelfTest) {
  const char* base = std::getenv("EAOS_BASE_MODEL_DIR");
  ASSERT_NE(base, nullptr) << "set by the export_base_model ctest fixture";
  // A fixed token budget: calibrating a 110M-parameter model on two CPU cores takes a while.
  auto server = ServerProcess::Start({std::string("--model_dir=") + base, "--max_batch_tokens=4096"},
                                     absl::Seconds(300));
  ASSERT_TRUE(server.ok()) << server.status();
  auto info = Info(**server);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->sizes().layers(), 12u);
  EXPECT_EQ(info->sizes().hidden(), 768u);
  EXPECT_EQ(info->sizes().heads(), 12u);
  EXPECT_GT(info->sizes().parameters(), 80'000'000u);
  EXPECT_TRUE(info->self_test().passed()) << info->self_test().detail();
  client::ClientOptions options;
  options.target = (*server)->target();
  auto c = client::Client::Create(options);
  auto results = (*c)->Predict({client::MakeItem("x", "Chương trình rất hay")});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_FALSE((*results)[0].has_error());
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST_F(ModelDir, GoldenAnswersThatDifferStopTheServerWithTheDifference) {
  model::v1::GoldenFile golden = ReadGolden(dir_ / "golden.json");
  ASSERT_GT(golden.samples_size(), 0);
  // As if model.json's labels or the tokenizer no longer matched what the export saw.
  auto* sample = golden.mutable_samples(0);
  sample->set_num_tokens(sample->num_tokens() + 2);
  WriteGolden(dir_ / "golden.json", golden);
  auto server = ServerProcess::Start({"--model_dir=" + dir_.string()}, absl::Seconds(60));
  ASSERT_FALSE(server.ok());
  const std::string log(server.status().message());
  EXPECT_THAT(log, HasSubstr("golden self-test failed"));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("sample \"", sample->id(), "\": tokenizer gives")));
}

TEST_F(ModelDir, AnotherModelsWeightsFailTheGoldenSelfTest) {
  const char* base = std::getenv("EAOS_BASE_MODEL_DIR");
  ASSERT_NE(base, nullptr);
  // The demo's config and tokenizer with the base-size export's golden answers: the logits differ.
  model::v1::GoldenFile foreign = ReadGolden(fs::path(base) / "golden.json");
  WriteGolden(dir_ / "golden.json", foreign);
  auto server = ServerProcess::Start({"--model_dir=" + dir_.string()}, absl::Seconds(60));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("golden self-test failed"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("checksum"));
}

TEST_F(ModelDir, AnIncompleteDirectoryIsAClearStartupError) {
  fs::remove(dir_ / "tokenizer.model");
  auto no_tokenizer = ServerProcess::Start({"--model_dir=" + dir_.string()}, absl::Seconds(60));
  ASSERT_FALSE(no_tokenizer.ok());
  EXPECT_THAT(std::string(no_tokenizer.status().message()), HasSubstr("tokenizer.model"));

  fs::copy_file(fs::path(DemoModelDir()) / "tokenizer.model", dir_ / "tokenizer.model");
  fs::resize_file(dir_ / "model.pt", fs::file_size(dir_ / "model.pt") / 2);  // truncated copy
  auto truncated = ServerProcess::Start({"--model_dir=" + dir_.string()}, absl::Seconds(60));
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(std::string(truncated.status().message()), HasSubstr("cannot load"));
  EXPECT_THAT(std::string(truncated.status().message()), HasSubstr("model.pt"));
}

}  // namespace
}  // namespace eaos::testing
