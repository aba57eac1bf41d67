// Annotates a JSONL file through concurrent PredictStream calls (the engine of `eaos-client
// --input`): reads {"id","text"} lines, writes one result line per item (jsonl.h) in completion
// order, and optionally draws a progress bar.
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

struct AnnotateJsonlOptions {
  std::string input_path = "-";   // "-": standard input
  std::string output_path = "-";  // "-": standard output
  int num_streams = 4;
  StreamOptions stream;
  // When set, a progress bar (done / total, rate) is redrawn here, at most once per
  // progress_interval. The total is counted beforehand when the input is a regular file.
  std::FILE* progress = nullptr;
  absl::Duration progress_interval = absl::Milliseconds(100);
};

struct AnnotateJsonlSummary {
  int64_t items = 0;   // result lines written
  int64_t errors = 0;  // of which items that failed (their "error" is set)
  absl::Duration elapsed;
};

// Runs the whole file. Blank input lines are skipped. A malformed line stops the reading (items
// already sent are still answered and written) and is returned as INVALID_ARGUMENT naming the file
// and line. Otherwise returns the first stream failure (see Client::PredictStreamParallel), or an
// I/O error on the input or output. *summary is filled in every case.
absl::Status AnnotateJsonl(Client& client, const AnnotateJsonlOptions& options,
                           AnnotateJsonlSummary* summary);

// "items=N errors=N seconds=S items/s=R", the final line the CLI prints.
std::string FormatSummary(const AnnotateJsonlSummary& summary);

}  // namespace eaos::client

#endif  // EAOS_CLIENT_CPP_ANNOTATE_JSONL_H_
