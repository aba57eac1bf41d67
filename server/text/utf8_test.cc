#include "server/text/utf8.h"

#include <gtest/gtest.h>

namespace eaos::text {
namespace {

TEST(Utf8, AcceptsVietnameseAndEmoji) {
  EXPECT_TRUE(IsValidUtf8("Chương trình rất hay! 👍"));
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(Utf8, RejectsMalformedSequencesWithOffset) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const Case cases[] = {
      {"ab\xC0\x80", 2},        // overlong NUL
      {"x\xE0\x80\xAF", 1},     // overlong 3-byte
      {"\xED\xA0\x80", 0},      // UTF-16 surrogate
      {"hay\xE1\xBA", 3},       // truncated sequence
      {"\xF4\x90\x80\x80", 0},  // above U+10FFFF
      {"ok\x80", 2},            // lone continuation byte
      {"\xF5\x80\x80\x80", 0},  // invalid lead byte
      {"\xC3(", 0},             // continuation missing
  };
  for (const Case& c : cases) {
    size_t offset = 999;
    EXPECT_FALSE(IsValidUtf8(c.text, &offset)) << c.text;
    EXPECT_EQ(offset, c.offset) << c.text;
  }
}

TEST(Utf8, CodePointIndexMapsBytesToCharacters) {
  const std::string s = "rất hay";  // 'ấ' is 3 bytes
  const std::vector<uint32_t> index = CodePointIndex(s);
  ASSERT_EQ(index.size(), s.size() + 1);
  EXPECT_EQ(index[0], 0u);  // r
  EXPECT_EQ(index[1], 1u);  // ấ starts
  EXPECT_EQ(index[3], 1u);  // ... continues
  EXPECT_EQ(index[4], 2u);  // t
  EXPECT_EQ(index[s.size()], 7u);
  EXPECT_EQ(CodePointIndex("").back(), 0u);
}

TEST(Utf8, WhitespaceLengthRecognisesUnicodeSpaces) {
  EXPECT_EQ(WhitespaceLengthAt(" a", 0), 1u);
  EXPECT_EQ(WhitespaceLengthAt("\xC2\xA0x", 0), 2u);     // no-break space
  EXPECT_EQ(WhitespaceLengthAt("\xE3\x80\x80", 0), 3u);  // ideographic space
  EXPECT_EQ(WhitespaceLengthAt("\xE2\x80\x8B", 0), 3u);  // zero-width space
  EXPECT_EQ(WhitespaceLengthAt("\xE2\x80\x9C", 0), 0u);  // left quote is not a space
  EXPECT_EQ(WhitespaceLengthAt("ấ", 0), 0u);
  EXPECT_EQ(WhitespaceLengthAt("a", 5), 0u);
}

TEST(Utf8, IsBlankSeesOnlyWhitespace) {
  EXPECT_TRUE(IsBlank(""));
  EXPECT_TRUE(IsBlank(" \t\n\xC2\xA0\xE3\x80\x80"));
  EXPECT_FALSE(IsBlank("  a "));
  EXPECT_FALSE(IsBlank("\xE2\x80\x9C"));
}

TEST(Utf8, WordSeparatorsStayTheContractsSet) {
  // Blank on their own (below), but not word separators: the Python decoder splits words on the
  // contract's set only, and tuples must match it.
  for (const char* other : {"\xC2\x85", "\xE1\x9A\x80", "\xE2\x80\xA8", "\xE2\x80\xA9",
                            "\xE2\x80\xAF", "\xE2\x81\x9F", "\xEF\xBB\xBF"}) {
    EXPECT_EQ(WhitespaceLengthAt(other, 0), 0u) << other;
    EXPECT_TRUE(IsBlank(other)) << other;
  }
  EXPECT_EQ(WhitespaceLengthAt("\xE2", 0), 0u);  // truncated: never read past the end
}

TEST(Utf8, TextsOfSeparatorsAndInvisibleFormatCharactersAreBlank) {
  // The finding: each of these alone was served as a text.
  for (const char* blank : {"\xE2\x80\xA8", "\xE2\x80\xA9", "\xC2\x85", "\xEF\xBB\xBF",
                            "\xE2\x81\xA0", "\xE2\x80\x8E\xE2\x80\x8F",  // LRM RLM
                            "\xC2\xAD",                                      // soft hyphen
                            "\xE2\x80\x8D \xE2\x80\x8C",                   // ZWJ ZWNJ
                            "\xEF\xB8\x8F", "\xE3\x85\xA4",                 // VS16, Hangul filler
                            "\xF3\xA0\x80\x81"}) {                            // U+E0001 tag
    EXPECT_TRUE(IsBlank(blank)) << blank;
  }
  // Visible text with invisible characters around it is not blank.
  EXPECT_FALSE(IsBlank("\xEF\xBB\xBFhay"));
  EXPECT_FALSE(IsBlank("\xE2\x80\x8D\xF0\x9F\x91\x8D"));  // ZWJ + thumbs up
  EXPECT_FALSE(IsBlank("\xCC\x81"));  // a lone combining acute: a mark, shown on a dotted circle
}

}  // namespace
}  // namespace eaos::text
