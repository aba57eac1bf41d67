// Fuzz target: hostile wire bytes -> eaos.v1.PredictRequest -> request validation.
//
// What a client controls reaches the server as a serialized PredictRequest (or a
// PredictStreamRequest, the same fields). This target parses arbitrary bytes with protobuf and runs
// the engine's model-free checks (server/engine/validation.h) on the request and every item, under
// two sets of limits: the server's defaults and tiny ones that make every limit reachable.
//
// Invariants checked (a violation aborts, and libFuzzer keeps the input):
//   - a parsed message re-serializes and re-parses to the same bytes; every id is valid UTF-8
//     (proto3 `string`: the server echoes it into ItemResult.id, which must serialize);
//   - ValidateRequest accepts exactly the requests an independent oracle accepts;
//   - ValidateItem fails with the first broken rule in the documented order (id size, text size,
//     UTF-8, blank), INVALID_ARGUMENT and a non-empty message; the reported UTF-8 offset is that
//     of an independent decoder; an accepted text is valid, non-blank UTF-8 within the limit;
//   - CodePointIndex of an accepted text agrees with the oracle's code point count.
//
//   tests/fuzz/run.sh 30                                  # all targets, 30 s each
//   build/fuzz/bin/fuzz_request tests/fuzz/corpus/fuzz_request  # grows that folder: use a copy
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "eaos/v1/eaos.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "server/engine/validation.h"
#include "server/text/utf8.h"

namespace {

using eaos::engine::RequestLimits;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_request invariant broken: %s\n", what.c_str());
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

// An independent strict UTF-8 decoder (RFC 3629), written from the definition rather than from
// server/text/utf8.cc: decodes each scalar value and checks its range. Returns the byte offset of
// the first malformed sequence, or s.size() when there is none; appends the code points decoded.
size_t FirstInvalidUtf8(absl::string_view s, std::vector<uint32_t>* code_points) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    uint32_t min;
    if (c < 0x80) {
      len = 1;
      cp = c;
      min = 0;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return i;
    }
    if (s.size() - i < static_cast<size_t>(len)) return i;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    if (code_points != nullptr) code_points->push_back(cp);
    i += len;
  }
  return s.size();
}

// What makes a whole text blank (server/text/utf8.h IsBlank), written here as a table of ranges:
// Unicode's White_Space, U+200B, and the characters that show nothing alone.
bool IsSpace(uint32_t cp) {
  static constexpr std::pair<uint32_t, uint32_t> kBlank[] = {
      {0x09, 0x0D},   {0x20, 0x20},     {0x85, 0x85},     {0xA0, 0xA0},     {0xAD, 0xAD},
      {0x34F, 0x34F}, {0x61C, 0x61C},   {0x115F, 0x1160}, {0x1680, 0x1680}, {0x17B4, 0x17B5},
      {0x180E, 0x180E}, {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F},
      {0x3000, 0x3000}, {0x3164, 0x3164}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0},
      {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xE0100, 0xE01EF}};
  for (const auto& [lo, hi] : kBlank) {
    if (cp >= lo && cp <= hi) return true;
  }
  return false;
}

void CheckRequestLevel(const eaos::v1::PredictRequest& request, const RequestLimits& limits) {
  const absl::Status s =
      eaos::engine::ValidateRequest(request.items_size(), request.options(), limits);
  bool expect_ok = request.items_size() <= limits.max_items_per_request;
  if (request.options().has_confidence_threshold()) {
    const float t = request.options().confidence_threshold();
    expect_ok = expect_ok && t >= 0.0f && t <= 1.0f;  // false for NaN
  }
  Check(s.ok() == expect_ok, absl::StrCat("ValidateRequest said ", s.ToString(), " for ",
                                          request.items_size(), " items"));
  if (!s.ok()) {
    Check(s.code() == absl::StatusCode::kInvalidArgument, "request error is not INVALID_ARGUMENT");
    Check(!s.message().empty(), "request error without a message");
  }
}

void CheckItem(const eaos::v1::Item& item, const RequestLimits& limits) {
  const absl::Status s = eaos::engine::ValidateItem(item, limits);
  const std::string& text = item.text();
  std::vector<uint32_t> code_points;
  const size_t bad = FirstInvalidUtf8(text, &code_points);
  bool blank = true;
  for (uint32_t cp : code_points) blank = blank && IsSpace(cp);

  // The first rule broken, in the order validation.h documents.
  std::string expected;
  if (item.id().size() > static_cast<size_t>(limits.max_id_bytes)) {
    expected = absl::StrCat("id is ", item.id().size(), " bytes");
  } else if (text.size() > static_cast<size_t>(limits.max_text_bytes)) {
    expected = absl::StrCat("text is ", text.size(), " bytes");
  } else if (bad != text.size()) {
    expected = absl::StrCat("text is not valid UTF-8 (bad byte sequence at byte offset ", bad, ")");
  } else if (blank) {
    expected = "text is empty or only whitespace";
  }
  if (expected.empty()) {
    Check(s.ok(), absl::StrCat("a good item was refused: ", s.ToString()));
    // What the tokenizer and decoder rely on.
    Check(eaos::text::IsValidUtf8(text) && !eaos::text::IsBlank(text) && !text.empty(),
          "an accepted text is blank or not UTF-8");
    const std::vector<uint32_t> index = eaos::text::CodePointIndex(text);
    Check(index.size() == text.size() + 1 && index.back() == code_points.size(),
          "CodePointIndex disagrees with the code point count");
    return;
  }
  Check(!s.ok(), absl::StrCat("accepted an item that breaks: ", expected));
  Check(s.code() == absl::StatusCode::kInvalidArgument, "item error is not INVALID_ARGUMENT");
  Check(!s.message().empty(), "item error without a message");
  Check(absl::StartsWith(s.message(), expected),
        absl::StrCat("item error \"", s.message(), "\", expected \"", expected, "...\""));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Invalid UTF-8 in a proto3 string field is logged at ERROR on every failed parse: quiet.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max())) return 0;
  eaos::v1::PredictRequest request;
  // gRPC answers bytes that do not parse itself; the service never sees them.
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  const std::string wire = request.SerializeAsString();
  eaos::v1::PredictRequest again;
  Check(again.ParseFromString(wire), "a parsed request does not parse after serializing");
  Check(again.SerializeAsString() == wire, "serialization is not stable");
  // The stream message has the same fields: the same bytes parse to it too.
  eaos::v1::PredictStreamRequest stream;
  Check(stream.ParseFromArray(data, static_cast<int>(size)) &&
            stream.items_size() == request.items_size(),
        "PredictStreamRequest disagrees with PredictRequest");
  for (const eaos::v1::Item& item : request.items()) {
    Check(FirstInvalidUtf8(item.id(), nullptr) == item.id().size(),
          "parsed an id that is not UTF-8");
  }

  RequestLimits tiny;
  tiny.max_items_per_request = 2;
  tiny.max_text_bytes = 24;
  tiny.max_id_bytes = 4;
  for (const RequestLimits& limits : {RequestLimits(), tiny}) {
    CheckRequestLevel(request, limits);
    for (const eaos::v1::Item& item : request.items()) CheckItem(item, limits);
  }
  return 0;
}
