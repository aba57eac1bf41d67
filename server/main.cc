// eaos-server: parses flags and runs the server (server/service/server.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "server/service/server.h"

#ifndef EAOS_DEFAULT_MODEL_DIR
#define EAOS_DEFAULT_MODEL_DIR "models/demo"
#endif

ABSL_FLAG(std::string, model_dir, "",
          "Model directory (model.pt, tokenizer.model, model.json); default: the bundled demo "
          "model (<prefix>/share/eaos/models/demo beside an installed binary, else the source "
          "tree's models/demo)");
ABSL_FLAG(bool, golden_check, true,
          "Replay the model directory's golden.json at load and refuse to serve if the answers "
          "differ from the export's (docs/models.md)");
ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC address; port 0 picks a free port");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464",
          "Prometheus /metrics address; port 0 picks a free port, empty disables");
ABSL_FLAG(std::string, health_listen, "",
          "Also serve grpc.health.v1 alone, in plaintext, on this address (for kubelet gRPC "
          "probes when --listen uses TLS); empty: off");
ABSL_FLAG(std::string, device, "cpu",
          "Torch device: cpu, cuda, cuda:N, a list cuda:0,cuda:1, or cuda:all (one model replica "
          "per GPU; a free runner takes the next batch)");
ABSL_FLAG(int, runners_per_device, 0,
          "Batch runner threads per device; 0 = 2 on a GPU (one batch's host work - padding, "
          "copies, decoding - overlaps the other's compute), 1 on CPU (its cores are already the "
          "model's)");
ABSL_FLAG(std::string, precision, "fp32", "fp32, or on CUDA fp16 / bf16");
ABSL_FLAG(int, threads, 0,
          "Intra-op threads for the model; 0 = on CPU one fewer than the usable CPUs (affinity "
          "mask and cgroup quota), leaving one for the serving threads; on a GPU all of them");
ABSL_FLAG(int, max_batch_size, 64, "Most items in one batch; 1 turns batching off");
ABSL_FLAG(int, max_batch_tokens, 0,
          "Most tokens in one batch, counted as rows x longest row (padding included); 0 = derive "
          "it at startup from measured memory (--memory_fraction of the available memory)");
ABSL_FLAG(double, memory_fraction, 0.8,
          "With --max_batch_tokens=0: the share of free device memory (GPU) or available host "
          "memory (CPU) that batches may use");
ABSL_FLAG(int64_t, memory_budget, 0,
          "With --max_batch_tokens=0: plan with this many bytes instead of the memory available "
          "now (e.g. to share a host); 0 = measure");
ABSL_FLAG(absl::Duration, max_queue_delay, absl::Milliseconds(5),
          "Longest an item waits for its batch to fill");
ABSL_FLAG(int, max_queue_items, 20000,
          "Items waiting at most; beyond it calls get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, batch_lookahead, 0,
          "Queued items, from the oldest, a batch may be picked from (nearest in length to the "
          "oldest first); at least max_batch_size; 0 = 4 x max_batch_size");
ABSL_FLAG(int, batch_overhead_tokens, 64,
          "Fixed cost of a forward pass in tokens' worth of compute: an item joins a batch only "
          "if real tokens per unit of cost do not drop (0: join while the limits allow)");
ABSL_FLAG(int, max_items_per_request, 1000, "Items per Predict call or PredictStream message");
ABSL_FLAG(int, max_text_bytes, 16384, "Longest accepted text in bytes (longer: INVALID_ARGUMENT)");
ABSL_FLAG(int, max_message_bytes, 32 << 20,
          "Largest gRPC message, either direction (bigger: RESOURCE_EXHAUSTED before parsing)");
ABSL_FLAG(int, max_concurrent_streams, 256,
          "Calls open at once on one client connection; more wait in the client");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "Ping a connection idle this long; close it if the ping is not answered in time");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "How long a keepalive ping may go unanswered before the connection is closed");
ABSL_FLAG(absl::Duration, min_client_ping_interval, absl::Seconds(10),
          "Clients may ping at most this often while no call is open; more often is a strike");
ABSL_FLAG(int, max_ping_strikes, 2,
          "Pings too early before the connection is closed with GOAWAY ENHANCE_YOUR_CALM "
          "(0: unlimited)");
ABSL_FLAG(int, max_stream_in_flight, 2048,
          "Items of one stream queued or unsent at most; reading pauses beyond it");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls_key, serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::InfiniteDuration(),
          "Send GOAWAY to connections older than this so clients re-resolve and spread over new "
          "replicas (e.g. 5m behind a headless Service); inf: never");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::InfiniteDuration(),
          "After the GOAWAY of --max_connection_age, how long calls on the old connection may "
          "still run; inf: until they finish");
ABSL_FLAG(absl::Duration, oom_budget_hold, absl::Seconds(30),
          "After a forward runs out of memory, how long batches stay under half its size");
ABSL_FLAG(double, inject_oom_rate, 0.0,
          "Testing/drills only: fail this fraction of forward passes with an injected "
          "out-of-memory error (recovered by splitting the batch)");
ABSL_FLAG(int64_t, inject_oom_above_tokens, 0,
          "Testing/drills only: fail forwards over this many padded tokens as if the device "
          "had only that much memory; 0 = off");
ABSL_FLAG(absl::Duration, inject_load_delay, absl::ZeroDuration(),
          "Testing/drills only: every model load (startup and reloads) first waits this long, "
          "like a slow disk; a stop signal does not wait for it");
ABSL_FLAG(double, inject_error_rate, 0.0,
          "Testing/drills only: fail this fraction of forward passes with an injected error "
          "that splitting cannot cure (the batch's items get INTERNAL)");
ABSL_FLAG(bool, admin_reload, false,
          "Serve eaos.v1.EaosAdmin/ReloadModel (load another model directory without downtime); "
          "protect the port first. SIGHUP reloads the current --model_dir regardless");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "On SIGTERM, how long in-flight calls may take to finish");

namespace {

// The bundled demo model: installed beside the binary, else the source tree it was built from.
std::string DefaultModelDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share/eaos/models/demo";
    if (std::filesystem::exists(installed / "model.json", ec)) return installed.string();
  }
  return EAOS_DEFAULT_MODEL_DIR;
}

}  // namespace

int main(int argc, char** argv) {
  // First: a SIGTERM or SIGHUP during flag parsing or startup waits for the signal thread.
  eaos::service::BlockControlSignals();
  absl::SetProgramUsageMessage(
      "eaos-server: serves one EAOS model to many clients over gRPC with dynamic batching.\n"
      "Usage: eaos-server [--model_dir=DIR] [--listen=HOST:PORT] [flags]");
  absl::ParseCommandLine(argc, argv);

  eaos::service::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.min_client_ping_interval = absl::GetFlag(FLAGS_min_client_ping_interval);
  options.max_ping_strikes = absl::GetFlag(FLAGS_max_ping_strikes);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.admin_reload = absl::GetFlag(FLAGS_admin_reload);
  options.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                 absl::GetFlag(FLAGS_tls_client_ca)};
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  options.service.max_stream_in_flight = absl::GetFlag(FLAGS_max_stream_in_flight);
  auto& engine = options.engine;
  engine.model_dir = absl::GetFlag(FLAGS_model_dir);
  if (engine.model_dir.empty()) engine.model_dir = DefaultModelDir();
  engine.device = absl::GetFlag(FLAGS_device);
  engine.runners_per_device = absl::GetFlag(FLAGS_runners_per_device);
  engine.precision = absl::GetFlag(FLAGS_precision);
  engine.golden_check = absl::GetFlag(FLAGS_golden_check);
  engine.oom_budget_hold = absl::GetFlag(FLAGS_oom_budget_hold);
  engine.faults.oom_rate = absl::GetFlag(FLAGS_inject_oom_rate);
  engine.faults.oom_above_tokens = absl::GetFlag(FLAGS_inject_oom_above_tokens);
  engine.faults.error_rate = absl::GetFlag(FLAGS_inject_error_rate);
  engine.inject_load_delay = absl::GetFlag(FLAGS_inject_load_delay);
  engine.intra_op_threads = absl::GetFlag(FLAGS_threads);
  engine.max_items_per_request = absl::GetFlag(FLAGS_max_items_per_request);
  engine.max_text_bytes = absl::GetFlag(FLAGS_max_text_bytes);
  engine.scheduling.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  engine.scheduling.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  engine.memory_fraction = absl::GetFlag(FLAGS_memory_fraction);
  engine.memory_budget_bytes = absl::GetFlag(FLAGS_memory_budget);
  engine.scheduling.max_queue_delay = absl::GetFlag(FLAGS_max_queue_delay);
  engine.scheduling.max_queue_items = absl::GetFlag(FLAGS_max_queue_items);
  engine.scheduling.lookahead = absl::GetFlag(FLAGS_batch_lookahead);
  engine.scheduling.batch_overhead_tokens = absl::GetFlag(FLAGS_batch_overhead_tokens);
  return eaos::service::RunServer(options);
}
