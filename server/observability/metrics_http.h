// MetricsHttpServer: serves a prometheus-cpp registry as text exposition on GET /metrics.
//
// Why not prometheus::Exposer: its embedded civetweb fails to start ("null context when
// constructing CivetServer") in any process that also links Debian's libtorch, even though the
// bind and listen succeed. This is a deliberately small HTTP/1.0-style server: one thread running
// a poll loop over non-blocking sockets, one request per connection, GET/HEAD only.
//
// What a slow, idle or hostile client can cost is bounded: connections are served concurrently
// (an idle one never delays a scrape), each has kConnectionDeadline for its request to arrive and
// its answer to leave, at most kMaxConnections are open (beyond, the oldest is closed), requests
// are capped at kMaxRequestBytes, and when the process is out of file descriptors the server sheds
// the pending connection through a reserved descriptor instead of spinning on accept.
//
// Thread-safety: Start/Stop from one thread; the registry is read on the server's thread.
//
//   MetricsHttpServer http(registry);
//   absl::Status s = http.Start("127.0.0.1:0");  // port 0: any free port
//   int port = http.port();
#ifndef EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_
#define EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "prometheus/registry.h"

namespace eaos::observability {

class MetricsHttpServer {
 public:
  static constexpr size_t kMaxConnections = 64;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr std::chrono::milliseconds kConnectionDeadline{5000};

  explicit MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();  // Stop()

  // Binds "host:port" ("[::1]:9464", "0.0.0.0:0", ...) and starts serving.
  absl::Status Start(const std::string& address);
  void Stop();
  int port() const { return port_; }

 private:
  struct Connection {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    std::string request;
    std::string response;  // non-empty once the request is answered
    size_t sent = 0;
  };

  void Serve();
  void AcceptAll(std::list<Connection>* open);
  // Reads what is there; true while the connection stays open.
  bool OnReadable(Connection* c);
  // Sends what the socket takes; true while something is left to send.
  bool OnWritable(Connection* c);
  std::string Answer(const std::string& request) const;

  std::shared_ptr<prometheus::Registry> registry_;
  int listen_fd_ = -1;
  int spare_fd_ = -1;  // /dev/null, closed to make room for one accept() when fds run out
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};  // written by Stop() to end the poll loop
  std::thread thread_;
};

}  // namespace eaos::observability

#endif  // EAOS_SERVER_OBSERVABILITY_METRICS_HTTP_H_
