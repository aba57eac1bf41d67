#include "server/engine/engine.h"

#include <cmath>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/common/option_checks.h"
#include "server/engine/self_test.h"
#include "server/engine/thread_choice.h"
#include "server/engine/validation.h"
#include "server/runtime/calibration.h"
#include "server/runtime/host_limits.h"
#include "server/runtime/fault_injection.h"
#include "server/runtime/torch_model.h"

namespace eaos::engine {
namespace {

// Load's steps, in order; each one's result is a part of the engine.

// The options with every "0: choose for me" resolved for `devices`.
EngineOptions Resolve(const EngineOptions& options, const std::vector<std::string>& devices) {
  EngineOptions resolved = options;
  const bool on_cpu = !runtime::IsCudaDevice(devices.front());
  if (resolved.intra_op_threads <= 0) {
    resolved.intra_op_threads = runtime::DefaultIntraOpThreads(on_cpu);
  }
  if (resolved.runners_per_device <= 0) resolved.runners_per_device = on_cpu ? 1 : 2;
  return resolved;
}

// One replica per device, each checked by its warm-up forward.
absl::StatusOr<std::vector<std::unique_ptr<runtime::Model>>> LoadReplicas(
    const runtime::ModelConfig& config, const EngineOptions& options,
    const std::vector<std::string>& devices) {
  std::vector<std::unique_ptr<runtime::Model>> replicas;
  for (const std::string& device : devices) {
    runtime::TorchModelOptions model_options;
    model_options.model_dir = options.model_dir;
    model_options.device = device;
    model_options.intra_op_threads = options.intra_op_threads;
    model_options.precision = options.precision;
    // The model, its batches and a reload's second copy all live under this cap.
    model_options.memory_fraction = options.memory_fraction;
    model_options.lanes = options.runners_per_device;
    absl::StatusOr<std::unique_ptr<runtime::Model>> replica =
        runtime::LoadTorchModel(config, model_options);
    if (!replica.ok()) return replica.status();
    replicas.push_back(*std::move(replica));
  }
  return replicas;
}

// max_batch_tokens from measured memory when it is 0 (the devices are alike: the first replica is
// measured); *options gets the result.
absl::StatusOr<v1::MemoryCalibration> CalibrateIfAsked(runtime::Model& replica,
                                                       const runtime::ModelConfig& config,
                                                       EngineOptions* options) {
  v1::MemoryCalibration calibration;
  if (options->scheduling.max_batch_tokens != 0) return calibration;
  runtime::CalibrationOptions c;
  c.fraction = options->memory_fraction;
  c.budget_bytes = options->memory_budget_bytes;
  c.max_rows = options->scheduling.max_batch_size;
  absl::StatusOr<runtime::Calibration> measured = runtime::Calibrate(replica, config, c);
  if (!measured.ok()) return measured.status();
  options->scheduling.max_batch_tokens = static_cast<int>(
      std::min<int64_t>(measured->max_batch_tokens, std::numeric_limits<int>::max()));
  calibration.set_calibrated(true);
  calibration.set_available_bytes(static_cast<uint64_t>(measured->available_bytes));
  calibration.set_budget_bytes(static_cast<uint64_t>(measured->budget_bytes));
  calibration.set_fixed_bytes(measured->cost.fixed);
  calibration.set_bytes_per_token(measured->cost.per_token);
  calibration.set_bytes_per_token_length(measured->cost.per_token_length);
  calibration.set_probes(static_cast<uint32_t>(measured->probes.size()));
  return calibration;
}

double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// intra_op_threads by measured cost when the flag left it to the server on a CPU
// (thread_choice.h); *resolved gets the count.
absl::StatusOr<v1::ThreadChoice> ChooseThreadsIfAsked(const EngineOptions& asked,
                                                      const runtime::ModelConfig& config,
                                                      const text::Tokenizer& tokenizer,
                                                      runtime::Model& replica,
                                                      EngineOptions* resolved) {
  const int cpus = runtime::UsableCpus();
  v1::ThreadChoice choice;
  choice.set_usable_cpus(static_cast<uint32_t>(cpus));
  if (asked.intra_op_threads > 0 || runtime::IsCudaDevice(replica.device())) {
    choice.set_source(asked.intra_op_threads > 0 ? "--threads" : "device");
    choice.set_threads(static_cast<uint32_t>(resolved->intra_op_threads));
    choice.set_detail(asked.intra_op_threads > 0 ? "set by --threads"
                                                 : "a GPU: the usable CPUs feed it");
    return choice;
  }
  absl::StatusOr<decode::Decoder> decoder = decode::Decoder::Create(config);
  if (!decoder.ok()) return decoder.status();
  absl::StatusOr<v1::ThreadChoice> measured =
      ChooseIntraOpThreads({.model = &replica,
                            .config = &config,
                            .tokenizer = &tokenizer,
                            .decoder = &*decoder,
                            .usable_cpus = cpus,
                            .set_threads = runtime::SetIntraOpThreads});
  if (!measured.ok()) return measured.status();
  resolved->intra_op_threads = static_cast<int>(measured->threads());
  return measured;
}

// Replays golden.json on the replica as loaded (before any fault decoration: the self-test checks
// the model, not injected faults).
absl::StatusOr<v1::SelfTest> SelfTestIfAsked(const EngineOptions& options,
                                             const runtime::ModelConfig& config,
                                             const text::Tokenizer& tokenizer,
                                             runtime::Model& replica) {
  v1::SelfTest report;
  if (!options.golden_check) {
    report.set_detail("disabled (--golden_check=false)");
    return report;
  }
  const char* file = GoldenFileFor(options.precision);
  absl::StatusOr<std::optional<GoldenFile>> golden = LoadGoldenFile(options.model_dir, file);
  if (!golden.ok()) return golden.status();
  if (!golden->has_value()) {
    report.set_detail(absl::StrCat("skipped: the model directory has no ", file,
                                   options.precision == "int8"
                                       ? " (eaos_tools.quantize writes it with model.int8.pt)"
                                       : " (export it with eaos_tools.export to get one)"));
    return report;
  }
  absl::StatusOr<decode::Decoder> decoder = decode::Decoder::Create(config);
  if (!decoder.ok()) return decoder.status();
  // golden.json holds what the fp32 export produced; fp16/bf16 reproduce it less exactly (int8
  // replays its own file at the file's tolerances).
  absl::StatusOr<v1::SelfTest> replayed =
      RunSelfTest(WithPrecisionTolerances(**golden, options.precision),
                  {&config, &tokenizer, &replica, &*decoder});
  if (replayed.ok()) replayed->set_detail(absl::StrCat(file, ": ", replayed->detail()));
  return replayed;
}

}  // namespace

EngineObservers EngineObservers::Borrow(EngineObserver* observer) {
  EngineObservers observers;
  if (observer == nullptr) return observers;
  observers.scheduling =
      std::shared_ptr<scheduler::SchedulerObserver>(observer, [](scheduler::SchedulerObserver*) {});
  observers.runtime = observer;
  return observers;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options,
                                                     EngineObservers observers) {
  try {
    return LoadSteps(options, std::move(observers));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of host memory while loading the model in ", options.model_dir));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("loading the model in ", options.model_dir, " failed: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::LoadSteps(const EngineOptions& options,
                                                          EngineObservers observers) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (options.inject_load_delay > absl::ZeroDuration()) absl::SleepFor(options.inject_load_delay);
  const absl::Time load_start = absl::Now();
  Parts parts;
  absl::StatusOr<runtime::ModelConfig> config = runtime::LoadModelConfig(options.model_dir);
  if (!config.ok()) return config.status();
  parts.config = *std::move(config);
  absl::StatusOr<std::unique_ptr<text::Tokenizer>> tokenizer =
      runtime::LoadTokenizer(parts.config, options.model_dir);
  if (!tokenizer.ok()) return tokenizer.status();
  parts.tokenizer = *std::move(tokenizer);
  absl::StatusOr<std::vector<std::string>> devices = runtime::ExpandDevices(options.device);
  if (!devices.ok()) return devices.status();
  parts.options = Resolve(options, *devices);
  auto replicas = LoadReplicas(parts.config, parts.options, *devices);
  if (!replicas.ok()) return replicas.status();
  parts.load_phases.set_model_seconds(SecondsSince(load_start));

  absl::Time step = absl::Now();
  auto threads = ChooseThreadsIfAsked(options, parts.config, *parts.tokenizer,
                                      *replicas->front(), &parts.options);
  if (!threads.ok()) return threads.status();
  parts.thread_choice = *std::move(threads);
  if (parts.thread_choice.source() == "measured") {
    parts.load_phases.set_threads_seconds(SecondsSince(step));
  }

  step = absl::Now();
  auto calibration = CalibrateIfAsked(*replicas->front(), parts.config, &parts.options);
  if (!calibration.ok()) return calibration.status();
  parts.calibration = *std::move(calibration);
  if (parts.calibration.calibrated()) parts.load_phases.set_calibration_seconds(SecondsSince(step));

  step = absl::Now();
  auto self_test =
      SelfTestIfAsked(parts.options, parts.config, *parts.tokenizer, *replicas->front());
  if (!self_test.ok()) return self_test.status();
  parts.self_test = *std::move(self_test);
  if (options.golden_check) parts.load_phases.set_self_test_seconds(SecondsSince(step));
  return Start(std::move(parts), WithFaults(options.faults, *std::move(replicas)),
               std::move(observers));
}

std::vector<std::unique_ptr<runtime::Model>> Engine::WithFaults(
    const runtime::FaultOptions& faults, std::vector<std::unique_ptr<runtime::Model>> replicas) {
  if (!faults.any()) return replicas;
  for (auto& replica : replicas) {
    replica = std::make_unique<runtime::FaultInjectingModel>(std::move(replica), faults);
  }
  return replicas;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options,
                                                       runtime::ModelConfig config,
                                                       std::unique_ptr<text::Tokenizer> tokenizer,
                                                       std::unique_ptr<runtime::Model> model,
                                                       EngineObservers observers) {
  std::vector<std::unique_ptr<runtime::Model>> replicas;
  replicas.push_back(std::move(model));
  return Create(options, std::move(config), std::move(tokenizer), std::move(replicas),
                std::move(observers));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options, runtime::ModelConfig config,
    std::unique_ptr<text::Tokenizer> tokenizer,
    std::vector<std::unique_ptr<runtime::Model>> replicas, EngineObservers observers) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  Parts parts;
  parts.options = options;
  if (parts.options.runners_per_device <= 0) parts.options.runners_per_device = 1;
  parts.config = std::move(config);
  parts.tokenizer = std::move(tokenizer);
  parts.self_test.set_detail("not run (an engine built in code)");
  return Start(std::move(parts), std::move(replicas), std::move(observers));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Start(
    Parts parts, std::vector<std::unique_ptr<runtime::Model>> replicas,
    EngineObservers observers) {
  if (replicas.empty() || replicas.front() == nullptr) {
    return absl::InvalidArgumentError("an engine needs at least one model");
  }
  if (parts.tokenizer == nullptr) return absl::InvalidArgumentError("an engine needs a tokenizer");
  const auto& s = parts.options.scheduling;
  if (s.max_batch_tokens < static_cast<int>(parts.config.max_length())) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_tokens (", s.max_batch_tokens,
                                                   ") must be at least the model's max_length (",
                                                   parts.config.max_length(), ")"));
  }
  absl::StatusOr<decode::Decoder> decoder = decode::Decoder::Create(parts.config);
  if (!decoder.ok()) return decoder.status();
  return std::unique_ptr<Engine>(
      new Engine(std::move(parts), *std::move(decoder), std::move(replicas), std::move(observers)));
}

absl::Status Engine::ValidateOptions(const EngineOptions& options) {
  const auto& s = options.scheduling;
  const int cpus = runtime::UsableCpus();
  const absl::Duration hour = absl::Hours(1);
  common::OptionChecks checks;
  checks.Int("max_batch_size", s.max_batch_size, 1, kMaxBatchSize)
      .Int("max_queue_items", s.max_queue_items, 1, kMaxQueueItems)
      .Int("max_batch_tokens", s.max_batch_tokens, 0, kMaxBatchTokens, "(0: calibrate)")
      .Int("batch_lookahead", s.lookahead, 0, kMaxQueueItems, "(0: 4 x max_batch_size)")
      .Int("batch_overhead_tokens", s.batch_overhead_tokens, 0, kMaxBatchTokens)
      // An infinite delay would hold a lone item until its deadline.
      .Duration("max_queue_delay", s.max_queue_delay, absl::ZeroDuration(), absl::Seconds(10))
      .Int("runners_per_device", options.runners_per_device, 0, 16, "(0: 2 on a GPU, 1 on CPU)")
      .Int("threads", options.intra_op_threads, 0, int64_t{4} * cpus,
           absl::StrCat("(0: automatic; at most 4 x the ", cpus, " usable CPUs)"))
      .Int("max_text_bytes", options.max_text_bytes, 1, 16 << 20)
      .Int("max_id_bytes", options.max_id_bytes, 1, 1 << 20)
      .Int("max_items_per_request", options.max_items_per_request, 1, s.max_queue_items,
           "(at most --max_queue_items)")
      .Duration("oom_budget_hold", options.oom_budget_hold, absl::ZeroDuration(), hour)
      .Int("memory_budget", options.memory_budget_bytes, 0, int64_t{1} << 50, "(0: measure)")
      .That(options.memory_budget_bytes == 0 || options.memory_budget_bytes >= (int64_t{1} << 20),
            absl::StrCat("--memory_budget is in bytes: ", options.memory_budget_bytes,
                         " cannot hold a batch; give at least 1048576 (1 MiB), or 0 to measure"))
      .Int("inject_oom_above_tokens", options.faults.oom_above_tokens, 0, kMaxBatchTokens)
      .Duration("inject_load_delay", options.inject_load_delay, absl::ZeroDuration(), hour);
  if (absl::Status device = runtime::CheckDeviceSpec(options.device); !device.ok()) {
    checks.That(false, device.message());
  }
  if (s.max_batch_tokens == 0) {
    checks.Real("memory_fraction", options.memory_fraction, 0, 1, /*lo_open=*/true);
  }
  for (const auto& [name, rate] : {std::pair{"inject_oom_rate", options.faults.oom_rate},
                                   std::pair{"inject_error_rate", options.faults.error_rate}}) {
    checks.That(rate >= 0.0 && rate < 1.0,
                absl::StrCat("--", name, " must be in [0, 1), got ", rate));
  }
  return checks.status();
}

Engine::Engine(Parts parts, decode::Decoder decoder,
               std::vector<std::unique_ptr<runtime::Model>> replicas, EngineObservers observers)
    : parts_(std::move(parts)),
      decoder_(std::move(decoder)),
      observers_(std::move(observers)),
      scheduler_(parts_.options.scheduling, observers_.scheduling.get()) {
  // Last: from here on the runners' threads read the parts above.
  const ReplicaRunner::Context context{&parts_.config, &decoder_, &scheduler_,
                                       parts_.options.oom_budget_hold};
  for (auto& model : replicas) {
    auto replica =
        std::make_unique<runtime::Replica>(std::move(model), &parts_.config, observers_.runtime);
    runners_.push_back(std::make_unique<ReplicaRunner>(std::move(replica),
                                                       parts_.options.runners_per_device, context));
  }
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  scheduler_.Close();
  for (auto& runner : runners_) runner->Join();
}

RequestLimits Engine::limits() const {
  const EngineOptions& o = parts_.options;
  return {o.max_items_per_request, o.max_text_bytes, o.max_id_bytes};
}

absl::Status Engine::CheckRequest(int item_count, const v1::PredictOptions& options) const {
  return ValidateRequest(item_count, options, limits());
}

absl::StatusOr<std::unique_ptr<WorkItem>> Engine::Prepare(const v1::Item& item,
                                                         float threshold) const {
  if (absl::Status s = ValidateItem(item, limits()); !s.ok()) return s;

  const std::string& text = item.text();
  // As model.json says (NFC by default); the encoding's byte ranges are in `text`, which the
  // decoder cuts.
  absl::StatusOr<text::Encoding> encoding =
      runtime::EncodeForModel(parts_.config, *parts_.tokenizer, text);
  if (!encoding.ok()) return encoding.status();
  auto work = std::make_unique<WorkItem>();
  work->id = item.id();
  work->text = text;
  work->encoding = *std::move(encoding);
  work->length = static_cast<int64_t>(work->encoding.size());
  work->threshold = threshold;
  return work;
}

absl::Status Engine::Submit(std::vector<std::unique_ptr<WorkItem>> items) {
  std::vector<std::unique_ptr<scheduler::Item>> queued;
  queued.reserve(items.size());
  for (auto& item : items) queued.push_back(std::move(item));
  return scheduler_.Submit(std::move(queued));
}

v1::ModelInfo Engine::Info() const {
  const runtime::ModelConfig& config = parts_.config;
  const EngineOptions& options = parts_.options;
  v1::ModelInfo info;
  info.set_name(config.name());
  info.set_version(config.version());
  info.set_max_length(config.max_length());
  for (const auto& a : config.aspects()) info.add_aspects(a);
  for (const auto& s : config.sentiments()) info.add_sentiments(s);
  for (const auto& l : config.span_labels()) info.add_span_labels(l);
  std::vector<std::string> devices;
  for (const auto& runner : runners_) devices.push_back(runner->model().device());
  info.set_device(absl::StrJoin(devices, ","));
  info.set_intra_op_threads(static_cast<uint32_t>(options.intra_op_threads));
  const auto& arch = config.architecture();
  auto* sizes = info.mutable_sizes();
  sizes->set_vocab_size(arch.vocab_size());
  sizes->set_hidden(arch.hidden());
  sizes->set_layers(arch.layers());
  sizes->set_heads(arch.heads());
  sizes->set_ffn(arch.ffn());
  sizes->set_parameters(runners_.front()->model().parameter_count());
  *info.mutable_self_test() = parts_.self_test;
  *info.mutable_calibration() = parts_.calibration;
  *info.mutable_thread_choice() = parts_.thread_choice;
  *info.mutable_load_phases() = parts_.load_phases;
  auto* limits = info.mutable_limits();
  const auto& s = options.scheduling;
  limits->set_max_batch_size(s.max_batch_size);
  limits->set_max_batch_tokens(s.max_batch_tokens);
  limits->set_max_queue_delay_us(
      static_cast<uint32_t>(absl::ToInt64Microseconds(s.max_queue_delay)));
  limits->set_max_queue_items(s.max_queue_items);
  limits->set_max_items_per_request(options.max_items_per_request);
  limits->set_max_text_bytes(options.max_text_bytes);
  return info;
}

}  // namespace eaos::engine
