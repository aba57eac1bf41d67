// Annotates a JSONL file through concurrent PredictStream calls (the engine of `eaos-client
// --input`): reads {"id","text"} lines, writes one result line per item (jsonl.h) in completion
// order, and optionally draws a progress bar. With retries on (options.stream.retry) it outlasts
// server restarts, drains, GOAWAYs and full queues with every item written exactly once; an
// existing output is refused, resumed (ids already in it skipped) or replaced.
//
// Thread-safety: AnnotateJsonl blocks its caller and uses its own threads; concurrent calls are
// independent as long as they write to different outputs.
//
//   AnnotateJsonlOptions options;
//   options.input_path = "comments.jsonl";
//   options.output_path = "results.jsonl";
//   AnnotateJsonlSummary summary;
//   absl::Status status = AnnotateJsonl(*client, options, &summary);
#ifndef EAOS_CLIENT_CPP_ANNOTATE_JSONL_H_
#define EAOS_CLIENT_CPP_ANNOTATE_JSONL_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/cpp/eaos_client.h"

namespace eaos::client {

// What to do with an output file that exists and is not empty (standard output: nothing).
enum class ExistingOutput {
  kRefuse,     // fail, changing nothing
  kResume,     // drop a torn last line, skip input ids already in it, append the rest
  kOverwrite,  // truncate it
};

struct AnnotateJsonlOptions {
  std::string input_path = "-";   // "-": standard input
  std::string output_path = "-";  // "-": standard output
  ExistingOutput existing_output = ExistingOutput::kRefuse;
  // Stop at the first item written with an error (the run then returns ABORTED naming it).
  bool fail_fast = false;
  int num_streams = 4;
  // Retries, retry notices and cancellation are passed on to Client::PredictStreamParallel.
  StreamOptions stream;
  // When set, a progress bar (done / total, rate) is redrawn here, at most once per
  // progress_interval. The total is counted beforehand when the input is a regular file.
  std::FILE* progress = nullptr;
  absl::Duration progress_interval = absl::Milliseconds(100);
};

struct AnnotateJsonlSummary {
  int64_t items = 0;    // result lines written by this run
  int64_t errors = 0;   // of which items that failed (their "error" is set)
  int64_t skipped = 0;  // input items whose id the resumed output already held
  int64_t retries = 0;  // retry notices (streams that backed off and started again)
  // The input and output were opened and the run began (the counts above mean something).
  bool started = false;
  // The run was refused for a reason the caller must fix (no such input; an existing output
  // without kResume or kOverwrite; resuming over input lines without ids): a usage error.
  bool refused = false;
  absl::Duration elapsed;
};

// Runs the whole file. Blank input lines are skipped. A line whose text is missing, null or not a
// string is written as an INVALID_ARGUMENT error line without calling the server (see
// ParseInputLine). A malformed line stops the reading (items already sent are still answered and
// written) and is returned as INVALID_ARGUMENT naming the file and line. Otherwise returns
// ABORTED for a fail_fast stop, FAILED_PRECONDITION for a refused run (summary->refused), the
// first stream failure (see Client::PredictStreamParallel: CANCELLED after options.stream's
// cancellation), or an I/O error on the input or output. Output lines are written whole, each
// with one write under a lock. *summary is filled in every case.
absl::Status AnnotateJsonl(Client& client, const AnnotateJsonlOptions& options,
                           AnnotateJsonlSummary* summary);

// "items=N skipped=N errors=N retries=N seconds=S items/s=R", the final line the CLI prints.
std::string FormatSummary(const AnnotateJsonlSummary& summary);

}  // namespace eaos::client

#endif  // EAOS_CLIENT_CPP_ANNOTATE_JSONL_H_
