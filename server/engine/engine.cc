#include "server/engine/engine.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/self_test.h"
#include "server/engine/validation.h"
#include "server/runtime/calibration.h"
#include "server/runtime/host_limits.h"
#include "server/runtime/fault_injection.h"
#include "server/runtime/torch_model.h"

namespace eaos::engine {

// Runs a batch through the model and decodes every row. A forward that runs out of memory never
// fails the batch: cached memory is released, the scheduler's token budget is lowered for a while,
// and each half of the batch runs on its own (recursively). A single item that does not fit even
// alone, after one retry, gets RESOURCE_EXHAUSTED; the rest of its batch is unaffected.
class Engine::Processor final : public scheduler::BatchProcessor {
 public:
  explicit Processor(Engine* engine) : engine_(engine) {}

  absl::StatusOr<std::vector<absl::StatusOr<v1::ItemResult>>> Process(
      const std::vector<const scheduler::WorkItem*>& batch, int runner) override {
    // Runners are spread over the loaded replicas (one per device) round-robin.
    runtime::Model& model = *engine_->models_[static_cast<size_t>(runner) % engine_->models_.size()];
    std::vector<absl::StatusOr<v1::ItemResult>> results(batch.size(),
                                                        absl::InternalError("not run"));
    absl::Status status = Run(model, batch, 0, batch.size(), &results);
    if (runtime::Model::DeviceMemory memory; model.ReadDeviceMemory(&memory)) {
      engine_->observer_->OnDeviceMemory(memory.allocated, memory.reserved, memory.limit);
    }
    if (!status.ok()) return status;  // the whole batch failed (not for lack of memory)
    return results;
  }

 private:
  // Runs rows [begin, end) of `batch` as one forward and decodes them into results[begin, end).
  absl::Status Run(runtime::Model& model, const std::vector<const scheduler::WorkItem*>& batch,
                   size_t begin, size_t end, std::vector<absl::StatusOr<v1::ItemResult>>* results) {
    std::vector<const std::vector<int64_t>*> ids;
    ids.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) ids.push_back(&batch[i]->encoding.ids);
    const runtime::Batch padded =
        runtime::Batch::Pad(ids, engine_->config_.special_tokens().pad_id());
    absl::StatusOr<runtime::ModelOutputs> outputs = TimedForward(model, padded);
    if (!outputs.ok() && runtime::IsOutOfMemory(outputs.status())) {
      return Recover(model, batch, begin, end, padded, outputs.status(), results);
    }
    if (!outputs.ok()) return outputs.status();
    // Cheap, and the decoder indexes label lists by these dimensions.
    if (auto s = runtime::CheckOutputs(engine_->config_, padded, *outputs); !s.ok()) return s;
    for (size_t i = begin; i < end; ++i) {
      (*results)[i] = Decode(*batch[i], *outputs, static_cast<int64_t>(i - begin));
    }
    return absl::OkStatus();
  }

  absl::Status Recover(runtime::Model& model, const std::vector<const scheduler::WorkItem*>& batch,
                       size_t begin, size_t end, const runtime::Batch& padded,
                       const absl::Status& oom,
                       std::vector<absl::StatusOr<v1::ItemResult>>* results) {
    model.ReleaseCachedMemory();
    engine_->observer_->OnOutOfMemory(padded.rows, padded.tokens());
    // What did not fit will not fit next time either: batches stay under half of it for a while.
    engine_->scheduler_->LowerTokenBudget(std::max<int64_t>(padded.tokens() / 2, padded.cols),
                                          engine_->options_.oom_budget_hold);
    if (end - begin > 1) {
      const size_t mid = begin + (end - begin) / 2;
      // A failure of one half that is not about memory fails only that half's items.
      for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}}) {
        if (absl::Status s = Run(model, batch, b, e, results); !s.ok()) {
          for (size_t i = b; i < e; ++i) (*results)[i] = s;
        }
      }
      return absl::OkStatus();
    }
    // One item: the released cache may have been what was missing; try once more.
    absl::StatusOr<runtime::ModelOutputs> again = TimedForward(model, padded);
    if (again.ok()) {
      if (auto s = runtime::CheckOutputs(engine_->config_, padded, *again); !s.ok()) return s;
      (*results)[begin] = Decode(*batch[begin], *again, 0);
      return absl::OkStatus();
    }
    if (!runtime::IsOutOfMemory(again.status())) return again.status();
    (*results)[begin] = absl::ResourceExhaustedError(absl::StrCat(
        "the model ran out of memory on this text alone (", padded.cols,
        " tokens); shorten it or lower max_length (", oom.message(), ")"));
    return absl::OkStatus();
  }

  absl::StatusOr<runtime::ModelOutputs> TimedForward(runtime::Model& model,
                                                     const runtime::Batch& padded) {
    const absl::Time start = absl::Now();
    absl::StatusOr<runtime::ModelOutputs> outputs = model.Forward(padded);
    engine_->observer_->OnForward(padded.rows, padded.tokens(), absl::Now() - start);
    return outputs;
  }

  v1::ItemResult Decode(const scheduler::WorkItem& item, const runtime::ModelOutputs& outputs,
                        int64_t row) const {
    v1::ItemResult result;
    result.set_id(item.id);
    result.set_truncated(item.encoding.truncated);
    result.set_num_tokens(static_cast<uint32_t>(item.encoding.size()));
    result.set_model_version(engine_->config_.version());
    for (auto& tuple :
         engine_->decoder_.Decode(item.text, item.encoding, outputs, row, item.threshold)) {
      *result.add_tuples() = std::move(tuple);
    }
    return result;
  }

  Engine* const engine_;
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options,
                                                     scheduler::SchedulerObserver* observer) {
  absl::StatusOr<runtime::ModelConfig> config = runtime::LoadModelConfig(options.model_dir);
  if (!config.ok()) return config.status();
  auto tokenizer = runtime::LoadTokenizer(*config, options.model_dir);
  if (!tokenizer.ok()) return tokenizer.status();
  absl::StatusOr<std::vector<std::string>> devices = runtime::ExpandDevices(options.device);
  if (!devices.ok()) return devices.status();
  EngineOptions resolved = options;
  const bool on_cpu = !runtime::IsCudaDevice(devices->front());
  if (resolved.intra_op_threads <= 0) {
    resolved.intra_op_threads = runtime::DefaultIntraOpThreads(on_cpu);
  }
  if (resolved.runners_per_device <= 0) resolved.runners_per_device = on_cpu ? 1 : 2;
  // One replica per device; the first is calibrated and self-tested (the devices are alike).
  std::vector<std::unique_ptr<runtime::Model>> replicas;
  for (const std::string& device : *devices) {
    runtime::TorchModelOptions model_options;
    model_options.model_dir = options.model_dir;
    model_options.device = device;
    model_options.intra_op_threads = resolved.intra_op_threads;
    model_options.precision = options.precision;
    // The model, its batches and a reload's second copy all live under this cap.
    model_options.memory_fraction = options.memory_fraction;
    absl::StatusOr<std::unique_ptr<runtime::Model>> replica =
        runtime::LoadTorchModel(*config, model_options);
    if (!replica.ok()) return replica.status();
    replicas.push_back(*std::move(replica));
  }

  v1::MemoryCalibration calibration;
  if (options.scheduling.max_batch_tokens == 0) {
    runtime::CalibrationOptions c;
    c.fraction = options.memory_fraction;
    c.budget_bytes = options.memory_budget_bytes;
    c.max_rows = options.scheduling.max_batch_size;
    absl::StatusOr<runtime::Calibration> measured = runtime::Calibrate(*replicas.front(), *config, c);
    if (!measured.ok()) return measured.status();
    resolved.scheduling.max_batch_tokens = static_cast<int>(
        std::min<int64_t>(measured->max_batch_tokens, std::numeric_limits<int>::max()));
    calibration.set_calibrated(true);
    calibration.set_available_bytes(static_cast<uint64_t>(measured->available_bytes));
    calibration.set_budget_bytes(static_cast<uint64_t>(measured->budget_bytes));
    calibration.set_fixed_bytes(measured->cost.fixed);
    calibration.set_bytes_per_token(measured->cost.per_token);
    calibration.set_bytes_per_token_length(measured->cost.per_token_length);
    calibration.set_probes(static_cast<uint32_t>(measured->probes.size()));
  }
  // The self-test checks the model itself, not injected faults: it runs on the replica as loaded
  // (Create wraps the replicas that serve in FaultInjectingModel; they stay alive inside).
  runtime::Model* const plain = replicas.front().get();
  resolved.scheduling.runners =
      static_cast<int>(replicas.size()) * resolved.runners_per_device;
  absl::StatusOr<std::optional<GoldenFile>> golden = std::nullopt;
  if (options.golden_check) golden = LoadGoldenFile(options.model_dir);
  if (!golden.ok()) return golden.status();
  auto engine = Create(resolved, *std::move(config), *std::move(tokenizer), std::move(replicas),
                       observer);
  if (!engine.ok()) return engine.status();
  (*engine)->calibration_ = std::move(calibration);
  v1::SelfTest& report = (*engine)->self_test_;
  if (!options.golden_check) {
    report.set_detail("disabled (--golden_check=false)");
  } else if (!golden->has_value()) {
    report.set_detail(absl::StrCat("skipped: the model directory has no ", kGoldenFileName,
                                   " (export it with eaos_tools.export to get one)"));
  } else {
    const Engine& e = **engine;
    // golden.json holds what the fp32 export produced; fp16/bf16 reproduce it less exactly.
    absl::StatusOr<v1::SelfTest> passed =
        RunSelfTest(WithPrecisionTolerances(**golden, options.precision),
                    {&e.config_, e.tokenizer_.get(), plain, &e.decoder_});
    if (!passed.ok()) return passed.status();
    report = *std::move(passed);
  }
  return engine;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options,
                                                       runtime::ModelConfig config,
                                                       std::unique_ptr<text::Tokenizer> tokenizer,
                                                       std::unique_ptr<runtime::Model> model,
                                                       scheduler::SchedulerObserver* observer) {
  std::vector<std::unique_ptr<runtime::Model>> replicas;
  replicas.push_back(std::move(model));
  return Create(options, std::move(config), std::move(tokenizer), std::move(replicas), observer);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options, runtime::ModelConfig config,
    std::unique_ptr<text::Tokenizer> tokenizer,
    std::vector<std::unique_ptr<runtime::Model>> replicas,
    scheduler::SchedulerObserver* observer) {
  if (replicas.empty() || replicas.front() == nullptr) {
    return absl::InvalidArgumentError("an engine needs at least one model");
  }
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (options.faults.any()) {
    for (auto& replica : replicas) {
      replica = std::make_unique<runtime::FaultInjectingModel>(std::move(replica), options.faults);
    }
  }
  const auto& s = options.scheduling;
  if (s.max_batch_tokens < static_cast<int>(config.max_length())) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_tokens (", s.max_batch_tokens,
                                                   ") must be at least the model's max_length (",
                                                   config.max_length(), ")"));
  }
  absl::StatusOr<decode::Decoder> decoder = decode::Decoder::Create(config);
  if (!decoder.ok()) return decoder.status();
  std::unique_ptr<Engine> engine(new Engine(options, std::move(config), std::move(tokenizer),
                                            std::move(replicas), *std::move(decoder), observer));
  engine->processor_ = std::make_unique<Processor>(engine.get());
  engine->scheduler_ =
      std::make_unique<scheduler::Scheduler>(s, engine->processor_.get(), observer);
  return engine;
}

absl::Status Engine::ValidateOptions(const EngineOptions& options) {
  const auto& s = options.scheduling;
  if (s.max_batch_size < 1 || s.max_queue_items < 1) {
    return absl::InvalidArgumentError("max_batch_size and max_queue_items must be >= 1");
  }
  if (options.runners_per_device < 0) {
    return absl::InvalidArgumentError("runners_per_device must be >= 0 (0: 2 on a GPU, 1 on CPU)");
  }
  if (s.max_batch_tokens < 0) {
    return absl::InvalidArgumentError("max_batch_tokens must be >= 0 (0: calibrate)");
  }
  if (s.max_batch_tokens == 0 && !(options.memory_fraction > 0 && options.memory_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory_fraction must be in (0, 1], got ", options.memory_fraction));
  }
  if (options.max_text_bytes < 1 || options.max_id_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_text_bytes and max_id_bytes must be >= 1, got ", options.max_text_bytes,
                     " and ", options.max_id_bytes));
  }
  if (options.max_items_per_request < 1 || options.max_items_per_request > s.max_queue_items) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_items_per_request must be in [1, max_queue_items=", s.max_queue_items, "]"));
  }
  return absl::OkStatus();
}

Engine::Engine(const EngineOptions& options, runtime::ModelConfig config,
               std::unique_ptr<text::Tokenizer> tokenizer,
               std::vector<std::unique_ptr<runtime::Model>> models, decode::Decoder decoder,
               scheduler::SchedulerObserver* observer)
    : options_(options),
      observer_(observer != nullptr ? observer : &null_observer_),
      config_(std::move(config)),
      tokenizer_(std::move(tokenizer)),
      models_(std::move(models)),
      decoder_(std::move(decoder)) {}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  if (scheduler_) scheduler_->Shutdown();
}

RequestLimits Engine::limits() const {
  return {options_.max_items_per_request, options_.max_text_bytes, options_.max_id_bytes};
}

absl::Status Engine::CheckRequest(int item_count, const v1::PredictOptions& options) const {
  return ValidateRequest(item_count, options, limits());
}

absl::StatusOr<std::unique_ptr<scheduler::WorkItem>> Engine::Prepare(const v1::Item& item,
                                                                     float threshold) const {
  if (absl::Status s = ValidateItem(item, limits()); !s.ok()) return s;

  const std::string& text = item.text();
  absl::StatusOr<text::Encoding> encoding = tokenizer_->Encode(text);
  if (!encoding.ok()) return encoding.status();
  auto work = std::make_unique<scheduler::WorkItem>();
  work->id = item.id();
  work->text = text;
  work->encoding = *std::move(encoding);
  work->threshold = threshold;
  return work;
}

absl::Status Engine::Submit(std::vector<std::unique_ptr<scheduler::WorkItem>> items) {
  return scheduler_->Submit(std::move(items));
}

v1::ModelInfo Engine::Info() const {
  v1::ModelInfo info;
  info.set_name(config_.name());
  info.set_version(config_.version());
  info.set_max_length(config_.max_length());
  for (const auto& a : config_.aspects()) info.add_aspects(a);
  for (const auto& s : config_.sentiments()) info.add_sentiments(s);
  for (const auto& l : config_.span_labels()) info.add_span_labels(l);
  std::vector<std::string> devices;
  for (const auto& m : models_) devices.push_back(m->device());
  info.set_device(absl::StrJoin(devices, ","));
  info.set_intra_op_threads(static_cast<uint32_t>(options_.intra_op_threads));
  const auto& arch = config_.architecture();
  auto* sizes = info.mutable_sizes();
  sizes->set_vocab_size(arch.vocab_size());
  sizes->set_hidden(arch.hidden());
  sizes->set_layers(arch.layers());
  sizes->set_heads(arch.heads());
  sizes->set_ffn(arch.ffn());
  sizes->set_parameters(models_.front()->parameter_count());
  *info.mutable_self_test() = self_test_;
  *info.mutable_calibration() = calibration_;
  auto* limits = info.mutable_limits();
  const auto& s = options_.scheduling;
  limits->set_max_batch_size(s.max_batch_size);
  limits->set_max_batch_tokens(s.max_batch_tokens);
  limits->set_max_queue_delay_us(
      static_cast<uint32_t>(absl::ToInt64Microseconds(s.max_queue_delay)));
  limits->set_max_queue_items(s.max_queue_items);
  limits->set_max_items_per_request(options_.max_items_per_request);
  limits->set_max_text_bytes(options_.max_text_bytes);
  return info;
}

}  // namespace eaos::engine
