// Fuzz target: the real tokenizer (server/text/tokenizer.h: libeaos_spm.so + sentencepiece) with
// the demo model's tokenizer.model, on every input that passes the server's UTF-8 validation.
//
// Built with -fsanitize=fuzzer,undefined and no ASan: Tokenizer dlopens the shim with
// RTLD_DEEPBIND (sentencepiece's embedded protobuf must not bind to gRPC's), which ASan refuses
// (see tests/fuzz/CMakeLists.txt). Sentencepiece is Debian's uninstrumented build: coverage
// guidance comes from the shim wrapper and Tokenizer::Encode, the checks from the invariants.
//
// Invariants checked (a violation aborts, and libFuzzer keeps the input):
//   - Encode succeeds; ids are [BOS] pieces... [EOS], at most max_length (exactly max_length when
//     truncated); every piece id is < vocab_size and not pad/BOS/EOS;
//   - every byte range lies within the text, on character boundaries, begin <= end, both
//     non-decreasing from position to position; BOS is [0, 0), EOS the empty range at the end of
//     the last piece (what the decoder relies on, see fuzz_decoder.cc);
//   - encoding the same text again gives the same result.
//
//   tests/fuzz/run.sh 30
//   EAOS_SPM_SHIM=build/fuzz/bin/libeaos_fuzz_spm.so build/fuzz/bin/fuzz_tokenizer -runs=10000 DIR
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/runtime/model_config.h"
#include "server/text/tokenizer.h"
#include "server/text/utf8.h"

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_tokenizer invariant broken: %s\n", what.c_str());
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

// The server refuses longer texts (--max_text_bytes default).
constexpr size_t kMaxTextBytes = 16 * 1024;

eaos::runtime::ModelConfig* config = nullptr;
eaos::text::Tokenizer* tokenizer = nullptr;

bool OnBoundary(absl::string_view text, uint32_t b) {
  return b == text.size() || (static_cast<unsigned char>(text[b]) & 0xC0) != 0x80;
}

bool Same(const eaos::text::Encoding& a, const eaos::text::Encoding& b) {
  return a.ids == b.ids && a.begins == b.begins && a.ends == b.ends && a.truncated == b.truncated;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const std::string dir = std::string(EAOS_SOURCE_DIR) + "/models/demo";
  absl::StatusOr<eaos::runtime::ModelConfig> loaded = eaos::runtime::LoadModelConfig(dir);
  if (!loaded.ok()) Fail(absl::StrCat(dir, "/model.json: ", loaded.status().ToString()));
  config = new eaos::runtime::ModelConfig(*std::move(loaded));
  eaos::text::TokenizerOptions options;
  options.model_path = dir + "/" + config->tokenizer_config().model();
  // $EAOS_SPM_SHIM wins; else the shim built beside this target.
  const char* env = std::getenv("EAOS_SPM_SHIM");
  options.shim_path = env != nullptr && *env != '\0' ? env : EAOS_FUZZ_SPM_SHIM;
  options.bos_id = config->special_tokens().bos_id();
  options.eos_id = config->special_tokens().eos_id();
  options.max_length = static_cast<int>(config->max_length());
  absl::StatusOr<std::unique_ptr<eaos::text::Tokenizer>> t = eaos::text::Tokenizer::Load(options);
  if (!t.ok()) Fail(absl::StrCat("Tokenizer::Load: ", t.status().ToString()));
  tokenizer = t->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // The server validates before it tokenizes (server/engine/validation.h); -1: not worth keeping.
  if (size > kMaxTextBytes || !eaos::text::IsValidUtf8(text)) return -1;

  absl::StatusOr<eaos::text::Encoding> got = tokenizer->Encode(text);
  Check(got.ok(), absl::StrCat("Encode failed: ", got.status().ToString()));
  const eaos::text::Encoding& e = *got;
  const auto& special = config->special_tokens();
  const size_t n = e.size();
  const size_t max_length = static_cast<size_t>(tokenizer->max_length());
  Check(n >= 2 && n <= max_length, absl::StrCat(n, " positions, max_length ", max_length));
  Check(e.begins.size() == n && e.ends.size() == n, "ranges and ids differ in length");
  Check(e.ids.front() == special.bos_id() && e.ids.back() == special.eos_id(), "no BOS/EOS");
  Check(!e.truncated || n == max_length, "truncated below max_length");
  Check(e.begins.front() == 0 && e.ends.front() == 0, "BOS range is not [0, 0)");
  const uint32_t tail = n > 2 ? e.ends[n - 2] : 0;
  Check(e.begins.back() == tail && e.ends.back() == tail, "EOS range is not the empty tail");

  const int64_t vocab = tokenizer->vocab_size();
  for (size_t i = 0; i < n; ++i) {
    const uint32_t b = e.begins[i];
    const uint32_t en = e.ends[i];
    Check(b <= en && en <= text.size(),
          absl::StrCat("position ", i, ": [", b, ", ", en, ") outside ", text.size(), " bytes"));
    Check(OnBoundary(text, b) && OnBoundary(text, en),
          absl::StrCat("position ", i, ": [", b, ", ", en, ") splits a character"));
    if (i > 0) {
      Check(b >= e.begins[i - 1] && en >= e.ends[i - 1],
            absl::StrCat("position ", i, " goes backwards"));
    }
    if (i == 0 || i + 1 == n) continue;
    const int64_t id = e.ids[i];
    Check(id >= 0 && id < vocab, absl::StrCat("id ", id, " outside the vocabulary of ", vocab));
    Check(id != special.pad_id() && id != special.bos_id() && id != special.eos_id(),
          absl::StrCat("position ", i, " is a special token (", id, ")"));
  }

  absl::StatusOr<eaos::text::Encoding> again = tokenizer->Encode(text);
  Check(again.ok() && Same(e, *again), "encoding the same text twice differs");
  return 0;
}
