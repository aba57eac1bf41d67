#include "server/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"

namespace eaos::engine {
namespace {

using ::testing::HasSubstr;

EngineOptions DemoOptions() {
  EngineOptions options;
  options.model_dir = std::string(EAOS_SOURCE_DIR) + "/models/demo";
  options.intra_op_threads = 2;
  options.max_text_bytes = 100;
  options.max_items_per_request = 4;
  return options;
}

v1::Item MakeItem(const std::string& id, const std::string& text) {
  v1::Item item;
  item.set_id(id);
  item.set_text(text);
  return item;
}

// Runs one item through the engine and waits for its result.
absl::StatusOr<v1::ItemResult> Annotate(Engine& engine, const v1::Item& item) {
  auto work = engine.Prepare(item, 0.5f);
  if (!work.ok()) return work.status();
  absl::Notification done;
  absl::StatusOr<v1::ItemResult> out;
  (*work)->done = [&](absl::StatusOr<v1::ItemResult> r) {
    out = std::move(r);
    done.Notify();
  };
  std::vector<std::unique_ptr<scheduler::WorkItem>> items;
  items.push_back(*std::move(work));
  if (auto s = engine.Submit(std::move(items)); !s.ok()) return s;
  done.WaitForNotification();
  return out;
}

TEST(Engine, LoadsTheDemoModelAndAnnotates) {
  auto engine = Engine::Load(DemoOptions(), nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto result = Annotate(**engine, MakeItem("x", "Chương trình rất hay!"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->id(), "x");
  EXPECT_EQ(result->model_version(), (*engine)->config().version());
  ASSERT_GE(result->tuples_size(), 1);
  EXPECT_EQ(result->tuples(0).opinion(), "rất hay");

  const v1::ModelInfo info = (*engine)->Info();
  EXPECT_EQ(info.name(), (*engine)->config().name());
  EXPECT_EQ(info.limits().max_text_bytes(), 100u);
  EXPECT_EQ(info.limits().max_items_per_request(), 4u);
  EXPECT_EQ(info.intra_op_threads(), 2u);
}

TEST(Engine, PrepareRejectsBadItemsWithReasons) {
  auto engine = Engine::Load(DemoOptions(), nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  struct Case {
    std::string text;
    std::string reason;
  };
  for (const Case& c :
       {Case{"", "empty"}, Case{"  \n\t", "empty"}, Case{"\xE1\xBA", "not valid UTF-8"},
        Case{std::string(101, 'a'), "101 bytes; the limit is 100"}}) {
    auto work = (*engine)->Prepare(MakeItem("id", c.text), 0.5f);
    ASSERT_FALSE(work.ok()) << c.text;
    EXPECT_EQ(work.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(work.status().message()), HasSubstr(c.reason));
  }
  auto long_id = (*engine)->Prepare(MakeItem(std::string(2000, 'i'), "hay"), 0.5f);
  EXPECT_EQ(long_id.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Engine, CheckRequestEnforcesItemCountAndThreshold) {
  auto engine = Engine::Load(DemoOptions(), nullptr);
  ASSERT_TRUE(engine.ok());
  v1::PredictOptions options;
  EXPECT_TRUE((*engine)->CheckRequest(4, options).ok());
  EXPECT_THAT(std::string((*engine)->CheckRequest(5, options).message()),
              HasSubstr("5 items; the limit is 4"));
  options.set_confidence_threshold(std::nanf(""));
  EXPECT_EQ((*engine)->CheckRequest(1, options).code(), absl::StatusCode::kInvalidArgument);
  options.set_confidence_threshold(0.0f);
  EXPECT_TRUE((*engine)->CheckRequest(1, options).ok());
  EXPECT_FLOAT_EQ(Engine::Threshold(v1::PredictOptions()), 0.5f);
}

TEST(Engine, RefusesLimitsThatCannotHoldOneMaxLengthText) {
  EngineOptions options = DemoOptions();
  options.scheduling.max_batch_tokens = 16;
  auto engine = Engine::Load(options, nullptr);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("max_batch_tokens"));
}

// A model that fails every forward: items get the error, nothing hangs.
class FailingModel : public runtime::Model {
 public:
  absl::StatusOr<runtime::ModelOutputs> Forward(const runtime::Batch&) override {
    return absl::InternalError("forward failed: injected");
  }
  std::string device() const override { return "fake"; }
};

TEST(Engine, ForwardFailureBecomesTheItemsError) {
  const EngineOptions options = DemoOptions();
  auto config = runtime::LoadModelConfig(options.model_dir);
  ASSERT_TRUE(config.ok());
  text::TokenizerOptions tok;
  tok.model_path = options.model_dir + "/tokenizer.model";
  tok.max_length = static_cast<int>(config->max_length());
  auto tokenizer = text::Tokenizer::Load(tok);
  ASSERT_TRUE(tokenizer.ok());
  auto engine = Engine::Create(options, *config, *std::move(tokenizer),
                               std::make_unique<FailingModel>(), nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto result = Annotate(**engine, MakeItem("x", "hay"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("injected"));
  EXPECT_EQ((*engine)->Info().device(), "fake");
}

}  // namespace
}  // namespace eaos::engine
