#include "server/text/normalize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/utf8.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/testing/unicode_forms.h"

namespace eaos::text {
namespace {

using ::eaos::testing::ToNfc;
using ::eaos::testing::ToNfd;

bool IsCodePointBoundary(absl::string_view s, size_t b) {
  return b == 0 || b >= s.size() || (static_cast<unsigned char>(s[b]) & 0xC0) != 0x80;
}

// Everything NfcText promises about `original`: its text is ICU's NFC of the whole; the maps are
// monotone, within bounds, exact at the ends; every changed segment is a whole run of code points
// whose NFC is the normalized segment; bytes outside changed segments map one to one.
void CheckMapping(absl::string_view original) {
  SCOPED_TRACE(absl::StrCat("original: \"", original, "\""));
  const NfcText nfc = NfcText::Of(original);
  const absl::string_view t = nfc.text();
  EXPECT_EQ(t, ToNfc(original));
  EXPECT_EQ(nfc.changed(), t != original);
  EXPECT_EQ(nfc.OriginalBegin(0), 0u);
  EXPECT_EQ(nfc.OriginalEnd(0), 0u);
  EXPECT_EQ(nfc.OriginalBegin(t.size()), original.size());
  EXPECT_EQ(nfc.OriginalEnd(t.size()), original.size());

  std::vector<bool> inside(t.size() + 1, false);  // strictly inside a changed segment
  uint32_t last_original_end = 0, last_normalized_end = 0;
  for (const NfcText::Segment& s : nfc.changed_segments()) {
    ASSERT_LT(s.normalized_begin, s.normalized_end);
    ASSERT_LT(s.original_begin, s.original_end);
    ASSERT_LE(s.normalized_end, t.size());
    ASSERT_LE(s.original_end, original.size());
    EXPECT_GE(s.original_begin, last_original_end);
    EXPECT_GE(s.normalized_begin, last_normalized_end);
    last_original_end = s.original_end;
    last_normalized_end = s.normalized_end;
    EXPECT_TRUE(IsCodePointBoundary(original, s.original_begin));
    EXPECT_TRUE(IsCodePointBoundary(original, s.original_end));
    const absl::string_view from = original.substr(s.original_begin, s.original_end - s.original_begin);
    const absl::string_view to =
        t.substr(s.normalized_begin, s.normalized_end - s.normalized_begin);
    EXPECT_EQ(ToNfc(from), to);
    EXPECT_NE(from, to);
    EXPECT_EQ(nfc.OriginalBegin(s.normalized_begin), s.original_begin);
    EXPECT_EQ(nfc.OriginalEnd(s.normalized_end), s.original_end);
    for (uint32_t o = s.normalized_begin + 1; o < s.normalized_end; ++o) {
      inside[o] = true;
      EXPECT_EQ(nfc.OriginalBegin(o), s.original_begin) << o;
      EXPECT_EQ(nfc.OriginalEnd(o), s.original_end) << o;
    }
  }
  for (size_t o = 0; o <= t.size(); ++o) {
    const uint32_t b = nfc.OriginalBegin(o), e = nfc.OriginalEnd(o);
    EXPECT_LE(b, e) << o;
    EXPECT_LE(e, original.size()) << o;
    if (o > 0) {
      EXPECT_GE(b, nfc.OriginalBegin(o - 1)) << "begin map not monotone at " << o;
      EXPECT_GE(e, nfc.OriginalEnd(o - 1)) << "end map not monotone at " << o;
    }
    if (!inside[o]) {
      EXPECT_EQ(b, e) << o;
      if (o < t.size() && !nfc.changed()) {
        EXPECT_EQ(b, o);
      }
    }
  }
  // Bytes outside the changed segments are the original's, one to one.
  std::vector<bool> in_changed(t.size(), false);
  for (const NfcText::Segment& s : nfc.changed_segments()) {
    for (uint32_t o = s.normalized_begin; o < s.normalized_end; ++o) in_changed[o] = true;
  }
  for (size_t o = 0; o < t.size(); ++o) {
    if (in_changed[o]) continue;
    EXPECT_EQ(nfc.OriginalEnd(o + 1), nfc.OriginalBegin(o) + 1) << o;
    EXPECT_EQ(t[o], original[nfc.OriginalBegin(o)]) << o;
  }
}

const char kSentence[] = "Chương trình rất hay";

TEST(NfcText, AlreadyNfcTextIsReturnedWithoutACopy) {
  for (absl::string_view s :
       {absl::string_view(kSentence), absl::string_view(""), absl::string_view("plain ascii"),
        absl::string_view("Sân khấu lung linh 😍😍 節目很好"),
        absl::string_view("MC\u00a0dẫn rất\u3000duyên,\u00a0âm thanh hay\u2009!"),
        absl::string_view("\u0301 a mark first is NFC already")}) {
    EXPECT_TRUE(IsNfc(s)) << s;
    const NfcText nfc = NfcText::Of(s);
    EXPECT_FALSE(nfc.changed()) << s;
    EXPECT_EQ(nfc.text().data(), s.data()) << "copied: " << s;
    EXPECT_TRUE(nfc.changed_segments().empty());
    for (size_t o = 0; o <= s.size(); ++o) {
      EXPECT_EQ(nfc.OriginalBegin(o), o);
      EXPECT_EQ(nfc.OriginalEnd(o), o);
    }
    CheckMapping(s);
  }
}

TEST(NfcText, NfdVietnameseBecomesNfcWithEveryLetterMappedToItsBaseAndMarks) {
  const std::string nfd = ToNfd(kSentence);
  ASSERT_NE(nfd, kSentence);
  ASSERT_GT(nfd.size(), std::string(kSentence).size());
  EXPECT_FALSE(IsNfc(nfd));
  const NfcText nfc = NfcText::Of(nfd);
  EXPECT_TRUE(nfc.changed());
  EXPECT_EQ(nfc.text(), kSentence);
  CheckMapping(nfd);
  // "ư" is 2 bytes in NFC and "u" + U+031B (3 bytes) in NFD, right after "Ch".
  const std::string nfc_text(nfc.text());
  const size_t u = nfc_text.find("ư");
  ASSERT_EQ(u, 2u);
  EXPECT_EQ(nfc.OriginalBegin(u), 2u);
  EXPECT_EQ(nfc.OriginalEnd(u + 2), 5u);
  EXPECT_EQ(nfc.OriginalEnd(u + 1), 5u);  // inside "ư": the whole original letter
  EXPECT_EQ(nfc.OriginalBegin(u + 1), 2u);
  // The words map to the original words.
  const size_t trinh = nfc_text.find("trình");
  const uint32_t b = nfc.OriginalBegin(trinh), e = nfc.OriginalEnd(trinh + std::string("trình").size());
  EXPECT_EQ(nfd.substr(b, e - b), ToNfd("trình"));
}

TEST(NfcText, MixedNfcAndNfdNormalizesOnlyTheDecomposedPart) {
  const std::string mixed = absl::StrCat("Chương ", ToNfd("trình"), " rất ", ToNfd("hay quá!"));
  const NfcText nfc = NfcText::Of(mixed);
  EXPECT_EQ(nfc.text(), "Chương trình rất hay quá!");
  CheckMapping(mixed);
  // "Chương " is before every changed segment: one to one.
  for (size_t o = 0; o <= std::string("Chương ").size(); ++o) EXPECT_EQ(nfc.OriginalBegin(o), o);
  // Two changed letters in "trình" (ì) and one in "quá" (á).
  EXPECT_EQ(nfc.changed_segments().size(), 2u);
}

TEST(NfcText, CombiningMarksAtTheStartAndAfterSpaces) {
  // A mark with no base stays a mark; a singleton mark (U+0340 -> U+0300) changes even there.
  CheckMapping("\u0301abc");
  CheckMapping(" \u0301\u0301 x");
  const std::string lead = absl::StrCat("\u0340", ToNfd("ế hay"));
  const NfcText nfc = NfcText::Of(lead);
  EXPECT_EQ(nfc.text(), "\u0300ế hay");
  CheckMapping(lead);
  // Marks in non-canonical order are reordered inside their segment: ậ -> ậ.
  CheckMapping("a\u0302\u0323 a\u0323\u0302 e\u0301\u0302");
  EXPECT_EQ(NfcText::Of("a\u0302\u0323").text(), "ậ");
  EXPECT_EQ(NfcText::Of("a\u0323\u0302").text(), "ậ");
}

TEST(NfcText, HangulJamoComposeIntoSyllables) {
  const std::string nfd = ToNfd("한국어 좋아요");
  ASSERT_NE(nfd, "한국어 좋아요");
  const NfcText nfc = NfcText::Of(nfd);
  EXPECT_EQ(nfc.text(), "한국어 좋아요");
  CheckMapping(nfd);
  // Each syllable (3 bytes) maps to its whole run of jamo.
  for (const auto& s : nfc.changed_segments()) {
    EXPECT_EQ(s.normalized_end - s.normalized_begin, 3u);
    EXPECT_GE(s.original_end - s.original_begin, 6u);
  }
}

TEST(NfcText, CompatibilityCharactersAreNotFolded) {
  // NFC, not NFKC: fullwidth letters, ligatures, superscripts, the no-break space keep their form.
  for (absl::string_view s : {"ＭＣ ｈａｙ", "ﬁ", "x²", "a\u00a0b", "①"}) {
    EXPECT_FALSE(NfcText::Of(s).changed()) << s;
  }
  // Canonical singletons do change: OHM SIGN -> GREEK OMEGA, ANGSTROM SIGN -> Å.
  CheckMapping("10\u2126 \u212B");
  EXPECT_EQ(NfcText::Of("10\u2126 \u212B").text(), "10\u03A9 \u00C5");
}

TEST(NfcText, EveryFormOfManyTextsMapsExactly) {
  const std::vector<std::string> texts = {
      kSentence, "CHƯƠNG TRÌNH RẤT HAY!", "Kịch bản không hay, khách mời chẳng hấp dẫn.",
      "Thời lượng hơi dài nhưng nội dung cực kỳ thú vị", "Người dẫn chương trình 🥰",
      "Ê-kíp làm có tâm, nhà sản xuất tâm huyết 👏👏", "Đẹp đ Đ ỹ Ỹ ỵ Ỷ",
      "MC\u00a0dẫn rất\u3000duyên", "ñ ü ç é à ô"};
  for (const std::string& t : texts) {
    CheckMapping(t);
    CheckMapping(ToNfd(t));
    // Every other word decomposed.
    std::string mixed;
    bool flip = false;
    for (absl::string_view w : absl::StrSplit(t, ' ')) {
      if (!mixed.empty()) mixed += ' ';
      mixed += flip ? ToNfd(w) : std::string(w);
      flip = !flip;
    }
    CheckMapping(mixed);
  }
}

TEST(NfcText, IllFormedBytesAreKeptAsTheyAre) {
  // Callers validate first; an ill-formed byte still neither crashes nor moves offsets.
  const std::string bad = absl::StrCat("a\xFF", ToNfd("é"), "\xE1\xBA");
  const NfcText nfc = NfcText::Of(bad);
  EXPECT_EQ(nfc.text(), "a\xFF\u00E9\xE1\xBA");
  EXPECT_EQ(nfc.OriginalBegin(1), 1u);
  EXPECT_EQ(nfc.OriginalBegin(2), 2u);
  EXPECT_EQ(nfc.OriginalEnd(4), 5u);
  EXPECT_EQ(nfc.OriginalEnd(nfc.text().size()), bad.size());
}

// One piece per code point, or per byte: what real tokenizers do at their finest.
class SplittingTokenizer : public Tokenizer {
 public:
  explicit SplittingTokenizer(bool bytes) : bytes_(bytes) {}
  absl::StatusOr<Encoding> Encode(absl::string_view text) const override {
    seen_ = std::string(text);
    Encoding e;
    e.ids.push_back(2);
    e.begins.push_back(0);
    e.ends.push_back(0);
    int32_t i = 0;
    const int32_t n = static_cast<int32_t>(text.size());
    while (i < n) {
      const int32_t b = i;
      if (bytes_) {
        ++i;
      } else {
        UChar32 c;
        U8_NEXT(text.data(), i, n, c);
      }
      if (text[b] == ' ') continue;
      e.ids.push_back(100 + static_cast<unsigned char>(text[b]));
      e.begins.push_back(static_cast<uint32_t>(b));
      e.ends.push_back(static_cast<uint32_t>(i));
    }
    e.ids.push_back(3);
    e.begins.push_back(static_cast<uint32_t>(n));
    e.ends.push_back(static_cast<uint32_t>(n));
    return e;
  }
  int vocab_size() const override { return 400; }
  int max_length() const override { return 1024; }
  mutable std::string seen_;

 private:
  const bool bytes_;
};

TEST(EncodeNfc, TokenizesTheNfcFormWithRangesInTheOriginal) {
  const std::string nfd = ToNfd(kSentence);
  SplittingTokenizer tok(/*bytes=*/false);
  absl::StatusOr<Encoding> direct = tok.Encode(kSentence);
  absl::StatusOr<Encoding> e = EncodeNfc(tok, nfd);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(tok.seen_, kSentence);  // the tokenizer saw NFC
  EXPECT_EQ(e->ids, direct->ids);   // the same pieces as for the NFC text
  ASSERT_EQ(e->size(), direct->size());
  EXPECT_EQ(e->begins.front(), 0u);
  EXPECT_EQ(e->ends.front(), 0u);
  EXPECT_EQ(e->begins.back(), nfd.size());
  EXPECT_EQ(e->ends.back(), nfd.size());
  for (size_t i = 1; i + 1 < e->size(); ++i) {
    const uint32_t b = e->begins[i], en = e->ends[i];
    ASSERT_LT(b, en);
    ASSERT_LE(en, nfd.size());
    // The original slice is the piece's letter with all its marks.
    EXPECT_EQ(ToNfc(nfd.substr(b, en - b)),
              std::string(kSentence).substr(direct->begins[i], direct->ends[i] - direct->begins[i]))
        << i;
    if (i > 1) {
      EXPECT_GE(b, e->ends[i - 1]);  // code point pieces never overlap
    }
  }
}

TEST(EncodeNfc, APieceInsideAComposedLetterCoversTheWholeOriginalLetter) {
  const std::string nfd = ToNfd("rất");  // r a U+0302 U+0301 t
  SplittingTokenizer tok(/*bytes=*/true);
  absl::StatusOr<Encoding> e = EncodeNfc(tok, nfd);
  ASSERT_TRUE(e.ok()) << e.status();
  // NFC "rất" is r(1) ấ(3 bytes) t(1): 5 byte pieces; the three of "ấ" cover all of "a\u0302\u0301".
  ASSERT_EQ(e->size(), 7u);
  EXPECT_EQ(e->begins[1], 0u);
  EXPECT_EQ(e->ends[1], 1u);
  for (size_t i = 2; i <= 4; ++i) {
    EXPECT_EQ(e->begins[i], 1u) << i;
    EXPECT_EQ(e->ends[i], 6u) << i;
  }
  EXPECT_EQ(e->begins[5], 6u);
  EXPECT_EQ(e->ends[5], 7u);
}

TEST(EncodeNfc, NfcTextGivesExactlyTheTokenizersEncoding) {
  SplittingTokenizer tok(/*bytes=*/false);
  for (absl::string_view s : {absl::string_view(kSentence), absl::string_view("Hay quá! 😍")}) {
    absl::StatusOr<Encoding> direct = tok.Encode(s);
    absl::StatusOr<Encoding> e = EncodeNfc(tok, s);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->ids, direct->ids);
    EXPECT_EQ(e->begins, direct->begins);
    EXPECT_EQ(e->ends, direct->ends);
  }
}

class BadTokenizer : public Tokenizer {
 public:
  absl::StatusOr<Encoding> Encode(absl::string_view text) const override {
    Encoding e;
    e.ids = {2, 5, 3};
    e.begins = {0, 0, static_cast<uint32_t>(text.size() + 1)};
    e.ends = {0, static_cast<uint32_t>(text.size() + 1), static_cast<uint32_t>(text.size() + 1)};
    return e;
  }
  int vocab_size() const override { return 10; }
  int max_length() const override { return 10; }
};

TEST(EncodeNfc, ARangeOutsideTheTextIsAnError) {
  BadTokenizer tok;
  absl::StatusOr<Encoding> e = EncodeNfc(tok, ToNfd(kSentence));
  EXPECT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), ::testing::HasSubstr("outside"));
}

}  // namespace
}  // namespace eaos::text
