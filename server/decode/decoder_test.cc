#include "server/decode/decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <numeric>
#include <random>

namespace eaos::decode {
namespace {

enum Tag { O = 0, B_ENT = 1, I_ENT = 2, B_OPI = 3, I_OPI = 4 };

runtime::ModelConfig Config() {
  runtime::ModelConfig c;
  c.set_name("test");
  c.set_version("1");
  c.set_max_length(64);
  c.set_tag_scheme("BIO");
  for (const char* l : {"O", "B-ENT", "I-ENT", "B-OPI", "I-OPI"}) c.add_span_labels(l);
  for (const char* a : {"Kịch bản", "Dẫn chương trình", "Chung"}) c.add_aspects(a);
  for (const char* s : {"tích cực", "tiêu cực", "trung tính"}) c.add_sentiments(s);
  c.mutable_special_tokens()->set_pad_id(0);
  c.mutable_special_tokens()->set_unk_id(1);
  c.mutable_special_tokens()->set_bos_id(2);
  c.mutable_special_tokens()->set_eos_id(3);
  (*c.mutable_outputs())["span_logits"] = "span_labels";
  (*c.mutable_outputs())["aspect_logits"] = "aspects";
  (*c.mutable_outputs())["sentiment_logits"] = "sentiments";
  return c;
}

// One item: the text cut into pieces (each piece's bytes in order), BOS/EOS around them and
// `padding` extra positions, with all logits zero until set.
struct Item {
  std::string text;
  text::Encoding encoding;
  runtime::ModelOutputs outputs;

  Item(const std::vector<std::string>& pieces, int padding = 0) {
    encoding.ids.push_back(2);
    encoding.begins.push_back(0);
    encoding.ends.push_back(0);
    for (const std::string& p : pieces) {
      encoding.ids.push_back(10);
      encoding.begins.push_back(static_cast<uint32_t>(text.size()));
      text += p;
      encoding.ends.push_back(static_cast<uint32_t>(text.size()));
    }
    encoding.ids.push_back(3);
    encoding.begins.push_back(static_cast<uint32_t>(text.size()));
    encoding.ends.push_back(static_cast<uint32_t>(text.size()));
    const int64_t cols = static_cast<int64_t>(encoding.size()) + padding;
    for (auto [logits, labels] : {std::pair{&outputs.span, 5}, std::pair{&outputs.aspect, 3},
                                  std::pair{&outputs.sentiment, 3}}) {
      logits->rows = 1;
      logits->cols = cols;
      logits->labels = labels;
      logits->data.assign(cols * labels, 0.0f);
    }
    for (int64_t p = 0; p < cols; ++p) Set(&outputs.span, p, O);
  }

  static void Set(runtime::Logits* logits, int64_t position, int label, float value = 10.0f) {
    float* row = logits->data.data() + position * logits->labels;
    std::fill(row, row + logits->labels, 0.0f);
    row[label] = value;
  }
  // Piece i (0-based, excluding BOS) gets tag `tag`; opinions also get aspect/sentiment labels.
  void Tag(int piece, Tag tag, int aspect = 0, int sentiment = 0) {
    Set(&outputs.span, piece + 1, tag);
    Set(&outputs.aspect, piece + 1, aspect);
    Set(&outputs.sentiment, piece + 1, sentiment);
  }
  std::vector<v1::Tuple> Decode(float threshold = 0.5f) const {
    return Decoder::Create(Config())->Decode(text, encoding, outputs, 0, threshold);
  }
};

TEST(Decoder, ExtractsTupleWithCodePointAndByteOffsets) {
  Item item({"Chương", " trình", " rất", " hay", "!"});
  item.Tag(0, B_ENT);
  item.Tag(1, I_ENT);
  item.Tag(2, B_OPI, /*aspect=*/0, /*sentiment=*/0);
  item.Tag(3, I_OPI, 0, 0);
  // "!" is in the word "hay!" but trimmed off the span: its tag (a word takes its first piece's
  // tag) and its zero aspect/sentiment logits take no part.
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  const v1::Tuple& t = tuples[0];
  EXPECT_EQ(t.entity(), "Chương trình");
  EXPECT_EQ(t.opinion(), "rất hay");
  EXPECT_EQ(t.aspect(), "Kịch bản");
  EXPECT_EQ(t.sentiment(), "tích cực");
  EXPECT_EQ(t.entity_span().begin(), 0u);
  EXPECT_EQ(t.entity_span().end(), 12u);  // code points
  EXPECT_EQ(t.opinion_span().begin(), 13u);
  EXPECT_EQ(t.opinion_span().end(), 20u);
  // Leading spaces of " rất" are trimmed from the byte range too.
  EXPECT_EQ(item.text.substr(t.opinion_span().byte_begin(),
                             t.opinion_span().byte_end() - t.opinion_span().byte_begin()),
            "rất hay");
  // Every part is ~0.9998 (logit 10 vs 0): the confidence is their minimum.
  EXPECT_NEAR(t.confidence(), std::exp(10.0) / (std::exp(10.0) + 4), 1e-4);
}

TEST(Decoder, IgnoresSpecialAndPaddingPositions) {
  Item item({"hay", " quá"}, /*padding=*/3);
  item.Tag(0, B_OPI);
  item.Tag(1, I_OPI);
  // Opinion tags on BOS, EOS and padding must not create spans.
  for (int64_t p : {0, 3, 4, 5, 6}) Item::Set(&item.outputs.span, p, B_OPI);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].opinion(), "hay quá");
  EXPECT_EQ(tuples[0].entity(), "");
  EXPECT_FALSE(tuples[0].has_entity_span());
}

TEST(Decoder, DropsTuplesWhoseLogitsAreNotFinite) {
  // Found by tests/fuzz/fuzz_decoder: NaN probabilities (from NaN or infinite logits) passed the
  // threshold, or std::min skipped them, giving tuples with confidence NaN or a made-up label.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (auto [head, value] : {std::pair{1, nan}, std::pair{2, nan}, std::pair{1, inf},
                             std::pair{2, inf}}) {
    Item item({"MC", " hay"});
    item.Tag(0, B_ENT);
    item.Tag(1, B_OPI);
    runtime::Logits* logits = head == 1 ? &item.outputs.aspect : &item.outputs.sentiment;
    logits->data[2 * logits->labels] = value;  // the opinion's position
    EXPECT_THAT(item.Decode(/*threshold=*/0.0f), ::testing::IsEmpty()) << head << " " << value;
  }
  // NaN span logits: every tag's probability is NaN and the argmax is label 0. With "I-OPI"
  // first, that makes an opinion whose own confidence is NaN.
  runtime::ModelConfig config = Config();
  config.clear_span_labels();
  for (const char* l : {"I-OPI", "O", "B-ENT", "I-ENT", "B-OPI"}) config.add_span_labels(l);
  Item item({"hay"});
  for (int64_t p = 0; p < item.outputs.span.cols; ++p) Item::Set(&item.outputs.span, p, 1);  // O
  item.outputs.span.data[1 * item.outputs.span.labels] = nan;  // the piece
  EXPECT_THAT(Decoder::Create(config)->Decode(item.text, item.encoding, item.outputs, 0, 0.0f),
              ::testing::IsEmpty());
}

TEST(Decoder, InsideTagOfAnotherKindOpensANewSpan) {
  Item item({"MC", " nói", " hay"});
  item.Tag(0, I_ENT);  // I without B: opens an entity
  item.Tag(1, I_OPI);  // I of another kind: opens an opinion
  item.Tag(2, I_OPI);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].entity(), "MC");
  EXPECT_EQ(tuples[0].opinion(), "nói hay");
}

TEST(Decoder, BeginTagSplitsAdjacentSpans) {
  Item item({"hay", " dở"});
  item.Tag(0, B_OPI, 0, 0);
  item.Tag(1, B_OPI, 1, 1);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 2u);
  EXPECT_EQ(tuples[0].opinion(), "hay");
  EXPECT_EQ(tuples[0].sentiment(), "tích cực");
  EXPECT_EQ(tuples[1].opinion(), "dở");
  EXPECT_EQ(tuples[1].aspect(), "Dẫn chương trình");
  EXPECT_EQ(tuples[1].sentiment(), "tiêu cực");
}

TEST(Decoder, PairsEachOpinionWithTheNearestEntityBeforeElseAfter) {
  // "hay | MC | vui | nhưng | âm thanh | rè"
  Item item({"hay", " MC", " vui", " nhưng", " âm", " thanh", " rè"});
  item.Tag(0, B_OPI);  // no entity before: takes the nearest after (MC)
  item.Tag(1, B_ENT);
  item.Tag(2, B_OPI);  // MC
  item.Tag(4, B_ENT);
  item.Tag(5, I_ENT);
  item.Tag(6, B_OPI);  // âm thanh (nearest before, not MC)
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 3u);
  EXPECT_EQ(tuples[0].entity(), "MC");
  EXPECT_EQ(tuples[1].entity(), "MC");
  EXPECT_EQ(tuples[2].entity(), "âm thanh");
  EXPECT_EQ(tuples[2].entity_span().begin(), 17u);
}

TEST(Decoder, ThresholdDropsTuplesBelowItsConfidence) {
  Item item({"MC", " ổn"});
  item.Tag(0, B_ENT);
  item.Tag(1, B_OPI);
  // Sentiment undecided: three equal logits give probability 1/3.
  std::fill_n(item.outputs.sentiment.data.begin() + 2 * 3, 3, 1.0f);
  EXPECT_TRUE(item.Decode(0.5f).empty());
  const auto low = item.Decode(0.3f);
  ASSERT_EQ(low.size(), 1u);
  EXPECT_NEAR(low[0].confidence(), 1.0 / 3, 1e-5);
}

TEST(Decoder, MeanLogitsOverTheSpanChooseAspect) {
  Item item({"rất", " hay", " luôn"});
  item.Tag(0, B_OPI, /*aspect=*/1);
  item.Tag(1, I_OPI, /*aspect=*/2);
  item.Tag(2, I_OPI, /*aspect=*/2);
  const auto tuples = item.Decode(0.0f);
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].aspect(), "Chung");  // two of three pieces vote for it
}

TEST(Decoder, DropsWhitespaceOnlySpans) {
  Item item({"hay", " ", " quá"});
  item.Tag(1, B_OPI);  // the " " piece alone
  EXPECT_TRUE(item.Decode().empty());
}

TEST(Decoder, NoOpinionMeansNoTuple) {
  Item item({"Chương", " trình"});
  item.Tag(0, B_ENT);
  item.Tag(1, I_ENT);
  EXPECT_TRUE(item.Decode().empty());
}

TEST(Decoder, WordTakesItsFirstPieceTag) {
  // "MC xử lý hay": "ử" says B-ENT inside the word "xử" whose first piece " x" says O.
  Item item({"MC", " x", "ử", " lý", " hay"});
  item.Tag(0, B_ENT);
  item.Tag(2, B_ENT);
  item.Tag(4, B_OPI);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].entity(), "MC");
  EXPECT_EQ(tuples[0].opinion(), "hay");
}

TEST(Decoder, SpanEdgesSnapToWholeWords) {
  // "Kịch bản bị lặp lại": the opinion opens on " l" and "ặp" says I-ENT; the word "lặp" is
  // tagged by " l", so the opinion is "lặp lại", never "l" or "ặp".
  Item item({"Kịch", " bản", " bị", " l", "ặp", " lại"});
  item.Tag(0, B_ENT);
  item.Tag(1, I_ENT);
  item.Tag(3, B_OPI, 0, 1);
  item.Tag(4, I_ENT, 0, 1);
  item.Tag(5, I_OPI, 0, 1);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].entity(), "Kịch bản");
  EXPECT_EQ(tuples[0].opinion(), "lặp lại");
  EXPECT_EQ(tuples[0].sentiment(), "tiêu cực");
}

TEST(Decoder, PunctuationTrimmedAndPunctuationOnlySpansDropped) {
  Item item({"MC", " «", " hay", " …", " »", " ,", " ..."});
  item.Tag(0, B_ENT);
  for (int p = 1; p <= 4; ++p) item.Tag(p, p == 1 ? B_OPI : I_OPI);
  item.Tag(5, B_OPI);
  item.Tag(6, B_OPI);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].opinion(), "hay");
}

TEST(Decoder, TrimmedBytesNoPieceCoversUseTheWordsPieces) {
  // "MC «hay": the second piece covers only " «"; the trimmed opinion "hay" lies in bytes no
  // piece covers, so its aspect/sentiment means take all the pieces of its word.
  Item item({"MC", " «"});
  item.text += "hay";
  item.Tag(0, B_ENT);
  item.Tag(1, B_OPI, 0, 1);
  const auto tuples = item.Decode();
  ASSERT_EQ(tuples.size(), 1u);
  EXPECT_EQ(tuples[0].entity(), "MC");
  EXPECT_EQ(tuples[0].opinion(), "hay");
  EXPECT_EQ(tuples[0].sentiment(), "tiêu cực");
}

bool IsPunctuation(absl::string_view ch) {
  static const std::vector<std::string> kUnicode = {
      "\u2026", "\u201c", "\u201d", "\u2018", "\u2019", "\u2013", "\u2014", "\u00ab", "\u00bb"};
  if (ch.size() == 1) return std::string("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").find(ch[0]) !=
                             std::string::npos;
  return std::find(kUnicode.begin(), kUnicode.end(), std::string(ch)) != kUnicode.end();
}

// Property: for random texts cut into random sub-word pieces and random logits, every span
// starts at a word's start and ends at a word's end, up to punctuation trimmed off the edges.
TEST(Decoder, PropertyEverySpanEdgeIsAWordEdge) {
  const std::vector<std::string> chars = {"a", "b", "x", "đ", "ê", "ơ", "ư", "ạ", "ế", "ễ",
                                          "😍", "!", ",", ".", "\u2026", "\u00ab", "\"", "?"};
  const std::vector<std::string> spaces = {" ", " ", " ", "  ", "\t", "\n", "\u00a0"};
  std::mt19937 rng(1234);
  auto uniform = [&](int n) { return static_cast<int>(rng() % n); };
  std::normal_distribution<float> logit(0.0f, 3.0f);
  int checked = 0;
  for (int round = 0; round < 300; ++round) {
    // Words as lists of characters; pieces cut inside words at random character boundaries,
    // a word's first piece carrying the space before it.
    std::vector<std::string> pieces;
    std::string text;
    std::vector<std::pair<size_t, size_t>> words;  // byte ranges
    const int n_words = 1 + uniform(11);
    for (int w = 0; w < n_words; ++w) {
      std::string piece = (w > 0 || uniform(3) == 0) ? spaces[uniform(spaces.size())] : "";
      const size_t word_begin = text.size() + piece.size();
      const int n_chars = 1 + uniform(5);
      for (int c = 0; c < n_chars; ++c) {
        piece += chars[uniform(chars.size())];
        if (c + 1 < n_chars && uniform(3) == 0) {
          text += piece;
          pieces.push_back(piece);
          piece.clear();
        }
      }
      text += piece;
      pieces.push_back(piece);
      words.push_back({word_begin, text.size()});
    }
    Item item(pieces, uniform(3));
    for (runtime::Logits* l : {&item.outputs.span, &item.outputs.aspect, &item.outputs.sentiment}) {
      for (float& v : l->data) v = logit(rng);
    }
    for (const v1::Tuple& t : item.Decode(/*threshold=*/0.0f)) {
      for (const v1::Span* s : {&t.opinion_span(), &t.entity_span()}) {
        if (s == &t.entity_span() && t.entity().empty()) continue;
        const size_t b = s->byte_begin(), e = s->byte_end();
        ASSERT_LT(b, e) << item.text;
        auto word = std::find_if(words.begin(), words.end(),
                                 [&](const auto& w) { return w.first <= b && b < w.second; });
        ASSERT_NE(word, words.end()) << item.text;
        auto last = std::find_if(words.begin(), words.end(),
                                 [&](const auto& w) { return w.first < e && e <= w.second; });
        ASSERT_NE(last, words.end()) << item.text;
        // Only punctuation between the word edges and the span edges, none at the span edges.
        const absl::string_view text(item.text);
        for (absl::string_view gap :
             {text.substr(word->first, b - word->first), text.substr(e, last->second - e)}) {
          for (size_t i = 0; i < gap.size();) {
            size_t n = 1;
            while (i + n < gap.size() && (static_cast<unsigned char>(gap[i + n]) & 0xC0) == 0x80) {
              ++n;
            }
            EXPECT_TRUE(IsPunctuation(gap.substr(i, n)))
                << item.text << " [" << b << "," << e << ")";
            i += n;
          }
        }
        EXPECT_FALSE(IsPunctuation(absl::string_view(item.text).substr(b, 1))) << item.text;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 300);  // the property was really exercised
}

}  // namespace
}  // namespace eaos::decode
