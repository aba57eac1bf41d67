#include "server/text/fastbpe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace eaos::text {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Ranks: 0 "h o", 1 "ho a</w>", 2 "c h", 3 "ch ư", 4 "chư ơ", 5 "chươ n", 6 "chươn g</w>", 7 "a b",
// 8 "ab a" (only reachable if (a, b) were merged one occurrence at a time).
constexpr char kCodes[] =
    "h o 90\n"
    "ho a</w> 80\n"
    "c h 70\n"
    "ch ư 60\n"
    "chư ơ 50\n"
    "chươ n 40\n"
    "chươn g</w> 30\n"
    "a b 20\n"
    "ab a 10\n";
// Ids 4.. in this order; <mask> = 4 + 7 = 11.
constexpr char kVocab[] =
    "hoa 5\n"
    "chương 5\n"
    "ab@@ 4\n"
    "x 3\n"
    "a 3\n"
    "\xE2\x80\x8B 2\n"  // U+200B (not whitespace in Python)
    "! 1\n";

std::unique_ptr<FastBpeTokenizer> Make(int max_length = 64, const char* codes = kCodes,
                                       const char* vocab = kVocab) {
  auto tok = FastBpeTokenizer::FromText(codes, vocab, max_length);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

struct Flat {
  std::vector<int64_t> ids;
  std::vector<std::string> texts;  // text[begin, end) of each piece
};

Flat PiecesOf(const FastBpeTokenizer& tok, const std::string& text) {
  auto pieces = tok.Pieces(text);
  EXPECT_TRUE(pieces.ok()) << pieces.status();
  Flat out;
  if (!pieces.ok()) return out;
  for (const Piece& p : *pieces) {
    out.ids.push_back(p.id);
    out.texts.push_back(text.substr(p.begin, p.end - p.begin));
  }
  return out;
}

TEST(FastBpe, UsesFairseqIdsWithMaskLast) {
  auto tok = Make();
  EXPECT_EQ(tok->IdOf("<s>"), 0);
  EXPECT_EQ(tok->IdOf("<pad>"), 1);
  EXPECT_EQ(tok->IdOf("</s>"), 2);
  EXPECT_EQ(tok->IdOf("<unk>"), 3);
  EXPECT_EQ(tok->IdOf("hoa"), 4);
  EXPECT_EQ(tok->IdOf("!"), 10);
  EXPECT_EQ(tok->mask_id(), 11);
  EXPECT_EQ(tok->vocab_size(), 12);
  EXPECT_EQ(tok->IdOf("nope"), 3);
}

TEST(FastBpe, MergesByRankWithEndOfWordAndContinuationMarks) {
  auto tok = Make();
  Flat f = PiecesOf(*tok, "hoa chương");
  EXPECT_THAT(f.ids, ElementsAre(4, 5));
  EXPECT_THAT(f.texts, ElementsAre("hoa", "chương"));
}

TEST(FastBpe, AppliesEachMergeToEveryOccurrenceBeforeTheNextRank) {
  // "ababx": (a, b) merges at both places first, so (ab, a) never gets a chance.
  auto tok = Make();
  Flat f = PiecesOf(*tok, "ababx");
  EXPECT_THAT(f.texts, ElementsAre("ab", "ab", "x"));
  EXPECT_THAT(f.ids, ElementsAre(6, 6, 7));
}

TEST(FastBpe, GivesOneUnknownPerPieceCoveringItsCharacters) {
  auto tok = Make();
  // "hoz": h o -> ho; "ho@@" and "z" are not in the vocabulary: two <unk>.
  Flat f = PiecesOf(*tok, "hoz ✓✓");
  EXPECT_THAT(f.ids, ElementsAre(3, 3, 3, 3));
  EXPECT_THAT(f.texts, ElementsAre("ho", "z", "✓", "✓"));
}

TEST(FastBpe, SingleCharacterWordIsLookedUpWithoutMarks) {
  auto tok = Make();
  EXPECT_THAT(PiecesOf(*tok, "x a !").ids, ElementsAre(7, 8, 10));
}

TEST(FastBpe, WordsAreNonSpaceRunsWithAnOptionalNewline) {
  auto tok = Make();
  // "hoa\n" is one word: h o a \n</w> -> "ho" (h o), then a, \n stay apart.
  Flat f = PiecesOf(*tok, "  hoa\n\n\thoa \n x\r\n");
  EXPECT_THAT(f.texts, ElementsAre("ho", "a", "\n", "hoa", "x"));
  EXPECT_THAT(f.ids, ElementsAre(3, 3, 3, 4, 7));
}

TEST(FastBpe, SplitsAtPythonWhitespaceOnly) {
  auto tok = Make();
  // NBSP, U+3000, U+2028 and U+205F split words; U+200B and U+FEFF do not.
  Flat f = PiecesOf(*tok, "x\u00A0a\u3000x\u2028a\u205Fx \u200B x\u200Ba\uFEFF");
  EXPECT_THAT(f.texts, ElementsAre("x", "a", "x", "a", "x", "\u200B", "x", "\u200B", "a",
                                   "\uFEFF"));
  EXPECT_THAT(f.ids, ElementsAre(7, 8, 7, 8, 7, 9, 3, 3, 3, 3));
  EXPECT_TRUE(IsPythonSpace(0x1C));
  EXPECT_TRUE(IsPythonSpace(0x85));
  EXPECT_FALSE(IsPythonSpace(0x200B));
  EXPECT_FALSE(IsPythonSpace(0x180E));
}

TEST(FastBpe, SplitsOutLiteralSpecialTokens) {
  auto tok = Make();
  Flat f = PiecesOf(*tok, "hoa<s>x</s><mask>a <unk><pad>");
  EXPECT_THAT(f.texts, ElementsAre("hoa", "<s>", "x", "</s>", "<mask>", "a", "<unk>", "<pad>"));
  EXPECT_THAT(f.ids, ElementsAre(4, 0, 7, 2, 11, 8, 3, 1));
}

TEST(FastBpe, EncodesWithBosEosAndTruncates) {
  auto tok = Make(/*max_length=*/4);
  auto e = tok->Encode("x a ! x");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(e->ids, ElementsAre(0, 7, 8, 2));
  EXPECT_THAT(e->begins, ElementsAre(0, 0, 2, 3));
  EXPECT_THAT(e->ends, ElementsAre(0, 1, 3, 3));
  EXPECT_TRUE(e->truncated);
  auto empty = tok->Encode(" \n ");
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(empty->ids, ElementsAre(0, 2));
  EXPECT_FALSE(empty->truncated);
}

TEST(FastBpe, RefusesInvalidUtf8Text) {
  auto e = Make()->Encode("ok \xC3");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("not valid UTF-8 at byte 3"));
}

TEST(FastBpe, ReadsCodesAsPhobertTokenizerDoes) {
  // The last line has no newline: PhobertTokenizer's split("\n")[:-1] drops it. A repeated pair
  // keeps its last rank; lines without exactly three fields are ignored; \r\n is a newline.
  auto tok = Make(64, "x a 1\r\nbad line\na x</w> 1\nx a 1\nxa a</w> 1", "xa 1\nax 1\nx 1\na 1\n");
  // rank(x a) = 3 > rank(a x</w>) = 2: "xax" merges (a, x</w>) first.
  EXPECT_THAT(PiecesOf(*tok, "xax").texts, ElementsAre("x", "ax"));
  // (xa a) was on the dropped last line.
  EXPECT_THAT(PiecesOf(*tok, "xaa").texts, ElementsAre("xa", "a"));
}

TEST(FastBpe, NamesTheBadVocabularyLine) {
  auto missing = FastBpeTokenizer::FromText(kCodes, "a 1\nb\n", 8);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("vocab.txt line 2: expected"));
  auto repeated = FastBpeTokenizer::FromText(kCodes, "a 1\nb 1\na 2\n", 8);
  ASSERT_FALSE(repeated.ok());
  EXPECT_THAT(repeated.status().message(),
              HasSubstr("line 3: the token \"a\" is already in the vocabulary"));
  auto special = FastBpeTokenizer::FromText(kCodes, "<unk> 1\n", 8);
  ASSERT_FALSE(special.ok());
  EXPECT_THAT(special.status().message(), HasSubstr("special tokens are implicit"));
  auto mask = FastBpeTokenizer::FromText(kCodes, "<mask> 1\n", 8);
  ASSERT_FALSE(mask.ok());
  EXPECT_THAT(mask.status().message(), HasSubstr("<mask>"));
  auto bad_utf8 = FastBpeTokenizer::FromText("a b 1\n\xFF\n", "a 1\n", 8);
  ASSERT_FALSE(bad_utf8.ok());
  EXPECT_THAT(bad_utf8.status().message(), HasSubstr("bpe.codes: not valid UTF-8 at byte 6"));
  auto short_max = FastBpeTokenizer::FromText(kCodes, kVocab, 2);
  EXPECT_FALSE(short_max.ok());
}

TEST(FastBpe, LoadsFilesAndNamesAMissingOne) {
  const std::string dir = ::testing::TempDir();
  const std::string codes = dir + "/fastbpe_test.codes", vocab = dir + "/fastbpe_test.vocab";
  std::ofstream(codes) << kCodes;
  std::ofstream(vocab) << kVocab;
  FastBpeOptions options;
  options.codes_path = codes;
  options.vocab_path = vocab;
  auto tok = FastBpeTokenizer::Load(options);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT(PiecesOf(**tok, "chương").ids, ElementsAre(5));
  options.vocab_path = dir + "/no-such-vocab.txt";
  auto missing = FastBpeTokenizer::Load(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no-such-vocab.txt"));
  std::remove(codes.c_str());
  std::remove(vocab.c_str());
}

TEST(FastBpe, EncodesFromManyThreadsAlike) {
  auto tok = Make();
  const std::string text = "hoa chương ababx ✓ <s> x\u00A0a";
  auto want = tok->Encode(text);
  ASSERT_TRUE(want.ok());
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto got = tok->Encode(text);
        same[t] += got.ok() && got->ids == want->ids && got->begins == want->begins;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(same, ElementsAre(200, 200, 200, 200));
}

}  // namespace
}  // namespace eaos::text
