#include "server/runtime/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_replace.h"

namespace eaos::runtime {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kValid[] = R"json({
  "name": "eaos-demo", "version": "1.0.0", "max_length": 128,
  "tokenizer": "tokenizer.model",
  "special_tokens": {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3},
  "tag_scheme": "BIO",
  "span_labels": ["O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"],
  "aspects": ["Kịch bản", "Chung"],
  "sentiments": ["tích cực", "tiêu cực", "trung tính"],
  "outputs": {"span_logits": "span_labels", "aspect_logits": "aspects",
              "sentiment_logits": "sentiments"},
  "architecture": {"layers": 2}
})json";

std::string Replace(const std::string& from, const std::string& to) {
  return absl::StrReplaceAll(kValid, {{from, to}});
}

TEST(ModelConfig, ParsesTheContractAndIgnoresExtraFields) {
  auto config = ParseModelConfig(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "eaos-demo");
  EXPECT_EQ(config->max_length(), 128u);
  EXPECT_EQ(config->special_tokens().eos_id(), 3);
  EXPECT_EQ(config->aspects(0), "Kịch bản");
  EXPECT_EQ(LabelCount(*config, "sentiments"), 3);
  EXPECT_EQ(LabelCount(*config, "nope"), -1);
}

TEST(ModelConfig, NamesAMissingOutput) {
  auto config = ParseModelConfig(Replace(R"("aspect_logits": "aspects",)", ""));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("outputs lacks \"aspect_logits\""));
}

TEST(ModelConfig, NamesAnOutputMappedToTheWrongLabels) {
  auto config = ParseModelConfig(
      Replace(R"("aspect_logits": "aspects")", R"("aspect_logits": "sentiments")"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("outputs[\"aspect_logits\"] must be"));
}

TEST(ModelConfig, RejectsUnknownOutputs) {
  auto config = ParseModelConfig(Replace(R"("sentiment_logits": "sentiments")",
                                         R"("sentiment_logits": "sentiments", "x": "aspects")"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("unknown outputs: x"));
}

TEST(ModelConfig, RejectsWrongSpanLabels) {
  auto config = ParseModelConfig(Replace(R"("I-OPI"])", R"("I-OP"])"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("span_labels must be exactly"));
}

TEST(ModelConfig, RejectsRepeatedLabels) {
  auto config = ParseModelConfig(Replace(R"(["Kịch bản", "Chung"])", R"(["Chung", "Chung"])"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("aspects repeats the label \"Chung\""));
}

TEST(ModelConfig, RejectsTinyMaxLengthAndSharedSpecialIds) {
  EXPECT_THAT(
      ParseModelConfig(Replace(R"("max_length": 128)", R"("max_length": 2)")).status().message(),
      HasSubstr("max_length must be in [3, 16384], got 2"));
  EXPECT_THAT(ParseModelConfig(Replace(R"("eos_id": 3)", R"("eos_id": 2)")).status().message(),
              HasSubstr("must differ"));
}

TEST(ModelConfig, RejectsMalformedJsonAndMissingFiles) {
  EXPECT_THAT(ParseModelConfig("{not json").status().message(),
              HasSubstr("model.json is not valid"));
  auto missing = LoadModelConfig("/nonexistent/model/dir");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/model/dir/model.json"));
}


TEST(ModelConfig, AStringTokenizerIsASentencepieceFile) {
  auto config = ParseModelConfig(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tokenizer_config().type(), "sentencepiece");
  EXPECT_EQ(config->tokenizer_config().model(), "tokenizer.model");
  EXPECT_EQ(config->tokenizer().string_value(), "tokenizer.model");  // as written
  auto absent = ParseModelConfig(Replace(R"("tokenizer": "tokenizer.model",)", ""));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->tokenizer_config().model(), "tokenizer.model");
}

constexpr char kFastBpe[] =
    R"("tokenizer": {"type": "fastbpe", "codes": "bpe.codes", "vocab": "vocab.txt"},)";
constexpr char kFairseqIds[] = R"("pad_id": 1, "unk_id": 3, "bos_id": 0, "eos_id": 2)";
constexpr char kDemoIds[] = R"("pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3)";

TEST(ModelConfig, ParsesAFastBpeTokenizerObject) {
  std::string json = absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)", kFastBpe}, {kDemoIds, kFairseqIds}});
  auto config = ParseModelConfig(json);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tokenizer_config().type(), "fastbpe");
  EXPECT_EQ(config->tokenizer_config().codes(), "bpe.codes");
  EXPECT_EQ(config->tokenizer_config().vocab(), "vocab.txt");
  EXPECT_EQ(config->max_length(), 128u);
  EXPECT_EQ(config->aspects(0), "Kịch bản");
}

TEST(ModelConfig, NamesWhatIsWrongWithTheTokenizer) {
  auto wrong_ids = ParseModelConfig(Replace(R"("tokenizer": "tokenizer.model",)", kFastBpe));
  ASSERT_FALSE(wrong_ids.ok());
  EXPECT_THAT(wrong_ids.status().message(), HasSubstr("fairseq's special ids"));
  auto no_vocab = ParseModelConfig(absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)",
                R"("tokenizer": {"type": "fastbpe", "codes": "bpe.codes"},)"},
               {kDemoIds, kFairseqIds}}));
  ASSERT_FALSE(no_vocab.ok());
  EXPECT_THAT(no_vocab.status().message(), HasSubstr("needs \"codes\""));
  auto bad_type = ParseModelConfig(
      Replace(R"("tokenizer": "tokenizer.model",)", R"("tokenizer": {"type": "wordpiece"},)"));
  ASSERT_FALSE(bad_type.ok());
  EXPECT_THAT(bad_type.status().message(), HasSubstr("tokenizer.type must be"));
  auto bad_key = ParseModelConfig(
      Replace(R"("tokenizer": "tokenizer.model",)", R"("tokenizer": {"merges": "x"},)"));
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), ::testing::AllOf(HasSubstr("unknown key"), HasSubstr("merges")));
  auto number = ParseModelConfig(
      Replace(R"("tokenizer": "tokenizer.model",)", R"("tokenizer": 7,)"));
  ASSERT_FALSE(number.ok());
  EXPECT_THAT(number.status().message(), HasSubstr("tokenizer must be a file name"));
}

constexpr char kXlmr[] =
    R"("tokenizer": {"model": "tokenizer.model", "id_map": "fairseq"},)";
constexpr char kBartpho[] =
    R"("tokenizer": {"model": "tokenizer.model", "id_map": "fairseq", "dict": "dict.txt"},)";

TEST(ModelConfig, ParsesSentencepieceInFairseqIds) {
  auto plain = ParseModelConfig(kValid);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->tokenizer_config().id_map(), "sentencepiece");
  auto xlmr = ParseModelConfig(absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)", kXlmr}, {kDemoIds, kFairseqIds}}));
  ASSERT_TRUE(xlmr.ok()) << xlmr.status();
  EXPECT_EQ(xlmr->tokenizer_config().type(), "sentencepiece");
  EXPECT_EQ(xlmr->tokenizer_config().id_map(), "fairseq");
  EXPECT_EQ(xlmr->tokenizer_config().dict(), "");
  auto bartpho = ParseModelConfig(absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)", kBartpho}, {kDemoIds, kFairseqIds}}));
  ASSERT_TRUE(bartpho.ok()) << bartpho.status();
  EXPECT_EQ(bartpho->tokenizer_config().dict(), "dict.txt");
}

TEST(ModelConfig, NamesWhatIsWrongWithFairseqIds) {
  auto demo_ids = ParseModelConfig(Replace(R"("tokenizer": "tokenizer.model",)", kXlmr));
  ASSERT_FALSE(demo_ids.ok());
  EXPECT_THAT(demo_ids.status().message(),
              AllOf(HasSubstr("\"id_map\": \"fairseq\""), HasSubstr("fairseq's special ids")));
  auto bad_map = ParseModelConfig(Replace(
      R"("tokenizer": "tokenizer.model",)", R"("tokenizer": {"model": "m", "id_map": "xlmr"},)"));
  ASSERT_FALSE(bad_map.ok());
  EXPECT_THAT(bad_map.status().message(), HasSubstr("tokenizer.id_map must be"));
  auto dict_alone = ParseModelConfig(Replace(
      R"("tokenizer": "tokenizer.model",)", R"("tokenizer": {"model": "m", "dict": "dict.txt"},)"));
  ASSERT_FALSE(dict_alone.ok());
  EXPECT_THAT(dict_alone.status().message(), HasSubstr("belongs to \"id_map\": \"fairseq\""));
  auto fastbpe_map = ParseModelConfig(absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)",
                R"("tokenizer": {"type": "fastbpe", "codes": "c", "vocab": "v",)"
                R"( "id_map": "fairseq"},)"},
               {kDemoIds, kFairseqIds}}));
  ASSERT_FALSE(fastbpe_map.ok());
  EXPECT_THAT(fastbpe_map.status().message(), HasSubstr("belong to sentencepiece"));
}

// Loads the real sentencepiece shim (dlopen with RTLD_DEEPBIND), which the sanitizer builds
// cannot: a suite of its own, outside the asan/tsan presets' filters.
TEST(LoadTokenizerFromDir, ReadsTheFairseqDictBesideTheModel) {
  const std::string dir = ::testing::TempDir() + "/fairseq_dict_model";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::string(EAOS_SOURCE_DIR) + "/models/demo/tokenizer.model",
                             dir + "/tokenizer.model",
                             std::filesystem::copy_options::overwrite_existing);
  {
    std::ofstream dict(dir + "/dict.txt");
    dict << "\xe2\x96\x81hay 10\nmadeupword0000 0\n";  // "▁hay"
  }
  auto config = ParseModelConfig(absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)", kBartpho}, {kDemoIds, kFairseqIds}}));
  ASSERT_TRUE(config.ok()) << config.status();
  auto tok = LoadTokenizer(*config, dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 7);  // 4 specials, 2 lines, <mask>
  auto e = (*tok)->Encode("rất hay <mask>");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_GE(e->size(), 4u);
  EXPECT_EQ(e->ids[e->size() - 2], 6);  // <mask>
  for (size_t i = 1; i + 2 < e->size(); ++i) EXPECT_TRUE(e->ids[i] == 3 || e->ids[i] == 4) << i;
  auto missing = LoadTokenizer(*config, "/nonexistent-model-dir");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent-model-dir/tokenizer.model"));
  std::filesystem::remove(dir + "/dict.txt");
  auto no_dict = LoadTokenizer(*config, dir);
  ASSERT_FALSE(no_dict.ok());
  EXPECT_THAT(no_dict.status().message(), HasSubstr(dir + "/dict.txt"));
}

TEST(ModelConfig, ParsesAnOptionalSegmenter) {
  auto raw = ParseModelConfig(kValid);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_FALSE(raw->has_segmenter());
  auto pyvi = ParseModelConfig(Replace(
      R"("tag_scheme")", R"("segmenter": {"package": "pyvi", "version": "0.1.1"}, "tag_scheme")"));
  ASSERT_TRUE(pyvi.ok()) << pyvi.status();
  EXPECT_EQ(pyvi->segmenter().package(), "pyvi");
  EXPECT_EQ(pyvi->segmenter().version(), "0.1.1");
  auto unknown = ParseModelConfig(Replace(
      R"("tag_scheme")", R"("segmenter": {"package": "vncorenlp", "version": "1.2"}, "tag_scheme")"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("segmenter.package must be"));
  auto no_version = ParseModelConfig(
      Replace(R"("tag_scheme")", R"("segmenter": {"package": "underthesea"}, "tag_scheme")"));
  ASSERT_FALSE(no_version.ok());
  EXPECT_THAT(no_version.status().message(), HasSubstr("segmenter.version must be"));
}

TEST(ModelConfig, LoadTokenizerNamesAMissingFastBpeFile) {
  std::string json = absl::StrReplaceAll(
      kValid, {{R"("tokenizer": "tokenizer.model",)", kFastBpe}, {kDemoIds, kFairseqIds}});
  auto config = ParseModelConfig(json);
  ASSERT_TRUE(config.ok()) << config.status();
  auto tok = LoadTokenizer(*config, "/nonexistent-model-dir");
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(tok.status().message(), HasSubstr("/nonexistent-model-dir/bpe.codes"));
}

TEST(ModelConfig, TextNormalizationIsNfcByDefaultNoneOnRequestAndNothingElse) {
  auto absent = ParseModelConfig(Replace(R"("max_length": 128,)", R"("max_length": 128,)"));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->text_normalization(), "");
  auto none = ParseModelConfig(
      Replace(R"("max_length": 128,)", R"("max_length": 128, "text_normalization": "none",)"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->text_normalization(), "none");
  auto bad = ParseModelConfig(
      Replace(R"("max_length": 128,)", R"("max_length": 128, "text_normalization": "nfkc",)"));
  EXPECT_THAT(bad.status().message(), HasSubstr("text_normalization must be \"nfc\" or \"none\""));
}

// One piece per code point, with its byte range: shows what the tokenizer was given.
class CodePointTokenizer : public text::Tokenizer {
 public:
  absl::StatusOr<text::Encoding> Encode(absl::string_view s) const override {
    text::Encoding e;
    for (size_t b = 0; b < s.size();) {
      size_t len = 1;
      while (b + len < s.size() && (static_cast<unsigned char>(s[b + len]) & 0xC0) == 0x80) ++len;
      e.ids.push_back(static_cast<int64_t>(len));
      e.begins.push_back(static_cast<uint32_t>(b));
      e.ends.push_back(static_cast<uint32_t>(b + len));
      b += len;
    }
    return e;
  }
  int vocab_size() const override { return 10; }
  int max_length() const override { return 128; }
};

TEST(ModelConfig, EncodeForModelComposesUnlessTheModelSaysNone) {
  const std::string nfd = "o\xCC\x81";  // o + COMBINING ACUTE: one letter, two code points
  CodePointTokenizer tokenizer;
  ModelConfig config;
  auto composed = EncodeForModel(config, tokenizer, nfd);
  ASSERT_TRUE(composed.ok()) << composed.status();
  ASSERT_EQ(composed->size(), 1u);  // U+00F3
  EXPECT_EQ(composed->begins[0], 0u);
  EXPECT_EQ(composed->ends[0], 3u);  // the whole letter in the text as sent
  config.set_text_normalization("none");
  auto raw = EncodeForModel(config, tokenizer, nfd);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->size(), 2u);  // as sent: base letter and mark
}

}  // namespace
}  // namespace eaos::runtime
