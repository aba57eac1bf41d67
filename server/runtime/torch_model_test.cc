#include "server/runtime/torch_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace eaos::runtime {
namespace {

const std::string kDemo = std::string(EAOS_SOURCE_DIR) + "/models/demo";

std::unique_ptr<Model> LoadDemo(ModelConfig* config) {
  auto c = LoadModelConfig(kDemo);
  EXPECT_TRUE(c.ok()) << c.status();
  *config = *c;
  TorchModelOptions options;
  options.model_dir = kDemo;
  options.intra_op_threads = 2;
  auto model = LoadTorchModel(*config, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

TEST(TorchModel, OutputsHaveTheContractShapes) {
  ModelConfig config;
  auto model = LoadDemo(&config);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->device(), "cpu");
  std::vector<int64_t> a = {2, 50, 51, 52, 3};
  const Batch batch = Batch::Pad({&a}, 0);
  auto out = model->Forward(batch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->span.labels, config.span_labels_size());
  EXPECT_EQ(out->aspect.labels, config.aspects_size());
  EXPECT_EQ(out->sentiment.labels, config.sentiments_size());
  EXPECT_TRUE(CheckOutputs(config, batch, *out).ok());
}

TEST(TorchModel, PaddingDoesNotChangeLogitsAtRealPositions) {
  ModelConfig config;
  auto model = LoadDemo(&config);
  ASSERT_NE(model, nullptr);
  std::vector<int64_t> short_seq = {2, 40, 41, 3};
  std::vector<int64_t> long_seq = {2, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 3};
  auto alone = model->Forward(Batch::Pad({&short_seq}, 0));
  auto padded = model->Forward(Batch::Pad({&long_seq, &short_seq}, 0));
  ASSERT_TRUE(alone.ok() && padded.ok());
  double max_diff = 0;
  for (auto [a, p] :
       {std::pair{&alone->span, &padded->span}, std::pair{&alone->aspect, &padded->aspect},
        std::pair{&alone->sentiment, &padded->sentiment}}) {
    for (int64_t pos = 0; pos < static_cast<int64_t>(short_seq.size()); ++pos) {
      for (int64_t k = 0; k < a->labels; ++k) {
        max_diff = std::max<double>(max_diff, std::abs(a->Row(0, pos)[k] - p->Row(1, pos)[k]));
      }
    }
  }
  EXPECT_LT(max_diff, 1e-4);
}

TEST(TorchModel, ConfigWithOtherLabelCountsIsRefusedNamingTheOutput) {
  auto config = LoadModelConfig(kDemo);
  ASSERT_TRUE(config.ok());
  config->add_sentiments("hỗn hợp");  // one more label than the model produces
  TorchModelOptions options;
  options.model_dir = kDemo;
  auto model = LoadTorchModel(*config, options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()),
              ::testing::AllOf(::testing::HasSubstr("sentiment_logits"),
                               ::testing::HasSubstr("does not match model.json")));
}

TEST(TorchModel, MissingOrCorruptModelFileIsAClearError) {
  auto config = LoadModelConfig(kDemo);
  ASSERT_TRUE(config.ok());
  TorchModelOptions options;
  options.model_dir = "/nonexistent";
  auto missing = LoadTorchModel(*config, options);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              ::testing::HasSubstr("/nonexistent/model.pt"));

  const std::string dir = ::testing::TempDir() + "/corrupt_model";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/model.pt") << "this is not a TorchScript archive";
  options.model_dir = dir;
  auto corrupt = LoadTorchModel(*config, options);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(std::string(corrupt.status().message()), ::testing::HasSubstr("cannot load"));
}

}  // namespace
}  // namespace eaos::runtime
