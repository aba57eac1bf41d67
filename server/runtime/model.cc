#include "server/runtime/model.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace eaos::runtime {

Batch Batch::Pad(const std::vector<const std::vector<int64_t>*>& sequences, int64_t pad_id) {
  Batch batch;
  batch.rows = static_cast<int64_t>(sequences.size());
  for (const auto* seq : sequences) {
    batch.cols = std::max<int64_t>(batch.cols, static_cast<int64_t>(seq->size()));
  }
  batch.input_ids.assign(batch.rows * batch.cols, pad_id);
  batch.attention_mask.assign(batch.rows * batch.cols, 0);
  for (int64_t r = 0; r < batch.rows; ++r) {
    const auto& seq = *sequences[r];
    std::copy(seq.begin(), seq.end(), batch.input_ids.begin() + r * batch.cols);
    std::fill_n(batch.attention_mask.begin() + r * batch.cols, seq.size(), 1);
  }
  return batch;
}

absl::Status OutOfMemory(absl::string_view detail) {
  return absl::ResourceExhaustedError(absl::StrCat("out of memory: ", detail));
}

bool IsOutOfMemory(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         absl::StartsWith(status.message(), "out of memory");
}

}  // namespace eaos::runtime
