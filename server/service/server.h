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
  int max_message_bytes = 64 << 20;
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

// Runs until SIGTERM or SIGINT. Returns the process exit code: 0 after a clean drain, 1 when the
// server cannot start (the reason is printed).
int RunServer(const ServerOptions& options);

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_SERVER_H_
