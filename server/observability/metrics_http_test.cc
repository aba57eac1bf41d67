#include "server/observability/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "prometheus/counter.h"

namespace eaos::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{3, 0};  // a client that waited longer than this was blocked by someone else
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// GET /metrics on a new connection; the whole response, or "" when it did not come in time.
std::string Scrape(int port) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, n);
  close(fd);
  return response;
}

class MetricsHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter().Name("eaos_test_total").Help("t").Register(*registry_).Add({}).Increment();
  }
  std::shared_ptr<prometheus::Registry> registry_;
};

TEST_F(MetricsHttp, ServesTheRegistryAndRefusesOtherPathsAndMethods) {
  MetricsHttpServer http(registry_);
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  EXPECT_THAT(Scrape(http.port()), HasSubstr("eaos_test_total 1"));
  const int fd = Connect(http.port());
  send(fd, "POST /metrics HTTP/1.1\r\n\r\n", 26, MSG_NOSIGNAL);
  char buf[256] = {};
  ASSERT_GT(recv(fd, buf, sizeof(buf) - 1, 0), 0);
  EXPECT_THAT(std::string(buf), StartsWith("HTTP/1.1 405"));
  close(fd);
}

TEST_F(MetricsHttp, IdleAndTricklingConnectionsNeverDelayAScrape) {
  MetricsHttpServer http(registry_);
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(Connect(http.port()));
  const int trickle = Connect(http.port());
  send(trickle, "GET /met", 8, MSG_NOSIGNAL);
  // One connection at a time would make this wait for 8 x 5 s of read timeouts.
  const absl::Time start = absl::Now();
  EXPECT_THAT(Scrape(http.port()), HasSubstr("eaos_test_total 1"));
  std::cout << "scrape behind 8 idle + 1 trickling connections: "
            << absl::ToDoubleMilliseconds(absl::Now() - start) << " ms\n";
  // The trickling client is closed once its deadline passes, unanswered.
  timeval tv{static_cast<long>(MetricsHttpServer::kConnectionDeadline.count() / 1000 + 3), 0};
  setsockopt(trickle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[64];
  EXPECT_EQ(recv(trickle, buf, sizeof(buf), 0), 0);
  close(trickle);
  for (int fd : idle) close(fd);
}

TEST_F(MetricsHttp, MoreConnectionsThanTheCapStillLetAScrapeThrough) {
  MetricsHttpServer http(registry_);
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  std::vector<int> idle;
  for (size_t i = 0; i < 2 * MetricsHttpServer::kMaxConnections; ++i) {
    idle.push_back(Connect(http.port()));
  }
  EXPECT_THAT(Scrape(http.port()), HasSubstr("eaos_test_total 1"));
  for (int fd : idle) close(fd);
}

// CPU seconds a process has used (utime + stime from /proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
  long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A child process serves metrics with every descriptor in use: connections are shed, the thread
// does not spin, and once descriptors are free again scrapes are answered.
TEST(MetricsHttpOutOfFds, ShedsConnectionsWithoutSpinningAndRecovers) {
  int ports[2], go[2];
  ASSERT_EQ(pipe(ports), 0);
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = 256;  // few to fill
    setrlimit(RLIMIT_NOFILE, &limit);
    auto registry = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter().Name("eaos_test_total").Help("t").Register(*registry).Add({});
    MetricsHttpServer http(registry);
    if (!http.Start("127.0.0.1:0").ok()) _exit(2);
    const int port = http.port();
    std::vector<int> filler;
    for (int fd; (fd = dup(0)) >= 0;) filler.push_back(fd);  // until EMFILE
    (void)!write(ports[1], &port, sizeof(port));
    char byte;
    (void)!read(go[0], &byte, 1);  // the parent has flooded and measured
    for (int fd : filler) close(fd);
    (void)!read(go[0], &byte, 1);  // the parent has scraped
    _exit(0);
  }
  int port = 0;
  ASSERT_EQ(read(ports[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  std::vector<int> flood;
  for (int i = 0; i < 20; ++i) flood.push_back(Connect(port));
  const double cpu_before = CpuSeconds(child);
  sleep(1);
  const double cpu_used = CpuSeconds(child) - cpu_before;
  EXPECT_LT(cpu_used, 0.5) << "the metrics thread spins on accept while out of descriptors";
  std::cout << "out of descriptors, 20 connections pending: " << cpu_used
            << " CPU seconds in 1 s\n";
  for (int fd : flood) close(fd);
  (void)!write(go[1], "x", 1);
  std::string scraped;
  for (int attempt = 0; attempt < 20 && scraped.empty(); ++attempt) {
    scraped = Scrape(port);
    if (scraped.empty()) usleep(100 * 1000);
  }
  EXPECT_THAT(scraped, HasSubstr("eaos_test_total 0"));
  (void)!write(go[1], "x", 1);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace eaos::observability
