// The model as the scheduler sees it: padded token batches in, per-position logits out.
//
// Implementations: TorchModel (torch_model.h) runs a TorchScript module; tests use fakes.
// Thread-safety: Forward() may be called from several threads at once, each on its own lane: a
// replica's runner threads (EngineOptions::runners_per_device) use lanes 0, 1, ...; on a GPU each
// lane is a CUDA stream of the model's device, so the runners' copies and compute overlap. Two
// threads never share a lane. TorchModel and FaultInjectingModel support this.
//
//   Batch batch = Batch::Pad({enc_a.ids, enc_b.ids}, /*pad_id=*/0);
//   absl::StatusOr<ModelOutputs> out = model->Forward(batch, /*lane=*/0);
//   const float* row = out->span.Row(/*item=*/1, /*position=*/3);  // span_labels logits
#ifndef EAOS_SERVER_RUNTIME_MODEL_H_
#define EAOS_SERVER_RUNTIME_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace eaos::runtime {

// Right-padded token ids, row-major [rows, cols].
struct Batch {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;  // 1 real, 0 padding

  // Pads `sequences` on the right with pad_id to the longest one.
  static Batch Pad(const std::vector<const std::vector<int64_t>*>& sequences, int64_t pad_id);
  int64_t tokens() const { return rows * cols; }  // padding included
};

// One output of forward(): float32, row-major [rows, cols, labels].
struct Logits {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t labels = 0;
  std::vector<float> data;

  const float* Row(int64_t item, int64_t position) const {
    return data.data() + (item * cols + position) * labels;
  }
};

struct ModelOutputs {
  Logits span;       // [rows, cols, span_labels]
  Logits aspect;     // [rows, cols, aspects]
  Logits sentiment;  // [rows, cols, sentiments]
};

class Model {
 public:
  virtual ~Model() = default;
  // Runs one batch on `lane` (>= 0; see the thread-safety note). Errors are returned, never
  // thrown.
  virtual absl::StatusOr<ModelOutputs> Forward(const Batch& batch, int lane) = 0;
  // Lane 0: loading, warm-up, calibration and self-test, before the runners start.
  absl::StatusOr<ModelOutputs> Forward(const Batch& batch) { return Forward(batch, 0); }
  // Where the model runs, e.g. "cpu" or "cuda:0".
  virtual std::string device() const = 0;
  // Elements of all parameters (0 when unknown).
  virtual uint64_t parameter_count() const { return 0; }
  // Returns cached device memory to the device (after an out-of-memory error). Default: nothing.
  virtual void ReleaseCachedMemory() {}
  // Accelerator memory in bytes; false on CPU (nothing to report).
  struct DeviceMemory {
    int64_t allocated = 0;  // in use by tensors
    int64_t reserved = 0;   // held by the caching allocator
    int64_t limit = 0;      // the device's total
  };
  virtual bool ReadDeviceMemory(DeviceMemory* memory) const { return false; }
  // Runs `batch` (lane 0) and returns the peak memory the pass needed beyond what was in use
  // before it, in bytes (memory calibration). UNIMPLEMENTED when the model cannot measure it.
  virtual absl::StatusOr<int64_t> MeasureForward(const Batch& batch) {
    return absl::UnimplementedError("this model cannot measure its memory");
  }
  // Bytes batches may use when the process keeps to `fraction` of the memory: on a GPU,
  // fraction x total minus what is reserved now (the model); on CPU, fraction x MemAvailable.
  // 0: unknown.
  virtual int64_t MemoryBudget(double fraction) const { return 0; }
};

// Forward() reports running out of device (or host) memory with this status: RESOURCE_EXHAUSTED
// whose message starts with "out of memory". The batch may fit when split.
absl::Status OutOfMemory(absl::string_view detail);
bool IsOutOfMemory(const absl::Status& status);

}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_MODEL_H_
