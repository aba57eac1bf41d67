// TorchModel: a TorchScript model directory behind the Model interface.
//
// Loads <dir>/model.pt once, runs forward under torch::InferenceMode with an explicit intra-op
// thread count, checks the outputs against model.json at load (a warm-up forward) and converts
// LibTorch exceptions into absl::Status. On CUDA, inputs go through pinned host memory with
// non-blocking copies on the lane's own stream.
// Thread-safety: Forward() may run on several threads at once, one per lane (TorchScript inference
// keeps no state between calls); on CUDA each lane has its own stream of the model's device.
//
//   TorchModelOptions opts{.model_dir = "models/demo", .intra_op_threads = 2};
//   absl::StatusOr<std::unique_ptr<Model>> model = LoadTorchModel(config, opts);
#ifndef EAOS_SERVER_RUNTIME_TORCH_MODEL_H_
#define EAOS_SERVER_RUNTIME_TORCH_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"

namespace eaos::runtime {

struct TorchModelOptions {
  std::string model_dir;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  int intra_op_threads = 0;    // 0: DefaultIntraOpThreads() (host_limits.h)
  // "fp32"; on CUDA also "fp16" or "bf16"; on CPU "int8": kInt8ModelFile on LibTorch's quantized
  // engine (oneDNN, else FBGEMM, else QNNPACK).
  std::string precision = "fp32";
  // On CUDA: the caching allocator refuses to hold more than this share of the GPU (an attempt is
  // an out-of-memory error, which the engine recovers from by splitting the batch). 1: no cap.
  double memory_fraction = 1.0;
  // Forward() lanes (the replica's runner threads); on CUDA one stream each. Lanes beyond share.
  int lanes = 1;
};

// "cpu" -> {"cpu"}; "cuda:all" -> every visible GPU; "cuda:0,cuda:1" -> both. Errors name the
// problem (no GPU visible, an empty entry, cpu mixed with cuda).
absl::StatusOr<std::vector<std::string>> ExpandDevices(const std::string& spec);

// The syntax of --device alone (no device is queried): cpu, cuda, cuda:N, a comma-separated list,
// or cuda:all; the message lists what is accepted.
absl::Status CheckDeviceSpec(const std::string& spec);

// --precision=int8 serves this file of the model directory: model.pt with its Linear layers
// quantized to int8 (dynamic quantization, eaos_tools.quantize), packed for the quantized engine
// LibTorch prefers here (oneDNN on x86, else FBGEMM, else QNNPACK), as the export chose it.
inline constexpr char kInt8ModelFile[] = "model.int8.pt";

// Whether a device name ("cuda", "cuda:1", "cpu") names a GPU.
inline bool IsCudaDevice(absl::string_view device) { return absl::StartsWith(device, "cuda"); }

// Sets the process's intra-op thread count (LibTorch's pool); threads that start their first
// forward afterwards use it. Not for use while another thread runs a forward.
void SetIntraOpThreads(int threads);

// Loads the TorchScript module and validates its outputs against `config` with a warm-up forward.
// The error names the output that is missing or whose shape/dtype differs from model.json.
absl::StatusOr<std::unique_ptr<Model>> LoadTorchModel(const ModelConfig& config,
                                                      const TorchModelOptions& options);


}  // namespace eaos::runtime

#endif  // EAOS_SERVER_RUNTIME_TORCH_MODEL_H_
