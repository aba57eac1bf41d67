#include "server/text/fairseq_ids.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/text/python_text.h"

namespace eaos::text {
namespace {

using ::testing::HasSubstr;

// A small sentencepiece vocabulary as XLM-R's model lays it out: <unk> <s> </s> first.
std::vector<SpmPiece> Pieces() {
  return {{"<unk>", false}, {"<s>", false}, {"</s>", false}, {"▁", true},  {"a", true},
          {"b", true},      {"▁a", true},   {"ab", true},    {"ấ", true},  {"<mask>", true}};
}

std::vector<std::pair<std::string, int64_t>> Split(const FairseqIds& ids, absl::string_view text) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const SpecialSplit& s : ids.SplitSpecials(text)) {
    out.emplace_back(std::string(text.substr(s.begin, s.end - s.begin)), s.special_id);
  }
  return out;
}

TEST(FairseqIds, XlmRobertaOffsetsEveryPieceByOne) {
  auto ids = FairseqIds::Build(Pieces(), 0, nullptr);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->ModelId(0), kFairseqUnkId);  // sentencepiece's <unk>
  EXPECT_EQ(ids->ModelId(1), kFairseqBosId);  // "<s>" is taken by its text, as transformers does
  EXPECT_EQ(ids->ModelId(2), kFairseqEosId);
  for (int i = 3; i < 9; ++i) EXPECT_EQ(ids->ModelId(i), i + 1) << i;
  EXPECT_EQ(ids->ModelId(9), 11);             // a piece spelled "<mask>" is the special
  EXPECT_EQ(ids->mask_id(), 11);              // len(spm) + 1
  EXPECT_EQ(ids->vocab_size(), 12);
  EXPECT_EQ(ids->ModelId(10), -1);
  EXPECT_EQ(ids->ModelId(-1), -1);
}

TEST(FairseqIds, XlmRobertaRefusesAFixedSpecialPieceBeyondId2) {
  // XLMRobertaTokenizer would give </s> (and so every EOS) id 4: models/demo's layout.
  std::vector<SpmPiece> pieces = {{"<pad>", false}, {"<unk>", false}, {"<s>", false},
                                  {"</s>", false},  {"a", true},      {"<", true}};
  auto ids = FairseqIds::Build(pieces, 1, nullptr);
  ASSERT_FALSE(ids.ok());
  EXPECT_THAT(ids.status().message(), HasSubstr("\"</s>\" at id 3"));
  // With a dict.txt the ids come from it alone.
  const std::vector<std::string> dict = {"a"};
  EXPECT_TRUE(FairseqIds::Build(pieces, 1, &dict).ok());
}

TEST(FairseqIds, XlmRobertaUnknownIdNotZeroKeepsTheOffset) {
  // transformers maps an unknown piece by its text -> PieceToId -> the unknown id, then + 1 unless
  // that id is 0: a model whose unknown piece is id 1 gives its unknowns id 2.
  std::vector<SpmPiece> pieces = {{"<pad>", false}, {"<unk>", false}, {"a", true}, {"<", true}};
  auto ids = FairseqIds::Build(pieces, 1, nullptr);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->ModelId(1), 2);
  EXPECT_EQ(ids->ModelId(0), kFairseqPadId);
  EXPECT_EQ(ids->ModelId(2), 3);
}

TEST(FairseqIds, BartphoTakesDictOrderAndUnknownForTheRest) {
  const std::vector<std::string> dict = {"▁a", "b", "ấ"};
  auto ids = FairseqIds::Build(Pieces(), 0, &dict);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->ModelId(6), 4);  // ▁a
  EXPECT_EQ(ids->ModelId(5), 5);  // b
  EXPECT_EQ(ids->ModelId(8), 6);  // ấ
  EXPECT_EQ(ids->ModelId(4), kFairseqUnkId);  // "a": not in dict.txt
  EXPECT_EQ(ids->ModelId(0), kFairseqUnkId);
  EXPECT_EQ(ids->ModelId(1), kFairseqBosId);
  EXPECT_EQ(ids->mask_id(), 7);
  EXPECT_EQ(ids->vocab_size(), 8);
}

TEST(FairseqIds, BartphoMaskListedInDictKeepsItsLine) {
  const std::vector<std::string> dict = {"▁a", "<mask>", "b"};
  auto ids = FairseqIds::Build(Pieces(), 0, &dict);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->mask_id(), 5);
  EXPECT_EQ(ids->ModelId(5), 6);
  EXPECT_EQ(ids->vocab_size(), 7);
}

TEST(FairseqIds, RefusesATokenThatCouldBeAnUnknownPiecesText) {
  // "中文" is no piece and the model knows neither character: sentencepiece reports the run as
  // one unknown piece "中文", which BartphoTokenizer would map to the dict's id.
  const std::vector<std::string> dict = {"▁a", "中文"};
  auto ids = FairseqIds::Build(Pieces(), 0, &dict, "dict.txt");
  ASSERT_FALSE(ids.ok());
  EXPECT_THAT(ids.status().message(), HasSubstr("dict.txt line 2: the token \"中文\""));
  // A token that is no piece but holds a known character can never be an unknown piece's text.
  const std::vector<std::string> fine = {"▁a", "a中", "madeupword0000"};
  EXPECT_TRUE(FairseqIds::Build(Pieces(), 0, &fine).ok());
  // XLM-R's specials too: a model that knows none of "<mask>"'s characters.
  std::vector<SpmPiece> bare = {{"<unk>", false}, {"<s>", false}, {"</s>", false}, {"x", true}};
  auto xlmr = FairseqIds::Build(bare, 0, nullptr);
  ASSERT_FALSE(xlmr.ok());
  EXPECT_THAT(xlmr.status().message(), HasSubstr("the special token \"<pad>\""));
}

TEST(FairseqIds, RefusesAnUnknownIdOutsideThePieces) {
  EXPECT_FALSE(FairseqIds::Build(Pieces(), 10, nullptr).ok());
  EXPECT_FALSE(FairseqIds::Build({}, 0, nullptr).ok());
}

TEST(FairseqIds, SplitsLiteralSpecialsAndStripsWhitespaceBeforeMask) {
  auto ids = FairseqIds::Build(Pieces(), 0, nullptr);
  ASSERT_TRUE(ids.ok());
  using P = std::pair<std::string, int64_t>;
  EXPECT_THAT(Split(*ids, "ab"), ::testing::ElementsAre(P{"ab", -1}));
  EXPECT_THAT(Split(*ids, ""), ::testing::IsEmpty());
  EXPECT_THAT(Split(*ids, "a <s> b</s><pad><unk>c"),
              ::testing::ElementsAre(P{"a ", -1}, P{"<s>", 0}, P{" b", -1}, P{"</s>", 2},
                                     P{"<pad>", 1}, P{"<unk>", 3}, P{"c", -1}));
  // <mask> takes the Python whitespace before it (str.rstrip: NBSP, U+3000, newlines), not after.
  EXPECT_THAT(Split(*ids, "hay \u00a0\u3000\n<mask>  x"),
              ::testing::ElementsAre(P{"hay", -1}, P{"<mask>", 11}, P{"  x", -1}));
  EXPECT_THAT(Split(*ids, "  <mask>"), ::testing::ElementsAre(P{"<mask>", 11}));
  // Zero-width space is not Python whitespace.
  EXPECT_THAT(Split(*ids, "a\u200b<mask>"),
              ::testing::ElementsAre(P{"a\u200b", -1}, P{"<mask>", 11}));
  EXPECT_THAT(Split(*ids, "<s><mask>"), ::testing::ElementsAre(P{"<s>", 0}, P{"<mask>", 11}));
  // Near misses stay text.
  EXPECT_THAT(Split(*ids, "<<s>> <S> <mask <s"),
              ::testing::ElementsAre(P{"<", -1}, P{"<s>", 0}, P{"> <S> <mask <s", -1}));
}

TEST(ParseFairseqDict, ReadsTheFirstFieldOfEachLineAsBartphoTokenizerDoes) {
  auto tokens = ParseFairseqDict("▁a 5\nb 3\r\nấ 1 #fairseq:overwrite\r  c\t2\n", "dict.txt");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ::testing::ElementsAre("▁a", "b", "ấ", "c"));
  // No final newline; U+3000 and U+0085 split fields (str.split()), U+200B does not.
  tokens = ParseFairseqDict("x\u30001\ny\u200bz 1\nw\u0085", "dict.txt");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ::testing::ElementsAre("x", "y\u200bz", "w"));
  EXPECT_THAT(*ParseFairseqDict("", "dict.txt"), ::testing::IsEmpty());
}

TEST(ParseFairseqDict, RefusesWhatBartphoTokenizerWouldMisread) {
  auto blank = ParseFairseqDict("a 1\n\nb 1\n", "dict.txt");
  ASSERT_FALSE(blank.ok());
  EXPECT_THAT(blank.status().message(), HasSubstr("dict.txt line 2: blank"));
  auto repeated = ParseFairseqDict("a 1\nb 1\na 2\n", "dict.txt");
  ASSERT_FALSE(repeated.ok());
  EXPECT_THAT(repeated.status().message(), HasSubstr("line 3: the token \"a\" is already"));
  auto special = ParseFairseqDict("<s> 1\n", "dict.txt");
  ASSERT_FALSE(special.ok());
  EXPECT_THAT(special.status().message(), HasSubstr("ids 0-3 implicitly"));
  EXPECT_FALSE(ParseFairseqDict("a 1\n\xff 1\n", "dict.txt").ok());
  // <mask> may be listed once (its line is its id), not twice.
  EXPECT_TRUE(ParseFairseqDict("a 1\n<mask> 1\n", "dict.txt").ok());
  EXPECT_FALSE(ParseFairseqDict("<mask> 1\n<mask> 1\n", "dict.txt").ok());
}

TEST(PythonText, StripsAsPython) {
  EXPECT_EQ(RStrip("a b \u00a0\u3000\n"), "a b");
  EXPECT_EQ(Strip("\u2028 a b \u0085"), "a b");
  EXPECT_EQ(RStrip("a\u200b"), "a\u200b");
  EXPECT_EQ(Strip(" \t "), "");
  EXPECT_TRUE(IsPythonSpace(0x1F));
  EXPECT_FALSE(IsPythonSpace(0xFEFF));
}

}  // namespace
}  // namespace eaos::text
