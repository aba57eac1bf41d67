// libFuzzer target: bytes -> the native fastBPE tokenizer (server/text/fastbpe.h).
// First byte even: the rest is a text for a fixed small tokenizer. Odd: the rest is
// "<codes>\0<vocab>" loaded with FromText (errors are fine) and then used on a fixed text.
// Invariants: no crash; every piece lies within the text, is non-empty, and pieces are monotone
// and non-overlapping; Encode agrees with Pieces.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/text/fastbpe.h"
#include "server/text/utf8.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void CheckText(const eaos::text::FastBpeTokenizer& tok, const std::string& text) {
  auto pieces = tok.Pieces(text);
  Check(pieces.ok() == eaos::text::IsValidUtf8(text), "Pieces fails exactly on invalid UTF-8");
  if (!pieces.ok()) return;
  uint32_t cursor = 0;
  for (const auto& p : *pieces) {
    Check(p.begin < p.end, "piece is non-empty");
    Check(p.end <= text.size(), "piece within the text");
    Check(p.begin >= cursor, "pieces monotone and non-overlapping");
    Check(p.id >= 0 && p.id < tok.vocab_size(), "id within the vocabulary");
    cursor = p.end;
  }
  auto enc = tok.Encode(text);
  Check(enc.ok(), "Encode ok when Pieces is");
  Check(enc->size() >= 2 && enc->size() <= static_cast<size_t>(tok.max_length()), "length bound");
  for (size_t i = 1; i + 1 < enc->size(); ++i) {
    Check(enc->ids[i] == (*pieces)[i - 1].id && enc->begins[i] == (*pieces)[i - 1].begin,
          "Encode agrees with Pieces");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const auto* fixed = eaos::text::FastBpeTokenizer::FromText(
                                 "h o 9\nho a</w> 8\nc h 7\nch ư 6\nchư ơ 5\nchươ n 4\n"
                                 "chươn g</w> 3\na b 2\nab a 1\n",
                                 "hoa 5\nchương 5\nab@@ 4\nx 3\na 3\n! 1\n", 16)
                                 ->release();
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    CheckText(*fixed, rest);
    return 0;
  }
  const size_t nul = rest.find('\0');
  const std::string codes = rest.substr(0, nul);
  const std::string vocab = nul == std::string::npos ? "" : rest.substr(nul + 1);
  auto tok = eaos::text::FastBpeTokenizer::FromText(codes, vocab, 64);
  if (!tok.ok()) return 0;
  CheckText(**tok, "chương trình hoa ab<s>ab\n x\u00A0\u200B😀 " + codes.substr(0, 64));
  return 0;
}
