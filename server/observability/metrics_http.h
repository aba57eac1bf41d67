// MetricsHttpServer: serves a prometheus-cpp registry as text exposition on GET /metrics.
//
// Why not prometheus::Exposer: its embedded civetweb fails to start ("null context when
// constructing CivetServer") in any process that also links Debian's libtorch, even though the
// bind and listen succeed. This is a deliberately small HTTP/1.0-style server: one thread, one
// request per connection, GET only, bounded request size and read timeouts.
//
// Thread-safety: Start/Stop from one thread; the registry is read on the server's thread.
//
//   MetricsHttpServer http(registry);
//   absl::Status s = http.Start("127.0.0.1:0");  // port 0: any free port
//   int port = http.port();
#ifndef EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_
#define EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "prometheus/registry.h"

namespace eaos::observability {

class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();  // Stop()

  // Binds "host:port" ("[::1]:9464", "0.0.0.0:0", ...) and starts serving.
  absl::Status Start(const std::string& address);
  void Stop();
  int port() const { return port_; }

 private:
  void Serve();
  void Handle(int fd);

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};  // written by Stop() to end the poll loop
  std::thread thread_;
};

}  // namespace eaos::observability

#endif  // EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_
