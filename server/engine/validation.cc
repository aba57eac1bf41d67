#include "server/engine/validation.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/text/utf8.h"

namespace eaos::engine {

absl::Status ValidateRequest(int item_count, const v1::PredictOptions& options,
                             const RequestLimits& limits) {
  if (item_count > limits.max_items_per_request) {
    return absl::InvalidArgumentError(
        absl::StrCat("request has ", item_count, " items; the limit is ",
                     limits.max_items_per_request, " per call (split it, or use PredictStream)"));
  }
  if (options.has_confidence_threshold()) {
    const float t = options.confidence_threshold();
    if (!(t >= 0.0f && t <= 1.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("confidence_threshold must be in [0, 1], got ", t));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateItem(const v1::Item& item, const RequestLimits& limits) {
  if (item.id().size() > static_cast<size_t>(limits.max_id_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("id is ", item.id().size(), " bytes; the limit is ", limits.max_id_bytes));
  }
  const std::string& text = item.text();
  if (text.size() > static_cast<size_t>(limits.max_text_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("text is ", text.size(), " bytes; the limit is ",
                                                   limits.max_text_bytes,
                                                   " bytes (split longer documents)"));
  }
  size_t bad = 0;
  if (!text::IsValidUtf8(text, &bad)) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (bad byte sequence at byte offset ", bad, ")"));
  }
  if (text::IsBlank(text)) return absl::InvalidArgumentError("text is empty or only whitespace");
  return absl::OkStatus();
}

}  // namespace eaos::engine
