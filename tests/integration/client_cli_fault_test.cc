// eaos-client --input against what a deployment does to the real eaos-server, over loopback: a
// SIGTERM drain and a restart on the same port, a SIGKILL and a restart, connection-age recycling
// (GOAWAY), a full queue, a resumed torn output and Ctrl-C. Every run must end with every input
// id in the output exactly once, each row a result or a genuine per-item error, and the
// documented exit code. Nothing here asserts on time: loops are bounded, waits are on events.
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/server_process.h"

namespace eaos::testing {
namespace {

using ::testing::HasSubstr;

// A file of this test process's own directory (two checkouts may run the suite at once).
std::string TestPath(const std::string& name) {
  static const std::string* dir = [] {
    auto* path = new std::string(absl::StrCat(::testing::TempDir(), "/eaos_cli_fault_", getpid()));
    mkdir(path->c_str(), 0755);
    return path;
  }();
  return absl::StrCat(*dir, "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// An eaos-client process whose stdout and stderr go to a log file.
class CliProcess {
 public:
  static std::unique_ptr<CliProcess> Start(const std::vector<std::string>& flags,
                                           const std::string& log_path) {
    std::vector<std::string> args = {EAOS_CLIENT_BINARY};
    args.insert(args.end(), flags.begin(), flags.end());
    const pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) _exit(126);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return std::unique_ptr<CliProcess>(new CliProcess(pid, log_path));
  }
  ~CliProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void Signal(int sig) {
    if (!exited_) kill(pid_, sig);
  }
  bool Running() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  // The exit code (128 + signal if killed), or -1 if it did not exit within `timeout` (then it is
  // killed).
  int Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (Running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    if (Running()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      exited_ = true;
      return -1;
    }
    return exit_code_;
  }
  std::string log() const { return ReadFile(log_path_); }

 private:
  CliProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  const pid_t pid_;
  const std::string log_path_;
  bool exited_ = false;
  int exit_code_ = -1;
};

// Texts the server answers with a per-item INVALID_ARGUMENT (or, without text, the client does).
const std::map<std::string, std::string>& BadRows() {
  static const auto* rows = new std::map<std::string, std::string>{
      {"bad-empty", R"({"id": "bad-empty", "text": ""})"},
      {"bad-blank", R"({"id": "bad-blank", "text": "  \t "})"},
      {"bad-null", R"({"id": "bad-null", "text": null})"},
      {"bad-missing", R"({"id": "bad-missing"})"},
      {"bad-number", R"({"id": "bad-number", "text": 123})"},
      {"bad-long", absl::StrCat(R"({"id": "bad-long", "text": ")", std::string(20000, 'a'), "\"}")},
  };
  return *rows;
}

struct Input {
  std::string path;
  std::vector<std::string> ids;  // every id, bad rows included
};

// `n` good rows (ids r0...) with the bad rows spread among them.
Input WriteInput(const std::string& name, int n) {
  Input input{TestPath(name + "_in.jsonl"), {}};
  std::ofstream out(input.path, std::ios::binary);
  auto bad = BadRows().begin();
  for (int i = 0; i < n; ++i) {
    if (i % (n / 8 + 1) == 0 && bad != BadRows().end()) {
      out << bad->second << "\n";
      input.ids.push_back(bad->first);
      ++bad;
    }
    const std::string id = absl::StrCat("r", i);
    out << R"({"id": ")" << id << R"(", "text": "MC dẫn duyên quá, nhưng âm thanh hơi rè, )"
        << "khách mời thì nhạt " << i << "\"}\n";
    input.ids.push_back(id);
  }
  return input;
}

int64_t CountLines(const std::string& path) {
  const std::string contents = ReadFile(path);
  return std::count(contents.begin(), contents.end(), '\n');
}

// Waits (bounded) until `path` holds at least `lines` lines or the client exited.
void WaitForLines(const std::string& path, int64_t lines, CliProcess* cli) {
  for (int i = 0; i < 3000 && cli->Running() && CountLines(path) < lines; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
}

struct OutputReport {
  int64_t rows = 0;        // lines in the output
  int64_t distinct = 0;    // distinct ids among them
  int64_t duplicates = 0;  // rows beyond the first for an id
  int64_t missing = 0;     // input ids with no row
  int64_t unknown = 0;     // rows whose id is not an input id
  int64_t bad_rows = 0;    // rows that are not a result line, or a result with the wrong error
  bool ends_with_newline = true;
  std::vector<std::string> problems;  // a few examples

  bool exactly_once() const {
    return duplicates == 0 && missing == 0 && unknown == 0 && bad_rows == 0 && ends_with_newline;
  }
  std::string ToString() const {
    return absl::StrCat("rows=", rows, " distinct=", distinct, " duplicates=", duplicates,
                        " missing=", missing, " unknown=", unknown, " bad_rows=", bad_rows,
                        " ends_with_newline=", ends_with_newline, " examples: ",
                        absl::StrJoin(problems, "; "));
  }
};

// Every row a result line: the bad rows with an INVALID_ARGUMENT error, all others without one.
OutputReport CheckOutput(const std::string& path, const std::vector<std::string>& ids) {
  OutputReport report;
  const std::string contents = ReadFile(path);
  report.ends_with_newline = contents.empty() || contents.back() == '\n';
  const std::set<std::string> wanted(ids.begin(), ids.end());
  std::map<std::string, int> seen;
  const auto problem = [&](std::string what) {
    if (report.problems.size() < 5) report.problems.push_back(std::move(what));
  };
  std::istringstream lines(contents);
  for (std::string line; std::getline(lines, line);) {
    ++report.rows;
    google::protobuf::Struct row;
    if (!google::protobuf::util::JsonStringToMessage(line, &row).ok() ||
        !row.fields().contains("id") || !row.fields().contains("predictions")) {
      ++report.bad_rows;
      problem(absl::StrCat("not a result line: ", line.substr(0, 120)));
      continue;
    }
    const std::string id = row.fields().at("id").string_value();
    if (++seen[id] > 1) {
      ++report.duplicates;
      problem(absl::StrCat("duplicate ", id));
    }
    if (wanted.count(id) == 0) {
      ++report.unknown;
      problem(absl::StrCat("unknown ", id));
    }
    const bool want_error = BadRows().count(id) > 0;
    const auto error = row.fields().find("error");
    const int code = error == row.fields().end()
                         ? 0
                         : static_cast<int>(
                               error->second.struct_value().fields().at("code").number_value());
    if (want_error ? code != 3 : code != 0) {
      ++report.bad_rows;
      problem(absl::StrCat("id ", id, " has error code ", code, ": ", line.substr(0, 200)));
    }
  }
  report.distinct = static_cast<int64_t>(seen.size());
  for (const std::string& id : wanted) {
    if (seen.count(id) == 0) {
      ++report.missing;
      problem(absl::StrCat("missing ", id));
    }
  }
  return report;
}

// The N of "name=N" in the CLI's last summary line ("items=N skipped=N ..."), or -1.
int64_t SummaryField(const std::string& log, const std::string& name) {
  const size_t line = log.rfind("items=");
  if (line == std::string::npos) return -1;
  const std::string summary = " " + log.substr(line, log.find('\n', line) - line);
  const size_t at = summary.find(" " + name + "=");
  if (at == std::string::npos) return -1;
  const size_t begin = at + name.size() + 2;
  int64_t value = -1;
  return absl::SimpleAtoi(summary.substr(begin, summary.find(' ', begin) - begin), &value)
             ? value
             : -1;
}

int64_t CountOf(const std::string& haystack, const std::string& needle) {
  int64_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string PortOf(const ServerProcess& server) {
  return server.target().substr(server.target().rfind(':') + 1);
}

std::vector<std::string> CliFlags(const std::string& target, const Input& input,
                                  const std::string& output,
                                  std::vector<std::string> extra = {}) {
  std::vector<std::string> flags = {"--target=" + target, "--input=" + input.path,
                                    "--output=" + output, "--overwrite", "--give_up_after=90s"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return flags;
}

// One line for the report of a fault run.
void Report(const std::string& name, const Input& input, const OutputReport& report, int code,
            const std::string& log) {
  std::fprintf(stderr,
               "[fault run] %s: rows in=%zu rows out=%lld duplicates=%lld missing=%lld "
               "retry lines=%lld summary retries=%lld exit=%d\n",
               name.c_str(), input.ids.size(), static_cast<long long>(report.rows),
               static_cast<long long>(report.duplicates), static_cast<long long>(report.missing),
               static_cast<long long>(CountOf(log, "retrying in")),
               static_cast<long long>(SummaryField(log, "retries")), code);
}

constexpr int kRows = 40000;
constexpr absl::Duration kRunTimeout = absl::Seconds(240);

TEST(ClientCliFaults, ServerSigtermMidRunThenRestartOnTheSamePortLosesAndRepeatsNothing) {
  const Input input = WriteInput("sigterm", kRows);
  const std::string output = TestPath("sigterm_out.jsonl");
  auto server = ServerProcess::Start({"--shutdown_grace=1s"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string port = PortOf(**server);
  auto cli = CliProcess::Start(CliFlags((*server)->target(), input, output),
                               TestPath("sigterm_cli.log"));
  ASSERT_NE(cli, nullptr);
  WaitForLines(output, kRows / 10, cli.get());
  ASSERT_TRUE(cli->Running()) << cli->log();
  // The drain ends the streams the grace did not finish; the client must resend their items.
  EXPECT_EQ((*server)->Terminate(), 0) << (*server)->log();
  ASSERT_TRUE(cli->Running()) << "the run ended within the drain; make the input bigger\n"
                              << cli->log();
  auto restarted = ServerProcess::Start({"--listen=127.0.0.1:" + port});
  ASSERT_TRUE(restarted.ok()) << restarted.status();

  const int code = cli->Wait(kRunTimeout);
  const std::string log = cli->log();
  const OutputReport report = CheckOutput(output, input.ids);
  Report("SIGTERM + restart", input, report, code, log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_THAT(log, HasSubstr("retrying in"));
  EXPECT_EQ(SummaryField(log, "items"), static_cast<int64_t>(input.ids.size())) << log;
  EXPECT_EQ((*restarted)->Terminate(), 0);
}

TEST(ClientCliFaults, ServerSigkillThenRestartOnTheSamePortLosesAndRepeatsNothing) {
  const Input input = WriteInput("sigkill", kRows);
  const std::string output = TestPath("sigkill_out.jsonl");
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string port = PortOf(**server);
  auto cli = CliProcess::Start(CliFlags((*server)->target(), input, output),
                               TestPath("sigkill_cli.log"));
  ASSERT_NE(cli, nullptr);
  WaitForLines(output, kRows / 10, cli.get());
  ASSERT_TRUE(cli->Running()) << cli->log();
  (*server)->Signal(SIGKILL);
  server->reset();  // waits for the process to be gone
  // The client notices (connection refused) and backs off before the new server is up.
  for (int i = 0; i < 500 && cli->Running() && CountOf(cli->log(), "retrying in") == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  auto restarted = ServerProcess::Start({"--listen=127.0.0.1:" + port});
  ASSERT_TRUE(restarted.ok()) << restarted.status();

  const int code = cli->Wait(kRunTimeout);
  const std::string log = cli->log();
  const OutputReport report = CheckOutput(output, input.ids);
  Report("SIGKILL + restart", input, report, code, log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_THAT(log, HasSubstr("retrying in"));
  EXPECT_THAT(log, HasSubstr("UNAVAILABLE"));
  EXPECT_EQ((*restarted)->Terminate(), 0);
}

TEST(ClientCliFaults, ConnectionAgeRecyclingMidRunLosesAndRepeatsNothing) {
  const Input input = WriteInput("age", kRows);
  const std::string output = TestPath("age_out.jsonl");
  // GOAWAY every 2s; calls still open 1s later are cut.
  auto server =
      ServerProcess::Start({"--max_connection_age=2s", "--max_connection_age_grace=1s"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto cli = CliProcess::Start(CliFlags((*server)->target(), input, output, {"--streams=4"}),
                               TestPath("age_cli.log"));
  ASSERT_NE(cli, nullptr);
  const int code = cli->Wait(kRunTimeout);
  const std::string log = cli->log();
  const OutputReport report = CheckOutput(output, input.ids);
  Report("max_connection_age=2s", input, report, code, log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ClientCliFaults, AFullQueueIsRetriedWithBackoffNotWrittenAsResults) {
  const Input input = WriteInput("queue", kRows / 4);
  const std::string output = TestPath("queue_out.jsonl");
  auto server = ServerProcess::Start({"--max_queue_items=48", "--max_items_per_request=16"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto cli = CliProcess::Start(
      CliFlags((*server)->target(), input, output,
               {"--streams=8", "--items_per_message=16", "--max_in_flight=64"}),
      TestPath("queue_cli.log"));
  ASSERT_NE(cli, nullptr);
  const int code = cli->Wait(kRunTimeout);
  const std::string log = cli->log();
  const OutputReport report = CheckOutput(output, input.ids);  // no RESOURCE_EXHAUSTED rows
  Report("max_queue_items=48", input, report, code, log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_THAT(log, HasSubstr("retrying in"));
  EXPECT_THAT(log, HasSubstr("queue full"));
  auto metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(*metrics, HasSubstr("eaos_"));
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ClientCliFaults, ResumeOverATornOutputWritesTheRestOnceAndARerunIsRefusedWithoutIt) {
  const Input input = WriteInput("resume", 3000);
  const std::string output = TestPath("resume_out.jsonl");
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string cli_log = TestPath("resume_cli.log");
  auto first = CliProcess::Start(CliFlags((*server)->target(), input, output), cli_log);
  ASSERT_EQ(first->Wait(kRunTimeout), 0) << first->log();
  ASSERT_TRUE(CheckOutput(output, input.ids).exactly_once());

  // Keep 1000 whole lines and half of the next one, as a run killed mid-write leaves it.
  const std::string full = ReadFile(output);
  size_t cut = 0;
  for (int i = 0; i < 1000; ++i) cut = full.find('\n', cut) + 1;
  const size_t next_end = full.find('\n', cut);
  const std::string torn = full.substr(0, cut + (next_end - cut) / 2);
  std::ofstream(output, std::ios::binary | std::ios::trunc) << torn;

  // Without --resume or --overwrite: refused, exit 2, output untouched.
  auto refused = CliProcess::Start({"--target=" + (*server)->target(), "--input=" + input.path,
                                    "--output=" + output},
                                   cli_log);
  EXPECT_EQ(refused->Wait(kRunTimeout), 2);
  EXPECT_THAT(refused->log(), HasSubstr("--resume"));
  EXPECT_THAT(refused->log(), ::testing::Not(HasSubstr("items=")));
  EXPECT_EQ(ReadFile(output), torn);

  auto resumed = CliProcess::Start({"--target=" + (*server)->target(), "--input=" + input.path,
                                    "--output=" + output, "--resume"},
                                   cli_log);
  const int code = resumed->Wait(kRunTimeout);
  const std::string log = resumed->log();
  const OutputReport report = CheckOutput(output, input.ids);
  Report("--resume over a torn output", input, report, code, log);
  EXPECT_EQ(code, 0) << log;
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_EQ(SummaryField(log, "skipped"), 1000) << log;
  EXPECT_EQ(SummaryField(log, "items"), static_cast<int64_t>(input.ids.size()) - 1000) << log;
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ClientCliFaults, CtrlCWritesWholeLinesPrintsTheSummaryExits130AndResumeFinishes) {
  const Input input = WriteInput("sigint", kRows);
  const std::string output = TestPath("sigint_out.jsonl");
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string cli_log = TestPath("sigint_cli.log");
  auto cli = CliProcess::Start(CliFlags((*server)->target(), input, output), cli_log);
  WaitForLines(output, kRows / 10, cli.get());
  ASSERT_TRUE(cli->Running()) << cli->log();
  cli->Signal(SIGINT);
  const int code = cli->Wait(absl::Seconds(60));
  const std::string log = cli->log();
  EXPECT_EQ(code, 130) << log;
  EXPECT_THAT(log, HasSubstr("--resume"));
  const int64_t written = SummaryField(log, "items");
  EXPECT_GT(written, 0) << log;
  EXPECT_LT(written, static_cast<int64_t>(input.ids.size())) << log;
  const OutputReport partial = CheckOutput(output, input.ids);
  EXPECT_TRUE(partial.ends_with_newline);  // no torn line
  EXPECT_EQ(partial.bad_rows, 0) << partial.ToString();
  EXPECT_EQ(partial.duplicates, 0) << partial.ToString();
  EXPECT_EQ(partial.rows, written);

  auto resumed = CliProcess::Start({"--target=" + (*server)->target(), "--input=" + input.path,
                                    "--output=" + output, "--resume"},
                                   cli_log);
  const int resumed_code = resumed->Wait(kRunTimeout);
  const OutputReport report = CheckOutput(output, input.ids);
  Report("Ctrl-C then --resume", input, report, resumed_code, resumed->log());
  EXPECT_EQ(resumed_code, 0) << resumed->log();
  EXPECT_TRUE(report.exactly_once()) << report.ToString();
  EXPECT_EQ(SummaryField(resumed->log(), "skipped"), written) << resumed->log();
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ClientCliFaults, SigtermToTheCliStopsLikeCtrlCWithExit143) {
  const Input input = WriteInput("cli_sigterm", kRows);
  const std::string output = TestPath("cli_sigterm_out.jsonl");
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto cli = CliProcess::Start(CliFlags((*server)->target(), input, output),
                               TestPath("cli_sigterm_cli.log"));
  WaitForLines(output, kRows / 10, cli.get());
  ASSERT_TRUE(cli->Running()) << cli->log();
  cli->Signal(SIGTERM);
  const int code = cli->Wait(absl::Seconds(60));
  const std::string log = cli->log();
  EXPECT_EQ(code, 143) << log;
  const OutputReport partial = CheckOutput(output, input.ids);
  EXPECT_TRUE(partial.ends_with_newline);
  EXPECT_EQ(partial.bad_rows + partial.duplicates, 0) << partial.ToString();
  EXPECT_EQ(partial.rows, SummaryField(log, "items")) << log;
  EXPECT_EQ((*server)->Terminate(), 0);
}

TEST(ClientCliFaults, GivesUpWithExit1WhenNoServerComesBack) {
  const Input input = WriteInput("giveup", 100);
  const std::string output = TestPath("giveup_out.jsonl");
  auto cli = CliProcess::Start({"--target=127.0.0.1:1", "--input=" + input.path,
                                "--output=" + output, "--overwrite", "--give_up_after=2s"},
                               TestPath("giveup_cli.log"));
  const int code = cli->Wait(absl::Seconds(120));
  const std::string log = cli->log();
  EXPECT_EQ(code, 1) << log;
  EXPECT_THAT(log, HasSubstr("retrying in"));
  EXPECT_THAT(log, HasSubstr("gave up"));
  EXPECT_THAT(log, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace eaos::testing
