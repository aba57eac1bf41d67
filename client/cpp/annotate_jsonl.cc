#include "client/cpp/annotate_jsonl.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
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

// Ids of the result lines in `path`, an output being resumed. A last line without its newline was
// torn by a run that died while writing it: it is cut off (its item is annotated again). Returns
// FAILED_PRECONDITION when another line is not a result line (not this tool's output).
absl::Status ReadDoneIds(const std::string& path, absl::flat_hash_set<std::string>* ids) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError(absl::StrCat("cannot read --output ", path, " to resume it"));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return ErrnoError(absl::StrCat("error reading --output ", path));
  in.close();
  const size_t whole = contents.rfind('\n') == std::string::npos ? 0 : contents.rfind('\n') + 1;
  if (whole < contents.size()) {
    if (truncate(path.c_str(), static_cast<off_t>(whole)) != 0) {
      return ErrnoError(absl::StrCat("cannot cut the torn last line of --output ", path));
    }
    contents.resize(whole);
  }
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (IsBlank(line)) continue;
    absl::StatusOr<std::string> id = ParseOutputId(line);
    if (!id.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot resume --output ", path, ": line ", line_number,
                       " is not a result line of eaos-client (", id.status().message(),
                       "); use --overwrite or a new --output"));
    }
    ids->insert(*std::move(id));
  }
  return absl::OkStatus();
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
    if (!input_file) {
      absl::Status status = ErrnoError(absl::StrCat("cannot open input ", options.input_path));
      summary->refused = absl::IsNotFound(status);  // a path the caller mistyped
      return status;
    }
  }
  std::istream& input = from_stdin ? std::cin : input_file;

  const bool to_stdout = options.output_path == "-";
  if (!from_stdin && !to_stdout) {
    // Opening the output may truncate it: never when it is the input itself.
    struct stat in_stat{}, out_stat{};
    if (stat(options.input_path.c_str(), &in_stat) == 0 &&
        stat(options.output_path.c_str(), &out_stat) == 0 && in_stat.st_dev == out_stat.st_dev &&
        in_stat.st_ino == out_stat.st_ino) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output ", options.output_path, " is the input file; refusing to overwrite it"));
    }
  }

  absl::flat_hash_set<std::string> done_ids;
  bool append = false;
  if (struct stat out_stat{}; !to_stdout && stat(options.output_path.c_str(), &out_stat) == 0 &&
                              S_ISREG(out_stat.st_mode) && out_stat.st_size > 0) {
    switch (options.existing_output) {
      case ExistingOutput::kRefuse:
        summary->refused = true;
        return absl::FailedPreconditionError(absl::StrCat(
            "--output ", options.output_path, " exists and is not empty (", out_stat.st_size,
            " bytes); pass --resume to skip the ids already in it and add the rest, or "
            "--overwrite to replace it"));
      case ExistingOutput::kResume: {
        absl::Status status = ReadDoneIds(options.output_path, &done_ids);
        if (!status.ok()) {
          summary->refused = absl::IsFailedPrecondition(status);
          return status;
        }
        append = true;
        break;
      }
      case ExistingOutput::kOverwrite:
        break;
    }
  }
  std::FILE* output =
      to_stdout ? stdout : std::fopen(options.output_path.c_str(), append ? "ab" : "wb");
  if (output == nullptr) {
    return ErrnoError(absl::StrCat("cannot open output ", options.output_path));
  }
  summary->started = true;

  std::optional<int64_t> total =
      options.progress != nullptr ? CountItems(options.input_path) : std::nullopt;
  if (total.has_value()) *total = std::max<int64_t>(0, *total - done_ids.size());
  const absl::Time start = absl::Now();

  // Result lines are written whole, one at a time, by the sink and (local errors) the source.
  absl::Mutex output_mu;
  std::atomic<bool> output_failed{false};
  std::string output_error;  // guarded by output_mu
  std::atomic<int64_t> items{0};
  std::atomic<int64_t> errors{0};
  // Cancelled by the caller's cancellation, or by the first failed item with fail_fast.
  Cancellation stop;
  const int caller_handle = options.stream.cancellation == nullptr
                                ? -1
                                : options.stream.cancellation->Add([&stop] { stop.Cancel(); });
  absl::Status fail_fast_status;  // guarded by output_mu
  const auto write_line = [&](const eaos::v1::Item& item, const eaos::v1::ItemResult& result) {
    std::string line = FormatResultLine(item, result);
    line.push_back('\n');
    bool stop_now = false;
    {
      absl::MutexLock lock(&output_mu);
      if (output_failed.load()) return;
      if (std::fwrite(line.data(), 1, line.size(), output) != line.size()) {
        output_error = absl::StrCat("error writing ", options.output_path, ": ", ErrnoText());
        output_failed.store(true);
        return;
      }
      if (result.has_error()) errors.fetch_add(1);
      items.fetch_add(1);
      if (options.fail_fast && result.has_error() && fail_fast_status.ok()) {
        fail_fast_status = absl::AbortedError(
            absl::StrCat("item ", item.id().empty() ? "(no id)" : item.id(), " failed: ",
                         result.error().message(), " (--fail_fast)"));
        stop_now = true;
      }
    }
    if (stop_now) stop.Cancel();
  };

  // PredictStreamParallel serializes source calls; these are read after it returns.
  int64_t line_number = 0;
  int64_t skipped = 0;
  absl::Status input_status;
  bool refused = false;
  const ItemSource source = [&](eaos::v1::Item* item) {
    if (output_failed.load() || stop.cancelled()) return false;
    std::string line;
    while (ReadLine(input, &line)) {
      ++line_number;
      if (IsBlank(line)) continue;
      absl::StatusOr<InputLine> parsed = ParseInputLine(line, line_number);
      if (!parsed.ok()) {
        input_status =
            absl::InvalidArgumentError(absl::StrCat(input_name, ": ", parsed.status().message()));
        return false;
      }
      if (!done_ids.empty()) {
        if (parsed->item.id().empty()) {
          refused = true;
          input_status = absl::FailedPreconditionError(absl::StrCat(
              input_name, ": line ", line_number, " has no \"id\": --resume skips the ids already "
              "in ", options.output_path, ", so every input line needs one; add ids, or use "
              "--overwrite or a new --output"));
          return false;
        }
        if (done_ids.contains(parsed->item.id())) {
          ++skipped;
          continue;
        }
      }
      if (!parsed->text_error.ok()) {  // answered here, never sent
        eaos::v1::ItemResult result;
        result.set_id(parsed->item.id());
        result.mutable_error()->set_code(static_cast<int>(parsed->text_error.code()));
        result.mutable_error()->set_message(std::string(parsed->text_error.message()));
        write_line(parsed->item, result);
        continue;
      }
      *item = std::move(parsed->item);
      return true;
    }
    if (input.bad()) {
      input_status = absl::DataLossError(absl::StrCat("error reading ", input_name, " after line ",
                                                      line_number, ": ", ErrnoText()));
    }
    return false;
  };
  const ItemResultSink sink = [&](const eaos::v1::Item& item, const eaos::v1::ItemResult& result) {
    write_line(item, result);
  };

  std::atomic<int64_t> retries{0};
  StreamOptions stream = options.stream;
  stream.cancellation = &stop;
  stream.on_retry = [&](const RetryNotice& notice) {
    retries.fetch_add(1);
    if (options.stream.on_retry) options.stream.on_retry(notice);
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

  absl::Status stream_status =
      client.PredictStreamParallel(options.num_streams, source, sink, stream);

  streams_done.Notify();
  if (progress_thread.joinable()) progress_thread.join();
  if (options.stream.cancellation != nullptr) options.stream.cancellation->Remove(caller_handle);

  {
    absl::MutexLock lock(&output_mu);
    if (!output_failed.load() && std::fflush(output) != 0) {
      output_error = absl::StrCat("error writing ", options.output_path, ": ", ErrnoText());
      output_failed.store(true);
    }
    if (!to_stdout && std::fclose(output) != 0 && !output_failed.load()) {
      output_error = absl::StrCat("error closing ", options.output_path, ": ", ErrnoText());
      output_failed.store(true);
    }
  }

  summary->items = items.load();
  summary->errors = errors.load();
  summary->skipped = skipped;
  summary->retries = retries.load();
  summary->refused = refused;
  summary->elapsed = absl::Now() - start;

  if (!input_status.ok()) return input_status;
  {
    absl::MutexLock lock(&output_mu);
    if (!fail_fast_status.ok()) return fail_fast_status;
  }
  if (!stream_status.ok()) return stream_status;
  if (output_failed.load()) {
    absl::MutexLock lock(&output_mu);
    return absl::DataLossError(output_error);
  }
  return absl::OkStatus();
}

std::string FormatSummary(const AnnotateJsonlSummary& summary) {
  const double seconds = absl::ToDoubleSeconds(summary.elapsed);
  const double rate = seconds > 0 ? static_cast<double>(summary.items) / seconds : 0.0;
  return absl::StrFormat("items=%d skipped=%d errors=%d retries=%d seconds=%.2f items/s=%.1f",
                         summary.items, summary.skipped, summary.errors, summary.retries, seconds,
                         rate);
}

}  // namespace eaos::client
