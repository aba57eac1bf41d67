// eaos-client: command line client of eaos-serve. Parses flags and calls the client library.
//
//   eaos-client --target=host:50051 "pin trâu" "giao hàng chậm"
//   eaos-client --input=comments.jsonl --output=results.jsonl --streams=8 [--resume]
//   eaos-client --info
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/cpp/annotate_jsonl.h"
#include "client/cpp/eaos_client.h"
#include "client/cpp/jsonl.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "Server address (gRPC target), e.g. host:50051.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "Deadline of each unary call (texts on the command line, --info).");
ABSL_FLAG(std::optional<double>, threshold, std::nullopt,
          "Drop tuples whose confidence is below this, in [0, 1]. Unset: the server's default.");
ABSL_FLAG(bool, info, false, "Print the server's model and batching limits as JSON, then exit.");
ABSL_FLAG(std::string, input, "",
          "JSONL file to annotate, one {\"id\": ..., \"text\": ...} per line ('-': stdin).");
ABSL_FLAG(std::string, output, "-", "With --input: where to write the result lines ('-': stdout).");
ABSL_FLAG(int, streams, 4, "With --input: concurrent PredictStream calls.");
ABSL_FLAG(int, items_per_message, 32, "With --input: items per stream message.");
ABSL_FLAG(int, max_in_flight, 256, "With --input: unanswered items allowed per stream.");
ABSL_FLAG(absl::Duration, stream_timeout, absl::InfiniteDuration(),
          "With --input: deadline of the whole run ('inf': none).");
ABSL_FLAG(bool, progress, false,
          "With --input: draw the progress bar on stderr even when stderr is not a terminal.");
ABSL_FLAG(bool, resume, false,
          "With --output: keep what an earlier run wrote (a torn last line is cut off), skip the "
          "input ids already in it and append the rest. Every input line then needs an id.");
ABSL_FLAG(bool, overwrite, false,
          "With --output: replace an existing output. Without --resume or --overwrite an "
          "existing non-empty output is refused (exit 2).");
ABSL_FLAG(bool, fail_fast, false,
          "With --input: stop at the first item that fails (its error line is written; exit 1) "
          "instead of writing error lines and going on.");
ABSL_FLAG(absl::Duration, give_up_after, absl::Minutes(2),
          "With --input: streams that fail with UNAVAILABLE or RESOURCE_EXHAUSTED (server "
          "restart or drain, GOAWAY, full queue), and items refused with those codes, are sent "
          "again after a backoff (0.25s doubling to 8s, jittered); give up (exit 1) after this "
          "long without an answer. 0: no retries.");
ABSL_FLAG(int, max_attempts, 0,
          "With --input: also give up after this many attempts in a row without an answer "
          "(0: no limit).");
ABSL_FLAG(
    bool, wait_for_ready, false,
    "Wait (within the deadlines) for the server to become reachable instead of failing fast.");

ABSL_FLAG(bool, health, false,
          "Check the server's grpc.health.v1 status of --health_service, print it, and exit 0 "
          "only if it is SERVING (1 otherwise, RPC errors included): for probes and HEALTHCHECK.");
ABSL_FLAG(std::string, health_service, "eaos.v1.EaosService",
          "With --health: the service to check (\"\" = whole server, \"liveness\" = process up).");
ABSL_FLAG(bool, tls, false, "Connect with TLS, verifying the server with the system's root CAs.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle that verifies the server (implies --tls).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for servers that require mTLS (implies --tls; needs --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to check the server certificate against instead of the target's host.");

namespace {

constexpr char kUsage[] =
    R"(Extracts entity/aspect/opinion/sentiment tuples with an eaos-serve server.

  eaos-client [flags] TEXT...
      One Predict call for all TEXTs; prints one JSON line per text, in order,
      with ids "1", "2", ...
  eaos-client [flags] --input=FILE.jsonl [--output=OUT.jsonl] [--streams=N]
      Streams the file through N concurrent PredictStream calls. Output lines
      come in completion order, NOT input order: join on "id". Each line is
      {"id","text","predictions":[...]} plus "error" for a failed item and
      "truncated" for a text cut to the model's length. A summary line goes
      to stderr.
  eaos-client [flags] --info
      Prints the server's model info as JSON.
  eaos-client [flags] --health [--health_service=NAME]
      Prints the health status; exit 0 only when SERVING (probes, HEALTHCHECK).

  A rerun over an existing --output needs --resume (skip the ids already
  written, append the rest) or --overwrite; Ctrl-C stops after the lines
  being written, prints the summary, and --resume continues from there.

Exit status: 0 when every item was answered (items that failed are reported in
their lines and counted in the summary's errors=), 1 when a call fails, the
retries give up, the input is malformed or --fail_fast stopped the run, 2 on
bad usage (unknown flag, bad value, no such input, refused output), 130 after
Ctrl-C (SIGINT), 143 after SIGTERM.)";

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// The flags of --help, by group, in this order.
struct FlagGroup {
  const char* title;
  std::vector<const char*> names;
};
const std::vector<FlagGroup>& FlagGroups() {
  static const auto* groups = new std::vector<FlagGroup>{
      {"Connection", {"target", "timeout", "wait_for_ready"}},
      {"TLS", {"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name"}},
      {"Annotation", {"threshold"}},
      {"File mode (--input)",
       {"input", "output", "resume", "overwrite", "streams", "items_per_message", "max_in_flight",
        "stream_timeout", "progress", "fail_fast"}},
      {"Retries (--input)", {"give_up_after", "max_attempts"}},
      {"Server information", {"info", "health", "health_service"}},
  };
  return *groups;
}

// Appends `text` to *out wrapped at 80 columns, every line indented by `indent`.
void AppendWrapped(absl::string_view text, int indent, std::string* out) {
  constexpr size_t kWidth = 80;
  size_t column = 0;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column == 0 || column + 1 + word.size() > kWidth) {
      absl::StrAppend(out, column == 0 ? "" : "\n", std::string(indent, ' '), word);
      column = indent + word.size();
    } else {
      absl::StrAppend(out, " ", word);
      column += 1 + word.size();
    }
  }
  out->push_back('\n');
}

void PrintHelp() {
  std::string help = absl::StrCat(kUsage, "\n");
  for (const FlagGroup& group : FlagGroups()) {
    absl::StrAppend(&help, "\n", group.title, ":\n");
    for (const char* name : group.names) {
      const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      if (flag == nullptr) continue;
      std::string value = flag->DefaultValue();
      if (flag->IsOfType<std::string>()) value = absl::StrCat("\"", value, "\"");
      absl::StrAppend(&help, "  --", name, " (default ", value.empty() ? "unset" : value, ")\n");
      AppendWrapped(flag->Help(), 6, &help);
    }
  }
  std::fputs(help.c_str(), stdout);
}

int UsageError(const std::string& message);

// Checks the command line before absl parses it, so that --help exits 0 and an unknown flag or a
// bad value is a usage error (exit 2) rather than absl's exit 1. Returns the exit code when the
// program must stop, nullopt to go on.
std::optional<int> CheckCommandLine(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;  // a TEXT, or "-"
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    absl::string_view name = arg;
    std::optional<absl::string_view> value;
    if (const size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "help" || name == "h" || name == "helpfull" || name == "helpshort") {
      PrintHelp();
      return 0;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no") && !value.has_value()) {
      const absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) continue;  // --noprogress
    }
    if (flag == nullptr) return UsageError(absl::StrCat("unknown flag --", name));
    if (!value.has_value()) {
      if (flag->IsOfType<bool>()) continue;
      if (i + 1 >= argc) return UsageError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    }
    std::string error;
    if (!flag->ParseFrom(*value, &error)) {
      return UsageError(absl::StrCat("bad value for --", name, ": ", error));
    }
  }
  return std::nullopt;
}

// SIGINT and SIGTERM while a file is annotated: the first cancels the run (only whole lines are
// written, the summary follows), a second one exits at once. Blocked in every thread (call
// Watch before any thread starts, gRPC's included) and taken by one thread with sigwait.
class Interrupts {
 public:
  static Interrupts& Watch(eaos::client::Cancellation* cancellation) {
    static Interrupts* interrupts = new Interrupts(cancellation);
    return *interrupts;
  }
  // The first signal received, 0 if none.
  int signal() const { return signal_.load(); }

 private:
  explicit Interrupts(eaos::client::Cancellation* cancellation) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::thread([this, cancellation, signals] {
      while (true) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        int none = 0;
        if (!signal_.compare_exchange_strong(none, sig)) std::_Exit(128 + sig);
        std::fprintf(stderr, "\neaos-client: %s: stopping after the lines being written (again "
                     "to quit at once)\n", sig == SIGINT ? "interrupted" : "terminated");
        cancellation->Cancel();
      }
    }).detach();
  }

  std::atomic<int> signal_{0};
};

int Fail(const absl::Status& status) {
  std::cerr << "eaos-client: " << status << "\n";
  return kExitFailure;
}

int UsageError(const std::string& message) {
  std::cerr << "eaos-client: " << message << "\nRun with --help for usage.\n";
  return kExitUsage;
}

int PrintModelInfo(eaos::client::Client& client) {
  absl::StatusOr<eaos::v1::ModelInfo> info = client.GetModelInfo();
  if (!info.ok()) return Fail(info.status());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(*info, &json, options);
  if (!status.ok()) {
    return Fail(absl::InternalError(std::string(status.message().data(), status.message().size())));
  }
  std::cout << json;
  if (json.empty() || json.back() != '\n') std::cout << "\n";
  return 0;
}

int PredictTexts(eaos::client::Client& client, const std::vector<char*>& texts,
                 const eaos::v1::PredictOptions& options) {
  std::vector<eaos::v1::Item> items;
  items.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    items.push_back(eaos::client::MakeItem(absl::StrCat(i + 1), texts[i]));
  }
  absl::StatusOr<std::vector<eaos::v1::ItemResult>> results = client.Predict(items, options);
  if (!results.ok()) return Fail(results.status());
  for (size_t i = 0; i < items.size(); ++i) {
    std::cout << eaos::client::FormatResultLine(items[i], (*results)[i]) << "\n";
  }
  std::cout.flush();
  return std::cout ? 0 : Fail(absl::DataLossError("error writing to stdout"));
}

int AnnotateFile(eaos::client::Client& client, const eaos::v1::PredictOptions& predict_options,
                 eaos::client::Cancellation* cancellation, const Interrupts& interrupts) {
  eaos::client::AnnotateJsonlOptions options;
  options.input_path = absl::GetFlag(FLAGS_input);
  options.output_path = absl::GetFlag(FLAGS_output);
  if (absl::GetFlag(FLAGS_resume)) {
    options.existing_output = eaos::client::ExistingOutput::kResume;
  } else if (absl::GetFlag(FLAGS_overwrite)) {
    options.existing_output = eaos::client::ExistingOutput::kOverwrite;
  }
  options.fail_fast = absl::GetFlag(FLAGS_fail_fast);
  const absl::Duration give_up_after = absl::GetFlag(FLAGS_give_up_after);
  options.stream.retry.enabled = give_up_after > absl::ZeroDuration();
  options.stream.retry.give_up_after = give_up_after;
  options.stream.retry.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  options.stream.cancellation = cancellation;
  const bool progress = absl::GetFlag(FLAGS_progress) || isatty(STDERR_FILENO);
  // One line per retry, except that lines within a second of the last one printed (streams
  // backing off together, a queue that stays full) are counted into the next line instead.
  absl::Mutex retry_mu;
  absl::Time last_retry_line = absl::InfinitePast();  // guarded by retry_mu
  int64_t unprinted_retries = 0;                      // guarded by retry_mu
  options.stream.on_retry = [&](const eaos::client::RetryNotice& notice) {
    absl::MutexLock lock(&retry_mu);
    const absl::Time now = absl::Now();
    if (now - last_retry_line < absl::Seconds(1)) {
      ++unprinted_retries;
      return;
    }
    std::string line = absl::StrFormat(
        "%seaos-client: retrying in %.1fs (%s: %s); stream %d, attempt %d, %d items to resend",
        progress ? "\n" : "", absl::ToDoubleSeconds(notice.delay),
        absl::StatusCodeToString(notice.reason.code()), notice.reason.message(), notice.stream,
        notice.attempt, notice.resend);
    if (unprinted_retries > 0) {
      absl::StrAppend(&line, " (and ", unprinted_retries, " more retries since the last line)");
    }
    line.push_back('\n');
    std::fputs(line.c_str(), stderr);
    last_retry_line = now;
    unprinted_retries = 0;
  };
  options.num_streams = absl::GetFlag(FLAGS_streams);
  options.stream.items_per_message = absl::GetFlag(FLAGS_items_per_message);
  options.stream.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  options.stream.options = predict_options;
  const absl::Duration stream_timeout = absl::GetFlag(FLAGS_stream_timeout);
  if (stream_timeout != absl::InfiniteDuration()) {
    options.stream.deadline = absl::Now() + stream_timeout;
  }
  if (progress) options.progress = stderr;

  eaos::client::AnnotateJsonlSummary summary;
  const absl::Status status = eaos::client::AnnotateJsonl(client, options, &summary);
  if (const int sig = interrupts.signal(); sig != 0) {
    std::cerr << "eaos-client: stopped by " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
              << "; the output holds whole lines only: rerun with --resume to finish\n";
    if (summary.started) std::cerr << eaos::client::FormatSummary(summary) << "\n";
    return 128 + sig;
  }
  if (summary.refused) {
    std::cerr << "eaos-client: " << status.message() << "\n";
    if (summary.started) std::cerr << eaos::client::FormatSummary(summary) << "\n";
    return kExitUsage;
  }
  if (summary.started) std::cerr << eaos::client::FormatSummary(summary) << "\n";
  return status.ok() ? 0 : Fail(status);
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  // --help lists the flags of this file (the default looks for files named after the binary).
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "client/cpp/main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  // "Flags from client/cpp/main.cc", not the build machine's path.
  usage_config.normalize_filename = [](absl::string_view file) {
    const size_t at = file.rfind("client/cpp/");
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(kUsage);
  if (const std::optional<int> exit_code = CheckCommandLine(argc, argv); exit_code.has_value()) {
    return *exit_code;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::vector<char*> texts(args.begin() + 1, args.end());

  const bool info = absl::GetFlag(FLAGS_info);
  const bool file_mode = !absl::GetFlag(FLAGS_input).empty();
  const bool health = absl::GetFlag(FLAGS_health);
  if (static_cast<int>(info) + static_cast<int>(file_mode) + static_cast<int>(!texts.empty()) +
          static_cast<int>(health) !=
      1) {
    return UsageError("give exactly one of: TEXT arguments, --input=FILE, --info, --health");
  }
  if (absl::GetFlag(FLAGS_streams) < 1 || absl::GetFlag(FLAGS_streams) > 1024) {
    return UsageError("--streams must be in [1, 1024]");
  }
  if (absl::GetFlag(FLAGS_items_per_message) < 1 ||
      absl::GetFlag(FLAGS_items_per_message) > 10000) {
    return UsageError("--items_per_message must be in [1, 10000]");
  }
  if (absl::GetFlag(FLAGS_max_in_flight) < 1 || absl::GetFlag(FLAGS_max_in_flight) > 1000000) {
    return UsageError("--max_in_flight must be in [1, 1000000]");
  }
  if (absl::GetFlag(FLAGS_timeout) <= absl::ZeroDuration()) {
    return UsageError("--timeout must be positive");
  }
  if (absl::GetFlag(FLAGS_resume) && absl::GetFlag(FLAGS_overwrite)) {
    return UsageError("give at most one of --resume and --overwrite");
  }
  if ((absl::GetFlag(FLAGS_resume) || absl::GetFlag(FLAGS_overwrite)) &&
      (!file_mode || absl::GetFlag(FLAGS_output) == "-")) {
    return UsageError("--resume and --overwrite need --input and an --output file");
  }
  if (absl::GetFlag(FLAGS_give_up_after) < absl::ZeroDuration()) {
    return UsageError("--give_up_after must not be negative");
  }
  if (absl::GetFlag(FLAGS_max_attempts) < 0) {
    return UsageError("--max_attempts must not be negative");
  }
  // Before any thread starts (the channel's included), so that they all inherit the mask.
  eaos::client::Cancellation cancellation;
  const Interrupts* interrupts = file_mode ? &Interrupts::Watch(&cancellation) : nullptr;

  eaos::v1::PredictOptions predict_options;
  if (const std::optional<double> threshold = absl::GetFlag(FLAGS_threshold);
      threshold.has_value()) {
    if (!(*threshold >= 0.0 && *threshold <= 1.0)) {
      return UsageError(absl::StrCat("--threshold must lie in [0, 1], got ", *threshold));
    }
    predict_options.set_confidence_threshold(static_cast<float>(*threshold));
  }

  eaos::client::ClientOptions client_options;
  client_options.target = absl::GetFlag(FLAGS_target);
  client_options.timeout = absl::GetFlag(FLAGS_timeout);
  client_options.wait_for_ready = absl::GetFlag(FLAGS_wait_for_ready);
  client_options.tls = {absl::GetFlag(FLAGS_tls), absl::GetFlag(FLAGS_tls_ca),
                        absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                        absl::GetFlag(FLAGS_tls_server_name)};
  absl::StatusOr<std::unique_ptr<eaos::client::Client>> client =
      eaos::client::Client::Create(client_options);
  if (!client.ok()) return Fail(client.status());

  if (health) {
    absl::StatusOr<std::string> health = (*client)->CheckHealth(absl::GetFlag(FLAGS_health_service));
    if (!health.ok()) return Fail(health.status());
    std::printf("%s\n", health->c_str());
    return *health == "SERVING" ? 0 : 1;
  }
  if (info) return PrintModelInfo(**client);
  if (file_mode) return AnnotateFile(**client, predict_options, &cancellation, *interrupts);
  return PredictTexts(**client, texts, predict_options);
}
