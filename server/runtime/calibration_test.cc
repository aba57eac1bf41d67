#include "server/runtime/calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "server/runtime/torch_model.h"

namespace eaos::runtime {
namespace {

using ::testing::HasSubstr;

const std::string kDemoDir = std::string(EAOS_SOURCE_DIR) + "/models/demo";

TEST(MemoryCostModel, FitRecoversTheCoefficientsOfExactProbes) {
  const MemoryCostModel truth{1e6, 3000, 20};
  std::vector<MemoryProbe> probes;
  for (int64_t rows : {1, 8, 32}) {
    for (int64_t length : {16, 64, 128}) {
      probes.push_back({rows, length, static_cast<int64_t>(truth.Predict(rows, length))});
    }
  }
  auto fit = FitMemoryCostModel(probes);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_NEAR(fit->fixed, truth.fixed, 1e6 * 1e-3);
  EXPECT_NEAR(fit->per_token, truth.per_token, 3000 * 1e-3);
  EXPECT_NEAR(fit->per_token_length, truth.per_token_length, 20 * 1e-3);
  // 1e6 + T * (3000 + 20 * 128) <= 57e6  =>  T <= 56e6 / 5560
  EXPECT_EQ(truth.MaxTokens(57'000'000, 128), 10071);
  EXPECT_EQ(truth.MaxTokens(500'000, 128), 0);
}

TEST(ProbeGrid, ThreeLengthsUpToMaxLengthAndSmallBatchesOnACpu) {
  auto tokens = [](const std::vector<ProbeShape>& grid) {
    int64_t n = 0;
    for (const auto& p : grid) n += p.rows * p.length;
    return n;
  };
  const std::vector<ProbeShape> gpu = ProbeGrid(/*on_gpu=*/true, 256, 64);
  const std::vector<ProbeShape> cpu = ProbeGrid(/*on_gpu=*/false, 256, 64);
  ASSERT_EQ(gpu.size(), 9u);
  ASSERT_EQ(cpu.size(), 6u);
  std::set<int64_t> lengths, cpu_rows;
  for (const auto& p : cpu) {
    lengths.insert(p.length);
    cpu_rows.insert(p.rows);
  }
  EXPECT_EQ(lengths, (std::set<int64_t>{64, 128, 256}));
  EXPECT_EQ(cpu_rows, (std::set<int64_t>{1, 2}));
  EXPECT_EQ(tokens(gpu), 21 * (64 + 128 + 256));
  EXPECT_EQ(tokens(cpu), 3 * (64 + 128 + 256));  // a seventh of the GPU grid's forward work
  // Rows never exceed the largest batch the scheduler forms; tiny max_length stays >= 3.
  for (const auto& p : ProbeGrid(true, 8, 2)) {
    EXPECT_LE(p.rows, 2);
    EXPECT_GE(p.length, 3);
  }
}

TEST(MemoryCostModel, TooFewShapesIsAnError) {
  EXPECT_FALSE(FitMemoryCostModel({{1, 16, 100}, {1, 16, 110}, {2, 16, 200}}).ok());
}

class DemoCalibration : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = *LoadModelConfig(kDemoDir);
    auto model = LoadTorchModel(config_, {.model_dir = kDemoDir, .intra_op_threads = 2});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }
  ModelConfig config_;
  std::unique_ptr<Model> model_;
};

TEST_F(DemoCalibration, MeasuredMemoryGrowsWithTheBatch) {
  std::vector<int64_t> ids(32, config_.special_tokens().unk_id());
  std::vector<int64_t> long_ids(128, config_.special_tokens().unk_id());
  auto small = model_->MeasureForward(Batch::Pad({&ids}, 0));
  auto large = model_->MeasureForward(Batch::Pad({&long_ids, &long_ids, &long_ids, &long_ids}, 0));
  ASSERT_TRUE(small.ok() && large.ok());
  EXPECT_GT(*small, 0);
  EXPECT_GT(*large, 4 * *small);
}

TEST_F(DemoCalibration, DerivesATokenBudgetThatShrinksWithTheBudget) {
  CalibrationOptions options;
  options.max_rows = 64;
  options.budget_bytes = 64 << 20;
  options.fraction = 1.0;
  auto roomy = Calibrate(*model_, config_, options);
  ASSERT_TRUE(roomy.ok()) << roomy.status();
  EXPECT_EQ(roomy->probes.size(), 6u);  // on a CPU: 2 batch sizes x 3 lengths
  EXPECT_GT(roomy->cost.per_token + roomy->cost.per_token_length, 0);
  EXPECT_GE(roomy->max_batch_tokens, 128);
  EXPECT_LE(roomy->max_batch_tokens, 64 * 128);

  // A budget that holds only a few max-length texts gives a smaller token budget, which the model
  // predicts to fit.
  options.budget_bytes =
      static_cast<int64_t>(roomy->cost.Predict(4, config_.max_length())) + 1;
  auto tight = Calibrate(*model_, config_, options);
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_LT(tight->max_batch_tokens, roomy->max_batch_tokens);
  EXPECT_LE(tight->cost.Predict(tight->max_batch_tokens / 128, 128), tight->budget_bytes * 1.01);
}

TEST_F(DemoCalibration, ABudgetBelowOneTextIsAClearError) {
  CalibrationOptions options;
  options.budget_bytes = 1000;
  auto c = Calibrate(*model_, config_, options);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("one text of max_length"));
}

}  // namespace
}  // namespace eaos::runtime
