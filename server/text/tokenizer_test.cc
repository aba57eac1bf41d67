#include "server/text/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace eaos::text {
namespace {

const std::string kModel = std::string(EAOS_SOURCE_DIR) + "/models/demo/tokenizer.model";
// XLM-RoBERTa's layout (<unk> <s> </s> at ids 0-2), for fairseq ids.
const std::string kXlmrModel = std::string(EAOS_SOURCE_DIR) + "/models/fixtures/xlmr_layout.model";

std::unique_ptr<Tokenizer> Load(int max_length = 128) {
  TokenizerOptions options;
  options.model_path = kModel;
  options.max_length = max_length;
  auto tok = Tokenizer::Load(options);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

// The pieces' byte ranges, in order, tile the text up to whitespace.
void ExpectOffsetsTileText(const std::string& text, const Encoding& e) {
  ASSERT_GE(e.size(), 2u);
  EXPECT_EQ(e.ids.front(), 2);
  EXPECT_EQ(e.ids.back(), 3);
  uint32_t cursor = 0;
  std::string covered;
  for (size_t i = 1; i + 1 < e.size(); ++i) {
    ASSERT_LE(e.begins[i], e.ends[i]);
    ASSERT_LE(e.ends[i], text.size());
    EXPECT_GE(e.begins[i], cursor) << "piece " << i << " overlaps the previous one";
    // Whatever lies between pieces is whitespace that sentencepiece folded into a piece boundary.
    for (uint32_t b = cursor; b < e.begins[i]; ++b) EXPECT_EQ(text[b], ' ') << text;
    covered += text.substr(e.begins[i], e.ends[i] - e.begins[i]);
    cursor = e.ends[i];
  }
  if (!e.truncated) {
    std::string squeezed;
    for (char c : text) {
      if (c != ' ') squeezed += c;
    }
    std::string covered_squeezed;
    for (char c : covered) {
      if (c != ' ') covered_squeezed += c;
    }
    EXPECT_EQ(covered_squeezed, squeezed);
  }
}

TEST(Tokenizer, OffsetsPointIntoTheOriginalVietnameseText) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_GT(tok->vocab_size(), 100);
  for (const std::string text :
       {"Chương trình rất hay!", "Chuong trinh rat hay!",
        "MC dẫn duyên quá, nhưng âm thanh hơi rè.", "Khách mời 😍😍 dễ thương",
        "  hai  khoảng   trắng ", "ấ", "Ánh sáng CHÓI quá"}) {
    SCOPED_TRACE(text);
    auto e = tok->Encode(text);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_FALSE(e->truncated);
    ExpectOffsetsTileText(text, *e);
  }
}

TEST(Tokenizer, TruncatesToMaxLengthIncludingBosAndEos) {
  auto tok = Load(/*max_length=*/8);
  ASSERT_NE(tok, nullptr);
  const std::string text = "chương trình rất hay và khách mời cũng rất dễ thương";
  auto e = tok->Encode(text);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->truncated);
  EXPECT_EQ(e->size(), 8u);
  EXPECT_EQ(e->ids.back(), 3);
  ExpectOffsetsTileText(text, *e);
}

TEST(Tokenizer, EncodesConcurrentlyWithIdenticalResults) {
  auto tok = Load();
  ASSERT_NE(tok, nullptr);
  const std::string text = "Kịch bản không hay, khách mời chẳng hấp dẫn.";
  const auto expected = tok->Encode(text)->ids;
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (tok->Encode(text)->ids != expected) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, MissingModelFileIsAClearError) {
  TokenizerOptions options;
  options.model_path = "/nonexistent/tokenizer.model";
  auto tok = Tokenizer::Load(options);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()),
              ::testing::HasSubstr("/nonexistent/tokenizer.model"));
}

TEST(Tokenizer, RejectsAMaxLengthWithNoRoomForText) {
  TokenizerOptions options;
  options.model_path = kModel;
  options.max_length = 2;
  EXPECT_EQ(Tokenizer::Load(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Tokenizer, FairseqIdsOffsetThePiecesAndSplitOutLiteralSpecials) {
  TokenizerOptions plain_options;
  plain_options.model_path = kXlmrModel;
  auto plain_or = Tokenizer::Load(plain_options);
  ASSERT_TRUE(plain_or.ok()) << plain_or.status();
  const auto& plain = *plain_or;
  TokenizerOptions options;
  options.model_path = kXlmrModel;
  options.id_map = IdMap::kFairseq;
  options.bos_id = 0;
  options.eos_id = 2;
  auto fairseq = Tokenizer::Load(options);
  ASSERT_TRUE(fairseq.ok()) << fairseq.status();
  const int pieces = plain->vocab_size();
  EXPECT_EQ((*fairseq)->vocab_size(), pieces + 2);  // + <pad> of fairseq's 4 specials, + <mask>
  // XLMRobertaTokenizer's layout: a piece's id + 1, the unknown piece (id 0) <unk>.
  const std::string text = "Chương trình rất hay 中文 😍";
  auto a = plain->Encode(text);
  auto b = (*fairseq)->Encode(text);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  EXPECT_EQ(b->ids.front(), 0);
  EXPECT_EQ(b->ids.back(), 2);
  for (size_t i = 1; i + 1 < a->size(); ++i) {
    EXPECT_EQ(b->ids[i], a->ids[i] == 0 ? 3 : a->ids[i] + 1) << i;
    EXPECT_EQ(b->begins[i], a->begins[i]);
    EXPECT_EQ(b->ends[i], a->ends[i]);
  }
  // Literal specials are their ids with their ranges; <mask> takes the whitespace before it.
  const std::string with_specials = "hay \u3000<mask> <s>";
  auto c = (*fairseq)->Encode(with_specials);
  ASSERT_TRUE(c.ok());
  ASSERT_GE(c->size(), 4u);
  const size_t n = c->size();
  EXPECT_EQ(c->ids[n - 2], 0);  // <s>
  EXPECT_EQ(c->begins[n - 2], with_specials.size() - 3);
  EXPECT_EQ(c->ids[n - 3], pieces + 1);  // <mask>
  EXPECT_EQ(c->begins[n - 3], with_specials.find("<mask>"));
  EXPECT_EQ(c->ends[n - 3], with_specials.find("<mask>") + 6);
  EXPECT_EQ(c->ends[n - 4], 3u);  // "hay" ends before the stripped spaces
}

TEST(Tokenizer, FairseqIdsNeedFairseqBosAndEosAndAReadableDict) {
  TokenizerOptions options;
  options.model_path = kModel;
  options.id_map = IdMap::kFairseq;  // bos_id 2, eos_id 3: sentencepiece's defaults
  EXPECT_THAT(std::string(Tokenizer::Load(options).status().message()),
              ::testing::HasSubstr("<s>=0 and </s>=2"));
  options.bos_id = 0;
  options.eos_id = 2;
  // The demo model has </s> at id 3: XLMRobertaTokenizer would make every EOS id 4.
  EXPECT_THAT(std::string(Tokenizer::Load(options).status().message()),
              ::testing::HasSubstr("\"</s>\" at id 3"));
  options.dict_path = "/nonexistent/dict.txt";
  EXPECT_THAT(std::string(Tokenizer::Load(options).status().message()),
              ::testing::HasSubstr("/nonexistent/dict.txt"));
}

}  // namespace
}  // namespace eaos::text
