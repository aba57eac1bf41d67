// eaos-server: parses flags and runs the server (server/service/server.h).
#include <cstdio>
#include <iostream>
#include <filesystem>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/internal/program_name.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "server/flags/flags.h"
#include "server/service/server.h"

#ifndef EAOS_VERSION
#define EAOS_VERSION "dev"
#endif
#ifndef EAOS_DEFAULT_MODEL_DIR
#define EAOS_DEFAULT_MODEL_DIR "models/demo"
#endif

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
  absl::FlagsUsageConfig usage;
  // --help lists the server's own flags, grouped by their file in server/flags/ (absl's default
  // looks for a file named after the binary and finds none); file names without the build path.
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/flags/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.normalize_filename = [](absl::string_view file) {
    const size_t at = file.rfind("server/flags/");
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  usage.version_string = [] { return std::string("eaos-server " EAOS_VERSION "\n"); };
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "serves one EAOS model to many clients over gRPC with dynamic batching.\n\n"
      "Usage: eaos-server [--model_dir=DIR] [--listen=HOST:PORT] [flags]\n\n"
      "Flag groups: model.cc (the model and its device), serving.cc (addresses, admin, shutdown),\n"
      "tls.cc, batching.cc (dynamic batching, the queue), memory.cc (the batch budget, OOM),\n"
      "limits.cc (per request and per connection), drills.cc (fault injection, tests only).\n"
      "Durations are like 5ms, 30s, 5m or inf. docs/deploy.md and docs/reliability.md explain them.");
  // absl's --help exits 1; asking for help is not an error. (FlagsHelp is abseil's own printer,
  // the one --help uses; internal, but stable in the Debian 12 abseil this project builds with.)
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h" || arg == "--helpshort" || arg == "-help") {
      absl::flags_internal::SetProgramInvocationName("eaos-server");
      absl::flags_internal::FlagsHelp(std::cout, "server/flags/",
                                      absl::flags_internal::HelpFormat::kHumanReadable,
                                      absl::ProgramUsageMessage());
      return 0;
    }
  }
  absl::ParseCommandLine(argc, argv);

  eaos::service::ServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.health_listen = absl::GetFlag(FLAGS_health_listen);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
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
  options.service.max_unsent_bytes = absl::GetFlag(FLAGS_max_unsent_bytes);
  options.service.max_metadata_bytes = absl::GetFlag(FLAGS_max_metadata_bytes);
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
