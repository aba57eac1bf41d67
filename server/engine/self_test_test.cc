#include "server/engine/self_test.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "server/engine/engine.h"
#include "server/runtime/torch_model.h"
#include "server/text/fastbpe.h"

namespace eaos::engine {
namespace {

using ::eaos::model::v1::GoldenSample;
using ::testing::HasSubstr;

const std::string kDemoDir = std::string(EAOS_SOURCE_DIR) + "/models/demo";

// The demo model's serving path, built from its parts as Engine::Load does.
class DemoPath {
 public:
  DemoPath() {
    config_ = *runtime::LoadModelConfig(kDemoDir);
    text::TokenizerOptions tok;
    tok.model_path = kDemoDir + "/" + config_.tokenizer_config().model();
    tok.bos_id = config_.special_tokens().bos_id();
    tok.eos_id = config_.special_tokens().eos_id();
    tok.max_length = static_cast<int>(config_.max_length());
    tokenizer_ = *text::Tokenizer::Load(tok);
    model_ = *runtime::LoadTorchModel(config_, {.model_dir = kDemoDir, .intra_op_threads = 2});
    decoder_ = std::make_unique<decode::Decoder>(*decode::Decoder::Create(config_));
  }
  ServingPath path() { return {&config_, tokenizer_.get(), model_.get(), decoder_.get()}; }
  // Serves with `tokenizer` from now on (Record too).
  void UseTokenizer(std::unique_ptr<text::Tokenizer> tokenizer) {
    tokenizer_ = std::move(tokenizer);
  }

  // A golden file made from this path's own answers: what a faithful export would write; with
  // `with_ids` each sample also holds its input ids.
  GoldenFile Record(const std::vector<std::string>& texts, double threshold = 0.5,
                    bool with_ids = false) {
    GoldenFile golden;
    golden.set_threshold(threshold);
    golden.set_confidence_tolerance(1e-3);
    golden.set_logits_rtol(1e-3);
    for (size_t i = 0; i < texts.size(); ++i) {
      GoldenSample* sample = golden.add_samples();
      sample->set_id(absl::StrCat("golden-", i));
      sample->set_text(texts[i]);
      const text::Encoding enc = *tokenizer_->Encode(texts[i]);
      sample->set_num_tokens(static_cast<uint32_t>(enc.size()));
      sample->set_truncated(enc.truncated);
      if (with_ids) {
        for (int64_t id : enc.ids) sample->add_input_ids(id);
      }
      const auto batch = runtime::Batch::Pad({&enc.ids}, config_.special_tokens().pad_id());
      const runtime::ModelOutputs out = *model_->Forward(batch);
      for (auto [name, logits] : {std::pair{runtime::kSpanOutput, &out.span},
                                  std::pair{runtime::kAspectOutput, &out.aspect},
                                  std::pair{runtime::kSentimentOutput, &out.sentiment}}) {
        auto* c = sample->add_logits();
        c->set_output(std::string(name));
        for (int64_t p = 0; p < static_cast<int64_t>(enc.size()); ++p) {
          for (int64_t l = 0; l < logits->labels; ++l) {
            c->set_sum(c->sum() + logits->Row(0, p)[l]);
            c->set_abs_sum(c->abs_sum() + std::fabs(logits->Row(0, p)[l]));
          }
        }
      }
      for (const v1::Tuple& t :
           decoder_->Decode(texts[i], enc, out, 0, static_cast<float>(threshold))) {
        auto* g = sample->add_tuples();
        g->set_entity(t.entity());
        g->set_aspect(t.aspect());
        g->set_opinion(t.opinion());
        g->set_sentiment(t.sentiment());
        g->set_confidence(t.confidence());
        if (t.has_entity_span()) {
          g->add_entity_span(t.entity_span().begin());
          g->add_entity_span(t.entity_span().end());
          g->add_entity_byte_span(t.entity_span().byte_begin());
          g->add_entity_byte_span(t.entity_span().byte_end());
        }
        g->add_opinion_span(t.opinion_span().begin());
        g->add_opinion_span(t.opinion_span().end());
        g->add_opinion_byte_span(t.opinion_span().byte_begin());
        g->add_opinion_byte_span(t.opinion_span().byte_end());
      }
    }
    return golden;
  }

 private:
  runtime::ModelConfig config_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  std::unique_ptr<runtime::Model> model_;
  std::unique_ptr<decode::Decoder> decoder_;
};

const std::vector<std::string> kTexts = {"Chương trình rất hay", "MC duyên quá, khách mời nhạt",
                                         "hôm nay trời mưa"};

TEST(SelfTest, FaithfulGoldenPasses) {
  DemoPath demo;
  const GoldenFile golden = demo.Record(kTexts);
  ASSERT_GE(golden.samples(0).tuples_size(), 1);
  auto report = RunSelfTest(golden, demo.path());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->passed());
  EXPECT_EQ(report->samples(), 3u);
}

TEST(SelfTest, NamesADifferentTuple) {
  DemoPath demo;
  GoldenFile golden = demo.Record(kTexts);
  golden.mutable_samples(0)->mutable_tuples(0)->set_aspect("Âm thanh");
  auto report = RunSelfTest(golden, demo.path());
  ASSERT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(report.status().message());
  EXPECT_THAT(msg, HasSubstr("1 of 3 samples differ"));
  EXPECT_THAT(msg, HasSubstr("sample \"golden-0\": expected tuple (entity \"Chương trình\""));
  EXPECT_THAT(msg, HasSubstr("aspect \"Âm thanh\""));
  EXPECT_THAT(msg, HasSubstr("is missing"));
  EXPECT_THAT(msg, HasSubstr("unexpected tuple"));
}

TEST(SelfTest, NamesTokenCountAndChecksumDifferences) {
  DemoPath demo;
  GoldenFile golden = demo.Record(kTexts);
  golden.mutable_samples(1)->set_num_tokens(golden.samples(1).num_tokens() + 1);
  auto* checksum = golden.mutable_samples(2)->mutable_logits(1);
  checksum->set_sum(checksum->sum() + 0.1 * checksum->abs_sum());
  auto report = RunSelfTest(golden, demo.path());
  ASSERT_FALSE(report.ok());
  const std::string msg(report.status().message());
  EXPECT_THAT(msg, HasSubstr("sample \"golden-1\": tokenizer gives"));
  EXPECT_THAT(msg, HasSubstr("tokenizer.model"));
  EXPECT_THAT(msg, HasSubstr("sample \"golden-2\": aspect_logits checksum"));
}

TEST(SelfTest, ConfidenceOutsideToleranceFailsInsidePasses) {
  DemoPath demo;
  GoldenFile golden = demo.Record(kTexts);
  auto* tuple = golden.mutable_samples(0)->mutable_tuples(0);
  tuple->set_confidence(tuple->confidence() - 0.0005);
  EXPECT_TRUE(RunSelfTest(golden, demo.path()).ok());
  tuple->set_confidence(tuple->confidence() - 0.01);
  auto report = RunSelfTest(golden, demo.path());
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("has confidence"));
}

TEST(SelfTest, ReducedPrecisionWidensTheTolerancesNeverNarrowsThem) {
  DemoPath demo;
  GoldenFile golden = demo.Record(kTexts);
  // What a bf16 forward might drift by: too much for the fp32 golden, within bf16's tolerance.
  auto* tuple = golden.mutable_samples(0)->mutable_tuples(0);
  tuple->set_confidence(tuple->confidence() - 0.03);
  auto* checksum = golden.mutable_samples(0)->mutable_logits(0);
  checksum->set_abs_sum(checksum->abs_sum() * 1.03);
  EXPECT_FALSE(RunSelfTest(golden, demo.path()).ok());
  EXPECT_FALSE(RunSelfTest(WithPrecisionTolerances(golden, "fp32"), demo.path()).ok());
  EXPECT_FALSE(RunSelfTest(WithPrecisionTolerances(golden, "fp16"), demo.path()).ok());
  auto bf16 = RunSelfTest(WithPrecisionTolerances(golden, "bf16"), demo.path());
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_THAT(bf16->detail(), HasSubstr("confidence within 0.05"));

  golden.set_confidence_tolerance(0.2);
  EXPECT_DOUBLE_EQ(WithPrecisionTolerances(golden, "bf16").confidence_tolerance(), 0.2);
  EXPECT_DOUBLE_EQ(WithPrecisionTolerances(golden, "fp16").logits_rtol(), 0.01);
}

TEST(SelfTest, TupleOnTheThresholdMayBeMissingOnEitherSide) {
  DemoPath demo;
  const double confidence = demo.Record(kTexts).samples(0).tuples(0).confidence();
  // Recorded with the threshold on that tuple's confidence: present or absent are both right.
  GoldenFile golden = demo.Record(kTexts, confidence);
  ASSERT_EQ(golden.samples(0).tuples_size(), 1);
  EXPECT_TRUE(RunSelfTest(golden, demo.path()).ok());
  golden.mutable_samples(0)->mutable_tuples()->DeleteSubrange(0, 1);
  auto report = RunSelfTest(golden, demo.path());
  EXPECT_TRUE(report.ok()) << report.status();
}

// A fastBPE vocabulary without merges: every character alone and with "@@", in the order of
// first appearance in `texts` (so every piece of them is known).
std::string CharacterVocab(const std::vector<std::string>& texts) {
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const std::string& t : texts) {
    for (size_t pos = 0; pos < t.size();) {
      size_t len = 1;
      while (pos + len < t.size() && (static_cast<unsigned char>(t[pos + len]) & 0xC0) == 0x80) {
        ++len;
      }
      const std::string ch = t.substr(pos, len);
      pos += len;
      if (ch == " " || !seen.insert(ch).second) continue;
      lines.push_back(ch + " 1\n");
      lines.push_back(ch + "@@ 1\n");
    }
  }
  return absl::StrJoin(lines, "");
}

TEST(SelfTest, GoldenIdsRefuseATokenizerWithTwoVocabLinesSwapped) {
  DemoPath demo;
  const std::string vocab = CharacterVocab(kTexts);
  demo.UseTokenizer(*text::FastBpeTokenizer::FromText("", vocab, 128));
  const GoldenFile golden = demo.Record(kTexts, 0.5, /*with_ids=*/true);
  ASSERT_GT(golden.samples(0).input_ids_size(), 3);
  ASSERT_TRUE(RunSelfTest(golden, demo.path()).ok());

  // Lines 1 and 2 ("C" and "C@@") swapped: the same number of pieces, two ids exchanged.
  const size_t first = vocab.find('\n') + 1, second = vocab.find('\n', first) + 1;
  const std::string swapped = vocab.substr(first, second - first) + vocab.substr(0, first) +
                              vocab.substr(second);
  demo.UseTokenizer(*text::FastBpeTokenizer::FromText("", swapped, 128));
  auto report = RunSelfTest(golden, demo.path());
  ASSERT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(report.status().message());
  EXPECT_THAT(msg, HasSubstr("2 of 3 samples differ"));  // "Chương" and "MC" have a "C"
  EXPECT_THAT(msg, HasSubstr("sample \"golden-0\": tokenizer gives token id 4 at position 1, "
                             "expected 5 (golden.json input_ids"));
  EXPECT_THAT(msg, HasSubstr("sample \"golden-1\": tokenizer gives token id 5 at position 2, "
                             "expected 4"));
}

class GoldenDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("eaos_golden_", ::testing::UnitTest::GetInstance()->random_seed(), "_",
                        ::getpid());
    std::filesystem::create_directories(dir_);
    for (const char* f : {"model.json", "model.pt", "tokenizer.model"}) {
      std::filesystem::copy_file(kDemoDir + "/" + f, dir_ / f,
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void WriteGolden(const std::string& json) { std::ofstream(dir_ / kGoldenFileName) << json; }
  void WriteGolden(const GoldenFile& golden) {
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(golden, &json).ok());
    WriteGolden(json);
  }
  EngineOptions Options() {
    EngineOptions options;
    options.model_dir = dir_.string();
    options.intra_op_threads = 2;
    return options;
  }
  std::filesystem::path dir_;
};

TEST_F(GoldenDir, MissingFileLoadsAndSaysSo) {
  auto golden = LoadGoldenFile(dir_.string());
  ASSERT_TRUE(golden.ok()) << golden.status();
  EXPECT_FALSE(golden->has_value());
  auto engine = Engine::Load(Options());
  ASSERT_TRUE(engine.ok()) << engine.status();
  const v1::ModelInfo info = (*engine)->Info();
  EXPECT_FALSE(info.self_test().passed());
  EXPECT_THAT(info.self_test().detail(), HasSubstr("no golden.json"));
  EXPECT_EQ(info.sizes().layers(), 2u);
  EXPECT_GT(info.sizes().parameters(), 100000u);
}

TEST_F(GoldenDir, EngineRunsTheSelfTestAtLoad) {
  DemoPath demo;
  WriteGolden(demo.Record(kTexts));
  auto engine = Engine::Load(Options());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_TRUE((*engine)->Info().self_test().passed());
  EXPECT_EQ((*engine)->Info().self_test().samples(), 3u);
}

TEST_F(GoldenDir, EngineRefusesAModelThatDiffers) {
  DemoPath demo;
  GoldenFile golden = demo.Record(kTexts);
  golden.mutable_samples(0)->mutable_tuples(0)->set_sentiment("tiêu cực");
  WriteGolden(golden);
  auto engine = Engine::Load(Options());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("golden self-test failed"));

  EngineOptions unchecked = Options();
  unchecked.golden_check = false;
  auto loaded = Engine::Load(unchecked);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->Info().self_test().detail(), HasSubstr("disabled"));
}

TEST_F(GoldenDir, BrokenFilesAreClearErrors) {
  WriteGolden("{not json");
  auto golden = LoadGoldenFile(dir_.string());
  ASSERT_FALSE(golden.ok());
  EXPECT_THAT(std::string(golden.status().message()), HasSubstr("golden.json is not valid"));

  WriteGolden(R"({"threshold": 0.5, "samples": []})");
  EXPECT_THAT(std::string(LoadGoldenFile(dir_.string()).status().message()),
              HasSubstr("no samples"));

  WriteGolden(R"({"threshold": 0.5, "samples": [{"id": "a", "text": "hay",
      "logits": [{"output": "span_logits", "sum": 1, "abs_sum": 1}]}]})");
  EXPECT_THAT(std::string(LoadGoldenFile(dir_.string()).status().message()),
              HasSubstr("sample \"a\" has no checksum for output \"aspect_logits\""));
}

}  // namespace
}  // namespace eaos::engine
