#include "client/cpp/annotate_jsonl.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "client/cpp/jsonl.h"

namespace eaos::client {
namespace {

bool IsBlank(absl::string_view line) { return absl::StripAsciiWhitespace(line).empty(); }

// Reads one line without its "\n" or "\r\n".
bool ReadLine(std::istream& in, std::string* line) {
  if (!std::getline(in, *line)) return false;
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

// Non-blank lines of a regular file; nullopt for standard input, pipes and unreadable files.
std::optional<int64_t> CountItems(const std::string& path) {
  struct stat info;
  if (path == "-" || stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  int64_t count = 0;
  std::string line;
  while (ReadLine(in, &line)) count += IsBlank(line) ? 0 : 1;
  return count;
}

std::string ProgressLine(int64_t done, std::optional<int64_t> total, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  if (!total.has_value() || *total <= 0) {
    return absl::StrFormat("%d items  %.1f items/s  %.0fs", done, rate, seconds);
  }
  constexpr int kWidth = 30;
  const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(*total));
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '=');
  if (filled < kWidth) bar.push_back('>');
  bar.resize(kWidth, ' ');
  std::string eta = "?";
  if (rate > 0) {
    const int64_t left = static_cast<int64_t>(static_cast<double>(*total - done) / rate);
    eta = absl::StrFormat("%d:%02d", left / 60, left % 60);
  }
  return absl::StrFormat("[%s] %d/%d %5.1f%%  %.1f items/s  ETA %s", bar, done, *total,
                         100.0 * fraction, rate, eta);
}

std::string ErrnoText() { return std::strerror(errno); }

absl::Status ErrnoError(absl::string_view what) {
  const int error = errno;
  return absl::ErrnoToStatus(error, what);
}

}  // namespace

absl::Status AnnotateJsonl(Client& client, const AnnotateJsonlOptions& options,
                           AnnotateJsonlSummary* summary) {
  *summary = AnnotateJsonlSummary();
  const bool from_stdin = options.input_path == "-";
  const std::string input_name = from_stdin ? "<stdin>" : options.input_path;
  std::ifstream input_file;
  if (!from_stdin) {
    input_file.open(options.input_path, std::ios::binary);
    if (!input_file) return ErrnoError(absl::StrCat("cannot open input ", options.input_path));
  }
  std::istream& input = from_stdin ? std::cin : input_file;

  const bool to_stdout = options.output_path == "-";
  if (!from_stdin && !to_stdout) {
    // Opening the output truncates it: never when it is the input itself.
    struct stat in_stat{}, out_stat{};
    if (stat(options.input_path.c_str(), &in_stat) == 0 &&
        stat(options.output_path.c_str(), &out_stat) == 0 && in_stat.st_dev == out_stat.st_dev &&
        in_stat.st_ino == out_stat.st_ino) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output ", options.output_path, " is the input file; refusing to overwrite it"));
    }
  }
  std::FILE* output = to_stdout ? stdout : std::fopen(options.output_path.c_str(), "wb");
  if (output == nullptr)
    return ErrnoError(absl::StrCat("cannot open output ", options.output_path));

  const std::optional<int64_t> total =
      options.progress != nullptr ? CountItems(options.input_path) : std::nullopt;
  const absl::Time start = absl::Now();

  // Set by the sink when writing fails; the source then stops reading.
  std::atomic<bool> output_failed{false};
  std::string output_error;  // written once by the sink, read after the streams end

  // PredictStreamParallel serializes source calls; these are read after it returns.
  int64_t line_number = 0;
  absl::Status input_status;
  const ItemSource source = [&](eaos::v1::Item* item) {
    if (output_failed.load()) return false;
    std::string line;
    while (ReadLine(input, &line)) {
      ++line_number;
      if (IsBlank(line)) continue;
      absl::StatusOr<eaos::v1::Item> parsed = ParseItemLine(line, line_number);
      if (!parsed.ok()) {
        input_status =
            absl::InvalidArgumentError(absl::StrCat(input_name, ": ", parsed.status().message()));
        return false;
      }
      *item = *std::move(parsed);
      return true;
    }
    if (input.bad()) {
      input_status = absl::DataLossError(absl::StrCat("error reading ", input_name, " after line ",
                                                      line_number, ": ", ErrnoText()));
    }
    return false;
  };

  std::atomic<int64_t> items{0};
  std::atomic<int64_t> errors{0};
  const ItemResultSink sink = [&](eaos::v1::Item item, eaos::v1::ItemResult result) {
    if (output_failed.load()) return;
    std::string line = FormatResultLine(item, result);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), output) != line.size()) {
      output_error = absl::StrCat("error writing ", options.output_path, ": ", ErrnoText());
      output_failed.store(true);
      return;
    }
    if (result.has_error()) errors.fetch_add(1);
    items.fetch_add(1);
  };

  absl::Notification streams_done;
  std::thread progress_thread;
  if (options.progress != nullptr) {
    progress_thread = std::thread([&] {
      const auto draw = [&] {
        std::fprintf(options.progress, "\r%s   ",
                     ProgressLine(items.load(), total, absl::Now() - start).c_str());
        std::fflush(options.progress);
      };
      while (!streams_done.WaitForNotificationWithTimeout(options.progress_interval)) draw();
      draw();
      std::fputc('\n', options.progress);
      std::fflush(options.progress);
    });
  }

  const absl::Status stream_status =
      client.PredictStreamParallel(options.num_streams, source, sink, options.stream);

  streams_done.Notify();
  if (progress_thread.joinable()) progress_thread.join();

  if (!output_failed.load() && std::fflush(output) != 0) {
    output_error = absl::StrCat("error writing ", options.output_path, ": ", ErrnoText());
    output_failed.store(true);
  }
  if (!to_stdout && std::fclose(output) != 0 && !output_failed.load()) {
    output_error = absl::StrCat("error closing ", options.output_path, ": ", ErrnoText());
    output_failed.store(true);
  }

  summary->items = items.load();
  summary->errors = errors.load();
  summary->elapsed = absl::Now() - start;

  if (!stream_status.ok()) return stream_status;
  if (!input_status.ok()) return input_status;
  if (output_failed.load()) return absl::DataLossError(output_error);
  return absl::OkStatus();
}

std::string FormatSummary(const AnnotateJsonlSummary& summary) {
  const double seconds = absl::ToDoubleSeconds(summary.elapsed);
  const double rate = seconds > 0 ? static_cast<double>(summary.items) / seconds : 0.0;
  return absl::StrFormat("items=%d errors=%d seconds=%.2f items/s=%.1f", summary.items,
                         summary.errors, seconds, rate);
}

}  // namespace eaos::client
