// Decoder: one item's logits -> EAOS tuples, following docs/model-contract.md ("Decoding").
//
// BIO span tags give entity and opinion spans; each opinion gets the aspect and sentiment of its
// mean logits and the nearest entity; confidence is the minimum of the parts; tuples below the
// threshold, or with a NaN part (non-finite logits), are dropped. Offsets map back to the original
// text through the tokenizer's byte ranges.
//
// Thread-safety: immutable after Create(); Decode() may run on many threads at once.
//
//   absl::StatusOr<Decoder> decoder = Decoder::Create(config);
//   std::vector<eaos::v1::Tuple> tuples =
//       decoder->Decode(text, encoding, outputs, /*row=*/0, /*threshold=*/0.5f);
#ifndef EAOS_SERVER_DECODE_DECODER_H_
#define EAOS_SERVER_DECODE_DECODER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eaos/v1/eaos.pb.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/text/tokenizer.h"

namespace eaos::decode {

class Decoder {
 public:
  static absl::StatusOr<Decoder> Create(const runtime::ModelConfig& config);

  // Decodes row `row` of `outputs`, whose positions correspond to `encoding` (BOS, pieces, EOS;
  // positions past encoding.size() are padding). `text` is the item's original UTF-8 text.
  std::vector<v1::Tuple> Decode(absl::string_view text, const text::Encoding& encoding,
                                const runtime::ModelOutputs& outputs, int64_t row,
                                float threshold) const;

 private:
  Decoder() = default;

  int tag_o_ = -1, tag_b_ent_ = -1, tag_i_ent_ = -1, tag_b_opi_ = -1, tag_i_opi_ = -1;
  std::vector<std::string> aspects_;
  std::vector<std::string> sentiments_;
};

}  // namespace eaos::decode

#endif  // EAOS_SERVER_DECODE_DECODER_H_
