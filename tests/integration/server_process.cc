#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace eaos::testing {

std::string DemoModelDir() {
  // EAOS_TEST_MODEL_DIR runs the suite against another model directory.
  if (const char* dir = std::getenv("EAOS_TEST_MODEL_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return std::string(EAOS_SOURCE_DIR) + "/models/demo";
}
std::string ServerBinary() { return EAOS_SERVER_BINARY; }

std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& flags, absl::Duration ready_timeout,
    const std::string& ready_text, int open_file_limit) {
  std::vector<std::string> args = {ServerBinary(), "--model_dir=" + DemoModelDir(),
                                   "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                                   "--threads=1"};
  args.insert(args.end(), flags.begin(), flags.end());
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDERR_FILENO);
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (open_file_limit > 0) {
      const rlimit limit{static_cast<rlim_t>(open_file_limit),
                         static_cast<rlim_t>(open_file_limit)};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::unique_ptr<ServerProcess> server(new ServerProcess);
  server->pid_ = pid;
  server->reader_ = std::thread([s = server.get(), fd = pipe_fds[0]] { s->ReadLog(fd); });

  if (!server->WaitForLog(ready_text, ready_timeout)) {
    if (!server->Running()) {
      server->reader_.join();  // the pipe closed with the process: the log is complete
      int code = 0;
      {
        absl::MutexLock lock(&server->proc_mu_);
        code = server->exit_code_;
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "eaos-server exited with code ", code, " before becoming ready; its log:\n",
          server->log()));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("eaos-server did not become ready; its log:\n", server->log()));
  }
  static const std::regex kPorts(R"(listening on ([0-9.]+):(\d+) metrics on [0-9.]+:(\d+))");
  std::smatch m;
  const std::string log = server->log();
  if (!std::regex_search(log, m, kPorts)) {
    return absl::InternalError(absl::StrCat("no ports in the server log:\n", log));
  }
  server->target_ = absl::StrCat(m[1].str(), ":", m[2].str());
  server->metrics_port_ = std::stoi(m[3].str());
  return server;
}

void ServerProcess::ReadLog(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    log_.append(buf, static_cast<size_t>(n));
  }
  close(fd);
}

std::string ServerProcess::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

bool ServerProcess::WaitForLog(const std::string& text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu_);
      if (log_.find(text) != std::string::npos) return true;
    }
    if (!Running()) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

bool ServerProcess::Running() {
  absl::MutexLock lock(&proc_mu_);
  if (exited_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  return true;
}

void ServerProcess::Signal(int sig) {
  if (Running()) kill(pid_, sig);
}

int ServerProcess::Terminate(absl::Duration timeout) {
  if (Running()) kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  while (Running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  if (Running()) {
    kill(pid_, SIGKILL);
    while (Running()) absl::SleepFor(absl::Milliseconds(10));
    absl::MutexLock lock(&proc_mu_);
    exit_code_ = -1;
  }
  if (reader_.joinable()) reader_.join();
  absl::MutexLock lock(&proc_mu_);
  return exit_code_;
}

ServerProcess::~ServerProcess() {
  if (Running()) {
    kill(pid_, SIGKILL);
    while (Running()) absl::SleepFor(absl::Milliseconds(10));
  }
  if (reader_.joinable()) reader_.join();
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port, " failed"));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("write failed");
  }
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::InternalError(absl::StrCat("not an HTTP response: ", response.substr(0, 200)));
  }
  if (response.find(" 200 ") == std::string::npos) {
    return absl::InternalError(response.substr(0, response.find("\r\n")));
  }
  return response.substr(body + 4);
}

ServerProcess* SharedServerSuite::server_ = nullptr;

void SharedServerSuite::StartSharedServer(const std::vector<std::string>& flags) {
  auto server = ServerProcess::Start(flags);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = server->release();
}

void SharedServerSuite::TearDownTestSuite() {
  if (server_ != nullptr) {
    EXPECT_EQ(server_->Terminate(), 0) << server_->log();
  }
  delete server_;
  server_ = nullptr;
}

}  // namespace eaos::testing
