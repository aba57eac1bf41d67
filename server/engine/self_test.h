// Golden self-test: the model directory's golden.json, replayed through the server's own path.
//
// The export tool stores what the Python reference produced for a few sample texts (tuples and
// logits checksums). Before the server reports SERVING it runs the same texts, one at a time, through
// its tokenizer, the TorchScript forward and the C++ decoder, and compares. Any difference means the
// server would not answer as the model's authors measured (a tokenizer, label or architecture
// mismatch, a broken export) and the model is refused, with the differences named.
//
// Thread-safety: free functions; RunSelfTest() calls Model::Forward and must not run concurrently
// with the batch runner (it runs at load, before any request).
//
//   absl::StatusOr<std::optional<GoldenFile>> golden = LoadGoldenFile(model_dir);
//   absl::StatusOr<v1::SelfTest> report = RunSelfTest(**golden, path);  // error: what differed
#ifndef EAOS_SERVER_ENGINE_SELF_TEST_H_
#define EAOS_SERVER_ENGINE_SELF_TEST_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "eaos/model/v1/golden.pb.h"
#include "eaos/v1/eaos.pb.h"
#include "server/decode/decoder.h"
#include "server/runtime/model.h"
#include "server/runtime/model_config.h"
#include "server/text/tokenizer.h"

namespace eaos::engine {

using GoldenFile = ::eaos::model::v1::GoldenFile;

inline constexpr char kGoldenFileName[] = "golden.json";
// The int8 model's own answers (eaos_tools.quantize writes it beside model.int8.pt): int8 answers
// are not fp32's within a tolerance (a span edge may move), so --precision=int8 replays these.
inline constexpr char kInt8GoldenFileName[] = "golden.int8.json";

// The golden file a model run at `precision` replays: kInt8GoldenFileName for int8, else
// kGoldenFileName (with WithPrecisionTolerances for fp16 and bf16).
inline const char* GoldenFileFor(absl::string_view precision) {
  return precision == "int8" ? kInt8GoldenFileName : kGoldenFileName;
}
// A golden file holds tens of samples with their logit checksums: kilobytes. Larger is refused.
inline constexpr uint64_t kMaxGoldenFileBytes = uint64_t{64} << 20;

// Reads <model_dir>/<file_name>. nullopt when the file does not exist; an error when it exists but
// does not parse or is incomplete (no samples, a sample without checksums, negative tolerances).
absl::StatusOr<std::optional<GoldenFile>> LoadGoldenFile(
    const std::string& model_dir, absl::string_view file_name = kGoldenFileName);

// The parts of the serving path the self-test drives.
struct ServingPath {
  const runtime::ModelConfig* config;
  const text::Tokenizer* tokenizer;
  runtime::Model* model;
  const decode::Decoder* decoder;
};

// Runs every sample alone and compares with the golden answers: token count and truncation exactly,
// token ids exactly when the sample has input_ids (the first differing position is named), tuples
// (strings, spans, aspect, sentiment) exactly, confidences within confidence_tolerance, and each
// output's checksums within logits_rtol. A tuple whose confidence lies within the tolerance of
// the threshold may be present on one side only (it sits on the decision boundary).
// FAILED_PRECONDITION lists up to five differences.
// The report's detail: "N samples reproduced (...)"; callers prefix the file's name.
absl::StatusOr<v1::SelfTest> RunSelfTest(const GoldenFile& golden, const ServingPath& path);

// `golden` with its tolerances raised to what a model run at `precision` can reproduce of an fp32
// export: fp32 unchanged; fp16 (10-bit mantissa) at least 0.01 in confidence and 1% in logits
// checksums; bf16 (7-bit mantissa) at least 0.05 and 5%. Tolerances already wider are kept.
GoldenFile WithPrecisionTolerances(GoldenFile golden, absl::string_view precision);

}  // namespace eaos::engine

#endif  // EAOS_SERVER_ENGINE_SELF_TEST_H_
