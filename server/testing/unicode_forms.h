// Test helpers for Unicode normalization forms: a text's NFC/NFD form (ICU) and the check that an
// answer for a decomposed text is the answer for its composed form, with every span cut from the
// text as sent. Header-only; a test that includes it links ICU (PkgConfig::ICU_UC).
#ifndef EAOS_SERVER_TESTING_UNICODE_FORMS_H_
#define EAOS_SERVER_TESTING_UNICODE_FORMS_H_

#include <gtest/gtest.h>
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "eaos/v1/eaos.pb.h"
#include "server/text/utf8.h"

namespace eaos::testing {

inline std::string NormalizeWith(const icu::Normalizer2* n, absl::string_view s) {
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  UErrorCode error = U_ZERO_ERROR;
  n->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr,
                   error);
  EXPECT_TRUE(U_SUCCESS(error)) << u_errorName(error);
  return out;
}

inline std::string ToNfd(absl::string_view s) {
  UErrorCode error = U_ZERO_ERROR;
  return NormalizeWith(icu::Normalizer2::getNFDInstance(error), s);
}

inline std::string ToNfc(absl::string_view s) {
  UErrorCode error = U_ZERO_ERROR;
  return NormalizeWith(icu::Normalizer2::getNFCInstance(error), s);
}

// `span` cuts `expected` out of `text` both by bytes and by code points.
inline void ExpectSpanCuts(absl::string_view text, const v1::Span& span,
                           absl::string_view expected) {
  ASSERT_LE(span.byte_begin(), span.byte_end());
  ASSERT_LE(span.byte_end(), text.size());
  EXPECT_EQ(text.substr(span.byte_begin(), span.byte_end() - span.byte_begin()), expected);
  const std::vector<uint32_t> cp = text::CodePointIndex(text);
  EXPECT_EQ(cp[span.byte_begin()], span.begin());
  EXPECT_EQ(cp[span.byte_end()], span.end());
  // By code points: the bytes of code points [begin, end).
  size_t b = 0;
  while (b < text.size() && cp[b] < span.begin()) ++b;
  size_t e = b;
  while (e < text.size() && cp[e] < span.end()) ++e;
  EXPECT_EQ(text.substr(b, e - b), expected);
}

// `got` (the answer for `text`, any normalization form) is `want` (the answer for NFC(text)):
// the same tokens and tuples, each tuple's strings the NFC of what its spans cut from `text`.
inline void ExpectTheNfcAnswer(absl::string_view text, const v1::ItemResult& want,
                               const v1::ItemResult& got) {
  EXPECT_EQ(got.num_tokens(), want.num_tokens());
  EXPECT_EQ(got.truncated(), want.truncated());
  ASSERT_EQ(got.tuples_size(), want.tuples_size());
  for (int i = 0; i < got.tuples_size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "tuple " << i);
    const v1::Tuple& g = got.tuples(i);
    const v1::Tuple& w = want.tuples(i);
    EXPECT_EQ(g.aspect(), w.aspect());
    EXPECT_EQ(g.sentiment(), w.sentiment());
    EXPECT_NEAR(g.confidence(), w.confidence(), 1e-5);  // the same ids: the same logits
    EXPECT_EQ(ToNfc(g.opinion()), w.opinion());
    EXPECT_EQ(ToNfc(g.entity()), w.entity());
    ExpectSpanCuts(text, g.opinion_span(), g.opinion());
    EXPECT_EQ(g.has_entity_span(), w.has_entity_span());
    if (g.has_entity_span()) ExpectSpanCuts(text, g.entity_span(), g.entity());
  }
}

}  // namespace eaos::testing

#endif  // EAOS_SERVER_TESTING_UNICODE_FORMS_H_
