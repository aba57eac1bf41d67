// The flags of eaos-server, one file per group so that `--help` lists them grouped (absl groups
// flags by the file that defines them). main.cc reads them into ServerOptions.
//
//   options.listen_address = absl::GetFlag(FLAGS_listen);
#ifndef EAOS_SERVER_FLAGS_FLAGS_H_
#define EAOS_SERVER_FLAGS_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/time/time.h"

// The model and where it runs (server/flags/model.cc)
ABSL_DECLARE_FLAG(std::string, model_dir);
ABSL_DECLARE_FLAG(bool, golden_check);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(int, runners_per_device);
ABSL_DECLARE_FLAG(std::string, precision);
ABSL_DECLARE_FLAG(int, threads);

// Addresses, admin and shutdown (server/flags/serving.cc)
ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(std::string, metrics_listen);
ABSL_DECLARE_FLAG(std::string, health_listen);
ABSL_DECLARE_FLAG(bool, admin_reload);
ABSL_DECLARE_FLAG(absl::Duration, shutdown_grace);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age_grace);

// TLS and mTLS (server/flags/tls.cc)
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);

// Dynamic batching and the queue (server/flags/batching.cc)
ABSL_DECLARE_FLAG(int, max_batch_size);
ABSL_DECLARE_FLAG(int, max_batch_tokens);
ABSL_DECLARE_FLAG(absl::Duration, max_queue_delay);
ABSL_DECLARE_FLAG(int, max_queue_items);
ABSL_DECLARE_FLAG(int, batch_lookahead);
ABSL_DECLARE_FLAG(int, batch_overhead_tokens);

// Memory: the batch budget and out-of-memory recovery (server/flags/memory.cc)
ABSL_DECLARE_FLAG(double, memory_fraction);
ABSL_DECLARE_FLAG(int64_t, memory_budget);
ABSL_DECLARE_FLAG(absl::Duration, oom_budget_hold);

// Per-request and per-connection limits (server/flags/limits.cc)
ABSL_DECLARE_FLAG(int, max_items_per_request);
ABSL_DECLARE_FLAG(int, max_text_bytes);
ABSL_DECLARE_FLAG(int, max_message_bytes);
ABSL_DECLARE_FLAG(int, max_concurrent_streams);
ABSL_DECLARE_FLAG(int, max_connections);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_time);
ABSL_DECLARE_FLAG(absl::Duration, keepalive_timeout);
ABSL_DECLARE_FLAG(absl::Duration, min_client_ping_interval);
ABSL_DECLARE_FLAG(int, max_ping_strikes);
ABSL_DECLARE_FLAG(int, max_stream_in_flight);
ABSL_DECLARE_FLAG(int64_t, max_unsent_bytes);
ABSL_DECLARE_FLAG(int, max_metadata_bytes);

// Fault injection, for tests and drills only (server/flags/drills.cc)
ABSL_DECLARE_FLAG(double, inject_oom_rate);
ABSL_DECLARE_FLAG(int64_t, inject_oom_above_tokens);
ABSL_DECLARE_FLAG(absl::Duration, inject_load_delay);
ABSL_DECLARE_FLAG(double, inject_error_rate);

#endif  // EAOS_SERVER_FLAGS_FLAGS_H_
