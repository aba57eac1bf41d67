// eaos-server --help, one group: addresses, admin and shutdown.
#include "server/flags/flags.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC address; port 0 picks a free port");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464",
          "Prometheus /metrics address; port 0 picks a free port, empty disables");
ABSL_FLAG(std::string, health_listen, "",
          "Also serve grpc.health.v1 alone, in plaintext, on this address (for kubelet gRPC "
          "probes when --listen uses TLS); empty: off");
ABSL_FLAG(bool, admin_reload, false,
          "Serve eaos.v1.EaosAdmin/ReloadModel (load another model directory without downtime); "
          "protect the port first. SIGHUP reloads the current --model_dir regardless");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "On SIGTERM, how long in-flight calls may take to finish");
ABSL_FLAG(absl::Duration, max_connection_age, absl::InfiniteDuration(),
          "Send GOAWAY to connections older than this so clients re-resolve and spread over new "
          "replicas (e.g. 5m behind a headless Service); inf: never");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::InfiniteDuration(),
          "After the GOAWAY of --max_connection_age, how long calls on the old connection may "
          "still run; inf: until they finish");
