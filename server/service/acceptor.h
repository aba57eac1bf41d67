// ConnectionAcceptor: listens on the gRPC port and accepts its connections itself, so that a flood
// of connections can never leave the port dead.
//
// Why: gRPC 1.51's own accept loop, once accept4 fails with EMFILE, stops accepting for good
// (every later call, health included, times out until a restart, even after the descriptors are
// back), and 1.51 has no cap on incoming connections. Here one thread accepts and hands each
// connection to gRPC through its external connection acceptor (the server's credentials, TLS or
// not, apply to it as to any port).
//
// Connections wait with us until their first bytes arrive (gRPC clients speak first: the HTTP/2
// preface, or the TLS ClientHello), then go to gRPC with those bytes still unread in the socket.
// One that sends nothing within kFirstBytesDeadline is closed. So a flood of silent TCP
// connections never reaches gRPC, and cannot lock real clients out: when the cap is reached, the
// oldest silent connection is closed to make room for the newcomer.
//
// The cap: at most `max_connections` open, the silent ones and those handed to gRPC together
// (each is a descriptor). When all of them are gRPC's, a new connection is accepted and closed at
// once (the client sees it closed right away, not a hang). Either closing counts in
// eaos_connections_refused_total{reason="cap"}. Whether a handed-over connection is still open
// is read from its descriptor: it is remembered with the socket's inode, and it is gone when
// fstat(fd) fails or shows another inode (gRPC closed it; the number may have been reused).
// Socket inodes are not reused while the process runs, so this cannot mistake a new file for the
// old connection. The list is only rechecked when it is full (at most every 50 ms), so below the
// cap an accept costs nothing extra.
//
// Out of descriptors (EMFILE/ENFILE: --max_connections above what the limit allows, or model
// files and /metrics took the rest): the oldest silent connection is closed and the accept
// retried; with none, a descriptor kept in reserve is closed, the waiting connection accepted
// with it and closed, and the reserve reopened; counted as reason="descriptors". Without a reserve the thread backs off 100 ms. It
// never spins: it sleeps in poll (1 s timeout, or a wake pipe for Stop).
//
// Refusals are logged at the first of a burst and then at most every 10 s, with the count.
//
// Thread-safety: Listen, Start and Stop from one thread; the accept thread only touches its own
// state and the metrics.
//
//   auto acceptor = ConnectionAcceptor::Listen("0.0.0.0:50051");  // the port is taken now
//   builder.experimental().AddExternalConnectionAcceptor(...) -> (*acceptor)->Start(std::move(a),
//       cap, &metrics, log);
//   ... (*acceptor)->Stop();  // before grpc::Server::Shutdown
#ifndef EAOS_SERVER_SERVICE_ACCEPTOR_H_
#define EAOS_SERVER_SERVICE_ACCEPTOR_H_

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"
#include "server/observability/metrics.h"

namespace eaos::service {

class ConnectionAcceptor {
 public:
  // Binds and listens on "host:port" (IPv4, [IPv6], a name, port 0 for any free one) without
  // SO_REUSEPORT, so a taken port fails here. A wildcard host (0.0.0.0, [::] or empty) listens
  // dual-stack on [::] where the host has IPv6, as gRPC's own ports do.
  static absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> Listen(const std::string& address);
  ~ConnectionAcceptor();  // Stop()

  int port() const { return port_; }

  // Starts the accept thread: connections go to `grpc_acceptor` while fewer than
  // `max_connections` it handed over are open.
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor,
             int max_connections, observability::Metrics* metrics,
             std::function<void(const std::string&)> log);
  // Stops accepting and closes the listening sockets (new connections are then refused by the
  // kernel); connections already handed over stay with gRPC.
  void Stop();

  // The cap --max_connections=0 stands for: the open-file limit less a reserve for everything
  // else the process opens (model files, /metrics and its 64 connections, gRPC's own
  // descriptors, health port): limit - (128 + limit / 16), at least 16.
  static int DerivedMaxConnections(int64_t open_file_limit);

 private:
  static constexpr size_t kMaxPending = 1024;  // silent connections at most; beyond, oldest goes
  static constexpr std::chrono::milliseconds kFirstBytesDeadline{10'000};

  struct Pending {
    int fd;
    int64_t deadline_ms;
  };
  struct Open {
    int fd;
    ino_t inode;
  };
  ConnectionAcceptor() = default;
  void Serve();
  void AcceptAll(int listen_fd);
  bool Full();  // rechecks the open list when it is full; true while still full
  void HandOver(const Pending& p);
  void Refuse(int fd, bool out_of_descriptors);

  std::vector<int> listen_fds_;
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};
  int spare_fd_ = -1;
  int max_connections_ = 0;
  observability::Metrics* metrics_ = nullptr;
  std::function<void(const std::string&)> log_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor_;
  std::deque<Pending> pending_;  // oldest first
  std::vector<Open> open_;      // handed to gRPC, some perhaps closed since
  int64_t last_prune_ms_ = 0;
  int64_t last_log_ms_ = -1'000'000;
  int64_t refused_since_log_ = 0;
  std::thread thread_;
};

}  // namespace eaos::service

#endif  // EAOS_SERVER_SERVICE_ACCEPTOR_H_
