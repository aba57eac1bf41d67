// libFuzzer target: bytes -> NFC normalization with offsets (server/text/normalize.h).
// The first byte picks how a stand-in tokenizer cuts the NFC text (every 1..8 bytes, anywhere,
// even inside a character); the rest is the text (any bytes: callers validate, but ill-formed
// input must not break the maps either).
// Invariants: no crash; OriginalBegin/OriginalEnd are monotone, within the input, begin <= end,
// exact at both ends; an unchanged text is the input itself (no copy) with identity maps; for valid
// UTF-8, text() is ICU's NFC of the whole input and is NFC, every changed segment is a run of whole
// code points whose own NFC is its normalized part, and segments are in order without overlap;
// EncodeNfc's ranges lie within the input, begin <= end, begins non-decreasing.
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/text/normalize.h"
#include "server/text/utf8.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

std::string IcuNfc(absl::string_view s) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(error);
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  nfc->normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr,
                     error);
  Check(U_SUCCESS(error), "ICU normalizes valid UTF-8");
  return out;
}

bool OnCodePoint(absl::string_view s, size_t b) {
  return b == 0 || b >= s.size() || (static_cast<unsigned char>(s[b]) & 0xC0) != 0x80;
}

class CuttingTokenizer : public eaos::text::Tokenizer {
 public:
  explicit CuttingTokenizer(size_t stride) : stride_(stride) {}
  absl::StatusOr<eaos::text::Encoding> Encode(absl::string_view text) const override {
    eaos::text::Encoding e;
    e.ids.push_back(2);
    e.begins.push_back(0);
    e.ends.push_back(0);
    for (size_t b = 0; b < text.size(); b += stride_) {
      e.ids.push_back(5);
      e.begins.push_back(static_cast<uint32_t>(b));
      e.ends.push_back(static_cast<uint32_t>(std::min(text.size(), b + stride_)));
    }
    e.ids.push_back(3);
    e.begins.push_back(static_cast<uint32_t>(text.size()));
    e.ends.push_back(static_cast<uint32_t>(text.size()));
    return e;
  }
  int vocab_size() const override { return 8; }
  int max_length() const override { return 1 << 20; }

 private:
  const size_t stride_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t stride = 1 + data[0] % 8;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const eaos::text::NfcText nfc = eaos::text::NfcText::Of(input);
  const absl::string_view t = nfc.text();

  Check(nfc.OriginalBegin(0) == 0 && nfc.OriginalEnd(0) == 0, "offset 0 maps to 0");
  Check(nfc.OriginalBegin(t.size()) == input.size() && nfc.OriginalEnd(t.size()) == input.size(),
        "the end maps to the end");
  for (size_t o = 0; o <= t.size(); ++o) {
    const uint32_t b = nfc.OriginalBegin(o), e = nfc.OriginalEnd(o);
    Check(b <= e && e <= input.size(), "mapped offsets within the input, begin <= end");
    if (o > 0) {
      Check(b >= nfc.OriginalBegin(o - 1) && e >= nfc.OriginalEnd(o - 1), "maps are monotone");
    }
    if (!nfc.changed()) Check(b == o && e == o, "identity maps for an unchanged text");
  }
  if (!nfc.changed()) {
    Check(t.data() == input.data() && nfc.changed_segments().empty(), "unchanged: no copy");
  }

  if (eaos::text::IsValidUtf8(input)) {
    Check(t == IcuNfc(input), "text() is the NFC of the whole input");
    Check(eaos::text::IsValidUtf8(t) && eaos::text::IsNfc(t), "text() is valid UTF-8 and NFC");
    uint32_t last_n = 0, last_o = 0;
    for (const auto& s : nfc.changed_segments()) {
      Check(s.normalized_begin >= last_n && s.original_begin >= last_o, "segments in order");
      Check(s.normalized_begin < s.normalized_end && s.original_begin < s.original_end &&
                s.normalized_end <= t.size() && s.original_end <= input.size(),
            "segments non-empty and within their texts");
      Check(OnCodePoint(input, s.original_begin) && OnCodePoint(input, s.original_end),
            "segments are whole code points");
      const absl::string_view from =
          absl::string_view(input).substr(s.original_begin, s.original_end - s.original_begin);
      Check(IcuNfc(from) == t.substr(s.normalized_begin, s.normalized_end - s.normalized_begin),
            "a segment's NFC is its normalized part");
      last_n = s.normalized_end;
      last_o = s.original_end;
    }
  }

  const CuttingTokenizer tok(stride);
  auto enc = eaos::text::EncodeNfc(tok, input);
  Check(enc.ok(), "EncodeNfc succeeds with ranges inside the text");
  uint32_t last_begin = 0;
  for (size_t i = 0; i < enc->size(); ++i) {
    Check(enc->begins[i] <= enc->ends[i] && enc->ends[i] <= input.size(),
          "encoding ranges within the input");
    Check(enc->begins[i] >= last_begin, "encoding begins non-decreasing");
    last_begin = enc->begins[i];
  }
  return 0;
}
