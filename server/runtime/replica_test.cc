#include "server/runtime/replica.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "server/runtime/fault_injection.h"

namespace eaos::runtime {
namespace {

using ::testing::ElementsAre;

// A model.json with one label per list: the outputs' last dimension is 1 everywhere.
ModelConfig OneLabelConfig() {
  ModelConfig config;
  config.set_name("test");
  config.set_version("1");
  config.set_max_length(64);
  config.set_tag_scheme("BIO");
  for (const char* l : {"O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"}) config.add_span_labels(l);
  config.add_aspects("a");
  config.add_sentiments("s");
  (*config.mutable_outputs())[std::string(kSpanOutput)] = "span_labels";
  (*config.mutable_outputs())[std::string(kAspectOutput)] = "aspects";
  (*config.mutable_outputs())[std::string(kSentimentOutput)] = "sentiments";
  return config;
}

// Echoes each row's first token id into every logit of the row, so a test can tell which input
// row an output row came from; records the lanes it was called on.
class EchoModel final : public Model {
 public:
  using Model::Forward;
  absl::StatusOr<ModelOutputs> Forward(const Batch& batch, int lane) override {
    lanes.push_back(lane);
    ModelOutputs out;
    for (auto [logits, labels] : {std::pair{&out.span, 5}, std::pair{&out.aspect, 1},
                                  std::pair{&out.sentiment, 1}}) {
      logits->rows = batch.rows;
      logits->cols = batch.cols;
      logits->labels = labels;
      for (int64_t r = 0; r < batch.rows; ++r) {
        for (int64_t i = 0; i < batch.cols * labels; ++i) {
          logits->data.push_back(static_cast<float>(batch.input_ids[r * batch.cols]));
        }
      }
    }
    return out;
  }
  std::string device() const override { return "echo"; }
  std::vector<int> lanes;
};

class CountingObserver final : public RuntimeObserver {
 public:
  void OnForward(int64_t rows, int64_t, absl::Duration) override { forward_rows.push_back(rows); }
  void OnOutOfMemory(int64_t rows, int64_t) override { oom_rows.push_back(rows); }
  std::vector<int64_t> forward_rows, oom_rows;
};

struct Rows {
  std::vector<std::vector<int64_t>> ids;
  std::vector<const std::vector<int64_t>*> view() const {
    std::vector<const std::vector<int64_t>*> v;
    for (const auto& r : ids) v.push_back(&r);
    return v;
  }
};

// Runs `rows` and returns, per input row, the first-token id its output row carried (-1: none).
std::vector<int64_t> Origins(Replica& replica, const Rows& rows, RunOutcome* outcome) {
  std::vector<int64_t> origin(rows.ids.size(), -1);
  *outcome = replica.Run(rows.view(), /*lane=*/1,
                         [&](size_t begin, size_t end, const ModelOutputs& out) {
                           for (size_t i = begin; i < end; ++i) {
                             origin[i] = static_cast<int64_t>(
                                 *out.span.Row(static_cast<int64_t>(i - begin), 0));
                           }
                         });
  return origin;
}

TEST(Replica, RunsAllRowsAsOneForwardWhenTheyFit) {
  const ModelConfig config = OneLabelConfig();
  auto model = std::make_unique<EchoModel>();
  EchoModel* echo = model.get();
  CountingObserver observer;
  Replica replica(std::move(model), &config, &observer);
  RunOutcome outcome;
  const Rows rows{{{10, 1}, {11, 1, 1}, {12}}};
  EXPECT_THAT(Origins(replica, rows, &outcome), ElementsAre(10, 11, 12));
  EXPECT_FALSE(outcome.failed);
  EXPECT_EQ(outcome.lower_budget_to, 0);
  EXPECT_THAT(observer.forward_rows, ElementsAre(3));
  EXPECT_THAT(echo->lanes, ElementsAre(1));  // the caller's lane reaches the model
}

// A device that holds 8 padded tokens: 4 rows of 4 do not fit, halves of 2 x 4 do.
TEST(Replica, AnOutOfMemoryForwardIsSplitUntilItFitsAndAsksForALowerBudget) {
  const ModelConfig config = OneLabelConfig();
  CountingObserver observer;
  Replica replica(std::make_unique<FaultInjectingModel>(std::make_unique<EchoModel>(),
                                                        FaultOptions{.oom_above_tokens = 8}),
                  &config, &observer);
  RunOutcome outcome;
  const Rows rows{{{20, 1, 1, 1}, {21, 1, 1, 1}, {22, 1, 1, 1}, {23, 1, 1, 1}}};
  EXPECT_THAT(Origins(replica, rows, &outcome), ElementsAre(20, 21, 22, 23));
  for (const absl::Status& s : outcome.rows) EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(outcome.failed);
  EXPECT_EQ(outcome.lower_budget_to, 8);  // half of the 16 tokens that did not fit
  EXPECT_THAT(observer.oom_rows, ElementsAre(4));
  EXPECT_THAT(observer.forward_rows, ElementsAre(4, 2, 2));
}

TEST(Replica, ARowThatDoesNotFitAloneFailsAloneAfterOneRetry) {
  const ModelConfig config = OneLabelConfig();
  CountingObserver observer;
  Replica replica(std::make_unique<FaultInjectingModel>(std::make_unique<EchoModel>(),
                                                        FaultOptions{.oom_above_tokens = 4}),
                  &config, &observer);
  RunOutcome outcome;
  const Rows rows{{{30, 1}, {31, 1, 1, 1, 1, 1}}};  // padded: 2 x 6 = 12; alone: 2 and 6
  EXPECT_THAT(Origins(replica, rows, &outcome), ElementsAre(30, -1));
  EXPECT_TRUE(outcome.rows[0].ok());
  EXPECT_EQ(outcome.rows[1].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(outcome.rows[1].message()), ::testing::HasSubstr("on this text alone"));
  EXPECT_FALSE(outcome.failed);  // memory, not a broken model
  // The whole batch, then the long row alone (its one retry fails too and is not counted twice).
  EXPECT_THAT(observer.oom_rows, ElementsAre(2, 1));
  EXPECT_THAT(observer.forward_rows, ElementsAre(2, 1, 1, 1));
  EXPECT_EQ(outcome.lower_budget_to, 6);
}

TEST(Replica, AnErrorThatSplittingCannotCureFailsTheRowsItCovered) {
  const ModelConfig config = OneLabelConfig();
  Replica replica(std::make_unique<FaultInjectingModel>(std::make_unique<EchoModel>(),
                                                        FaultOptions{.error_rate = 0.999999}),
                  &config, nullptr);
  RunOutcome outcome;
  const Rows rows{{{40}, {41}}};
  EXPECT_THAT(Origins(replica, rows, &outcome), ElementsAre(-1, -1));
  EXPECT_TRUE(outcome.failed);
  for (const absl::Status& s : outcome.rows) EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
}

// Outputs that do not match model.json never reach the sink.
TEST(Replica, OutputsThatBreakTheContractFailTheRows) {
  ModelConfig config = OneLabelConfig();
  config.add_aspects("b");  // the model still has 1 aspect logit
  Replica replica(std::make_unique<EchoModel>(), &config, nullptr);
  RunOutcome outcome;
  const Rows rows{{{50}}};
  EXPECT_THAT(Origins(replica, rows, &outcome), ElementsAre(-1));
  EXPECT_TRUE(outcome.failed);
  EXPECT_THAT(std::string(outcome.rows[0].message()), ::testing::HasSubstr("aspect_logits"));
}

}  // namespace
}  // namespace eaos::runtime
