#include "server/service/acceptor.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace eaos::service {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int OpenSpare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

int PortOfSocket(int fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return 0;
  return bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void SetPort(sockaddr* addr, int port) {
  if (addr->sa_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));
  }
}

// A listening, non-blocking socket on `addr`, or -1 with errno set.
int ListenOn(const sockaddr* addr, socklen_t len, bool dual_stack) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // restarts over TIME_WAIT
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (dual_stack) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, addr, len) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace

int ConnectionAcceptor::DerivedMaxConnections(int64_t open_file_limit) {
  const int64_t cap = open_file_limit - (128 + open_file_limit / 16);
  return static_cast<int>(std::clamp<int64_t>(cap, 16, 1'000'000));
}

absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> ConnectionAcceptor::Listen(
    const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(address, " has no port"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<ConnectionAcceptor> acceptor(new ConnectionAcceptor);
  std::string error = "no usable address";
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    SetPort(reinterpret_cast<sockaddr*>(&any6), std::atoi(port.c_str()));
    int fd = ListenOn(reinterpret_cast<sockaddr*>(&any6), sizeof(any6), /*dual_stack=*/true);
    if (fd < 0 && errno != EADDRINUSE && errno != EACCES) {  // no IPv6 here: IPv4 only
      sockaddr_in any4{};
      any4.sin_family = AF_INET;
      any4.sin_addr.s_addr = htonl(INADDR_ANY);
      SetPort(reinterpret_cast<sockaddr*>(&any4), std::atoi(port.c_str()));
      fd = ListenOn(reinterpret_cast<sockaddr*>(&any4), sizeof(any4), false);
    }
    if (fd < 0) error = std::strerror(errno);
    if (fd >= 0) acceptor->listen_fds_.push_back(fd);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return absl::UnavailableError(absl::StrCat(address, ": ", gai_strerror(rc)));
    }
    // Every address of the name (localhost: 127.0.0.1 and ::1), on one port.
    int chosen = 0;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      if (chosen != 0) SetPort(ai->ai_addr, chosen);
      const int fd = ListenOn(ai->ai_addr, ai->ai_addrlen, false);
      if (fd < 0) {
        error = std::strerror(errno);
        continue;
      }
      acceptor->listen_fds_.push_back(fd);
      chosen = PortOfSocket(fd);
    }
    freeaddrinfo(found);
  }
  if (acceptor->listen_fds_.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", error));
  }
  acceptor->port_ = PortOfSocket(acceptor->listen_fds_.front());
  if (pipe2(acceptor->wake_pipe_, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  acceptor->spare_fd_ = OpenSpare();
  return acceptor;
}

ConnectionAcceptor::~ConnectionAcceptor() { Stop(); }

void ConnectionAcceptor::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_acceptor,
    int max_connections, observability::Metrics* metrics,
    std::function<void(const std::string&)> log) {
  grpc_acceptor_ = std::move(grpc_acceptor);
  max_connections_ = std::max(1, max_connections);
  metrics_ = metrics;
  log_ = std::move(log);
  open_.reserve(static_cast<size_t>(std::min(max_connections_, 1 << 16)));
  thread_ = std::thread([this] { Serve(); });
}

void ConnectionAcceptor::Stop() {
  if (thread_.joinable()) {
    const char byte = 0;
    (void)!write(wake_pipe_[1], &byte, 1);
    thread_.join();
  }
  for (int& fd : listen_fds_) close(fd);
  listen_fds_.clear();
  for (const Pending& p : pending_) close(p.fd);
  pending_.clear();
  for (int* fd : {&spare_fd_, &wake_pipe_[0], &wake_pipe_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void ConnectionAcceptor::Serve() {
  std::vector<pollfd> fds;
  while (true) {
    const int64_t now = NowMs();
    while (!pending_.empty() && pending_.front().deadline_ms <= now) {  // sent nothing in time
      close(pending_.front().fd);
      pending_.pop_front();
    }
    fds.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    for (int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
    for (const Pending& p : pending_) fds.push_back({p.fd, POLLIN, 0});
    const int64_t wait =
        pending_.empty() ? 1000 : std::clamp<int64_t>(pending_.front().deadline_ms - now, 1, 1000);
    if (poll(fds.data(), fds.size(), static_cast<int>(wait)) < 0) {
      if (errno == EINTR) continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (fds[0].revents != 0) return;
    // Pending connections that sent their first bytes (or closed) leave the list.
    const size_t first_pending = 1 + listen_fds_.size();
    std::deque<Pending> waiting;
    for (size_t i = 0; i < pending_.size(); ++i) {
      const short events = fds[first_pending + i].revents;
      if (events == 0) {
        waiting.push_back(pending_[i]);
        continue;
      }
      char byte;
      const ssize_t n = recv(pending_[i].fd, &byte, 1, MSG_PEEK);
      if (n > 0) {
        HandOver(pending_[i]);  // the bytes stay queued in the socket for gRPC to read
      } else {
        close(pending_[i].fd);  // closed (or reset) before a byte
      }
    }
    pending_.swap(waiting);
    for (size_t i = 1; i < first_pending; ++i) {
      if (fds[i].revents != 0) AcceptAll(fds[i].fd);
    }
  }
}

void ConnectionAcceptor::AcceptAll(int listen_fd) {
  // Bounded, so one busy listener cannot starve the wake pipe.
  for (int n = 0; n < 256; ++n) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        if (!pending_.empty()) {  // the oldest silent connection gives its descriptor
          Refuse(pending_.front().fd, /*out_of_descriptors=*/true);
          pending_.pop_front();
          continue;
        }
        // The pending connection keeps poll awake: take it with the reserve and close it.
        if (spare_fd_ < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          spare_fd_ = OpenSpare();
          return;
        }
        close(spare_fd_);
        spare_fd_ = -1;
        const int shed = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (shed >= 0) Refuse(shed, /*out_of_descriptors=*/true);
        spare_fd_ = OpenSpare();
        if (shed < 0) return;  // EMFILE comes before the queue is looked at: nothing waited
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {  // ENOBUFS, ENOMEM...: back off
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return;
    }
    if (Full()) {
      if (pending_.empty()) {  // every slot is a connection gRPC serves: refuse the newcomer
        Refuse(fd, /*out_of_descriptors=*/false);
        continue;
      }
      Refuse(pending_.front().fd, /*out_of_descriptors=*/false);  // the oldest silent one
      pending_.pop_front();
    } else if (pending_.size() >= kMaxPending) {
      Refuse(pending_.front().fd, /*out_of_descriptors=*/false);
      pending_.pop_front();
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pending_.push_back({fd, NowMs() + kFirstBytesDeadline.count()});
  }
}

void ConnectionAcceptor::HandOver(const Pending& p) {
  struct stat st {};
  fstat(p.fd, &st);
  open_.push_back({p.fd, st.st_ino});
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters params;
  params.listener_fd = listen_fds_.front();
  params.fd = p.fd;  // gRPC owns it from here, and closes it
  grpc_acceptor_->HandleNewConnection(&params);
}

bool ConnectionAcceptor::Full() {
  const size_t cap = static_cast<size_t>(max_connections_);
  if (open_.size() + pending_.size() < cap) return false;
  const int64_t now = NowMs();
  if (now - last_prune_ms_ < 50) return true;
  last_prune_ms_ = now;
  open_.erase(std::remove_if(open_.begin(), open_.end(),
                             [](const Open& o) {
                               struct stat st {};
                               return fstat(o.fd, &st) != 0 || st.st_ino != o.inode ||
                                      !S_ISSOCK(st.st_mode);
                             }),
              open_.end());
  return open_.size() + pending_.size() >= cap;
}

void ConnectionAcceptor::Refuse(int fd, bool out_of_descriptors) {
  close(fd);
  if (metrics_ != nullptr) metrics_->RecordConnectionRefused(out_of_descriptors);
  ++refused_since_log_;
  const int64_t now = NowMs();
  if (now - last_log_ms_ >= 10'000) {
    if (log_) {
      log_(absl::StrCat(
          refused_since_log_ == 1
              ? std::string("refusing connections")
              : absl::StrCat("refused ", refused_since_log_, " connections since the last report"),
          " to the gRPC port: ",
          out_of_descriptors ? std::string("out of file descriptors")
                             : absl::StrCat(max_connections_, " open (--max_connections)"),
          "; each is closed at once and counted in eaos_connections_refused_total (reported again "
          "in 10 s at most)"));
    }
    last_log_ms_ = now;
    refused_since_log_ = 0;
  }
}

}  // namespace eaos::service
