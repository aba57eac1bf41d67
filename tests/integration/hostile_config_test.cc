// The real eaos-server against careless and hostile configuration (issue "Hold the edge"): flags
// out of range, a port already taken, model files that are devices, FIFOs or absurdly large, a
// model.json that promises more than model.pt can do, and compressed requests (a gzip bomb).
// Each must be refused with a message that names what is wrong; a failed reload must leave the
// serving model up and later reloads and shutdown working.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "eaos/v1/admin.grpc.pb.h"
#include "eaos/v1/eaos.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A copy of the demo model in a fresh directory, for a test to break.
class ModelCopy {
 public:
  explicit ModelCopy(const std::string& name)
      : dir_(fs::temp_directory_path() / absl::StrCat("eaos_hostile_", getpid(), "_", name)) {
    fs::remove_all(dir_);
    fs::copy(DemoModelDir(), dir_);
  }
  ~ModelCopy() { fs::remove_all(dir_); }
  std::string path(const std::string& file = "") const {
    return file.empty() ? dir_.string() : (dir_ / file).string();
  }
  std::string Read(const std::string& file) const {
    std::stringstream buf;
    buf << std::ifstream(path(file)).rdbuf();
    return buf.str();
  }
  // Replaces the first match of `pattern` in model.json.
  void EditModelJson(const std::string& pattern, const std::string& replacement) {
    const std::string json = Read("model.json");
    const std::string edited = std::regex_replace(json, std::regex(pattern), replacement,
                                                  std::regex_constants::format_first_only);
    ASSERT_NE(json, edited) << pattern;
    std::ofstream(path("model.json"), std::ios::trunc) << edited;
  }
  void ReplaceWithFifo(const std::string& file) {
    fs::remove(path(file));
    ASSERT_EQ(::mkfifo(path(file).c_str(), 0600), 0);
  }
  void ReplaceWithLink(const std::string& file, const std::string& target) {
    fs::remove(path(file));
    fs::create_symlink(target, path(file));
  }

 private:
  fs::path dir_;
};

// Starts a server expected to refuse to start; returns what it said.
std::string RefusedStart(const std::vector<std::string>& flags) {
  const absl::Time start = absl::Now();
  auto server = ServerProcess::Start(flags, absl::Seconds(60));
  EXPECT_FALSE(server.ok()) << "started with " << ::testing::PrintToString(flags);
  // Refusals come before any long wait (a FIFO must not hang the load).
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  return server.ok() ? "" : std::string(server.status().message());
}

TEST(BadFlags, EachIsRefusedNamingTheFlagAndTheAllowedRange) {
  const struct {
    std::string flag, says;
  } cases[] = {
      {"--max_queue_delay=inf", "--max_queue_delay must be in [0, 10s], got inf"},
      {"--max_connection_age=0s", "--max_connection_age must be in [1s, 720h] or inf, got 0"},
      {"--threads=1000", "--threads must be in [0, "},
      {"--listen=127.0.0.1:70000", "--listen must be HOST:PORT"},
      {"--metrics_listen=127.0.0.1:99999", "--metrics_listen must be HOST:PORT"},
      {"--max_batch_size=-1", "--max_batch_size must be in [1, 4096], got -1"},
      {"--shutdown_grace=-5s", "--shutdown_grace must be in [0, 1h], got -5s"},
      {"--keepalive_time=-1s", "--keepalive_time must be in"},
      {"--max_concurrent_streams=0", "--max_concurrent_streams must be in [1, 65536]"},
      {"--memory_budget=1", "--memory_budget is in bytes"},
      {"--max_text_bytes=0", "--max_text_bytes must be in"},
      {"--oom_budget_hold=-1s", "--oom_budget_hold must be in"},
      {"--listen=127.0.0.1:50999 --health_listen=0.0.0.0:50999", "would share a port"},
      {"--device=gpu", "--device=gpu: \"gpu\" is not a device this server accepts; use cpu, cuda"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> flags;
    std::istringstream words(c.flag);
    for (std::string w; words >> w;) flags.push_back(w);
    const std::string said = RefusedStart(flags);
    EXPECT_THAT(said, HasSubstr(c.says)) << c.flag;
    EXPECT_THAT(said, HasSubstr("exited with code 1")) << c.flag;
  }
}

TEST(Ports, ASecondServerOnATakenPortFailsNamingTheAddress) {
  auto first = ServerProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string said = RefusedStart({"--listen=" + (*first)->target()});
  EXPECT_THAT(said, HasSubstr("cannot listen on " + (*first)->target()));
  EXPECT_THAT(said, HasSubstr("another process"));
  EXPECT_EQ((*first)->Terminate(), 0);
}

TEST(ModelFiles, DevicesFifosAndHugeFilesAreRefusedBeforeTheyAreRead) {
  {
    ModelCopy model("devzero_golden");
    model.ReplaceWithLink("golden.json", "/dev/zero");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("golden.json is a character device, not a regular file"));
  }
  {
    ModelCopy model("fifo_tokenizer");
    model.ReplaceWithFifo("tokenizer.model");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("tokenizer.model is a FIFO, not a regular file"));
  }
  {
    ModelCopy model("fifo_model_json");
    model.ReplaceWithFifo("model.json");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}), HasSubstr("is a FIFO"));
  }
  {
    ModelCopy model("devzero_model_pt");
    model.ReplaceWithLink("model.pt", "/dev/zero");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("model.pt is a character device"));
  }
  {
    ModelCopy model("huge_model_json");
    std::ofstream(model.path("model.json"), std::ios::app) << std::string(2 << 20, ' ');
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("is larger than the 1.0 MiB allowed for it"));
  }
}

TEST(ModelFiles, ModelJsonPromisesThatTheModelCannotKeepAreRefusedAtLoad) {
  {
    ModelCopy model("max_length_overflow");
    model.EditModelJson(R"("max_length"\s*:\s*128)", R"("max_length": 3000000000)");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("max_length must be in [3, 16384], got 3000000000"));
  }
  {
    // The demo model has 128 positions; with calibration and the golden self-test off nothing
    // else would run a row this long before a client's text did.
    ModelCopy model("max_length_beyond_positions");
    model.EditModelJson(R"("max_length"\s*:\s*128)", R"("max_length": 200)");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path(), "--golden_check=false",
                              "--max_batch_tokens=4096"}),
                HasSubstr("max_length=200 is more than model.pt accepts"));
  }
  {
    ModelCopy model("unk_out_of_vocab");
    model.EditModelJson(R"("unk_id"\s*:\s*\d+)", R"("unk_id": 999999)");
    EXPECT_THAT(RefusedStart({"--model_dir=" + model.path()}),
                HasSubstr("special_tokens.unk_id=999999 is not an id of the tokenizer"));
  }
}

grpc::Status Reload(const std::string& target, const std::string& dir,
                    v1::ReloadModelResponse* response) {
  auto stub =
      v1::EaosAdmin::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::ReloadModelRequest request;
  request.set_model_dir(dir);
  return stub->ReloadModel(&context, request, response);
}

grpc::Status PredictOne(const std::string& target, v1::PredictResponse* response,
                        grpc_compression_algorithm compression = GRPC_COMPRESS_NONE,
                        const std::string& text = "MC dẫn rất duyên") {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  auto stub = v1::EaosService::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  context.set_compression_algorithm(compression);
  v1::PredictRequest request;
  v1::Item* item = request.add_items();
  item->set_id("x");
  item->set_text(text);
  return stub->Predict(&context, request, response);
}

TEST(ModelFiles, AFailedReloadOfHostileFilesKeepsServingAndLaterReloadsAndShutdownWork) {
  auto server = ServerProcess::Start({"--admin_reload"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->target();
  ModelCopy fifo("reload_fifo");
  fifo.ReplaceWithFifo("model.json");
  ModelCopy zero("reload_devzero");
  zero.ReplaceWithLink("golden.json", "/dev/zero");
  for (const ModelCopy* bad : {&fifo, &zero}) {
    v1::ReloadModelResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status s = Reload(target, bad->path(), &response);
    EXPECT_FALSE(s.ok()) << bad->path();
    EXPECT_THAT(s.error_message(), HasSubstr("not a regular file"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(20));
    v1::PredictResponse answer;
    const grpc::Status served = PredictOne(target, &answer);
    ASSERT_TRUE(served.ok()) << served.error_message();
    EXPECT_FALSE(answer.results(0).has_error());
  }
  ModelCopy good("reload_good");
  v1::ReloadModelResponse response;
  const grpc::Status s = Reload(target, good.path(), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ((*server)->Terminate(), 0);
}

// Peak resident memory of a process, from /proc (VmHWM), in bytes.
int64_t PeakRss(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

TEST(Compression, AGzipBombIsRefusedBeforeItIsInflated) {
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->target();
  v1::PredictResponse response;
  ASSERT_TRUE(PredictOne(target, &response).ok());
  const int64_t before = PeakRss((*server)->pid());
  // 256 MiB of one letter: about 256 KiB on the wire once gzipped.
  const grpc::Status bomb =
      PredictOne(target, &response, GRPC_COMPRESS_GZIP, std::string(256 << 20, 'a'));
  EXPECT_EQ(bomb.error_code(), grpc::StatusCode::UNIMPLEMENTED) << bomb.error_message();
  EXPECT_THAT(bomb.error_message(), HasSubstr("gzip"));
  const int64_t after = PeakRss((*server)->pid());
  std::cout << "gzip bomb: server peak RSS " << (before >> 20) << " -> " << (after >> 20)
            << " MiB\n";
  EXPECT_LT(after - before, int64_t{64} << 20) << "the body was inflated: peak RSS " << before
                                               << " -> " << after << " bytes";
  // The connection and the server go on serving uncompressed calls.
  const grpc::Status honest = PredictOne(target, &response);
  EXPECT_TRUE(honest.ok()) << honest.error_message();
  EXPECT_EQ((*server)->Terminate(), 0);
}

// True once the process blocks SIGTERM (main's first statement), read from /proc/PID/status.
bool BlocksSigterm(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigBlk:", 0) == 0) {
      const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (SIGTERM - 1)) & 1;
    }
  }
  return false;
}

// Runs the server binary with `flags`; once main() has started (it blocks SIGTERM first), sends
// each signal after its delay, and returns {exit status, log} when the server exits.
std::pair<int, std::string> SignalledEarly(const std::vector<std::string>& flags,
                                           const std::vector<std::pair<absl::Duration, int>>& signals) {
  std::vector<std::string> args = {ServerBinary(), "--model_dir=" + DemoModelDir(),
                                   "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  int out[2];
  if (pipe(out) != 0) return {-1, "pipe failed"};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDERR_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  // Before main() the dynamic loader maps LibTorch; a signal there kills any process (nothing of
  // ours runs yet). From main() on, it must be handled.
  for (int i = 0; i < 20000 && !BlocksSigterm(pid); ++i) usleep(100);
  const absl::Time start = absl::Now();
  for (const auto& [after, sig] : signals) {
    absl::SleepFor(start + after - absl::Now());
    kill(pid, sig);
  }
  std::string log;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) log.append(buf, n);  // until exit
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, log};
}

TEST(Signals, AStopSignalFromTheFirstMomentOfMainIsHandledAndLogged) {
  for (absl::Duration after : {absl::ZeroDuration(), absl::Milliseconds(20), absl::Milliseconds(300)}) {
    const auto [status, log] = SignalledEarly({}, {{after, SIGTERM}});
    EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << " after " << after
                                   << "\n" << log;
    EXPECT_EQ(WEXITSTATUS(status), 0) << log;
    EXPECT_THAT(log, HasSubstr("received SIGTERM")) << after;
  }
  // SIGHUP before the model is loaded is not fatal either: the server says so and goes on.
  const auto [status, log] = SignalledEarly(
      {"--inject_load_delay=1s"}, {{absl::Milliseconds(5), SIGHUP}, {absl::Seconds(2), SIGTERM}});
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << log;
  EXPECT_THAT(log, HasSubstr("received SIGHUP"));
}


TEST(Help, ListsTheServersOwnFlagsGroupedWithDefaultsAndNoBuildPaths) {
  const auto [code, help] = RunCommand(ServerBinary() + " --help");
  EXPECT_EQ(code, 0) << help;
  EXPECT_THAT(help, ::testing::Not(HasSubstr("No flags matched")));
  for (const char* group : {"server/flags/model.cc", "server/flags/serving.cc",
                            "server/flags/tls.cc", "server/flags/batching.cc",
                            "server/flags/memory.cc", "server/flags/limits.cc",
                            "server/flags/drills.cc"}) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat("Flags from ", group, ":"))) << help;
  }
  EXPECT_THAT(help, HasSubstr("--max_batch_size"));
  EXPECT_THAT(help, HasSubstr("default: 64"));
  EXPECT_THAT(help, ::testing::Not(HasSubstr(EAOS_SOURCE_DIR))) << "a build path in --help";
  EXPECT_THAT(help, ::testing::StartsWith("eaos-server: serves one EAOS model"));
  EXPECT_THAT(help, ::testing::Not(HasSubstr("--log_"))) << "LibTorch's or abseil's own flags";
}

}  // namespace
}  // namespace eaos::testing
