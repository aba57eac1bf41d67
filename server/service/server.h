// The eaos-server process: gRPC server, health, reflection, metrics endpoint, model loading and
// graceful shutdown.
//
// Order of events: listen (health NOT_SERVING) -> load and warm up the model -> SERVING -> on
// SIGTERM/SIGINT: NOT_SERVING -> stop accepting calls, finish in-flight ones (up to the grace
// period) -> drain the scheduler -> return 0. SIGHUP (or EaosAdmin.ReloadModel) reloads the model
// without downtime (model_manager.h).
//
// Thread-safety: RunServer() is called once, from main().
//
//   ServerOptions options;
//   options.engine.model_dir = "models/demo";
//   return RunServer(options);  // blocks until a signal
#ifndef EAOS_SERVER_SERVICE_SERVER_H_
#define EAOS_SERVER_SERVICE_SERVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/engine/engine.h"
#include "server/service/eaos_service.h"
#include "server/service/tls.h"

namespace eaos::service {

struct ServerOptions {
  std::string listen_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9464";  // empty: no metrics endpoint
  // Extra plaintext port serving only grpc.health.v1 (for probes when the main port is TLS).
  std::string health_listen;
  engine::EngineOptions engine;
  ServiceOptions service;
  // Largest gRPC message either way. The default holds a full request (max_items_per_request
  // items of max_text_bytes) with room to spare; bigger ones are refused by gRPC before parsing.
  int max_message_bytes = 32 << 20;
  // Calls open at once on one client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); further
  // calls wait in the client until one ends.
  int max_concurrent_streams = 256;
  // Connections open at once on the gRPC port (--listen); more are closed at once, unserved
  // (acceptor.h). 0: derived from the open-file limit (ConnectionAcceptor::DerivedMaxConnections).
  // Not applied to a unix: address.
  int max_connections = 0;
  // Keepalive: the server pings a connection idle this long and closes it when the ping is not
  // answered within keepalive_timeout (dead peers, half-open TCP). Clients may ping at most every
  // min_client_ping_interval while no call is open; a client that pings more often gets a GOAWAY
  // (ENHANCE_YOUR_CALM) after max_ping_strikes such pings.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  TlsFiles tls;
  // Connections older than this get a GOAWAY so clients reconnect and re-resolve (new pods after a
  // scale-up get traffic); in-flight calls then have `max_connection_age_grace` to finish.
  // InfiniteDuration: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  absl::Duration max_connection_age_grace = absl::InfiniteDuration();
  absl::Duration shutdown_grace = absl::Seconds(30);
  // Serve EaosAdmin.ReloadModel (otherwise it answers PERMISSION_DENIED). SIGHUP always reloads.
  bool admin_reload = false;
};

// The checks of `options` that need no model: INVALID_ARGUMENT naming the flag.
absl::Status ValidateServerOptions(const ServerOptions& options);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it starts later), so
// that one arriving before RunServer handles them stays pending instead of killing the process.
// main() calls it first; RunServer calls it too.
void BlockControlSignals();

// Runs until SIGTERM or SIGINT. Returns the process exit code: 0 after a clean drain, 1 when the
// server cannot start (the reason is printed).
int RunServer(const ServerOptions& options);

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_SERVER_H_
