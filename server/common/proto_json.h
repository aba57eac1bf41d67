// JSON files into protobuf messages: model.json, golden.json and the tools' JSON lines, parsed one
// way with one kind of error.
//
// Thread-safe: free functions without state.
//
//   GoldenFile golden;
//   if (auto s = ReadJsonFile(path, 64 * kMiB, "golden file", &golden); !s.ok()) return s;
#ifndef EAOS_SERVER_COMMON_PROTO_JSON_H_
#define EAOS_SERVER_COMMON_PROTO_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace eaos::common {

struct JsonParse {
  // Unknown keys are skipped (tooling may add fields) rather than refused.
  bool ignore_unknown_fields = true;
};

// Parses `json` into *out (cleared first). InvalidArgument with protobuf's reason on failure.
absl::Status ParseJson(absl::string_view json, google::protobuf::Message* out,
                       JsonParse options = {});

// ReadFileCapped(path, max_bytes, what) then ParseJson; errors start with "<what> <path>".
absl::Status ReadJsonFile(const std::string& path, uint64_t max_bytes, absl::string_view what,
                          google::protobuf::Message* out, JsonParse options = {});

}  // namespace eaos::common

#endif  // EAOS_SERVER_COMMON_PROTO_JSON_H_
