#include "server/runtime/torch_model.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/common/files.h"
#include "server/runtime/host_limits.h"
#include "server/runtime/memory.h"

#if EAOS_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace eaos::runtime {
namespace {

#if EAOS_WITH_CUDA
// StatType::AGGREGATE, the CUDA allocator's statistics over all pools: index 0 of each StatArray
// in LibTorch 1.13 (c10::cuda::CUDACachingAllocator::StatType) and 2.x (c10::CachingAllocator::
// StatType in 2.7: the enum moved, its values did not).
constexpr size_t kAllPools = 0;
#endif

// The contract's outputs, each with its forward() name (ModelOutputs or const ModelOutputs).
template <typename Outputs>
auto NamedOutputs(Outputs& o) {
  return std::array{std::pair{kSpanOutput, &o.span}, std::pair{kAspectOutput, &o.aspect},
                    std::pair{kSentimentOutput, &o.sentiment}};
}

std::string ShapeString(const at::Tensor& t) { return absl::StrJoin(t.sizes().vec(), ", "); }

// Copies one named output into Logits, checking rank and the batch dimensions.
absl::Status ToLogits(const c10::Dict<c10::IValue, c10::IValue>& dict, absl::string_view name,
                      const Batch& batch, Logits* out) {
  auto it = dict.find(c10::IValue(std::string(name)));
  if (it == dict.end()) {
    std::vector<std::string> keys;
    for (const auto& entry : dict) {
      keys.push_back(entry.key().isString() ? entry.key().toStringRef() : "<non-string>");
    }
    return absl::FailedPreconditionError(absl::StrCat("forward() output \"", name,
                                                      "\" is missing; the model returned {",
                                                      absl::StrJoin(keys, ", "), "}"));
  }
  if (!it->value().isTensor()) {
    return absl::FailedPreconditionError(
        absl::StrCat("forward() output \"", name, "\" is not a tensor"));
  }
  at::Tensor t = it->value().toTensor();
  if (!t.is_floating_point()) {
    return absl::FailedPreconditionError(absl::StrCat("forward() output \"", name,
                                                      "\" must be floating point, got ",
                                                      std::string(c10::toString(t.scalar_type()))));
  }
  if (t.dim() != 3 || t.size(0) != batch.rows || t.size(1) != batch.cols) {
    return absl::FailedPreconditionError(absl::StrCat("forward() output \"", name, "\" has shape [",
                                                      ShapeString(t), "], expected [", batch.rows,
                                                      ", ", batch.cols, ", labels]"));
  }
  t = t.to(at::kCPU, at::kFloat).contiguous();
  out->rows = t.size(0);
  out->cols = t.size(1);
  out->labels = t.size(2);
  const float* p = t.data_ptr<float>();
  out->data.assign(p, p + t.numel());
  return absl::OkStatus();
}

class TorchModel final : public Model {
 public:
  // A Module is a shared handle: copying it shares the weights.
  TorchModel(const torch::jit::Module& module, at::Device device, int lanes)
      : module_(module), device_(device) {
    for (const at::Tensor& p : module_.parameters()) parameters_ += static_cast<uint64_t>(p.numel());
#if EAOS_WITH_CUDA
    // One stream of this model's device per lane, taken once: a lane's forwards are ordered, two
    // lanes' copies and compute overlap, and a warm-up on another device's thread cannot run under
    // this device's stream.
    if (device_.is_cuda()) {
      for (int lane = 0; lane < std::max(1, lanes); ++lane) {
        streams_.push_back(
            c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index()));
      }
    }
#else
    (void)lanes;
#endif
  }

  using Model::Forward;
  absl::StatusOr<ModelOutputs> Forward(const Batch& batch, int lane) override {
    if (batch.rows == 0 || batch.cols == 0) return absl::InvalidArgumentError("empty batch");
    if (lane < 0) return absl::InvalidArgumentError(absl::StrCat("lane ", lane, " < 0"));
    try {
      c10::InferenceMode guard;
#if EAOS_WITH_CUDA
      std::optional<c10::cuda::CUDAStreamGuard> stream;
      if (device_.is_cuda()) stream.emplace(streams_[static_cast<size_t>(lane) % streams_.size()]);
#endif
      at::Tensor ids = ToDevice(batch.input_ids, batch);
      at::Tensor mask = ToDevice(batch.attention_mask, batch);
      c10::IValue result = module_.forward({ids, mask});
      if (!result.isGenericDict()) {
        return absl::FailedPreconditionError(
            absl::StrCat("forward() must return Dict[str, Tensor], got ", result.tagKind()));
      }
      const auto dict = result.toGenericDict();
      ModelOutputs out;
      for (auto [name, logits] : NamedOutputs(out)) {
        if (auto s = ToLogits(dict, name, batch, logits); !s.ok()) return s;
      }
      return out;
    } catch (const c10::OutOfMemoryError& e) {
      return OutOfMemory(e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
      return OutOfMemory("host allocation failed (std::bad_alloc)");
    } catch (const c10::Error& e) {
      if (absl::StrContains(e.what_without_backtrace(), "can't allocate memory")) {
        return OutOfMemory(e.what_without_backtrace());  // the CPU allocator's own message
      }
      return absl::InternalError(absl::StrCat("forward failed: ", e.what_without_backtrace()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("forward failed: ", e.what()));
    }
  }

  std::string device() const override { return device_.str(); }

  // A [rows, cols] int64 tensor on the device. from_blob does not copy (the batch outlives the
  // call); to a GPU, the copy goes through pinned memory and does not block the host.
  at::Tensor ToDevice(const std::vector<int64_t>& values, const Batch& batch) const {
    at::Tensor host = torch::from_blob(const_cast<int64_t*>(values.data()),
                                       {batch.rows, batch.cols},
                                       torch::TensorOptions().dtype(torch::kInt64));
    if (!device_.is_cuda()) return host;
    return host.pin_memory().to(device_, /*non_blocking=*/true);
  }
  uint64_t parameter_count() const override { return parameters_; }

  bool ReadDeviceMemory(DeviceMemory* memory) const override {
#if EAOS_WITH_CUDA
    if (!device_.is_cuda()) return false;
    const int index = device_.has_index() ? device_.index() : 0;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    const size_t all = kAllPools;
    memory->allocated = stats.allocated_bytes[all].current;
    memory->reserved = stats.reserved_bytes[all].current;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      memory->limit = static_cast<int64_t>(total_bytes);
    }
    return true;
#else
    (void)memory;
    return false;
#endif
  }

  absl::StatusOr<int64_t> MeasureForward(const Batch& batch) override {
#if EAOS_WITH_CUDA
    if (device_.is_cuda()) {
      const int index = device_.has_index() ? device_.index() : 0;
      const size_t all = kAllPools;
      c10::cuda::CUDACachingAllocator::resetPeakStats(index);
      const int64_t before =
          c10::cuda::CUDACachingAllocator::getDeviceStats(index).allocated_bytes[all].current;
      absl::StatusOr<ModelOutputs> out = Forward(batch);
      if (!out.ok()) return out.status();
      return c10::cuda::CUDACachingAllocator::getDeviceStats(index).allocated_bytes[all].peak -
             before;
    }
#endif
    CpuMemoryTracker& tracker = CpuMemoryTracker::Install();
    const int64_t before = tracker.current();
    tracker.ResetPeak();
    absl::StatusOr<ModelOutputs> out = Forward(batch);
    if (!out.ok()) return out.status();
    return tracker.peak() - before;
  }

  int64_t MemoryBudget(double fraction) const override {
#if EAOS_WITH_CUDA
    if (device_.is_cuda()) {
      // Room under the allocator's cap (setMemoryFraction), which also holds the model.
      size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return 0;
      const int index = device_.has_index() ? device_.index() : 0;
      const size_t all = kAllPools;
      const int64_t reserved =
          c10::cuda::CUDACachingAllocator::getDeviceStats(index).reserved_bytes[all].current;
      const int64_t cap = static_cast<int64_t>(fraction * static_cast<double>(total_bytes));
      return std::min<int64_t>(cap - reserved, static_cast<int64_t>(free_bytes));
    }
#endif
    return static_cast<int64_t>(fraction * static_cast<double>(HostMemoryAvailable()));
  }

  void ReleaseCachedMemory() override {
#if EAOS_WITH_CUDA
    if (device_.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  }

 private:
  torch::jit::Module module_;
  at::Device device_;
  uint64_t parameters_ = 0;
#if EAOS_WITH_CUDA
  std::vector<c10::cuda::CUDAStream> streams_;  // one per lane; empty on CPU
#endif
};

}  // namespace

absl::Status CheckDeviceSpec(const std::string& spec) {
  const auto accepted = [](absl::string_view d) {
    if (d == "cpu" || d == "cuda") return true;
    if (!absl::ConsumePrefix(&d, "cuda:") || d.empty() || d.size() > 3) return false;
    return absl::c_all_of(d, [](char c) { return c >= '0' && c <= '9'; });
  };
  if (spec == "cuda:all") return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    if (!accepted(part)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--device=", spec, ": \"", part, "\" is not a device this server accepts; use cpu, cuda, ",
          "cuda:N, a list of GPUs such as cuda:0,cuda:1, or cuda:all"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ExpandDevices(const std::string& spec) {
  if (absl::Status s = CheckDeviceSpec(spec); !s.ok()) return s;
  std::vector<std::string> devices;
  if (spec == "cuda:all") {
    const int n = static_cast<int>(torch::cuda::device_count());
    if (n == 0) return absl::FailedPreconditionError("--device=cuda:all but no GPU is visible");
    for (int i = 0; i < n; ++i) devices.push_back(absl::StrCat("cuda:", i));
    return devices;
  }
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    if (part.empty()) return absl::InvalidArgumentError(absl::StrCat("--device=", spec, ": empty entry"));
    devices.emplace_back(part);
  }
  if (devices.size() > 1) {
    for (const std::string& d : devices) {
      if (!IsCudaDevice(d)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--device=", spec, ": only GPUs can be listed together"));
      }
    }
  }
  return devices;
}

namespace {

// The quantized engine int8 weights are unpacked for at load (TorchScript repacks them for the
// engine set now) and run on: the first LibTorch supports of oneDNN, FBGEMM, QNNPACK.
absl::Status UseInt8Engine() {
  const auto& supported = at::globalContext().supportedQEngines();
  for (const at::QEngine engine : {at::QEngine::ONEDNN, at::QEngine::FBGEMM, at::QEngine::QNNPACK}) {
    if (std::find(supported.begin(), supported.end(), engine) != supported.end()) {
      at::globalContext().setQEngine(engine);
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(
      "--precision=int8: this LibTorch has no quantized engine (oneDNN, FBGEMM or QNNPACK)");
}

}  // namespace

void SetIntraOpThreads(int threads) { at::set_num_threads(std::max(1, threads)); }

absl::StatusOr<std::unique_ptr<Model>> LoadTorchModel(const ModelConfig& config,
                                                      const TorchModelOptions& options) {
  const int threads =
      options.intra_op_threads > 0
          ? options.intra_op_threads
          : DefaultIntraOpThreads(/*on_cpu=*/!IsCudaDevice(options.device));
  SetIntraOpThreads(threads);
  // The counting CPU allocator goes in before anything is loaded: a block taken with the plain
  // allocator's raw_allocate() and given back through the counting one's raw_deleter() (oneDNN's
  // packed int8 weights, allocated at load and freed at exit, do this) is freed at the wrong
  // address ("free(): invalid size").
  if (!IsCudaDevice(options.device)) CpuMemoryTracker::Install();
  const bool int8 = options.precision == "int8";
  const std::string path =
      options.model_dir + "/" + (int8 ? std::string(kInt8ModelFile) : std::string("model.pt"));
  if (int8) {
    if (IsCudaDevice(options.device)) {
      return absl::InvalidArgumentError(
          "--precision=int8 runs on CPU (LibTorch's int8 kernels are CPU kernels); on a GPU use "
          "fp16 or bf16");
    }
    if (absl::Status s = UseInt8Engine(); !s.ok()) return s;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--precision=int8 serves ", path, ", which does not exist: write it with "
          "`/usr/bin/python3 -m eaos_tools.quantize ", options.model_dir, "` (docs/models.md, int8)"));
    }
  }
  // TorchScript would read a FIFO or a device until it fails (or forever).
  if (absl::Status s = common::CheckRegularFile(path, "TorchScript model"); !s.ok()) return s;
  std::unique_ptr<TorchModel> model;
  try {
    const at::Device device(options.device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("device ", options.device, " requested but CUDA is not available"));
    }
#if EAOS_WITH_CUDA
    if (device.is_cuda() && options.memory_fraction < 1.0) {
      c10::cuda::CUDACachingAllocator::setMemoryFraction(options.memory_fraction,
                                                          device.has_index() ? device.index() : 0);
    }
#endif
    torch::jit::Module module = torch::jit::load(path, device);
    module.eval();
    if (options.precision == "fp16" || options.precision == "bf16") {
      if (!device.is_cuda()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--precision=", options.precision, " needs a CUDA device (this is ", device.str(), ")"));
      }
      module.to(options.precision == "fp16" ? at::kHalf : at::kBFloat16);
    } else if (options.precision != "fp32" && !int8) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--precision must be fp32, fp16, bf16 or int8, got \"", options.precision, "\""));
    }
    model = std::make_unique<TorchModel>(module, device, options.lanes);
  } catch (const c10::Error& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load ", path, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("cannot load ", path, ": ", e.what()));
  }

  // Warm-up forward on two rows of different lengths; checks the contract's output shapes.
  const auto& st = config.special_tokens();
  std::vector<int64_t> a = {st.bos_id(), st.unk_id(), st.unk_id(), st.eos_id()};
  std::vector<int64_t> b = {st.bos_id(), st.unk_id(), st.eos_id()};
  const Batch batch = Batch::Pad({&a, &b}, st.pad_id());
  absl::StatusOr<ModelOutputs> out = model->Forward(batch);
  if (!out.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model.pt does not match the model contract",
        options.precision == "fp32" ? "" : absl::StrCat(" at ", options.precision), ": ",
        out.status().message(), " (the warm-up rows hold only the special ids bos_id=",
        st.bos_id(), " unk_id=", st.unk_id(), " eos_id=", st.eos_id(), " pad_id=", st.pad_id(),
        ": is each one an id of the model's embedding?)"));
  }
  if (auto s = CheckOutputs(config, batch, *out); !s.ok()) return s;
  // One row of max_length positions: a model.json max_length beyond the model's position
  // embeddings fails here, at load, instead of failing every long text's batch at serving time
  // (when calibration and the golden self-test are skipped nothing else runs such a row).
  std::vector<int64_t> longest(config.max_length(), st.unk_id());
  longest.front() = st.bos_id();
  longest.back() = st.eos_id();
  const Batch full = Batch::Pad({&longest}, st.pad_id());
  if (absl::StatusOr<ModelOutputs> long_out = model->Forward(full); !long_out.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model.json max_length=", config.max_length(), " is more than model.pt accepts: a row of ",
        config.max_length(), " positions fails with: ", long_out.status().message(),
        " (set max_length to the model's max positions, e.g. 256 for PhoBERT-base)"));
  } else if (auto s = CheckOutputs(config, full, *long_out); !s.ok()) {
    return s;
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace eaos::runtime
