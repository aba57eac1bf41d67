#include "server/observability/metrics_http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace eaos::observability {
namespace {

std::string Response(const std::string& status, const std::string& content_type,
                     const std::string& body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

absl::Status MetricsHttpServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address ", address, " has no port"));
  }
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address ", address, ": ", gai_strerror(rc)));
  }
  std::string error = "no usable address";
  for (addrinfo* ai = found; ai != nullptr && listen_fd_ < 0; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
      listen_fd_ = fd;
    } else {
      error = std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  if (thread_.joinable()) {
    const char byte = 0;
    (void)!write(wake_pipe_[1], &byte, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &spare_fd_, &wake_pipe_[0], &wake_pipe_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void MetricsHttpServer::Serve() {
  std::list<Connection> conns;
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = conns.begin(); it != conns.end();) {  // past their deadline: closed, unanswered
      if (it->deadline <= now) {
        close(it->fd);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
    fds.assign({{wake_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    polled.clear();
    auto wake_at = now + std::chrono::hours(1);
    for (Connection& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.response.empty() ? POLLIN : POLLOUT), 0});
      polled.push_back(&c);
      wake_at = std::min(wake_at, c.deadline);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now);
    if (poll(fds.data(), fds.size(), static_cast<int>(wait.count()) + 1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;
    for (size_t i = 0; i < polled.size(); ++i) {
      const short events = fds[i + 2].revents;
      if (events == 0) continue;
      Connection* c = polled[i];
      const bool keep = c->response.empty() ? OnReadable(c) : OnWritable(c);
      if (!keep) {
        close(c->fd);
        c->fd = -1;
      }
    }
    conns.remove_if([](const Connection& c) { return c.fd < 0; });
    if (fds[1].revents & POLLIN) AcceptAll(&conns);
  }
  for (Connection& c : conns) close(c.fd);
}

void MetricsHttpServer::AcceptAll(std::list<Connection>* conns) {
  while (true) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: the pending connection would wake poll at once, forever. Take it
        // with the reserved descriptor and close it, then reserve again; without a reserve, back
        // off instead of spinning.
        if (spare_fd_ < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          return;
        }
        close(spare_fd_);
        const int shed = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (shed >= 0) close(shed);
        spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // accept() reports EMFILE before it looks at the queue: stop once nothing was waiting.
        if (shed < 0) return;
        continue;
      }
      return;  // EAGAIN: nothing more waiting (or an error the next poll reports again)
    }
    if (conns->size() >= kMaxConnections) {  // the oldest makes room: a scrape is never locked out
      close(conns->front().fd);
      conns->pop_front();
    }
    conns->push_back({fd, std::chrono::steady_clock::now() + kConnectionDeadline, {}, {}, 0});
  }
}

bool MetricsHttpServer::OnReadable(Connection* c) {
  char buf[2048];
  while (true) {
    const ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n == 0) return false;  // closed before a whole request
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c->request.append(buf, static_cast<size_t>(n));
    const bool complete = c->request.find("\r\n\r\n") != std::string::npos ||
                          c->request.find("\n\n") != std::string::npos;
    if (complete || c->request.size() > kMaxRequestBytes) {
      c->response =
          complete ? Answer(c->request)
                   : Response("431 Request Header Fields Too Large", "text/plain", "too large\n");
      return OnWritable(c);
    }
  }
}

bool MetricsHttpServer::OnWritable(Connection* c) {
  while (c->sent < c->response.size()) {
    const ssize_t n =
        send(c->fd, c->response.data() + c->sent, c->response.size() - c->sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c->sent += static_cast<size_t>(n);
  }
  return false;  // all sent: close (Connection: close)
}

std::string MetricsHttpServer::Answer(const std::string& request) const {
  const std::string line = request.substr(0, request.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  const std::string method = line.substr(0, sp1);
  std::string target = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    return Response("405 Method Not Allowed", "text/plain", "only GET\n");
  }
  if (target != "/metrics") return Response("404 Not Found", "text/plain", "see /metrics\n");
  std::ostringstream body;
  prometheus::TextSerializer().Serialize(body, registry_->Collect());
  std::string response = Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body.str());
  if (method == "HEAD") response.resize(response.find("\r\n\r\n") + 4);
  return response;
}

}  // namespace eaos::observability
