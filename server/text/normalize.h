// Unicode NFC normalization with byte offsets back into the original text, and the encoding every
// tokenizer gets through it (docs/model-contract.md, "Unicode normalization").
//
// Vietnamese text arrives decomposed (NFD: base letter + combining marks) from some keyboards and
// platforms; the models are trained on composed text (NFC). The server tokenizes the NFC form and
// reports every span in the ORIGINAL text, so what a client sent is what its spans cut.
//
// How offsets map: the text is split at NFC segment boundaries (icu::Normalizer2::hasBoundaryBefore:
// the text normalizes independently on both sides of one), and each segment is normalized on its
// own. A segment that NFC leaves as it is maps byte for byte; a segment NFC changes maps as a whole:
// an offset strictly inside its normalized form maps to the start of the original segment when it
// begins a range and to its end when it ends one. Ranges therefore never cut a base letter from its
// marks in the original.
//
// Thread-safety: free functions and an immutable value type.
//
//   NfcText nfc = NfcText::Of(text);              // no copy when `text` is already NFC
//   tokenizer.Encode(nfc.text());                  // offsets into nfc.text() ...
//   nfc.OriginalBegin(b), nfc.OriginalEnd(e)       // ... back into `text`
//   absl::StatusOr<Encoding> e = EncodeNfc(tokenizer, text);  // both steps
#ifndef EAOS_SERVER_TEXT_NORMALIZE_H_
#define EAOS_SERVER_TEXT_NORMALIZE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/text/tokenizer.h"

namespace eaos::text {

class NfcText {
 public:
  // A segment NFC changed: [normalized_begin, normalized_end) of text() is the NFC form of
  // [original_begin, original_end) of the original.
  struct Segment {
    uint32_t normalized_begin;
    uint32_t normalized_end;
    uint32_t original_begin;
    uint32_t original_end;
  };

  // The NFC form of `original` (valid UTF-8; an ill-formed byte is kept as it is and maps to
  // itself). `original` must outlive the result when it is already NFC (the result then views it).
  static NfcText Of(absl::string_view original);

  // The NFC text: `original` itself when it already was NFC.
  absl::string_view text() const { return changed_ ? absl::string_view(normalized_) : original_; }
  bool changed() const { return changed_; }

  // For a byte offset in [0, text().size()], the original byte offset: the same offset when the
  // text did not change; at a segment boundary both give the original boundary; strictly inside a
  // changed segment, OriginalBegin gives its original start and OriginalEnd its original end.
  // Offsets past the end are clamped to the end.
  uint32_t OriginalBegin(size_t offset) const;
  uint32_t OriginalEnd(size_t offset) const;

  // The segments NFC changed, in text order (empty when !changed()).
  const std::vector<Segment>& changed_segments() const { return segments_; }

 private:
  absl::string_view original_;
  bool changed_ = false;
  std::string normalized_;
  // When changed_: entry o (0..normalized_.size()) is OriginalBegin(o) / OriginalEnd(o).
  std::vector<uint32_t> begin_of_;
  std::vector<uint32_t> end_of_;
  std::vector<Segment> segments_;
};

// True when valid UTF-8 `s` is already NFC (the fast path's test; no copy).
bool IsNfc(absl::string_view s);

// tokenizer.Encode() of the NFC form of `text` (valid UTF-8), with every position's byte range
// mapped back into `text` (BOS/EOS and other empty ranges stay empty). The one way the server
// tokenizes: requests (Engine::Prepare) and the golden self-test.
absl::StatusOr<Encoding> EncodeNfc(const Tokenizer& tokenizer, absl::string_view text);

}  // namespace eaos::text

#endif  // EAOS_SERVER_TEXT_NORMALIZE_H_
