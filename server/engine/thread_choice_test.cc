#include "server/engine/thread_choice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/engine/engine.h"
#include "server/runtime/torch_model.h"

namespace eaos::engine {
namespace {

using ::testing::HasSubstr;

// Seconds per item, as the measurement gives them.
constexpr double kUs = 1e-6;

TEST(PickIntraOpThreads, AHeavyForwardTakesEveryCore) {
  // A base-size model on this 2-core machine: ~33 ms per item on one thread, ~18 ms on two.
  EXPECT_EQ(PickIntraOpThreads(2, 400 * kUs, 33'000 * kUs, 18'000 * kUs), 2);
  EXPECT_EQ(PickIntraOpThreads(16, 400 * kUs, 4'000 * kUs, 3'700 * kUs), 15);  // 8% faster: no
  EXPECT_EQ(PickIntraOpThreads(16, 400 * kUs, 4'000 * kUs, 3'000 * kUs), 16);
}

TEST(PickIntraOpThreads, ACheapForwardLeavesACoreToServing) {
  // The demo model: the forward is a fraction of the serving work.
  EXPECT_EQ(PickIntraOpThreads(2, 400 * kUs, 70 * kUs, 45 * kUs), 1);
  EXPECT_EQ(PickIntraOpThreads(8, 400 * kUs, 30 * kUs, 29 * kUs), 7);
  // Forward and serving work alike: side by side beats taking turns.
  EXPECT_EQ(PickIntraOpThreads(2, 1'000 * kUs, 1'000 * kUs, 600 * kUs), 1);
}

TEST(PickIntraOpThreads, OneCpuIsOneThread) {
  EXPECT_EQ(PickIntraOpThreads(1, 0, 1, 1), 1);
  EXPECT_EQ(PickIntraOpThreads(0, 0, 1, 1), 1);
}

class DemoThreadChoice : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = std::string(EAOS_SOURCE_DIR) + "/models/demo";
    config_ = *runtime::LoadModelConfig(dir);
    auto tokenizer = runtime::LoadTokenizer(config_, dir);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    auto model = runtime::LoadTorchModel(config_, {.model_dir = dir, .intra_op_threads = 1});
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    auto decoder = decode::Decoder::Create(config_);
    ASSERT_TRUE(decoder.ok());
    decoder_.emplace(*std::move(decoder));
  }
  ThreadChoiceInputs Inputs(int cpus) {
    return {.model = model_.get(),
            .config = &config_,
            .tokenizer = tokenizer_.get(),
            .decoder = &*decoder_,
            .usable_cpus = cpus,
            .set_threads = [this](int n) {
              set_.push_back(n);
              runtime::SetIntraOpThreads(n);
            }};
  }
  runtime::ModelConfig config_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::unique_ptr<runtime::Model> model_;
  std::optional<decode::Decoder> decoder_;
  std::vector<int> set_;
};

TEST_F(DemoThreadChoice, MeasuresBothCountsAndLeavesTheChoiceSet) {
  absl::StatusOr<v1::ThreadChoice> choice = ChooseIntraOpThreads(Inputs(2));
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->source(), "measured");
  EXPECT_EQ(choice->usable_cpus(), 2u);
  EXPECT_GT(choice->forward_us_per_item_spare(), 0);
  EXPECT_GT(choice->forward_us_per_item_all(), 0);
  EXPECT_GT(choice->host_us_per_item(), 0);
  // Whatever was measured, the decision is the rule's, and it is what was set last.
  EXPECT_EQ(choice->threads(),
            static_cast<uint32_t>(PickIntraOpThreads(2, choice->host_us_per_item() * kUs,
                                                     choice->forward_us_per_item_spare() * kUs,
                                                     choice->forward_us_per_item_all() * kUs)));
  ASSERT_EQ(set_.size(), 3u);
  EXPECT_EQ(set_[0], 1);
  EXPECT_EQ(set_[1], 2);
  EXPECT_EQ(set_[2], static_cast<int>(choice->threads()));
  EXPECT_THAT(choice->detail(), HasSubstr("us/item at 1 threads"));
}

TEST_F(DemoThreadChoice, OneUsableCpuMeasuresNothing) {
  absl::StatusOr<v1::ThreadChoice> choice = ChooseIntraOpThreads(Inputs(1));
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->threads(), 1u);
  EXPECT_EQ(set_, std::vector<int>{1});
  EXPECT_EQ(choice->forward_us_per_item_all(), 0);
}

TEST(EngineThreadChoice, ModelInfoSaysHowThreadsWereChosenAndWhatTheLoadTook) {
  EngineOptions options;
  options.model_dir = std::string(EAOS_SOURCE_DIR) + "/models/demo";
  options.scheduling.max_batch_tokens = 0;  // calibrate, as the server's default does
  auto measured = Engine::Load(options);
  ASSERT_TRUE(measured.ok()) << measured.status();
  const v1::ModelInfo info = (*measured)->Info();
  EXPECT_EQ(info.thread_choice().source(), "measured");
  EXPECT_EQ(info.intra_op_threads(), info.thread_choice().threads());
  EXPECT_GT(info.load_phases().model_seconds(), 0);
  EXPECT_GT(info.load_phases().threads_seconds(), 0);
  EXPECT_GT(info.load_phases().calibration_seconds(), 0);
  EXPECT_GT(info.load_phases().self_test_seconds(), 0);
  (*measured)->Shutdown();

  options.intra_op_threads = 1;
  options.scheduling.max_batch_tokens = 4096;
  options.golden_check = false;
  auto fixed = Engine::Load(options);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  const v1::ModelInfo fixed_info = (*fixed)->Info();
  EXPECT_EQ(fixed_info.thread_choice().source(), "--threads");
  EXPECT_EQ(fixed_info.intra_op_threads(), 1u);
  EXPECT_EQ(fixed_info.load_phases().threads_seconds(), 0);
  EXPECT_EQ(fixed_info.load_phases().calibration_seconds(), 0);
  EXPECT_EQ(fixed_info.load_phases().self_test_seconds(), 0);
}

}  // namespace
}  // namespace eaos::engine
