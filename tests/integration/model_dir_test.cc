// Model directories end to end: the export tool's tiny (demo) and base-size (12 layers, hidden 768)
// directories load in the real eaos-server and pass the golden self-test; a directory whose
// golden answers differ from what the server computes, or that is incomplete, stops the server
// with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// The tuples of each text, as comparable strings.
std::vector<std::set<std::string>> Annotate(const ServerProcess& server,
                                            const std::vector<std::string>& texts) {
  client::ClientOptions options;
  options.target = server.target();
  auto c = client::Client::Create(options);
  EXPECT_TRUE(c.ok()) << c.status();
  std::vector<std::set<std::string>> out;
  if (!c.ok()) return out;
  std::vector<v1::Item> items;
  for (size_t i = 0; i < texts.size(); ++i) items.push_back(client::MakeItem(absl::StrCat(i), texts[i]));
  auto results = (*c)->Predict(items);
  EXPECT_TRUE(results.ok()) << results.status();
  if (!results.ok()) return out;
  for (const auto& r : *results) {
    std::set<std::string> tuples;
    for (const auto& t : r.tuples()) {
      tuples.insert(absl::StrCat(t.entity(), "|", t.aspect(), "|", t.opinion(), "|",
                                 t.sentiment(), "|", t.opinion_span().begin()));
    }
    out.push_back(std::move(tuples));
  }
  return out;
}

TEST_F(ModelDir, TheInt8ModelServesAndReplaysItsOwnGolden) {
  const std::string int8_dir = EAOS_INT8_MODEL_DIR;  // written by the quantize_demo_int8 fixture
  ASSERT_TRUE(fs::exists(fs::path(int8_dir) / "model.int8.pt")) << int8_dir;
  auto int8 = ServerProcess::Start({"--model_dir=" + int8_dir, "--precision=int8"});
  ASSERT_TRUE(int8.ok()) << int8.status();
  auto info = Info(**int8);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->self_test().passed()) << info->self_test().detail();
  EXPECT_THAT(info->self_test().detail(), HasSubstr("golden.int8.json"));
  auto fp32 = ServerProcess::Start({"--model_dir=" + int8_dir});
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  // The golden texts of the fp32 export: int8 gives the same tuples on nearly all of them.
  std::vector<std::string> texts;
  const model::v1::GoldenFile golden = ReadGolden(fs::path(int8_dir) / "golden.json");
  for (const auto& sample : golden.samples()) {
    texts.push_back(sample.text());
  }
  const auto a = Annotate(**fp32, texts);
  const auto b = Annotate(**int8, texts);
  ASSERT_EQ(a.size(), texts.size());
  ASSERT_EQ(b.size(), texts.size());
  int same = 0;
  for (size_t i = 0; i < texts.size(); ++i) same += a[i] == b[i];
  EXPECT_GE(same, static_cast<int>(texts.size()) - 2) << same << " of " << texts.size();
  EXPECT_EQ((*int8)->Terminate(), 0) << (*int8)->log();
  EXPECT_EQ((*fp32)->Terminate(), 0) << (*fp32)->log();
}

TEST_F(ModelDir, Int8WithoutItsFileOrOnAGpuIsAClearStartupError) {
  auto missing = ServerProcess::Start({"--model_dir=" + dir_.string(), "--precision=int8"},
                                      absl::Seconds(60));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("model.int8.pt"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("eaos_tools.quantize"));
  auto gpu = ServerProcess::Start(
      {"--model_dir=" + dir_.string(), "--precision=int8", "--device=cuda"}, absl::Seconds(60));
  ASSERT_FALSE(gpu.ok());
  EXPECT_THAT(std::string(gpu.status().message()), HasSubstr("int8"));
}

}  // namespace
}  // namespace eaos::testing
