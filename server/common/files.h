// Reading the small files a server trusts only so far: model.json, golden.json, tokenizer files,
// TLS keys, cgroup limits.
//
// A path that names a FIFO, a device (/dev/zero) or a directory is refused before it is opened, and
// no file is read past its cap, so a hostile or mistaken model directory cannot hang the caller or
// exhaust memory. Errors name the file (and `what` it is for) and say what was wrong.
//
// Thread-safe: free functions without state.
//
//   absl::StatusOr<std::string> json = ReadFileCapped(dir + "/model.json", kMiB, "model config");
//   if (!json.ok()) return json.status();  // "model config /m/model.json is a FIFO, not a file"
#ifndef EAOS_SERVER_COMMON_FILES_H_
#define EAOS_SERVER_COMMON_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace eaos::common {

inline constexpr uint64_t kMiB = uint64_t{1} << 20;

// OK when `path` is a regular file (after following symlinks) of at most `max_bytes`. NotFound
// when nothing is there; FailedPrecondition for a directory, FIFO, socket or device, or a larger
// file. `what` starts the message ("tokenizer model", "golden file"); empty: "file". For files a
// library opens itself (sentencepiece, TorchScript) before it is given the path.
absl::Status CheckRegularFile(const std::string& path, absl::string_view what,
                              uint64_t max_bytes = UINT64_MAX);

// The whole content of the regular file at `path`, at most `max_bytes` long: CheckRegularFile,
// then reads; a file longer than max_bytes (even one that grows while read, or a /proc file that
// reports size 0) is refused with FailedPrecondition naming the cap, without reading past it.
absl::StatusOr<std::string> ReadFileCapped(const std::string& path, uint64_t max_bytes,
                                           absl::string_view what);

// "12.5 MiB", "900 bytes": sizes in messages.
std::string HumanBytes(uint64_t bytes);

}  // namespace eaos::common

#endif  // EAOS_SERVER_COMMON_FILES_H_
