// ServerProcess: runs the real eaos-server binary for a test, on loopback ephemeral ports.
//
// Start() forks the binary with --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0, reads the ports
// from its log, and waits until it reports SERVING. The destructor kills a server still running.
//
// Thread-safety: one test thread drives an instance; log() may be read at any time.
//
//   auto server = ServerProcess::Start({"--max_batch_size=1"});
//   auto channel = grpc::CreateChannel((*server)->target(), grpc::InsecureChannelCredentials());
//   EXPECT_EQ((*server)->Terminate(), 0);
#ifndef EAOS_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define EAOS_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace eaos::testing {

class ServerProcess {
 public:
  // `flags` are appended to the defaults (model dir = the demo model, loopback ports). Returns
  // once the log shows `ready_text` (default: the model is SERVING). `open_file_limit` > 0 sets
  // the server's RLIMIT_NOFILE, soft and hard (as `ulimit -n N; exec eaos-server` would).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& flags = {},
      absl::Duration ready_timeout = absl::Seconds(120),
      const std::string& ready_text = "SERVING", int open_file_limit = 0);
  ~ServerProcess();

  // "127.0.0.1:PORT" of the gRPC server and the metrics endpoint.
  const std::string& target() const { return target_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }

  // Sends `sig` to the server (e.g. SIGHUP).
  void Signal(int sig);
  // Sends SIGTERM and waits for exit. Returns the exit code, or -1 (killed / timed out).
  int Terminate(absl::Duration timeout = absl::Seconds(60));
  // True while the process has not exited. Thread-safe.
  bool Running();
  // Everything the server printed so far.
  std::string log() const;
  // Waits until the log contains `text`.
  bool WaitForLog(const std::string& text, absl::Duration timeout);

 private:
  ServerProcess() = default;
  void ReadLog(int fd);

  pid_t pid_ = -1;
  absl::Mutex proc_mu_;  // Running() may be called from two threads (Terminate, WaitForLog)
  int exit_code_ ABSL_GUARDED_BY(proc_mu_) = -1;
  bool exited_ ABSL_GUARDED_BY(proc_mu_) = false;
  std::string target_;
  int metrics_port_ = 0;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
};

// Base of a test suite whose tests share one server, so the model loads once per suite:
//
//   class MySuite : public SharedServerSuite {
//    protected:
//     static void SetUpTestSuite() { StartSharedServer({"--max_batch_size=8"}); }
//   };
//   TEST_F(MySuite, ...) { ... shared_server()->target() ... }
class SharedServerSuite : public ::testing::Test {
 protected:
  // Starts the suite's server (ASSERTs that it starts).
  static void StartSharedServer(const std::vector<std::string>& flags = {});
  // Stops it with SIGTERM and EXPECTs exit code 0.
  static void TearDownTestSuite();
  static ServerProcess* shared_server() { return server_; }

 private:
  static ServerProcess* server_;
};

// Absolute path of the demo model directory and the server binary (set by CMake).
std::string DemoModelDir();
std::string ServerBinary();

// Runs `command` in a shell; returns {exit code (-1 if killed), stdout and stderr}.
std::pair<int, std::string> RunCommand(const std::string& command);

// Plain HTTP GET on 127.0.0.1:port; returns the body.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace eaos::testing

#endif  // EAOS_TESTS_INTEGRATION_SERVER_PROCESS_H_
