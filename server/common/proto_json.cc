#include "server/common/proto_json.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/common/files.h"

namespace eaos::common {

absl::Status ParseJson(absl::string_view json, google::protobuf::Message* out, JsonParse options) {
  out->Clear();
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = options.ignore_unknown_fields;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), out, parse);
  if (!status.ok()) return absl::InvalidArgumentError(status.message().as_string());
  return absl::OkStatus();
}

absl::Status ReadJsonFile(const std::string& path, uint64_t max_bytes, absl::string_view what,
                          google::protobuf::Message* out, JsonParse options) {
  absl::StatusOr<std::string> text = ReadFileCapped(path, max_bytes, what);
  if (!text.ok()) return text.status();
  if (absl::Status s = ParseJson(*text, out, options); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not valid: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace eaos::common
