// eaos-bench: closed-loop load generator for eaos-server. Prints one table row per target.
//
// Each of --streams PredictStream calls keeps --window items outstanding: a new item is sent as
// soon as one is answered. Latency is per item, send to answer. After --warmup, items are counted
// for --duration. Mean batch size and padding ratio come from the server's /metrics over the same
// window (metrics port given per target).
//
// With --model_dir, a last row runs the same closed loop in process, without gRPC: the server's own
// engine (tokenizer, scheduler with default limits, model, decoder) fed directly. That is the
// ceiling the server can reach with the same batch composition.
//
//   eaos-bench --targets=off=127.0.0.1:50051:9464,on=127.0.0.1:50052:9465 --streams=64
//       --model_dir=models/demo   (one line)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "server/engine/engine.h"
#include "tests/integration/reference.pb.h"
#include "tests/integration/server_process.h"

ABSL_FLAG(std::vector<std::string>, targets, {},
          "Comma-separated LABEL=HOST:PORT:METRICS_PORT, measured one after the other");
ABSL_FLAG(int, streams, 64, "Concurrent PredictStream calls");
ABSL_FLAG(int, window, 1, "Items outstanding per stream");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "Load before measuring");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured time per target");
ABSL_FLAG(std::string, input,
          std::string(EAOS_SOURCE_DIR) + "/models/fixtures/reference_texts.jsonl",
          "JSONL of {\"id\",\"text\"}: the texts sent, cycled");
ABSL_FLAG(std::string, model_dir, "",
          "If set, also run the closed loop in process (no gRPC) on this model: the ceiling");
ABSL_FLAG(int, threads, 2, "Intra-op threads of the in-process engine (match the server's)");

namespace {

struct Target {
  std::string label;
  std::string address;
  int metrics_port = 0;
};

struct Row {
  std::string label;
  double comments_per_s = 0, tokens_per_s = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  double mean_batch = 0, padding = 0;
  int64_t errors = 0;
};

// Sum of the samples of a metric line "name{labels} value" or "name value".
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
  return c;
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Throughput and latency percentiles of the measured window (--duration).
void FillMeasured(std::vector<double>& latencies_ms, int64_t items, int64_t tokens, Row* row) {
  const double seconds = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  row->comments_per_s = static_cast<double>(items) / seconds;
  row->tokens_per_s = static_cast<double>(tokens) / seconds;
  row->p50_ms = Percentile(latencies_ms, 0.50);
  row->p95_ms = Percentile(latencies_ms, 0.95);
  row->p99_ms = Percentile(latencies_ms, 0.99);
}

Row RunTarget(const Target& target, const std::vector<std::string>& texts) {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int window = absl::GetFlag(FLAGS_window);
  auto channel = grpc::CreateChannel(target.address, grpc::InsecureChannelCredentials());
  auto stub = eaos::v1::EaosService::NewStub(channel);

  const absl::Time start = absl::Now();
  const absl::Time measure_from = start + absl::GetFlag(FLAGS_warmup);
  const absl::Time stop_at = measure_from + absl::GetFlag(FLAGS_duration);
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<double> latencies_ms;
  int64_t items = 0, tokens = 0, errors = 0;
  Counters before;
  std::thread sampler([&] {
    absl::SleepFor(measure_from - absl::Now());
    before = ReadCounters(target.metrics_port);
  });

  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub->PredictStream(&context);
      absl::Mutex smu;
      int outstanding = 0;
      std::map<int64_t, absl::Time> sent;
      std::thread writer([&] {
        for (int64_t seq = 0; !stop.load(); ++seq) {
          {
            absl::MutexLock lock(&smu);
            auto room = [&]() { return outstanding < window || stop.load(); };
            smu.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(50));
            if (outstanding >= window) {
              --seq;
              continue;
            }
            ++outstanding;
            sent[seq] = absl::Now();
          }
          eaos::v1::PredictStreamRequest request;
          auto* item = request.add_items();
          item->set_id(std::to_string(seq));
          item->set_text(texts[static_cast<size_t>(seq * 7 + s) % texts.size()]);
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      eaos::v1::PredictStreamResponse response;
      while (stream->Read(&response)) {
        const absl::Time now = absl::Now();
        for (const auto& r : response.results()) {
          int64_t seq = 0;
          (void)absl::SimpleAtoi(r.id(), &seq);
          absl::Time t0;
          {
            absl::MutexLock lock(&smu);
            t0 = sent[seq];
            sent.erase(seq);
            --outstanding;
          }
          if (t0 >= measure_from && now <= stop_at) {
            absl::MutexLock lock(&mu);
            latencies_ms.push_back(absl::ToDoubleMilliseconds(now - t0));
            ++items;
            tokens += r.num_tokens();
            if (r.has_error()) ++errors;
          }
        }
      }
      writer.join();
      stream->Finish();
    });
  }
  absl::SleepFor(stop_at - absl::Now());
  const Counters after = ReadCounters(target.metrics_port);
  stop.store(true);
  for (auto& t : threads) t.join();
  sampler.join();

  Row row;
  row.label = target.label;
  FillMeasured(latencies_ms, items, tokens, &row);
  const double batches = after.batches - before.batches;
  if (batches > 0) row.mean_batch = (after.batch_items - before.batch_items) / batches;
  const double padded = after.padded_tokens - before.padded_tokens;
  if (padded > 0) row.padding = 1.0 - (after.real_tokens - before.real_tokens) / padded;
  row.errors = errors;
  return row;
}

// Batch statistics of the in-process engine.
class BatchCounter : public eaos::scheduler::SchedulerObserver {
 public:
  void OnBatch(const eaos::scheduler::BatchStats& stats) override {
    absl::MutexLock lock(&mu_);
    if (!counting_) return;
    batches_ += 1;
    rows_ += static_cast<double>(stats.rows);
    real_ += static_cast<double>(stats.real_tokens);
    padded_ += static_cast<double>(stats.padded_tokens);
  }
  void Start() {
    absl::MutexLock lock(&mu_);
    counting_ = true;
  }
  void Fill(Row* row) {
    absl::MutexLock lock(&mu_);
    counting_ = false;
    if (batches_ > 0) row->mean_batch = rows_ / batches_;
    if (padded_ > 0) row->padding = 1.0 - real_ / padded_;
  }

 private:
  absl::Mutex mu_;
  bool counting_ = false;
  double batches_ = 0, rows_ = 0, real_ = 0, padded_ = 0;
};

// The same closed loop (streams x window items outstanding) straight into the server's engine.
Row RunInProcess(const std::string& model_dir, const std::vector<std::string>& texts) {
  Row row;
  row.label = "in-process";
  BatchCounter counter;
  eaos::engine::EngineOptions options;
  options.model_dir = model_dir;
  options.intra_op_threads = absl::GetFlag(FLAGS_threads);
  auto engine = eaos::engine::Engine::Load(options, &counter);
  if (!engine.ok()) {
    std::fprintf(stderr, "in-process: %s\n", engine.status().ToString().c_str());
    row.errors = 1;
    return row;
  }
  const int limit = absl::GetFlag(FLAGS_streams) * absl::GetFlag(FLAGS_window);
  const absl::Time measure_from = absl::Now() + absl::GetFlag(FLAGS_warmup);
  const absl::Time stop_at = measure_from + absl::GetFlag(FLAGS_duration);
  absl::Mutex mu;
  int outstanding = 0;
  std::vector<double> latencies_ms;
  int64_t items = 0, tokens = 0;
  bool started = false;
  for (int64_t seq = 0; absl::Now() < stop_at; ++seq) {
    {
      absl::MutexLock lock(&mu);
      auto room = [&]() { return outstanding < limit; };
      mu.Await(absl::Condition(&room));
      ++outstanding;
    }
    if (!started && absl::Now() >= measure_from) {
      started = true;
      counter.Start();
    }
    eaos::v1::Item item;
    item.set_id(std::to_string(seq));
    item.set_text(texts[static_cast<size_t>(seq) % texts.size()]);
    const absl::Time t0 = absl::Now();
    auto work = (*engine)->Prepare(item, 0.5f);
    if (!work.ok()) {
      ++row.errors;
      absl::MutexLock lock(&mu);
      --outstanding;
      continue;
    }
    (*work)->done = [&, t0](absl::StatusOr<eaos::v1::ItemResult> r) {
      const absl::Time now = absl::Now();
      absl::MutexLock lock(&mu);
      --outstanding;
      if (t0 >= measure_from && now <= stop_at) {
        latencies_ms.push_back(absl::ToDoubleMilliseconds(now - t0));
        ++items;
        if (r.ok()) tokens += r->num_tokens();
      }
    };
    std::vector<std::unique_ptr<eaos::scheduler::WorkItem>> batch;
    batch.push_back(*std::move(work));
    if (!(*engine)->Submit(std::move(batch)).ok()) ++row.errors;
  }
  counter.Fill(&row);
  (*engine)->Shutdown();
  absl::MutexLock lock(&mu);
  FillMeasured(latencies_ms, items, tokens, &row);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<Target> targets;
  for (const std::string& spec : absl::GetFlag(FLAGS_targets)) {
    std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    std::vector<std::string> addr = absl::StrSplit(parts.back(), ':');
    if (parts.size() != 2 || addr.size() != 3) {
      std::fprintf(stderr, "bad --targets entry %s (want LABEL=HOST:PORT:METRICS_PORT)\n",
                   spec.c_str());
      return 2;
    }
    Target t{parts[0], absl::StrCat(addr[0], ":", addr[1]), 0};
    (void)absl::SimpleAtoi(addr[2], &t.metrics_port);
    targets.push_back(t);
  }
  if (targets.empty() && absl::GetFlag(FLAGS_model_dir).empty()) {
    std::fprintf(stderr, "--targets or --model_dir is required\n");
    return 2;
  }
  std::vector<std::string> texts;
  {
    std::ifstream in(absl::GetFlag(FLAGS_input));
    std::string line;
    while (std::getline(in, line)) {
      eaos::testing::ReferenceInput item;
      google::protobuf::util::JsonParseOptions o;
      o.ignore_unknown_fields = true;
      if (google::protobuf::util::JsonStringToMessage(line, &item, o).ok() &&
          !item.text().empty()) {
        texts.push_back(item.text());
      }
    }
  }
  if (texts.empty()) {
    std::fprintf(stderr, "no texts in %s\n", absl::GetFlag(FLAGS_input).c_str());
    return 2;
  }

  std::vector<Row> rows;
  for (const Target& t : targets) rows.push_back(RunTarget(t, texts));
  if (!absl::GetFlag(FLAGS_model_dir).empty()) {
    rows.push_back(RunInProcess(absl::GetFlag(FLAGS_model_dir), texts));
  }
  std::printf("\n%d streams x window %d, %s measured after %s warm-up, %zu distinct texts\n\n",
              absl::GetFlag(FLAGS_streams), absl::GetFlag(FLAGS_window),
              absl::FormatDuration(absl::GetFlag(FLAGS_duration)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_warmup)).c_str(), texts.size());
  std::printf("| %-10s | %11s | %10s | %8s | %8s | %8s | %10s | %7s | %6s |\n", "server",
              "comments/s", "tokens/s", "p50 ms", "p95 ms", "p99 ms", "mean batch", "padding",
              "errors");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", std::string(12, '-').c_str(),
              std::string(13, '-').c_str(), std::string(12, '-').c_str(),
              std::string(10, '-').c_str(), std::string(10, '-').c_str(),
              std::string(10, '-').c_str(), std::string(12, '-').c_str(),
              std::string(9, '-').c_str(), std::string(8, '-').c_str());
  for (const Row& r : rows) {
    std::printf("| %-10s | %11.0f | %10.0f | %8.2f | %8.2f | %8.2f | %10.1f | %6.1f%% | %6lld |\n",
                r.label.c_str(), r.comments_per_s, r.tokens_per_s, r.p50_ms, r.p95_ms, r.p99_ms,
                r.mean_batch, 100 * r.padding, static_cast<long long>(r.errors));
  }
  std::printf("\n");
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i - 1].comments_per_s > 0) {
      std::printf("throughput %s / %s = %.2fx\n", rows[i].label.c_str(), rows[i - 1].label.c_str(),
                  rows[i].comments_per_s / rows[i - 1].comments_per_s);
    }
  }
  int64_t errors = 0;
  for (const Row& r : rows) errors += r.errors;
  return errors == 0 ? 0 : 1;
}
