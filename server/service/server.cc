#include "server/service/server.h"

#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/common/option_checks.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_http.h"
#include "server/service/acceptor.h"
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
  // Accepts the main port's connections (null for a unix: address); destroyed first.
  std::unique_ptr<ConnectionAcceptor> acceptor;

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
    if (acceptor != nullptr) acceptor->Stop();
    main->Shutdown(absl::ToChronoTime(deadline));
    if (health != nullptr) health->Shutdown(absl::ToChronoTime(absl::Now()));
  }
};

int64_t Millis(absl::Duration d) {
  return d == absl::InfiniteDuration() ? INT_MAX
                                       : std::min<int64_t>(absl::ToInt64Milliseconds(d), INT_MAX);
}

}  // namespace

// What the signal thread and the loader ask of the main thread.
class Control {
 public:
  enum class Event { kStop, kLoaded, kReload };

  void Post(Event e) {
    absl::MutexLock lock(&mu_);
    pending_[static_cast<int>(e)] = true;
  }
  bool stopping() {
    absl::MutexLock lock(&mu_);
    return pending_[static_cast<int>(Event::kStop)];
  }
  // Blocks until something is posted; a stop wins over everything, and stays posted.
  Event Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Control* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
          return c->pending_[0] || c->pending_[1] || c->pending_[2];
        },
        this));
    if (pending_[static_cast<int>(Event::kStop)]) return Event::kStop;
    for (Event e : {Event::kLoaded, Event::kReload}) {
      if (pending_[static_cast<int>(e)]) {
        pending_[static_cast<int>(e)] = false;
        return e;
      }
    }
    return Event::kStop;  // not reached
  }

 private:
  absl::Mutex mu_;
  bool pending_[3] ABSL_GUARDED_BY(mu_) = {false, false, false};
};

namespace {

const sigset_t& ControlSignals() {
  static const sigset_t* signals = [] {
    auto* set = new sigset_t;
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    return set;
  }();
  return *signals;
}

// Connections, files and the model's threads all take descriptors; Debian's default soft limit
// (1024) is reached by a few hundred Spark tasks with a channel each. The hard limit is what an
// operator allowed: take all of it.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    Log(absl::StrCat("open-file limit raised from ", before, " to ", limit.rlim_cur));
  } else {
    Log(absl::StrCat("open-file limit stays at ", before, ": ", std::strerror(errno)));
  }
}

// SIGTERM, SIGINT and SIGHUP go to a thread of their own that posts them to `control`; every
// thread created after this inherits the mask (BlockControlSignals, usually already called by
// main). A signal that came before is pending and handled first. A second stop signal exits at
// once.
void HandleSignals(Control* control) {
  BlockControlSignals();
  std::thread([control] {
    const sigset_t& signals = ControlSignals();
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
}

// Keepalive, connection age, stream and message limits of the main server.
void ConfigureChannels(const ServerOptions& options, grpc::ServerBuilder* builder) {
  // gRPC sets SO_REUSEPORT by default: a second server on a taken port would then start and
  // silently take a share of the connections. Without it, binding a taken port fails.
  builder->AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Compressed requests are refused (UNIMPLEMENTED) before their body is inflated: gRPC 1.51
  // checks --max_message_bytes only after inflating, so a 1 MiB gzip bomb would cost 1 GiB.
  // Short texts gain nothing from gzip; answers are sent uncompressed as well.
  builder->SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder->SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  if (options.max_connection_age != absl::InfiniteDuration()) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                                static_cast<int>(Millis(options.max_connection_age)));
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                static_cast<int>(Millis(options.max_connection_age_grace)));
  }
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                              static_cast<int>(Millis(options.keepalive_time)));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                              static_cast<int>(Millis(options.keepalive_timeout)));
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              static_cast<int>(Millis(options.min_client_ping_interval)));
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options.max_ping_strikes);
  builder->SetMaxReceiveMessageSize(options.max_message_bytes);
  builder->SetMaxSendMessageSize(options.max_message_bytes);
  // Each stream's receive window stays at gRPC's lookahead (64 KiB). With BDP probing (gRPC's
  // default) the windows grow, and the requests of streams paused by --max_unsent_bytes pile up
  // unread in the transport: 256 stalled streams took the RSS up 286 MiB with it, 105 MiB without
  // (tests/integration/slow_reader_test.cc). Loopback throughput was unchanged (eaos-bench side by
  // side: 37.6k vs 36.5k items in two 6 s rounds on a busy 2-core machine).
  builder->AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Metadata between --max_metadata_bytes and this fails its own call (RESOURCE_EXHAUSTED, in the
  // service); beyond this, gRPC 1.51 closes the connection and every call on it.
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE,
                              TransportMetadataLimit(options.service.max_metadata_bytes));
}

int64_t OpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return static_cast<int64_t>(limit.rlim_cur);
}

// --max_connections, or what the open-file limit allows when it is 0.
int MaxConnections(const ServerOptions& options) {
  return options.max_connections > 0
             ? options.max_connections
             : ConnectionAcceptor::DerivedMaxConnections(OpenFileLimit());
}

// Where the servers listen, ports resolved.
struct Listening {
  std::string main;
  std::string health;  // empty without --health_listen
};

// Starts the main server (EaosService, EaosAdmin, health, reflection) and, with --health_listen,
// the plaintext health-only one.
absl::StatusOr<Listening> StartServers(const ServerOptions& options, EaosServiceImpl* service,
                                         AdminServiceImpl* admin, observability::Metrics* metrics,
                                         Servers* servers) {
  // gRPC's built-in health service encodes its messages itself, so nothing puts grpc.health.v1 into
  // the generated descriptor pool that reflection reads: touch it, or `grpcurl describe` and
  // reflection-driven calls of the health service fail with "Symbol not found".
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFrom(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  int port = 0;
  const auto cannot_listen = [&options] {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address,
                                               " (--listen): is another process using the port?"));
  };
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor;
  if (absl::StartsWith(options.listen_address, "unix:")) {
    builder.AddListeningPort(options.listen_address, *credentials, &port);
  } else {
    // TCP connections are accepted by our own thread, with a cap (acceptor.h).
    absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> acceptor =
        ConnectionAcceptor::Listen(options.listen_address);
    if (!acceptor.ok()) return cannot_listen();
    servers->acceptor = std::move(*acceptor);
    port = servers->acceptor->port();
    grpc_acceptor = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, *credentials);
  }
  ConfigureChannels(options, &builder);
  builder.RegisterService(service);
  builder.RegisterService(admin);
  servers->main = builder.BuildAndStart();
  if (servers->main == nullptr || port == 0) return cannot_listen();
  if (servers->acceptor != nullptr) {
    servers->acceptor->Start(std::move(grpc_acceptor), MaxConnections(options), metrics, Log);
  }
  Listening where{WithPort(options.listen_address, port), ""};
  if (!options.health_listen.empty()) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(options.health_listen, grpc::InsecureServerCredentials(),
                                    &health_port);
    health_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    servers->health = health_builder.BuildAndStart();
    if (servers->health == nullptr || health_port == 0) {
      servers->Shutdown(absl::Now());
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options.health_listen,
                       " (--health_listen): is another process using the port?"));
    }
    where.health = WithPort(options.health_listen, health_port);
  }
  servers->SetHealth(false);
  return where;
}

void LogServing(const ServerOptions& options, const v1::ModelInfo& info, absl::Duration took) {
  Log(absl::StrCat("model ", info.name(), " ", info.version(), " from ",
                   options.engine.model_dir, " ready on ", info.device(), " (",
                   info.intra_op_threads(), info.intra_op_threads() == 1 ? " thread" : " threads",
                   ") in ", absl::FormatDuration(took),
                   "; max_batch_tokens ", info.limits().max_batch_tokens(),
                   info.calibration().calibrated()
                       ? absl::StrCat(" (calibrated: ", info.calibration().budget_bytes() >> 20,
                                      " MiB budget)")
                       : " (--max_batch_tokens)",
                   "; self-test: ", info.self_test().detail(), "; SERVING"));
  const v1::LoadPhases& phases = info.load_phases();
  Log(absl::StrFormat("load steps: model %.1f s, threads %.1f s, memory calibration %.1f s "
                      "(%d probes), self-test %.1f s; threads: %s",
                      phases.model_seconds(), phases.threads_seconds(),
                      phases.calibration_seconds(), info.calibration().probes(),
                      phases.self_test_seconds(), info.thread_choice().detail()));
}

}  // namespace

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
  const absl::Duration hour = absl::Hours(1), day = absl::Hours(24);
  common::OptionChecks checks;
  checks.Address("listen", options.listen_address)
      .Int("max_stream_in_flight", options.service.max_stream_in_flight, 1, 1'000'000)
      .Int("max_results_per_message", options.service.max_results_per_message, 1, 1'000'000)
      .Int("max_unsent_bytes", options.service.max_unsent_bytes, int64_t{1} << 20,
           int64_t{1} << 40)
      .Int("max_metadata_bytes", options.service.max_metadata_bytes, 1024, 1 << 20)
      .Int("max_message_bytes", options.max_message_bytes, 1024, 1 << 30)
      .Int("max_concurrent_streams", options.max_concurrent_streams, 1, 65536)
      .Int("max_connections", options.max_connections, 0, 1'000'000,
           "(0: derived from the open-file limit)")
      .Duration("keepalive_time", options.keepalive_time, absl::Seconds(1), day,
                /*infinite_ok=*/true)
      .Duration("keepalive_timeout", options.keepalive_timeout, absl::Seconds(1), hour)
      .Duration("min_client_ping_interval", options.min_client_ping_interval,
                absl::ZeroDuration(), hour)
      .Int("max_ping_strikes", options.max_ping_strikes, 0, 1000, "(0: unlimited)")
      // 0s would close every connection at once: every call would fail.
      .Duration("max_connection_age", options.max_connection_age, absl::Seconds(1), 30 * day,
                /*infinite_ok=*/true)
      .Duration("max_connection_age_grace", options.max_connection_age_grace,
                absl::ZeroDuration(), 30 * day, /*infinite_ok=*/true)
      .Duration("shutdown_grace", options.shutdown_grace, absl::ZeroDuration(), hour);
  if (!options.metrics_address.empty()) checks.Address("metrics_listen", options.metrics_address);
  if (!options.health_listen.empty()) checks.Address("health_listen", options.health_listen);
  const std::pair<const char*, const std::string*> addresses[] = {
      {"listen", &options.listen_address},
      {"metrics_listen", &options.metrics_address},
      {"health_listen", &options.health_listen}};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = i + 1; j < 3; ++j) {
      const auto& [a_flag, a] = addresses[i];
      const auto& [b_flag, b] = addresses[j];
      checks.That(a->empty() || b->empty() || !common::AddressesCollide(*a, *b),
                  absl::StrCat("--", a_flag, "=", *a, " and --", b_flag, "=", *b,
                               " would share a port: give each its own"));
    }
  }
  if (!checks.ok()) return checks.status();
  return engine::Engine::ValidateOptions(options.engine);
}

void BlockControlSignals() { pthread_sigmask(SIG_BLOCK, &ControlSignals(), nullptr); }

int RunServer(const ServerOptions& options) {
  static auto* control = new Control;  // outlives the signal thread, which is never joined
  HandleSignals(control);
  RaiseFileLimit();
  if (absl::Status s = ValidateServerOptions(options); !s.ok()) {
    Log(std::string(s.message()));
    return 1;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  observability::Metrics metrics(registry);
  observability::MetricsHttpServer metrics_http(registry);
  std::string metrics_at = "metrics off";
  if (!options.metrics_address.empty()) {
    if (absl::Status s = metrics_http.Start(options.metrics_address); !s.ok()) {
      Log(absl::StrCat("cannot serve metrics: ", s.message()));
      return 1;
    }
    metrics_at = absl::StrCat("metrics on ", WithPort(options.metrics_address, metrics_http.port()));
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
  Servers servers;
  absl::StatusOr<Listening> listening =
      StartServers(options, &service, &admin, &metrics, &servers);
  if (!listening.ok()) {
    Log(std::string(listening.status().message()));
    return 1;
  }
  // Tests and scripts read the ports from this line.
  Log(absl::StrCat("listening on ", listening->main, " ", metrics_at, " (", options.tls.mode(), ")",
                   listening->health.empty() ? "" : " health on ", listening->health));

  if (!absl::StartsWith(options.listen_address, "unix:")) {
    const int cap = MaxConnections(options);
    const int64_t files = OpenFileLimit();
    Log(absl::StrCat("connections: at most ", cap, " open on ", listening->main,
                     options.max_connections > 0
                         ? " (--max_connections)"
                         : absl::StrCat(" (derived: open-file limit ", files, " - 128 - ",
                                        files / 16, "; --max_connections sets it)"),
                     "; more are closed at once"));
    if (options.max_connections > ConnectionAcceptor::DerivedMaxConnections(files)) {
      Log(absl::StrCat("warning: --max_connections=", options.max_connections,
                       " leaves little of the open-file limit (", files,
                       ") to the rest; past it, connections are refused as descriptors run out"));
    }
  }

  // Loads run on a thread of their own, so that a stop signal never waits for one: the main thread
  // only waits for events.
  const absl::Time load_start = absl::Now();
  absl::StatusOr<v1::ModelInfo> info;
  std::thread loader([&] {
    info = models.Load();
    control->Post(Control::Event::kLoaded);
  });
  std::thread reloader;
  bool serving = false;
  for (Control::Event e = control->Wait(); e != Control::Event::kStop; e = control->Wait()) {
    if (e == Control::Event::kLoaded) {
      loader.join();
      if (!info.ok()) {
        Log(absl::StrCat("cannot load model from ", options.engine.model_dir, ": ",
                         info.status().ToString()));
        servers.Shutdown(absl::Now());
        return 1;
      }
      metrics.SetModelInfo(info->name(), info->version(), info->device());
      servers.SetHealth(true);
      serving = true;
      LogServing(options, *info, absl::Now() - load_start);
    } else if (!serving) {
      Log("not reloading: the model is still loading");
    } else if (models.loading()) {
      Log("not reloading: a reload is already running");
    } else {
      if (reloader.joinable()) reloader.join();  // the previous reload, finished
      reloader = std::thread([&] { on_reload(models.Reload("")); });
    }
  }

  servers.SetHealth(false);
  // Refuses new calls, lets in-flight ones finish until the deadline, then cancels the rest.
  servers.Shutdown(absl::Now() + (serving ? options.shutdown_grace : absl::ZeroDuration()));
  models.Shutdown();
  if (models.loading()) {
    // A load cannot be interrupted (LibTorch, calibration); waiting for it would hold the pod
    // for minutes. Nothing of it is needed any more.
    Log(serving ? "drained; exiting without waiting for the model reload in progress"
                : "stopped before serving; exiting without waiting for the model load");
    std::_Exit(0);
  }
  if (loader.joinable()) loader.join();
  if (reloader.joinable()) reloader.join();
  Log(serving ? "drained; exiting" : "stopped before serving; exiting");
  return 0;
}

}  // namespace eaos::service
