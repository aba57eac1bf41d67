// Request validation: the checks on a Predict call and its items that need no model.
//
// The engine runs these before tokenizing (Engine::CheckRequest, Engine::Prepare); they depend on
// the request messages and the UTF-8 helpers only (no LibTorch, no tokenizer), so a fuzz target
// can drive them with hostile requests (tests/fuzz/fuzz_request.cc). Every failure is
// INVALID_ARGUMENT with a message that says what is wrong and what the limit is.
//
// Thread-safety: free functions without state.
//
//   RequestLimits limits;  // the server's defaults
//   absl::Status call = ValidateRequest(request.items_size(), request.options(), limits);
//   for (const v1::Item& item : request.items()) absl::Status one = ValidateItem(item, limits);
#ifndef EAOS_SERVER_ENGINE_VALIDATION_H_
#define EAOS_SERVER_ENGINE_VALIDATION_H_

#include "absl/status/status.h"
#include "eaos/v1/eaos.pb.h"

namespace eaos::engine {

// The limits a request is checked against (the server's flags of the same names).
struct RequestLimits {
  int max_items_per_request = 1000;
  int max_text_bytes = 16 * 1024;
  int max_id_bytes = 1024;
};

// Request-level checks: at most max_items_per_request items, and a confidence_threshold (when set)
// in [0, 1] (NaN is refused).
absl::Status ValidateRequest(int item_count, const v1::PredictOptions& options,
                             const RequestLimits& limits);

// Item-level checks, in this order: id at most max_id_bytes, text at most max_text_bytes, text
// valid UTF-8 (the message names the byte offset of the first bad sequence), text not empty or
// only whitespace. OK means the text may be handed to the tokenizer.
absl::Status ValidateItem(const v1::Item& item, const RequestLimits& limits);

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_VALIDATION_H_
