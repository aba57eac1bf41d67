#include "server/service/server.h"

#include <signal.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_http.h"

namespace eaos::service {
namespace {

constexpr char kServiceName[] = "eaos.v1.EaosService";
// Health service name that is SERVING from the moment the server listens until it exits, model
// loaded or not: a liveness probe that does not restart a pod still loading its model.
constexpr char kLivenessName[] = "liveness";

void Log(const std::string& line) {
  std::fprintf(stderr, "%s eaos-server: %s\n",
               absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()).c_str(),
               line.c_str());
  std::fflush(stderr);
}

// Replaces the port of "host:port" (IPv6 hosts in brackets).
std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return absl::StrCat(colon == std::string::npos ? address : address.substr(0, colon), ":", port);
}

void SetHealth(grpc::Server* server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(serving);  // every service, "" included
  health->SetServingStatus(kServiceName, serving);
  health->SetServingStatus(kLivenessName, true);
}

int64_t Millis(absl::Duration d) {
  return d == absl::InfiniteDuration() ? INT_MAX
                                       : std::min<int64_t>(absl::ToInt64Milliseconds(d), INT_MAX);
}

}  // namespace

int RunServer(const ServerOptions& options) {
  // Signals go to a dedicated thread; every thread created from here on inherits the mask. The
  // set and the notification outlive this function: the thread may still be waiting at exit.
  static sigset_t signals;
  static auto* stop = new absl::Notification;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([] {
    int sig = 0;
    sigwait(&signals, &sig);
    Log(absl::StrCat("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ", draining"));
    stop->Notify();
    // A second signal cuts the drain short.
    sigwait(&signals, &sig);
    Log("second signal: exiting without finishing in-flight work");
    std::_Exit(1);
  }).detach();

  if (options.service.max_stream_in_flight < 1 || options.service.max_results_per_message < 1) {
    Log("max_stream_in_flight and max_results_per_message must be >= 1");
    return 1;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  observability::Metrics metrics(registry);
  observability::MetricsHttpServer metrics_http(registry);
  std::string metrics_at = "disabled";
  if (!options.metrics_address.empty()) {
    if (absl::Status s = metrics_http.Start(options.metrics_address); !s.ok()) {
      Log(absl::StrCat("cannot serve metrics: ", s.message()));
      return 1;
    }
    metrics_at = WithPort(options.metrics_address, metrics_http.port());
  }

  EaosServiceImpl service(&metrics, options.service);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFrom(options.tls);
  if (!credentials.ok()) {
    Log(std::string(credentials.status().message()));
    return 1;
  }
  builder.AddListeningPort(options.listen_address, *credentials, &port);
  if (options.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(Millis(options.max_connection_age)));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(Millis(options.max_connection_age_grace)));
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Log(absl::StrCat("cannot listen on ", options.listen_address));
    return 1;
  }
  SetHealth(server.get(), false);
  // Tests and scripts read the ports from this line.
  Log(absl::StrCat("listening on ", WithPort(options.listen_address, port), " metrics on ",
                   metrics_at, " (", options.tls.mode(), ")"));

  const absl::Time load_start = absl::Now();
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Load(options.engine, &metrics);
  if (!engine.ok()) {
    Log(absl::StrCat("cannot load model from ", options.engine.model_dir, ": ",
                     engine.status().ToString()));
    server->Shutdown(absl::ToChronoTime(absl::Now()));
    return 1;
  }
  if (stop->HasBeenNotified()) {  // asked to stop while loading: never report SERVING
    server->Shutdown(absl::ToChronoTime(absl::Now()));
    (*engine)->Shutdown();
    Log("stopped before serving; exiting");
    return 0;
  }
  const v1::ModelInfo info = (*engine)->Info();
  metrics.SetModelInfo(info.name(), info.version(), info.device());
  service.SetEngine(engine->get());
  SetHealth(server.get(), true);
  Log(absl::StrCat("model ", info.name(), " ", info.version(), " from ", options.engine.model_dir,
                   " ready on ", info.device(), " (", info.intra_op_threads(), " threads) in ",
                   absl::FormatDuration(absl::Now() - load_start), "; self-test: ",
                   info.self_test().detail(), "; SERVING"));

  stop->WaitForNotification();
  SetHealth(server.get(), false);
  // Refuses new calls, lets in-flight ones finish until the deadline, then cancels the rest.
  server->Shutdown(absl::ToChronoTime(absl::Now() + options.shutdown_grace));
  (*engine)->Shutdown();
  service.SetEngine(nullptr);
  Log("drained; exiting");
  return 0;
}

}  // namespace eaos::service
