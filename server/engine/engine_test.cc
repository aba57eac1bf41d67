#include "server/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>

#include "absl/synchronization/notification.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/engine/self_test.h"
#include "server/runtime/model_config.h"
#include "server/runtime/torch_model.h"
#include "server/testing/unicode_forms.h"

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
  std::vector<std::unique_ptr<WorkItem>> items;
  items.push_back(*std::move(work));
  if (auto s = engine.Submit(std::move(items)); !s.ok()) return s;
  done.WaitForNotification();
  return out;
}

TEST(Engine, LoadsTheDemoModelAndAnnotates) {
  auto engine = Engine::Load(DemoOptions());
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

// models/fixtures/reference_texts.jsonl's texts.
std::vector<std::string> FixtureTexts() {
  std::ifstream in(std::string(EAOS_SOURCE_DIR) + "/models/fixtures/reference_texts.jsonl");
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    google::protobuf::Struct row;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &row).ok()) << line;
    texts.push_back(row.fields().at("text").string_value());
  }
  return texts;
}

// Decomposed (NFD) text, as some keyboards and platforms send Vietnamese, gets the answer of its
// composed (NFC) form, with spans cut from the text as sent (server/text/normalize.h).
TEST(Engine, EveryGoldenAndFixtureTextInNfdGetsItsNfcAnswerWithSpansInTheNfdText) {
  EngineOptions options = DemoOptions();
  options.max_text_bytes = 16 * 1024;
  auto engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto golden = LoadGoldenFile(options.model_dir);
  ASSERT_TRUE(golden.ok() && golden->has_value()) << golden.status();
  std::vector<std::string> texts;
  for (const auto& sample : (*golden)->samples()) texts.push_back(sample.text());
  const size_t golden_count = texts.size();
  for (std::string& t : FixtureTexts()) texts.push_back(std::move(t));
  ASSERT_GT(texts.size(), golden_count + 50);

  int decomposed = 0, tuples = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string nfc = testing::ToNfc(texts[i]);
    const std::string nfd = testing::ToNfd(texts[i]);
    SCOPED_TRACE(::testing::Message() << (i < golden_count ? "golden " : "fixture ") << i << ": "
                                      << texts[i]);
    if (i < golden_count) EXPECT_EQ(nfc, texts[i]) << "golden texts are NFC";
    if (nfd == nfc) continue;
    ++decomposed;
    auto want = Annotate(**engine, MakeItem("nfc", nfc));
    auto got = Annotate(**engine, MakeItem("nfd", nfd));
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    tuples += got->tuples_size();
    testing::ExpectTheNfcAnswer(nfd, *want, *got);
    if (texts[i] != nfc) {  // a fixture that is itself decomposed: the text as it is, too
      auto as_is = Annotate(**engine, MakeItem("as-is", texts[i]));
      ASSERT_TRUE(as_is.ok()) << as_is.status();
      testing::ExpectTheNfcAnswer(texts[i], *want, *as_is);
    }
  }
  EXPECT_GE(decomposed, 60);
  EXPECT_GE(tuples, 40);
}

TEST(Engine, PrepareRejectsBadItemsWithReasons) {
  auto engine = Engine::Load(DemoOptions());
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
  auto engine = Engine::Load(DemoOptions());
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
  auto engine = Engine::Load(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("max_batch_tokens"));
}

// A model that fails every forward: items get the error, nothing hangs.
class FailingModel : public runtime::Model {
 public:
  absl::StatusOr<runtime::ModelOutputs> Forward(const runtime::Batch&, int) override {
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
                               std::make_unique<FailingModel>());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto result = Annotate(**engine, MakeItem("x", "hay"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("injected"));
  EXPECT_EQ((*engine)->Info().device(), "fake");
}

// Submits every text at once (one batch where the limits allow) and waits for all results.
std::vector<absl::StatusOr<v1::ItemResult>> AnnotateAll(Engine& engine,
                                                        const std::vector<std::string>& texts) {
  std::vector<absl::StatusOr<v1::ItemResult>> out(texts.size(), absl::UnknownError("unanswered"));
  std::vector<int> answers(texts.size(), 0);
  absl::Mutex mu;
  int pending = static_cast<int>(texts.size());
  std::vector<std::unique_ptr<WorkItem>> items;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto work = engine.Prepare(MakeItem(std::to_string(i), texts[i]), 0.5f);
    EXPECT_TRUE(work.ok()) << work.status();
    (*work)->done = [&, i](absl::StatusOr<v1::ItemResult> r) {
      absl::MutexLock lock(&mu);
      out[i] = std::move(r);
      ++answers[i];
      --pending;
    };
    items.push_back(*std::move(work));
  }
  EXPECT_TRUE(engine.Submit(std::move(items)).ok());
  absl::MutexLock lock(&mu);
  mu.AwaitWithTimeout(absl::Condition(
                          +[](int* p) { return *p == 0; }, &pending),
                      absl::Seconds(120));
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(answers[i], 1) << "item " << i;
  return out;
}

std::vector<std::string> ShortTexts(int n) {
  const std::vector<std::string> base = {
      "Chương trình rất hay", "MC duyên quá", "âm thanh rè, hình ảnh đẹp",
      "khách mời nhạt nhưng kịch bản hấp dẫn", "thời lượng hơi ngắn", "hôm nay trời mưa"};
  std::vector<std::string> texts;
  for (int i = 0; i < n; ++i) texts.push_back(base[i % base.size()]);
  return texts;
}

void ExpectSameTuples(const absl::StatusOr<v1::ItemResult>& got,
                      const absl::StatusOr<v1::ItemResult>& want) {
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(got->tuples_size(), want->tuples_size());
  for (int t = 0; t < got->tuples_size(); ++t) {
    // Batch composition moves confidences in the last float bits only.
    v1::Tuple a = got->tuples(t), b = want->tuples(t);
    EXPECT_NEAR(a.confidence(), b.confidence(), 1e-4);
    a.clear_confidence();
    b.clear_confidence();
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  }
}

TEST(EngineOutOfMemory, BatchesThatDoNotFitAreSplitUntilTheyDoAndNothingIsLost) {
  const std::vector<std::string> texts = ShortTexts(96);
  auto clean = Engine::Load(DemoOptions());
  ASSERT_TRUE(clean.ok());
  const auto want = AnnotateAll(**clean, texts);

  EngineOptions options = DemoOptions();
  options.faults.oom_above_tokens = 100;  // a "device" that holds ~10 short texts per forward
  options.scheduling.max_queue_delay = absl::Milliseconds(50);  // let the whole burst gather
  auto engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const auto got = AnnotateAll(**engine, texts);
  for (size_t i = 0; i < texts.size(); ++i) ExpectSameTuples(got[i], want[i]);
  // The budget came down to what fits, so later batches do not hit the wall again.
  EXPECT_LE((*engine)->token_budget(), 100);
}

TEST(Engine, TwoRunnersOnOneModelGiveTheSameAnswers) {
  const std::vector<std::string> texts = ShortTexts(200);
  auto one = Engine::Load(DemoOptions());
  ASSERT_TRUE(one.ok());
  const auto want = AnnotateAll(**one, texts);
  EngineOptions options = DemoOptions();
  options.intra_op_threads = 1;
  options.runners_per_device = 2;  // concurrent forwards on the shared TorchScript module
  options.scheduling.max_batch_size = 8;
  auto two = Engine::Load(options);
  ASSERT_TRUE(two.ok()) << two.status();
  const auto got = AnnotateAll(**two, texts);
  for (size_t i = 0; i < texts.size(); ++i) ExpectSameTuples(got[i], want[i]);
}

TEST(Engine, ReducedPrecisionNeedsAGpuAndNamesTheChoices) {
  EngineOptions options = DemoOptions();
  options.precision = "bf16";
  auto engine = Engine::Load(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("needs a CUDA device"));
  options.precision = "int4";
  EXPECT_THAT(std::string(Engine::Load(options).status().message()),
              HasSubstr("fp32, fp16, bf16 or int8"));
  options.precision = "fp32";
  options.device = "cpu,cuda:0";
  EXPECT_THAT(std::string(Engine::Load(options).status().message()),
              HasSubstr("only GPUs can be listed together"));
}

TEST(EngineOutOfMemory, AnItemTooLargeEvenAloneGetsItsOwnError) {
  EngineOptions options = DemoOptions();
  options.max_text_bytes = 16384;
  options.faults.oom_above_tokens = 40;
  auto engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok());
  std::string long_text;
  for (int i = 0; i < 20; ++i) long_text += "chương trình rất hay ";
  const auto got = AnnotateAll(**engine, {"MC duyên quá", long_text, "hình ảnh đẹp"});
  EXPECT_TRUE(got[0].ok()) << got[0].status();
  EXPECT_TRUE(got[2].ok()) << got[2].status();
  ASSERT_FALSE(got[1].ok());
  EXPECT_EQ(got[1].status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(got[1].status().message()),
              HasSubstr("ran out of memory on this text alone"));
}

TEST(EngineOutOfMemory, RandomFailuresAreRetriedAndEveryItemIsAnsweredOnce) {
  const std::vector<std::string> texts = ShortTexts(300);
  auto clean = Engine::Load(DemoOptions());
  ASSERT_TRUE(clean.ok());
  const auto want = AnnotateAll(**clean, texts);

  EngineOptions options = DemoOptions();
  options.faults.oom_rate = 0.3;
  options.faults.seed = 7;
  auto engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok());
  const auto got = AnnotateAll(**engine, texts);  // checks exactly one answer per item
  int failed = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!got[i].ok()) {
      // Only an item whose forward failed alone twice (0.3 x 0.3) may fail, and says why.
      EXPECT_EQ(got[i].status().code(), absl::StatusCode::kResourceExhausted);
      ++failed;
      continue;
    }
    ExpectSameTuples(got[i], want[i]);
  }
  EXPECT_LT(failed, 30);
}

// ---------------------------------------------------------------------------------------------
// On a GPU only: skipped without CUDA (as in CI); scripts/gpu/build-and-bench.sh (stage `test`)
// runs them on the GPU machine.

class OnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  static EngineOptions CudaOptions() {
    EngineOptions options = DemoOptions();
    options.device = "cuda";
    options.max_text_bytes = 16 * 1024;
    return options;
  }
  // The demo texts: a few short comments and the texts of the demo model's golden.json.
  static std::vector<std::string> DemoTexts() {
    std::vector<std::string> texts = ShortTexts(6);
    auto golden = LoadGoldenFile(DemoOptions().model_dir);
    EXPECT_TRUE(golden.ok() && golden->has_value());
    if (golden.ok() && golden->has_value()) {
      for (const auto& sample : (*golden)->samples()) texts.push_back(sample.text());
    }
    return texts;
  }
};

// Tuples alike but for confidences within `tol`; a tuple within `tol` of the 0.5 threshold may be
// on one side only. Returns the differences, one line each.
std::vector<std::string> TupleDifferences(const v1::ItemResult& got, const v1::ItemResult& want,
                                          double tol) {
  auto key = [](v1::Tuple t) {
    t.clear_confidence();
    return t.SerializeAsString();
  };
  std::multimap<std::string, float> left;
  for (const auto& t : got.tuples()) left.emplace(key(t), t.confidence());
  std::vector<std::string> diffs;
  auto on_boundary = [tol](double c) { return std::fabs(c - 0.5) <= tol; };
  for (const auto& t : want.tuples()) {
    auto it = left.find(key(t));
    if (it == left.end()) {
      if (!on_boundary(t.confidence())) diffs.push_back("missing: " + t.ShortDebugString());
      continue;
    }
    if (std::fabs(it->second - t.confidence()) > tol) {
      diffs.push_back(absl::StrCat("confidence ", it->second, " vs ", t.confidence(), ": ",
                                   t.ShortDebugString()));
    }
    left.erase(it);
  }
  for (const auto& [k, confidence] : left) {
    if (!on_boundary(confidence)) {
      diffs.push_back(absl::StrCat("extra tuple, confidence ", confidence));
    }
  }
  return diffs;
}

TEST_F(OnCuda, Fp16AndBf16GiveTheTuplesOfFp32OnTheDemoTexts) {
  const std::vector<std::string> texts = DemoTexts();
  auto fp32 = Engine::Load(CudaOptions());
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  const auto want = AnnotateAll(**fp32, texts);
  for (const std::string precision : {"fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    EngineOptions options = CudaOptions();
    options.precision = precision;
    // Loading also replays golden.json at this precision (WithPrecisionTolerances).
    auto engine = Engine::Load(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const double tol = WithPrecisionTolerances(GoldenFile(), precision).confidence_tolerance();
    const auto got = AnnotateAll(**engine, texts);
    for (size_t i = 0; i < texts.size(); ++i) {
      ASSERT_TRUE(got[i].ok() && want[i].ok()) << got[i].status() << want[i].status();
      EXPECT_THAT(TupleDifferences(*got[i], *want[i], tol), ::testing::IsEmpty()) << texts[i];
    }
  }
}

// Counts out-of-memory errors (runner thread) for the test below.
class OomCounter : public EngineObserver {
 public:
  void OnOutOfMemory(int64_t rows, int64_t padded_tokens) override { ooms += 1; }
  std::atomic<int64_t> ooms{0};
};

TEST_F(OnCuda, ARealOutOfMemoryIsSplitAndRetriedAndNothingIsLost) {
  // 128 texts of 91-97 tokens (demo tokenizer) in batches of up to 64 rows, under a caching-
  // allocator cap of 16 MiB: the demo weights take ~3 MiB, one 64-row batch's q/k/v projection
  // alone (64 x 97 x 384 floats) ~9.5 MiB and its attention scores as much again, while a single
  // text needs well under 1 MiB. Calibration is off (max_batch_tokens is set), so the scheduler
  // does not know, and the first forwards run out of real CUDA memory.
  std::vector<std::string> texts;
  for (int i = 0; i < 128; ++i) {
    std::string t;
    while (t.size() < 400) t += ShortTexts(6)[static_cast<size_t>(i + t.size()) % 6] + ", ";
    texts.push_back(t);
  }
  auto cpu = Engine::Load([] {
    EngineOptions o = DemoOptions();
    o.max_text_bytes = 16 * 1024;
    return o;
  }());
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const auto want = AnnotateAll(**cpu, texts);

  EngineOptions options = CudaOptions();
  options.scheduling.max_batch_size = 64;
  options.scheduling.max_batch_tokens = 64 * 128;
  options.scheduling.max_queue_delay = absl::Milliseconds(50);
  // The cap is a fraction of the device's memory: read its size through a model on the device,
  // then give back what that model cached, so the capped engine starts from an empty cache.
  int64_t device_bytes = 0;
  {
    auto config = runtime::LoadModelConfig(options.model_dir);
    ASSERT_TRUE(config.ok()) << config.status();
    auto model = runtime::LoadTorchModel(
        *config, {.model_dir = options.model_dir, .device = "cuda", .memory_fraction = 1.0});
    ASSERT_TRUE(model.ok()) << model.status();
    runtime::Model::DeviceMemory memory;
    ASSERT_TRUE((*model)->ReadDeviceMemory(&memory));
    device_bytes = memory.limit;
    (*model)->ReleaseCachedMemory();
  }
  ASSERT_GT(device_bytes, int64_t{1} << 30);
  options.memory_fraction = static_cast<double>(16 << 20) / static_cast<double>(device_bytes);
  OomCounter counter;
  auto engine = Engine::Load(options, EngineObservers::Borrow(&counter));
  ASSERT_TRUE(engine.ok()) << engine.status();
  const auto got = AnnotateAll(**engine, texts);
  EXPECT_GT(counter.ooms.load(), 0) << "the cap did not bind: no forward ran out of memory";
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << "item " << i << ": " << got[i].status();
    EXPECT_THAT(TupleDifferences(*got[i], *want[i], 1e-3), ::testing::IsEmpty()) << texts[i];
  }
  EXPECT_LT((*engine)->token_budget(), 64 * 128);
}

}  // namespace
}  // namespace eaos::engine
