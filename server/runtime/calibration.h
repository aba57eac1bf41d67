// Memory calibration: how many padded tokens a batch may carry on this device.
//
// After warm-up, forward passes over a grid of (rows, length) shapes are measured (peak memory
// beyond what was in use before, Model::MeasureForward). A cost model
//     bytes(rows, length) = fixed + per_token * rows * length + per_token_length * rows * length^2
// (activations grow with tokens; attention scores with tokens x length) is fitted by least squares,
// and max_batch_tokens is the largest token count whose predicted memory at the model's
// max_length stays within the budget: on a GPU, `fraction` of its memory minus what the model
// already holds (the caching allocator is capped at that fraction too); on CPU, `fraction` of
// MemAvailable; or `fraction` of a configured budget.
//
// Thread-safety: free functions; Calibrate() runs forwards and must not race with the batch runner.
//
//   absl::StatusOr<Calibration> c = Calibrate(model, config, {.fraction = 0.8});
//   options.scheduling.max_batch_tokens = c->max_batch_tokens;
#ifndef EAOS_SERVER_RUNTIME_CALIBRATION_H_
#define EAOS_SERVER_RUNTIME_CALIBRATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"

namespace eaos::runtime {

struct CalibrationOptions {
  double fraction = 0.8;     // of the available memory that batches may use
  int64_t budget_bytes = 0;  // 0: the model's AvailableMemory(); else this many bytes
  int max_rows = 64;         // the largest batch the scheduler will form (max_batch_size)
};

struct MemoryProbe {
  int64_t rows = 0;
  int64_t length = 0;
  int64_t peak_bytes = 0;
};

// bytes(rows, length) = fixed + per_token * rows * length + per_token_length * rows * length^2
struct MemoryCostModel {
  double fixed = 0;
  double per_token = 0;
  double per_token_length = 0;

  double Predict(int64_t rows, int64_t length) const;
  // Most padded tokens (rows x length) that fit in `bytes` when every row is `length` long.
  int64_t MaxTokens(int64_t bytes, int64_t length) const;
};

// The (rows, length) shapes Calibrate() measures: lengths max_length/4, /2 and max_length, each
// with batches of 1, 4 and 16 rows on a GPU (9 probes), of 1 and 2 rows on a CPU (6 probes, where
// each is a real forward on a few cores). Rows are capped at max_rows.
struct ProbeShape {
  int64_t rows = 0;
  int64_t length = 0;
};
std::vector<ProbeShape> ProbeGrid(bool on_gpu, int64_t max_length, int64_t max_rows);

// Least-squares fit over the probes (coefficients clamped at >= 0). Needs >= 3 distinct shapes.
absl::StatusOr<MemoryCostModel> FitMemoryCostModel(const std::vector<MemoryProbe>& probes);

struct Calibration {
  std::vector<MemoryProbe> probes;
  MemoryCostModel cost;
  int64_t available_bytes = 0;  // what the budget is a fraction of (budget / fraction)
  int64_t budget_bytes = 0;     // bytes batches may use
  int64_t max_batch_tokens = 0; // derived; at least max_length, at most max_rows x max_length
};

absl::StatusOr<Calibration> Calibrate(Model& model, const ModelConfig& config,
                                      const CalibrationOptions& options);

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_CALIBRATION_H_
