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
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_http.h"
#include "server/service/admin_service.h"
#include "server/service/model_manager.h"

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

// The gRPC server and, with --health_listen, a plaintext one that serves only grpc.health.v1
// (kubelet's gRPC probes speak neither TLS nor mTLS).
struct Servers {
  std::unique_ptr<grpc::Server> main;
  std::unique_ptr<grpc::Server> health;

  void SetHealth(bool serving) {
    for (grpc::Server* server : {main.get(), health.get()}) {
      if (server == nullptr) continue;
      grpc::HealthCheckServiceInterface* checks = server->GetHealthCheckService();
      checks->SetServingStatus(serving);  // every service, "" included
      checks->SetServingStatus(kServiceName, serving);
      checks->SetServingStatus(kLivenessName, true);
    }
  }
  void Shutdown(absl::Time deadline) {
    main->Shutdown(absl::ToChronoTime(deadline));
    if (health != nullptr) health->Shutdown(absl::ToChronoTime(absl::Now()));
  }
};

int64_t Millis(absl::Duration d) {
  return d == absl::InfiniteDuration() ? INT_MAX
                                       : std::min<int64_t>(absl::ToInt64Milliseconds(d), INT_MAX);
}

}  // namespace

// What the signal thread asks of the main thread.
class Control {
 public:
  enum class Event { kStop, kReload };

  void Post(Event e) {
    absl::MutexLock lock(&mu_);
    if (e == Event::kStop) stop_ = true;
    if (e == Event::kReload) reload_ = true;
  }
  bool stopping() {
    absl::MutexLock lock(&mu_);
    return stop_;
  }
  // Blocks until something is posted; a stop wins over a pending reload.
  Event Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Control* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->stop_ || c->reload_; },
        this));
    if (stop_) return Event::kStop;
    reload_ = false;
    return Event::kReload;
  }

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool reload_ ABSL_GUARDED_BY(mu_) = false;
};

void LogReload(const absl::StatusOr<ReloadResult>& result) {
  if (!result.ok()) {
    Log(absl::StrCat("model reload failed: ", result.status().ToString()));
    return;
  }
  Log(absl::StrCat("model reloaded from ", result->model_dir, ": ", result->previous.name(), " ",
                   result->previous.version(), " -> ", result->current.name(), " ",
                   result->current.version(), "; self-test: ", result->current.self_test().detail()));
}

absl::Status ValidateServerOptions(const ServerOptions& options) {
  if (options.service.max_stream_in_flight < 1 || options.service.max_results_per_message < 1) {
    return absl::InvalidArgumentError(
        "max_stream_in_flight and max_results_per_message must be >= 1");
  }
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be at least 1024, got ", options.max_message_bytes));
  }
  if (options.max_concurrent_streams < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_concurrent_streams must be >= 1, got ",
                                                   options.max_concurrent_streams));
  }
  if (options.keepalive_time <= absl::ZeroDuration() ||
      options.keepalive_timeout <= absl::ZeroDuration() ||
      options.min_client_ping_interval < absl::ZeroDuration() || options.max_ping_strikes < 0) {
    return absl::InvalidArgumentError(
        "keepalive_time and keepalive_timeout must be > 0, min_client_ping_interval and "
        "max_ping_strikes >= 0");
  }
  return engine::Engine::ValidateOptions(options.engine);
}

int RunServer(const ServerOptions& options) {
  // Signals go to a dedicated thread; every thread created from here on inherits the mask. The
  // set and the control block outlive this function: the thread may still be waiting at exit.
  static sigset_t signals;
  static auto* control = new Control;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([] {
    bool stopping = false;
    while (true) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        Log("received SIGHUP, reloading the model");
        control->Post(Control::Event::kReload);
      } else if (!stopping) {
        stopping = true;
        Log(absl::StrCat("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ", draining"));
        control->Post(Control::Event::kStop);
      } else {  // a second stop signal cuts the drain short
        Log("second signal: exiting without finishing in-flight work");
        std::_Exit(1);
      }
    }
  }).detach();

  if (absl::Status s = ValidateServerOptions(options); !s.ok()) {
    Log(std::string(s.message()));
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
  ModelManager models(options.engine, &metrics, &service);
  auto on_reload = [&metrics](const absl::StatusOr<ReloadResult>& result) {
    LogReload(result);
    if (result.ok()) {
      metrics.SetModelInfo(result->current.name(), result->current.version(),
                           result->current.device());
    }
  };
  AdminServiceImpl admin(&models, options.admin_reload, on_reload);
  // gRPC's built-in health service encodes its messages itself, so nothing puts grpc.health.v1 into
  // the generated descriptor pool that reflection reads: touch it, or `grpcurl describe` and
  // reflection-driven calls of the health service fail with "Symbol not found".
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
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
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(Millis(options.keepalive_time)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(Millis(options.keepalive_timeout)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(Millis(options.min_client_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options.max_ping_strikes);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(&service);
  builder.RegisterService(&admin);
  Servers servers;
  servers.main = builder.BuildAndStart();
  if (servers.main == nullptr || port == 0) {
    Log(absl::StrCat("cannot listen on ", options.listen_address));
    return 1;
  }
  std::string health_at;
  if (!options.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                                    &health_port);
    servers.health = health_builder.BuildAndStart();
    if (servers.health == nullptr || health_port == 0) {
      Log(absl::StrCat("cannot listen on ", options.health_listen, " (--health_listen)"));
      servers.Shutdown(absl::Now());
      return 1;
    }
    health_at = absl::StrCat(" health on ", WithPort(options.health_listen, health_port));
  }
  servers.SetHealth(false);
  // Tests and scripts read the ports from this line.
  Log(absl::StrCat("listening on ", WithPort(options.listen_address, port), " metrics on ",
                   metrics_at, " (", options.tls.mode(), ")", health_at));

  const absl::Time load_start = absl::Now();
  absl::StatusOr<v1::ModelInfo> info = models.Load();
  if (!info.ok()) {
    Log(absl::StrCat("cannot load model from ", options.engine.model_dir, ": ",
                     info.status().ToString()));
    servers.Shutdown(absl::Now());
    return 1;
  }
  if (control->stopping()) {  // asked to stop while loading: never report SERVING
    servers.Shutdown(absl::Now());
    models.Shutdown();
    Log("stopped before serving; exiting");
    return 0;
  }
  metrics.SetModelInfo(info->name(), info->version(), info->device());
  servers.SetHealth(true);
  Log(absl::StrCat("model ", info->name(), " ", info->version(), " from ",
                   options.engine.model_dir, " ready on ", info->device(), " (",
                   info->intra_op_threads(), " threads) in ",
                   absl::FormatDuration(absl::Now() - load_start), "; max_batch_tokens ",
                   info->limits().max_batch_tokens(),
                   info->calibration().calibrated()
                       ? absl::StrCat(" (calibrated: ", info->calibration().budget_bytes() >> 20,
                                      " MiB budget)")
                       : " (--max_batch_tokens)",
                   "; self-test: ", info->self_test().detail(), "; SERVING"));

  // Reloads run here, one at a time, while the gRPC threads keep serving.
  while (control->Wait() == Control::Event::kReload) on_reload(models.Reload(""));

  servers.SetHealth(false);
  // Refuses new calls, lets in-flight ones finish until the deadline, then cancels the rest.
  servers.Shutdown(absl::Now() + options.shutdown_grace);
  models.Shutdown();
  Log("drained; exiting");
  return 0;
}

}  // namespace eaos::service
