// eaos-bench: load generator for eaos-server. Prints one table row per target, then the same load
// in process (the ceiling). A benchmark, not a test: it prints tables and decides nothing.
//
// Two kinds of load:
//   closed loop (default)  each of --streams PredictStream calls keeps --window items outstanding
//                          and sends the next as soon as one is answered: measures saturation.
//   open loop (--rate=N)   items arrive as a Poisson process of N comments/s, spread round-robin
//                          over --streams calls, whatever the server does; at most
//                          --max_outstanding items unanswered (arrivals beyond it are not sent and
//                          counted as "unsent"). Latency runs from the scheduled arrival, so a slow
//                          server is charged for the queue it causes (no coordinated omission).
//
// Texts (--lengths): "fixtures" cycles the comments of --input; "lognormal" makes --num_texts
// comments whose length in words is log-normal (median --median_words, shape --sigma, at most
// --max_words), each a run of consecutive words of the fixture corpus, so their token lengths have
// a long tail up to the model's max_length (longer texts are truncated by the server).
//
// Columns: comments/s and real tokens/s (answered without error in the measured window), latency
// percentiles per item, then from the server's /metrics over the same window: mean batch size
// (eaos_batch_items), padding ratio (1 - real / padded tokens of eaos_tokens_total) and the mean
// batch service time (eaos_batch_duration_seconds). MFU, when the row runs on a CUDA device and a
// peak is known (--measure_peak or --peak_tflops), is model FLOPs/s on real tokens / peak:
//   FLOPs of a comment of L real tokens = 2 * P * L + 4 * layers * hidden * L^2
// where P is the number of parameters less the token and position embeddings (each weight is one
// multiply-add per token) and the second term is attention's scores and weighted sum (Q.K^T and
// P.V, 2 * L * hidden each per token per layer). Forward only; padding is not counted.
//
// With --model_dir, a last row runs the same load in process, without gRPC: the server's own engine
// (tokenizer, scheduler, model, decoder) fed directly, with the batching limits of the batching
// target (the last one whose max_batch_size > 1) unless --inproc_* flags say otherwise.
//
// Exactly-once ledger: every row also accounts for each item it sent over the whole run (warm-up,
// window and drain): answered with a result, with an item error (by code; RESOURCE_EXHAUSTED is
// shed), covered by the error status its stream ended with, answered twice, answered with an id
// never sent, or never answered when the drain ended. --check_exactly_once makes the exit status
// non-zero when an item was answered twice or not at all, or an answer names an unknown id.
//
//   eaos-bench --targets=off=127.0.0.1:50051:9464,on=127.0.0.1:50052:9465 --streams=64
//       --model_dir=models/demo   (one line; bench/run_batching_bench.sh starts the servers)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "server/engine/engine.h"
#include "server/runtime/torch_model.h"
#include "tests/integration/reference.pb.h"
#include "tests/integration/server_process.h"

ABSL_FLAG(std::vector<std::string>, targets, {},
          "Comma-separated LABEL=HOST:PORT:METRICS_PORT, measured one after the other");
ABSL_FLAG(int, streams, 64, "Concurrent PredictStream calls");
ABSL_FLAG(int, window, 1, "Closed loop: items outstanding per stream");
ABSL_FLAG(double, rate, 0,
          "Open loop: offered comments/s (Poisson arrivals over --streams calls); 0 = closed loop");
ABSL_FLAG(int, max_outstanding, 20000,
          "Open loop: most unanswered items; arrivals beyond it are not sent (column 'unsent')");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(10),
          "After the measured window, how long to wait for outstanding answers before cancelling");
ABSL_FLAG(int, items_per_message, 1,
          "Most items per PredictStream message (a writer packs what is waiting, up to this)");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "Load before measuring");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured time per target");
ABSL_FLAG(std::string, lengths, "fixtures",
          "Texts sent: 'fixtures' (the --input comments, cycled) or 'lognormal' (generated "
          "comments with log-normal word counts; see --median_words, --sigma)");
ABSL_FLAG(std::string, input,
          std::string(EAOS_SOURCE_DIR) + "/models/fixtures/reference_texts.jsonl",
          "JSONL of {\"id\",\"text\"}: the texts sent (fixtures), or the word corpus (lognormal)");
ABSL_FLAG(double, median_words, 18, "lognormal: median words per comment");
ABSL_FLAG(double, sigma, 0.8, "lognormal: shape (standard deviation of ln(words))");
ABSL_FLAG(int, max_words, 400, "lognormal: longest comment in words");
ABSL_FLAG(int, num_texts, 4096, "lognormal: distinct comments generated");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the generated texts and of the arrivals");
ABSL_FLAG(std::string, model_dir, "",
          "If set, also run the same load in process (no gRPC) on this model: the ceiling");
ABSL_FLAG(std::string, device, "cpu", "In-process engine: torch device (cpu, cuda, cuda:N)");
ABSL_FLAG(int, threads, 0,
          "In-process engine: intra-op threads; 0 = the server's default (match the server's)");
ABSL_FLAG(bool, golden_check, true,
          "In-process engine: replay the model's golden.json at load (as the server's flag)");
ABSL_FLAG(int, inproc_max_batch_size, 0, "In-process engine: 0 = the batching target's limit");
ABSL_FLAG(int, inproc_max_batch_tokens, -1,
          "In-process engine: -1 = the batching target's limit (0 = calibrate from memory)");
ABSL_FLAG(absl::Duration, inproc_max_queue_delay, absl::InfiniteDuration(),
          "In-process engine: inf = the batching target's limit");
ABSL_FLAG(bool, measure_peak, false,
          "Time 8192^3 bf16 matrix products on the CUDA device (--device, or cuda if that is cpu) "
          "with LibTorch and use it as the MFU peak; without CUDA the peak is n/a");
ABSL_FLAG(double, peak_tflops, 0, "MFU peak in TFLOP/s when not measured (0: none)");
ABSL_FLAG(std::string, summary, "",
          "Also write one 'key=value ...' line per row to this file (for scripts)");
ABSL_FLAG(bool, check_exactly_once, false,
          "Exit non-zero if any item was answered twice, answered with an id never sent, or left "
          "unanswered at the end of the drain (see the ledger printed after the table)");

namespace {

namespace v1 = eaos::v1;
using eaos::runtime::IsCudaDevice;
constexpr int kResourceExhausted = 8;  // google.rpc.Code

// ---------------------------------------------------------------------------------------------
// Model FLOPs (see the header comment).

struct FlopModel {
  double linear = 0;     // per real token: 2 x non-embedding parameters
  double quadratic = 0;  // per real token per token of its comment: 4 x layers x hidden
  bool known() const { return linear > 0; }
  double Comment(double tokens) const { return linear * tokens + quadratic * tokens * tokens; }
};

FlopModel FlopsOf(const v1::ModelInfo& info) {
  FlopModel f;
  const v1::ModelSizes& s = info.sizes();
  const double embeddings =
      (static_cast<double>(s.vocab_size()) + static_cast<double>(info.max_length())) *
      static_cast<double>(s.hidden());
  const double params = static_cast<double>(s.parameters()) - embeddings;
  if (s.hidden() == 0 || s.layers() == 0 || params <= 0) return f;
  f.linear = 2 * params;
  f.quadratic = 4.0 * s.layers() * s.hidden();
  return f;
}

// Times square bf16 matrix products on a CUDA device; TFLOP/s, or 0 without CUDA.
double MeasurePeakTflops(std::string device) {
  if (!torch::cuda::is_available()) return 0;
  if (!IsCudaDevice(device)) device = "cuda";
  c10::InferenceMode guard;
  constexpr int64_t n = 8192;
  constexpr int kWarmup = 3, kIters = 20;
  const auto options = at::TensorOptions().dtype(at::kBFloat16).device(at::Device(device));
  const at::Tensor a = at::randn({n, n}, options);
  const at::Tensor b = at::randn({n, n}, options);
  at::Tensor c;
  for (int i = 0; i < kWarmup; ++i) c = at::mm(a, b);
  torch::cuda::synchronize();
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < kIters; ++i) c = at::mm(a, b);
  torch::cuda::synchronize();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  return 2.0 * n * n * n * kIters / seconds / 1e12;
}

// ---------------------------------------------------------------------------------------------
// Texts.

std::vector<std::string> LoadTexts(const std::string& path) {
  std::vector<std::string> texts;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    eaos::testing::ReferenceInput item;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(line, &item, o).ok() && !item.text().empty()) {
      texts.push_back(item.text());
    }
  }
  return texts;
}

// Comments whose word counts follow a log-normal distribution: runs of consecutive words of the
// corpus (all fixture texts, one after the other), so words and their tokenization are real.
std::vector<std::string> LognormalTexts(const std::vector<std::string>& corpus_texts) {
  std::vector<std::string> words;
  for (const std::string& t : corpus_texts) {
    for (absl::string_view w : absl::StrSplit(t, ' ', absl::SkipEmpty())) words.emplace_back(w);
  }
  std::vector<std::string> texts;
  if (words.empty()) return texts;
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  std::lognormal_distribution<double> length(std::log(absl::GetFlag(FLAGS_median_words)),
                                             absl::GetFlag(FLAGS_sigma));
  std::uniform_int_distribution<size_t> start(0, words.size() - 1);
  const int max_words = std::max(1, absl::GetFlag(FLAGS_max_words));
  const int n = std::max(1, absl::GetFlag(FLAGS_num_texts));
  for (int i = 0; i < n; ++i) {
    const int count = std::clamp(static_cast<int>(std::lround(length(rng))), 1, max_words);
    const size_t from = start(rng);
    std::string text;
    for (int w = 0; w < count; ++w) {
      if (w > 0) text += ' ';
      text += words[(from + static_cast<size_t>(w)) % words.size()];
    }
    texts.push_back(std::move(text));
  }
  return texts;
}

// ---------------------------------------------------------------------------------------------
// What one row measured.

// google.rpc.Code names, for the ledger.
std::string CodeName(int code) {
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("CODE_", code) : name;
}

// What became of every item one row sent, over the whole run (warm-up, window and drain). Each
// sent item ends in exactly one of: ok, item_errors, call_errors, unanswered; duplicates and
// unknown count answers beyond those.
struct Ledger {
  int64_t sent = 0;
  int64_t ok = 0;
  std::map<int, int64_t> item_errors;  // the item's own error answer, by google.rpc.Code
  std::map<int, int64_t> call_errors;  // unanswered when its call ended with this status
  int64_t duplicates = 0;              // answers for an id that was already answered
  int64_t unknown = 0;                 // answers whose id was never sent on that call
  int64_t unanswered = 0;              // no answer by the end of the drain (or the call ended OK)
  int64_t unsent = 0;  // open loop: arrivals queued for a call that ended before writing them

  void Add(const Ledger& o) {
    sent += o.sent;
    ok += o.ok;
    for (const auto& [code, n] : o.item_errors) item_errors[code] += n;
    for (const auto& [code, n] : o.call_errors) call_errors[code] += n;
    duplicates += o.duplicates;
    unknown += o.unknown;
    unanswered += o.unanswered;
    unsent += o.unsent;
  }
  int64_t Settled() const {
    int64_t n = ok + unanswered;
    for (const auto& [code, count] : item_errors) n += count;
    for (const auto& [code, count] : call_errors) n += count;
    return n;
  }
  // Every sent item accounted for once, none answered twice or unasked.
  bool Clean() const {
    return duplicates == 0 && unknown == 0 && unanswered == 0 && Settled() == sent;
  }
};

std::string Codes(const std::map<int, int64_t>& counts) {
  if (counts.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [code, n] : counts) parts.push_back(absl::StrCat(CodeName(code), ":", n));
  return absl::StrJoin(parts, ",");
}

struct Row {
  std::string label;
  std::string device;
  double offered_per_s = 0;
  double comments_per_s = 0, tokens_per_s = 0, flops_per_s = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  double mean_batch = 0, padding = 0, batch_ms = 0;
  // The model alone (eaos_forward_duration_seconds): mean time of one forward pass, items per
  // second of forward time (what the model could do on these very batches if nothing else cost
  // anything: the ceiling), and forward time per second of the window (how busy the model was).
  double forward_ms = 0, model_per_s = 0, model_busy = 0;
  double mfu = -1;  // < 0: n/a
  int64_t shed = 0, unsent = 0, unanswered = 0, errors = 0;
  // Items shed (RESOURCE_EXHAUSTED) in the window: latency of that answer, from the (scheduled)
  // arrival. Open loop: p99 of the delay between an arrival and its write (the generator's lag).
  double shed_p50_ms = 0, shed_p99_ms = 0, lag_p99_ms = 0;
  Ledger ledger;
  // Real tokens per answered comment.
  double len_mean = 0;
  uint32_t len_p50 = 0, len_p90 = 0, len_p99 = 0, len_max = 0;
  double truncated = 0;  // share of answered comments at the model's max_length
};

template <typename T>
T Percentile(std::vector<T>& v, double q) {
  if (v.empty()) return T{};
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Collects the answers of the measured window (see Answered()).
class Recorder {
 public:
  Recorder(absl::Time from, absl::Time to, bool open_loop, FlopModel flops)
      : from_(from), to_(to), open_(open_loop), flops_(flops) {}

  void Offered(absl::Time t) {
    if (t < from_ || t >= to_) return;
    absl::MutexLock lock(&mu_);
    ++offered_;
  }
  void Unsent(absl::Time t) {
    if (t < from_ || t >= to_) return;
    absl::MutexLock lock(&mu_);
    ++unsent_;
  }
  // Open loop: an item that arrived at `t` was handed to its call at `written`.
  void Written(absl::Time t, absl::Time written) {
    if (!open_ || t < from_ || t >= to_) return;
    absl::MutexLock lock(&mu_);
    lags_ms_.push_back(absl::ToDoubleMilliseconds(written - t));
  }
  // `code`: 0 for success, else the item's google.rpc.Code. Closed loop: throughput and latency
  // count items sent in the window and answered before it closed. Open loop: throughput counts the
  // answers that came back inside the window (achieved rate), latency and failures the items that
  // arrived inside it, whenever answered.
  void Answered(absl::Time t, absl::Time now, int code, uint32_t tokens) {
    const bool arrived_in = t >= from_ && t < to_;
    const bool done_in = open_ ? (now >= from_ && now < to_) : (arrived_in && now <= to_);
    const bool by_arrival = open_ ? arrived_in : done_in;
    if (!by_arrival && !done_in) return;
    absl::MutexLock lock(&mu_);
    if (code == 0 && done_in) {
      ++completed_;
      lengths_.push_back(tokens);
      real_tokens_ += tokens;
      flops_sum_ += flops_.Comment(tokens);
    }
    if (!by_arrival) return;
    if (code == kResourceExhausted) {
      ++shed_;
      shed_ms_.push_back(absl::ToDoubleMilliseconds(now - t));
    } else if (code != 0) {
      ++errors_;
    } else {
      latencies_ms_.push_back(absl::ToDoubleMilliseconds(now - t));
    }
  }

  // Fills the client-side columns of `row`; `max_length` marks truncated comments.
  void Fill(uint32_t max_length, Row* row) {
    absl::MutexLock lock(&mu_);
    const double seconds = absl::ToDoubleSeconds(to_ - from_);
    const auto ok = static_cast<int64_t>(latencies_ms_.size());  // by arrival (open loop)
    row->comments_per_s = static_cast<double>(completed_) / seconds;
    row->tokens_per_s = static_cast<double>(real_tokens_) / seconds;
    row->flops_per_s = flops_sum_ / seconds;
    row->offered_per_s = static_cast<double>(offered_) / seconds;
    row->p50_ms = Percentile(latencies_ms_, 0.50);
    row->p95_ms = Percentile(latencies_ms_, 0.95);
    row->p99_ms = Percentile(latencies_ms_, 0.99);
    row->shed = shed_;
    row->shed_p50_ms = Percentile(shed_ms_, 0.50);
    row->shed_p99_ms = Percentile(shed_ms_, 0.99);
    row->lag_p99_ms = Percentile(lags_ms_, 0.99);
    row->unsent = unsent_;
    row->errors += errors_;
    if (open_) row->unanswered = std::max<int64_t>(0, offered_ - unsent_ - shed_ - errors_ - ok);
    if (!lengths_.empty()) {
      const auto n = static_cast<double>(lengths_.size());
      row->len_mean = static_cast<double>(real_tokens_) / n;
      const auto at_max = std::count(lengths_.begin(), lengths_.end(), max_length);
      row->truncated = static_cast<double>(at_max) / n;
      row->len_p50 = Percentile(lengths_, 0.50);
      row->len_p90 = Percentile(lengths_, 0.90);
      row->len_p99 = Percentile(lengths_, 0.99);
      row->len_max = *std::max_element(lengths_.begin(), lengths_.end());
    }
  }

 private:
  const absl::Time from_, to_;
  const bool open_;
  const FlopModel flops_;
  absl::Mutex mu_;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  std::vector<double> shed_ms_ ABSL_GUARDED_BY(mu_), lags_ms_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> lengths_ ABSL_GUARDED_BY(mu_);
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0, real_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  double flops_sum_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t offered_ ABSL_GUARDED_BY(mu_) = 0, unsent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t shed_ ABSL_GUARDED_BY(mu_) = 0, errors_ ABSL_GUARDED_BY(mu_) = 0;
};

// The schedule shared by both kinds of load.
struct Schedule {
  absl::Time start, measure_from, stop_at, give_up;  // give_up: drain deadline
  static Schedule FromFlags() {
    Schedule s;
    s.start = absl::Now();
    s.measure_from = s.start + absl::GetFlag(FLAGS_warmup);
    s.stop_at = s.measure_from + absl::GetFlag(FLAGS_duration);
    s.give_up = s.stop_at + absl::GetFlag(FLAGS_drain);
    return s;
  }
};

// Open loop: calls `arrive(arrival_time, index)` for Poisson arrivals at --rate from now until
// `stop_at`. Arrivals that are due are issued together (latency counts from the scheduled time).
template <typename Arrive>
void PoissonArrivals(absl::Time stop_at, Arrive arrive) {
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 7919 + 17);
  std::exponential_distribution<double> gap(absl::GetFlag(FLAGS_rate));
  absl::Time next = absl::Now();
  int64_t index = 0;
  while (next < stop_at) {
    const absl::Time now = absl::Now();
    while (next <= now && next < stop_at) {
      arrive(next, index++);
      next += absl::Seconds(gap(rng));
    }
    const absl::Duration wait = std::min(next - absl::Now(), absl::Milliseconds(1));
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
  }
}

// ---------------------------------------------------------------------------------------------
// Server metrics.

// The value of a metric line "series value" ("name{labels} value" or "name value"); 0 if absent.
double Scrape(const std::string& body, const std::string& series) {
  const size_t at = body.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  double v = 0;
  const size_t start = at + series.size() + 2;
  (void)absl::SimpleAtod(body.substr(start, body.find('\n', start) - start), &v);
  return v;
}

struct Counters {
  double batches = 0, batch_items = 0, real_tokens = 0, padded_tokens = 0;
  double batch_seconds = 0, timed_batches = 0;
  double forward_seconds = 0, forwards = 0;
};

Counters ReadCounters(int port) {
  Counters c;
  auto body = eaos::testing::HttpGet(port, "/metrics");
  if (!body.ok()) return c;
  const std::string b = "\n" + *body;
  c.batches = Scrape(b, "eaos_batch_items_count");
  c.batch_items = Scrape(b, "eaos_batch_items_sum");
  c.real_tokens = Scrape(b, "eaos_tokens_total{kind=\"real\"}");
  c.padded_tokens = Scrape(b, "eaos_tokens_total{kind=\"padded\"}");
  c.batch_seconds = Scrape(b, "eaos_batch_duration_seconds_sum");
  c.timed_batches = Scrape(b, "eaos_batch_duration_seconds_count");
  c.forward_seconds = Scrape(b, "eaos_forward_duration_seconds_sum");
  c.forwards = Scrape(b, "eaos_forward_duration_seconds_count");
  return c;
}

// The batch and model columns from the counters' growth over a window of `seconds`.
void FillBatchColumns(const Counters& before, const Counters& after, double seconds, Row* row) {
  const double batches = after.batches - before.batches;
  const double items = after.batch_items - before.batch_items;
  if (batches > 0) row->mean_batch = items / batches;
  const double padded = after.padded_tokens - before.padded_tokens;
  if (padded > 0) row->padding = 1.0 - (after.real_tokens - before.real_tokens) / padded;
  const double timed = after.timed_batches - before.timed_batches;
  if (timed > 0) row->batch_ms = 1000 * (after.batch_seconds - before.batch_seconds) / timed;
  const double forwards = after.forwards - before.forwards;
  const double forward_s = after.forward_seconds - before.forward_seconds;
  if (forwards > 0) row->forward_ms = 1000 * forward_s / forwards;
  if (forward_s > 0) row->model_per_s = items / forward_s;
  if (seconds > 0) row->model_busy = forward_s / seconds;
}

// ---------------------------------------------------------------------------------------------
// gRPC load: one driver per PredictStream call.

class StreamDriver {
 public:
  StreamDriver(v1::EaosService::Stub* stub, int index, const std::vector<std::string>* texts,
               Recorder* recorder, std::atomic<int64_t>* total_outstanding)
      : stub_(stub),
        index_(index),
        streams_(absl::GetFlag(FLAGS_streams)),
        window_(absl::GetFlag(FLAGS_window)),
        per_message_(std::max(1, absl::GetFlag(FLAGS_items_per_message))),
        open_(absl::GetFlag(FLAGS_rate) > 0),
        texts_(texts),
        recorder_(recorder),
        total_outstanding_(total_outstanding) {}

  void Start() { thread_ = std::thread([this] { Run(); }); }

  // Open loop: an arrival for this stream.
  void Enqueue(int64_t text_index, absl::Time t) {
    total_outstanding_->fetch_add(1);
    absl::MutexLock lock(&mu_);
    queue_.push_back({text_index, t});
    ++outstanding_;
  }

  // No more items: the closed loop stops refilling, the open loop sends what is queued.
  void Close() {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  // The drain is over: what is still unanswered stays so (counted as unanswered, not as the
  // CANCELLED status this causes).
  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    context_.TryCancel();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  bool failed() const { return failed_; }
  bool ended() const { return ended_; }  // the call has finished
  // After Join().
  Ledger ledger() {
    absl::MutexLock lock(&mu_);
    return ledger_;
  }

 private:
  struct Pending {
    int64_t text_index;
    absl::Time t;
  };

  void Run() {
    stream_ = stub_->PredictStream(&context_);
    std::thread writer([this] { Write(); });
    Read();
    writer.join();
    const grpc::Status status = stream_->Finish();
    int64_t settled = 0;
    {
      absl::MutexLock lock(&mu_);
      // Sent and never answered: silence, unless the call's own status answered them.
      const auto pending = static_cast<int64_t>(sent_.size());
      if (status.ok() || cancelled_) {
        ledger_.unanswered += pending;
      } else {
        ledger_.call_errors[status.error_code()] += pending;
      }
      settled = pending;
      if (open_) {  // the closed loop's refill, not yet written, is not an arrival
        ledger_.unsent += static_cast<int64_t>(queue_.size());
        settled += static_cast<int64_t>(queue_.size());
      }
      sent_.clear();
      queue_.clear();
      outstanding_ = 0;
    }
    total_outstanding_->fetch_sub(settled);  // lets the drain end early when a call failed
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      std::fprintf(stderr, "stream %d: %s\n", index_, status.error_message().c_str());
      failed_ = true;
    }
    ended_ = true;
  }

  void Write() {
    int64_t produced = 0;
    for (;;) {
      v1::PredictStreamRequest request;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return closing_ || !queue_.empty() || (!open_ && outstanding_ < window_);
        };
        if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100))) continue;
        if (closing_ && (!open_ || queue_.empty())) break;
        if (!open_) {
          for (; outstanding_ < window_; ++outstanding_, ++produced) {
            const auto text = static_cast<int64_t>(produced * streams_ + index_);
            queue_.push_back({text, absl::Now()});
          }
        }
        const absl::Time now = absl::Now();
        for (int i = 0; i < per_message_ && !queue_.empty(); ++i) {
          const Pending p = queue_.front();
          queue_.pop_front();
          const auto seq = static_cast<int64_t>(answered_.size());
          answered_.push_back(false);
          sent_[seq] = p.t;
          ++ledger_.sent;
          if (!open_) total_outstanding_->fetch_add(1);  // open loop: counted by Enqueue
          recorder_->Written(p.t, now);
          auto* item = request.add_items();
          item->set_id(std::to_string(seq));
          item->set_text((*texts_)[static_cast<size_t>(p.text_index) % texts_->size()]);
        }
      }
      if (!stream_->Write(request)) break;
    }
    stream_->WritesDone();
  }

  void Read() {
    v1::PredictStreamResponse response;
    while (stream_->Read(&response)) {
      const absl::Time now = absl::Now();
      for (const v1::ItemResult& r : response.results()) {
        const int code = r.has_error() ? r.error().code() : 0;
        int64_t seq = -1;
        absl::Time t;
        {
          absl::MutexLock lock(&mu_);
          if (!absl::SimpleAtoi(r.id(), &seq) || seq < 0 ||
              seq >= static_cast<int64_t>(answered_.size())) {
            ++ledger_.unknown;
            continue;
          }
          if (answered_[static_cast<size_t>(seq)]) {
            ++ledger_.duplicates;
            continue;
          }
          answered_[static_cast<size_t>(seq)] = true;
          auto it = sent_.find(seq);
          t = it->second;
          sent_.erase(it);
          --outstanding_;
          if (code == 0) {
            ++ledger_.ok;
          } else {
            ++ledger_.item_errors[code];
          }
        }
        total_outstanding_->fetch_sub(1);
        recorder_->Answered(t, now, code, r.num_tokens());
      }
    }
  }

  v1::EaosService::Stub* const stub_;
  const int index_, streams_, window_, per_message_;
  const bool open_;
  const std::vector<std::string>* const texts_;
  Recorder* const recorder_;
  std::atomic<int64_t>* const total_outstanding_;  // items of all calls not yet answered
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PredictStreamRequest, v1::PredictStreamResponse>>
      stream_;
  std::thread thread_;
  std::atomic<bool> failed_{false}, ended_{false};
  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  // Sequence numbers are the ids sent, 0, 1, ...: answered_[seq] once an answer named it.
  std::vector<bool> answered_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<int64_t, absl::Time> sent_ ABSL_GUARDED_BY(mu_);  // sent, not answered
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // queued + sent, not yet answered
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  Ledger ledger_ ABSL_GUARDED_BY(mu_);
};

struct Target {
  std::string label;
  std::string address;
  int metrics_port = 0;
  v1::ModelInfo info;
};

absl::Status FetchInfo(Target* target) {
  auto channel = grpc::CreateChannel(target->address, grpc::InsecureChannelCredentials());
  auto stub = v1::EaosService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const grpc::Status s = stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &target->info);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat(target->label, ": ", s.error_message()));
  return absl::OkStatus();
}

// Waits until nothing is outstanding or the drain deadline passes.
void Drain(const std::atomic<int64_t>& outstanding, absl::Time give_up) {
  while (outstanding.load() > 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
}

Row RunTarget(const Target& target, const std::vector<std::string>& texts, double peak_tflops) {
  const int streams = std::max(1, absl::GetFlag(FLAGS_streams));
  const bool open = absl::GetFlag(FLAGS_rate) > 0;
  const int64_t max_outstanding = absl::GetFlag(FLAGS_max_outstanding);
  auto channel = grpc::CreateChannel(target.address, grpc::InsecureChannelCredentials());
  auto stub = v1::EaosService::NewStub(channel);

  const Schedule sched = Schedule::FromFlags();
  Recorder recorder(sched.measure_from, sched.stop_at, open, FlopsOf(target.info));
  std::atomic<int64_t> outstanding{0};
  std::vector<std::unique_ptr<StreamDriver>> drivers;
  for (int s = 0; s < streams; ++s) {
    drivers.push_back(
        std::make_unique<StreamDriver>(stub.get(), s, &texts, &recorder, &outstanding));
    drivers.back()->Start();
  }
  Counters before;
  std::thread sampler([&] {
    absl::SleepFor(sched.measure_from - absl::Now());
    before = ReadCounters(target.metrics_port);
  });
  if (open) {
    PoissonArrivals(sched.stop_at, [&](absl::Time t, int64_t i) {
      recorder.Offered(t);
      if (outstanding.load() >= max_outstanding) {
        recorder.Unsent(t);
        return;
      }
      drivers[static_cast<size_t>(i % streams)]->Enqueue(i, t);
    });
  }
  absl::SleepFor(sched.stop_at - absl::Now());
  sampler.join();
  const Counters after = ReadCounters(target.metrics_port);
  for (auto& d : drivers) d->Close();
  Drain(outstanding, sched.give_up);
  // A call ends once its items are answered; one still open when the drain is over is cancelled
  // (its unanswered items count as such).
  const absl::Time end_by = outstanding.load() > 0
                                ? absl::Now()
                                : std::max(sched.give_up, absl::Now() + absl::Seconds(1));
  auto all_ended = [&] {
    return std::all_of(drivers.begin(), drivers.end(), [](const auto& d) { return d->ended(); });
  };
  while (!all_ended() && absl::Now() < end_by) absl::SleepFor(absl::Milliseconds(10));
  int cancelled = 0;
  for (auto& d : drivers) {
    if (!d->ended()) {
      d->Cancel();
      ++cancelled;
    }
  }
  if (cancelled > 0) {
    std::fprintf(stderr, "%s: %d call(s) still open at the end of the drain, cancelled\n",
                 target.label.c_str(), cancelled);
  }
  Row row;
  row.label = target.label;
  row.device = target.info.device();
  for (auto& d : drivers) {
    d->Join();
    if (d->failed()) ++row.errors;
    row.ledger.Add(d->ledger());
  }
  recorder.Fill(target.info.max_length(), &row);
  FillBatchColumns(before, after, absl::ToDoubleSeconds(sched.stop_at - sched.measure_from),
                   &row);
  if (IsCudaDevice(row.device) && peak_tflops > 0) row.mfu = row.flops_per_s / (peak_tflops * 1e12);
  return row;
}

// ---------------------------------------------------------------------------------------------
// In process: the same load straight into the server's engine.

// Batch and forward statistics of the in-process engine, for those that finish inside the
// window, kept as the counters the server exports so that both kinds of row are filled alike.
class BatchCounter : public eaos::engine::EngineObserver {
 public:
  void SetWindow(absl::Time from, absl::Time to) {
    absl::MutexLock lock(&mu_);
    from_ = from;
    to_ = to;
  }
  void OnBatch(const eaos::scheduler::BatchStats& stats) override {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    if (now < from_ || now > to_) return;
    c_.batches += 1;
    c_.batch_items += static_cast<double>(stats.rows);
    c_.real_tokens += static_cast<double>(stats.real_tokens);
    c_.padded_tokens += static_cast<double>(stats.padded_tokens);
    c_.batch_seconds += absl::ToDoubleSeconds(stats.process_time);
    c_.timed_batches += 1;
  }
  void OnForward(int64_t rows, int64_t padded_tokens, absl::Duration time) override {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    if (now < from_ || now > to_) return;
    c_.forwards += 1;
    c_.forward_seconds += absl::ToDoubleSeconds(time);
  }
  void Fill(Row* row) {
    absl::MutexLock lock(&mu_);
    FillBatchColumns(Counters{}, c_, absl::ToDoubleSeconds(to_ - from_), row);
  }

 private:
  absl::Mutex mu_;
  absl::Time from_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time to_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  Counters c_ ABSL_GUARDED_BY(mu_);
};

Row RunInProcess(const std::string& model_dir, const std::vector<std::string>& texts,
                 const v1::BatchingLimits* limits, double peak_tflops) {
  Row row;
  row.label = "in-process";
  BatchCounter counter;
  eaos::engine::EngineOptions options;
  options.model_dir = model_dir;
  options.device = absl::GetFlag(FLAGS_device);
  options.intra_op_threads = absl::GetFlag(FLAGS_threads);
  options.golden_check = absl::GetFlag(FLAGS_golden_check);
  auto& s = options.scheduling;
  if (limits != nullptr) {
    s.max_batch_size = static_cast<int>(limits->max_batch_size());
    s.max_batch_tokens = static_cast<int>(limits->max_batch_tokens());
    s.max_queue_delay = absl::Microseconds(limits->max_queue_delay_us());
  }
  if (absl::GetFlag(FLAGS_inproc_max_batch_size) > 0) {
    s.max_batch_size = absl::GetFlag(FLAGS_inproc_max_batch_size);
  }
  if (absl::GetFlag(FLAGS_inproc_max_batch_tokens) >= 0) {
    s.max_batch_tokens = absl::GetFlag(FLAGS_inproc_max_batch_tokens);
  }
  if (absl::GetFlag(FLAGS_inproc_max_queue_delay) != absl::InfiniteDuration()) {
    s.max_queue_delay = absl::GetFlag(FLAGS_inproc_max_queue_delay);
  }
  auto engine = eaos::engine::Engine::Load(options, eaos::engine::EngineObservers::Borrow(&counter));
  if (!engine.ok()) {
    std::fprintf(stderr, "in-process: %s\n", engine.status().ToString().c_str());
    row.errors = 1;
    return row;
  }
  const v1::ModelInfo info = (*engine)->Info();
  row.device = info.device();
  std::fprintf(stderr, "in-process: max_batch_size %u, max_batch_tokens %u, max_queue_delay %uus\n",
               info.limits().max_batch_size(), info.limits().max_batch_tokens(),
               info.limits().max_queue_delay_us());

  const bool open = absl::GetFlag(FLAGS_rate) > 0;
  const int64_t limit = open ? absl::GetFlag(FLAGS_max_outstanding)
                             : int64_t{absl::GetFlag(FLAGS_streams)} * absl::GetFlag(FLAGS_window);
  const Schedule sched = Schedule::FromFlags();
  counter.SetWindow(sched.measure_from, sched.stop_at);
  Recorder recorder(sched.measure_from, sched.stop_at, open, FlopsOf(info));
  absl::Mutex mu;
  int64_t outstanding = 0;
  std::atomic<int64_t> in_flight{0};  // for Drain()
  Ledger ledger;  // under mu

  // One answer for an item: counts it, frees its place.
  auto settle = [&](int code) {
    absl::MutexLock lock(&mu);
    if (code == 0) {
      ++ledger.ok;
    } else {
      ++ledger.item_errors[code];
    }
    --outstanding;
    in_flight.fetch_sub(1);
  };
  // Queues one item, or answers it with the error that kept it out.
  auto submit = [&](int64_t text_index, absl::Time t) {
    {
      absl::MutexLock lock(&mu);
      ++outstanding;
      ++ledger.sent;
      in_flight.fetch_add(1);
    }
    v1::Item item;
    item.set_id(std::to_string(text_index));
    item.set_text(texts[static_cast<size_t>(text_index) % texts.size()]);
    auto work = (*engine)->Prepare(item, 0.5f);
    if (!work.ok()) {
      const int code = static_cast<int>(work.status().code());
      recorder.Answered(t, absl::Now(), code, 0);
      settle(code);
      return;
    }
    auto answered = std::make_shared<std::atomic<bool>>(false);
    (*work)->done = [&, t, answered](absl::StatusOr<v1::ItemResult> r) {
      if (answered->exchange(true)) {  // a second answer: counted, otherwise ignored
        absl::MutexLock lock(&mu);
        ++ledger.duplicates;
        return;
      }
      const absl::Time now = absl::Now();
      const int code = !r.ok()            ? static_cast<int>(r.status().code())
                       : r->has_error() ? r->error().code()
                                        : 0;
      recorder.Answered(t, now, code, r.ok() ? r->num_tokens() : 0);
      settle(code);
    };
    std::vector<std::unique_ptr<eaos::engine::WorkItem>> batch;
    batch.push_back(*std::move(work));
    if (absl::Status st = (*engine)->Submit(std::move(batch)); !st.ok()) {
      const int code = static_cast<int>(st.code());
      recorder.Answered(t, absl::Now(), code, 0);
      settle(code);
    }
  };

  if (open) {
    PoissonArrivals(sched.stop_at, [&](absl::Time t, int64_t i) {
      recorder.Offered(t);
      if (in_flight.load() >= limit) {
        recorder.Unsent(t);
        return;
      }
      submit(i, t);
    });
  } else {
    for (int64_t seq = 0; absl::Now() < sched.stop_at; ++seq) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&]() { return outstanding < limit; };
        if (!mu.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100))) {
          --seq;
          continue;
        }
      }
      submit(seq, absl::Now());
    }
  }
  Drain(in_flight, sched.give_up);
  {
    // The ledger at the end of the drain; Shutdown() below answers what is still queued.
    absl::MutexLock lock(&mu);
    row.ledger = ledger;
    row.ledger.unanswered = ledger.sent - ledger.Settled();
  }
  (*engine)->Shutdown();  // finishes what is queued: every callback has run after this
  {
    absl::MutexLock lock(&mu);
    row.ledger.duplicates = ledger.duplicates;
  }
  counter.Fill(&row);
  recorder.Fill(info.max_length(), &row);
  if (IsCudaDevice(row.device) && peak_tflops > 0) row.mfu = row.flops_per_s / (peak_tflops * 1e12);
  return row;
}

// ---------------------------------------------------------------------------------------------
// Output.

std::string Mfu(const Row& r) { return r.mfu < 0 ? "n/a" : absl::StrFormat("%.1f%%", 100 * r.mfu); }

void PrintTable(const std::vector<Row>& rows, bool open) {
  // label, then numeric columns: header, width, formatter.
  struct Column {
    std::string name;
    int width;
    std::function<std::string(const Row&)> cell;
  };
  std::vector<Column> columns;
  if (open) {
    columns.push_back({"offered/s", 10, [](const Row& r) {
                         return absl::StrFormat("%.0f", r.offered_per_s);
                       }});
  }
  columns.push_back({"comments/s", 10, [](const Row& r) {
                       return absl::StrFormat("%.0f", r.comments_per_s);
                     }});
  columns.push_back(
      {"tokens/s", 10, [](const Row& r) { return absl::StrFormat("%.0f", r.tokens_per_s); }});
  columns.push_back({"p50 ms", 8, [](const Row& r) { return absl::StrFormat("%.2f", r.p50_ms); }});
  columns.push_back({"p95 ms", 8, [](const Row& r) { return absl::StrFormat("%.2f", r.p95_ms); }});
  columns.push_back({"p99 ms", 8, [](const Row& r) { return absl::StrFormat("%.2f", r.p99_ms); }});
  columns.push_back(
      {"mean batch", 10, [](const Row& r) { return absl::StrFormat("%.1f", r.mean_batch); }});
  columns.push_back(
      {"padding", 7, [](const Row& r) { return absl::StrFormat("%.1f%%", 100 * r.padding); }});
  columns.push_back(
      {"batch ms", 8, [](const Row& r) { return absl::StrFormat("%.2f", r.batch_ms); }});
  columns.push_back(
      {"fwd ms", 7, [](const Row& r) { return absl::StrFormat("%.2f", r.forward_ms); }});
  columns.push_back(
      {"model /s", 8, [](const Row& r) { return absl::StrFormat("%.0f", r.model_per_s); }});
  columns.push_back({"model busy", 10, [](const Row& r) {
                       return absl::StrFormat("%.0f%%", 100 * r.model_busy);
                     }});
  columns.push_back({"MFU", 6, Mfu});
  if (open) {
    columns.push_back({"shed", 6, [](const Row& r) { return absl::StrCat(r.shed); }});
    columns.push_back({"unsent", 6, [](const Row& r) { return absl::StrCat(r.unsent); }});
    columns.push_back({"unanswered", 10, [](const Row& r) { return absl::StrCat(r.unanswered); }});
  }
  columns.push_back({"errors", 6, [](const Row& r) { return absl::StrCat(r.errors); }});

  std::string header = absl::StrFormat("| %-10s |", "server");
  std::string rule = absl::StrCat("|", std::string(12, '-'), "|");
  for (const Column& c : columns) {
    header += absl::StrFormat(" %*s |", c.width, c.name);
    rule += std::string(static_cast<size_t>(c.width) + 1, '-') + ":|";
  }
  std::printf("%s\n%s\n", header.c_str(), rule.c_str());
  for (const Row& r : rows) {
    std::string line = absl::StrFormat("| %-10s |", r.label);
    for (const Column& c : columns) line += absl::StrFormat(" %*s |", c.width, c.cell(r));
    std::printf("%s\n", line.c_str());
  }
}

// The exactly-once ledger of each row, and how fast shed items were answered.
void PrintLedger(const std::vector<Row>& rows, bool open) {
  std::printf("\nexactly-once ledger (every item sent, whole run: warm-up, window, drain):\n");
  absl::PrintF("| %-10s | %9s | %9s | %-34s | %-20s | %7s | %7s | %10s | %6s | %-4s |\n", "server",
               "sent", "ok", "item errors", "call errors", "twice", "unknown", "unanswered",
               "unsent", "once");
  absl::PrintF("|%s|%s:|%s:|%s|%s|%s:|%s:|%s:|%s:|%s|\n", std::string(12, '-'),
               std::string(10, '-'), std::string(10, '-'), std::string(36, '-'),
               std::string(22, '-'), std::string(8, '-'), std::string(8, '-'),
               std::string(11, '-'), std::string(7, '-'), std::string(6, '-'));
  for (const Row& r : rows) {
    const Ledger& l = r.ledger;
    absl::PrintF("| %-10s | %9d | %9d | %-34s | %-20s | %7d | %7d | %10d | %6d | %-4s |\n", r.label,
                 l.sent, l.ok, Codes(l.item_errors), Codes(l.call_errors), l.duplicates, l.unknown,
                 l.unanswered, l.unsent, l.Clean() ? "yes" : "NO");
  }
  for (const Row& r : rows) {
    if (r.shed == 0 && !open) continue;
    absl::PrintF("  %-10s shed in the window: %d", r.label, r.shed);
    if (r.shed > 0) {
      absl::PrintF(", answered in p50 %.2f ms, p99 %.2f ms from arrival", r.shed_p50_ms,
                   r.shed_p99_ms);
    }
    if (open) absl::PrintF("; generator lag (arrival to write) p99 %.2f ms", r.lag_p99_ms);
    std::printf("\n");
  }
}

void WriteSummary(const std::string& path, const std::vector<Row>& rows, bool open) {
  std::ofstream out(path);
  for (const Row& r : rows) {
    const Ledger& l = r.ledger;
    out << absl::StrFormat(
        "label=%s mode=%s offered_per_s=%.1f comments_per_s=%.1f tokens_per_s=%.1f p50_ms=%.3f "
        "p95_ms=%.3f p99_ms=%.3f mean_batch=%.2f padding=%.4f batch_ms=%.3f forward_ms=%.3f "
        "model_per_s=%.1f model_busy=%.4f mfu=%s shed=%d "
        "unsent=%d unanswered=%d errors=%d shed_p50_ms=%.3f shed_p99_ms=%.3f lag_p99_ms=%.3f "
        "sent=%d answered_ok=%d item_errors=%s call_errors=%s answered_twice=%d unknown_ids=%d "
        "never_answered=%d never_written=%d exactly_once=%d\n",
        r.label, open ? "open" : "closed", r.offered_per_s, r.comments_per_s, r.tokens_per_s,
        r.p50_ms, r.p95_ms, r.p99_ms, r.mean_batch, r.padding, r.batch_ms,
        r.forward_ms, r.model_per_s, r.model_busy,
        r.mfu < 0 ? "n/a" : absl::StrFormat("%.4f", r.mfu), r.shed, r.unsent, r.unanswered,
        r.errors, r.shed_p50_ms, r.shed_p99_ms, r.lag_p99_ms, l.sent, l.ok, Codes(l.item_errors),
        Codes(l.call_errors), l.duplicates, l.unknown, l.unanswered, l.unsent, l.Clean() ? 1 : 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const bool open = absl::GetFlag(FLAGS_rate) > 0;
  std::vector<Target> targets;
  for (const std::string& spec : absl::GetFlag(FLAGS_targets)) {
    std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    std::vector<std::string> addr = absl::StrSplit(parts.back(), ':');
    if (parts.size() != 2 || addr.size() != 3) {
      std::fprintf(stderr, "bad --targets entry %s (want LABEL=HOST:PORT:METRICS_PORT)\n",
                   spec.c_str());
      return 2;
    }
    Target t{parts[0], absl::StrCat(addr[0], ":", addr[1]), 0, {}};
    (void)absl::SimpleAtoi(addr[2], &t.metrics_port);
    if (absl::Status s = FetchInfo(&t); !s.ok()) {
      std::fprintf(stderr, "GetModelInfo: %s\n", s.ToString().c_str());
      return 2;
    }
    targets.push_back(std::move(t));
  }
  if (targets.empty() && absl::GetFlag(FLAGS_model_dir).empty()) {
    std::fprintf(stderr, "--targets or --model_dir is required\n");
    return 2;
  }
  const std::string lengths = absl::GetFlag(FLAGS_lengths);
  std::vector<std::string> texts = LoadTexts(absl::GetFlag(FLAGS_input));
  if (lengths == "lognormal") {
    texts = LognormalTexts(texts);
  } else if (lengths != "fixtures") {
    std::fprintf(stderr, "--lengths must be fixtures or lognormal\n");
    return 2;
  }
  if (texts.empty()) {
    std::fprintf(stderr, "no texts in %s\n", absl::GetFlag(FLAGS_input).c_str());
    return 2;
  }

  double peak = absl::GetFlag(FLAGS_peak_tflops);
  std::string peak_text = peak > 0 ? absl::StrFormat("%.0f TFLOP/s (given)", peak) : "n/a";
  if (absl::GetFlag(FLAGS_measure_peak)) {
    const double measured = MeasurePeakTflops(absl::GetFlag(FLAGS_device));
    if (measured > 0) {
      peak = measured;
      peak_text = absl::StrFormat("%.0f TFLOP/s (measured: 8192^3 bf16 matmul, LibTorch)", peak);
    } else {
      peak_text = "n/a (no CUDA device)";
    }
  }

  std::vector<Row> rows;
  const v1::BatchingLimits* batching_limits = nullptr;
  for (const Target& t : targets) {
    if (t.info.limits().max_batch_size() > 1) batching_limits = &t.info.limits();
    rows.push_back(RunTarget(t, texts, peak));
  }
  if (!absl::GetFlag(FLAGS_model_dir).empty()) {
    rows.push_back(RunInProcess(absl::GetFlag(FLAGS_model_dir), texts, batching_limits, peak));
  }

  std::printf("\n");
  if (open) {
    std::printf("open loop: Poisson arrivals at %.0f comments/s over %d streams, at most %d "
                "outstanding",
                absl::GetFlag(FLAGS_rate), absl::GetFlag(FLAGS_streams),
                absl::GetFlag(FLAGS_max_outstanding));
  } else {
    std::printf("closed loop: %d streams x window %d", absl::GetFlag(FLAGS_streams),
                absl::GetFlag(FLAGS_window));
  }
  std::printf(", %d item(s)/message; %s measured after %s warm-up\n",
              std::max(1, absl::GetFlag(FLAGS_items_per_message)),
              absl::FormatDuration(absl::GetFlag(FLAGS_duration)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_warmup)).c_str());
  if (lengths == "lognormal") {
    std::printf("texts: %zu generated, words log-normal (median %.0f, sigma %.2f, max %d)\n",
                texts.size(), absl::GetFlag(FLAGS_median_words), absl::GetFlag(FLAGS_sigma),
                absl::GetFlag(FLAGS_max_words));
  } else {
    std::printf("texts: the %zu fixture comments of %s, cycled\n", texts.size(),
                absl::GetFlag(FLAGS_input).c_str());
  }
  const v1::ModelInfo* info = targets.empty() ? nullptr : &targets.front().info;
  if (info != nullptr) {
    const v1::ModelSizes& s = info->sizes();
    const FlopModel f = FlopsOf(*info);
    std::printf("model: %s %s on %s; %u layers, hidden %u, heads %u, ffn %u, %.1fM parameters, "
                "max_length %u; FLOPs/comment = %.3g*L + %.3g*L^2\n",
                info->name().c_str(), info->version().c_str(), info->device().c_str(), s.layers(),
                s.hidden(), s.heads(), s.ffn(), static_cast<double>(s.parameters()) / 1e6,
                info->max_length(), f.linear, f.quadratic);
  }
  std::printf("MFU peak: %s\n\n", peak_text.c_str());
  PrintTable(rows, open);
  std::printf("\nreal tokens per answered comment (L):\n");
  for (const Row& r : rows) {
    std::printf("  %-10s mean %.1f, p50 %u, p90 %u, p99 %u, max %u; %.1f%% at max_length\n",
                r.label.c_str(), r.len_mean, r.len_p50, r.len_p90, r.len_p99, r.len_max,
                100 * r.truncated);
  }
  std::printf("\n");
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i - 1].comments_per_s > 0) {
      std::printf("throughput %s / %s = %.2fx\n", rows[i].label.c_str(),
                  rows[i - 1].label.c_str(), rows[i].comments_per_s / rows[i - 1].comments_per_s);
    }
  }
  PrintLedger(rows, open);
  if (!absl::GetFlag(FLAGS_summary).empty()) WriteSummary(absl::GetFlag(FLAGS_summary), rows, open);
  int64_t errors = 0;
  for (const Row& r : rows) errors += r.errors;
  bool once = true;
  if (absl::GetFlag(FLAGS_check_exactly_once)) {
    for (const Row& r : rows) {
      const Ledger& l = r.ledger;
      if (l.Clean()) continue;
      once = false;
      std::fprintf(stderr,
                   "%s: exactly-once violated: %lld answered twice, %lld answers with an unknown "
                   "id, %lld never answered, %lld of %lld sent accounted for\n",
                   r.label.c_str(), static_cast<long long>(l.duplicates),
                   static_cast<long long>(l.unknown), static_cast<long long>(l.unanswered),
                   static_cast<long long>(l.Settled()), static_cast<long long>(l.sent));
    }
  }
  return errors == 0 && once ? 0 : 1;
}
