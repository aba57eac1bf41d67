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
//   - encoding the same text again gives the same result;
//   - in fairseq ids (models/fixtures/xlmr_layout.model, XLM-RoBERTa's layout): the same ranges
//     rules, every id < vocab_size, an id of <s> <pad> </s> <unk> <mask> only where the text is
//     that literal (or for an unknown piece), and for a text without '<' exactly the plain
//     encoding's pieces with each id mapped (id + 1, the unknown piece 0 -> 3).
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
eaos::text::Tokenizer* xlmr_plain = nullptr;    // the fixture in sentencepiece's ids
eaos::text::Tokenizer* xlmr_fairseq = nullptr;  // the same model in fairseq ids

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
  options.model_path = std::string(EAOS_SOURCE_DIR) + "/models/fixtures/xlmr_layout.model";
  options.max_length = 64;
  auto plain = eaos::text::Tokenizer::Load(options);
  if (!plain.ok()) Fail(absl::StrCat("Tokenizer::Load (xlmr_layout): ", plain.status().ToString()));
  xlmr_plain = plain->release();
  options.id_map = eaos::text::IdMap::kFairseq;
  options.bos_id = 0;
  options.eos_id = 2;
  auto fairseq = eaos::text::Tokenizer::Load(options);
  if (!fairseq.ok()) Fail(absl::StrCat("Tokenizer::Load (fairseq): ", fairseq.status().ToString()));
  xlmr_fairseq = fairseq->release();
  return 0;
}

namespace {

// The fairseq-id invariants on one valid text (see the file comment).
void CheckFairseq(absl::string_view text) {
  absl::StatusOr<eaos::text::Encoding> got = xlmr_fairseq->Encode(text);
  Check(got.ok(), absl::StrCat("fairseq Encode failed: ", got.status().ToString()));
  const eaos::text::Encoding& e = *got;
  const size_t n = e.size();
  Check(n >= 2 && n <= 64 && e.ids.front() == 0 && e.ids.back() == 2, "fairseq: no <s>/</s>");
  Check(!e.truncated || n == 64, "fairseq: truncated below max_length");
  const int64_t vocab = xlmr_fairseq->vocab_size();
  const int64_t mask = vocab - 1;
  for (size_t i = 1; i + 1 < n; ++i) {
    const uint32_t b = e.begins[i];
    const uint32_t en = e.ends[i];
    Check(b <= en && en <= text.size() && OnBoundary(text, b) && OnBoundary(text, en),
          absl::StrCat("fairseq: position ", i, ": bad range [", b, ", ", en, ")"));
    Check(b >= e.ends[i - 1] || i == 1, absl::StrCat("fairseq: position ", i, " overlaps"));
    const int64_t id = e.ids[i];
    Check(id >= 0 && id < vocab, absl::StrCat("fairseq: id ", id, " outside ", vocab));
    const absl::string_view covered = text.substr(b, en - b);
    if (id <= 2 || id == mask) {
      const absl::string_view literal = id == 0 ? "<s>" : id == 1 ? "<pad>" : id == 2 ? "</s>"
                                                                                   : "<mask>";
      Check(covered == literal, absl::StrCat("fairseq: id ", id, " at \"", covered, "\""));
    }
  }
  if (text.find('<') != absl::string_view::npos) return;
  absl::StatusOr<eaos::text::Encoding> plain = xlmr_plain->Encode(text);
  Check(plain.ok() && plain->size() == n, "fairseq and plain encodings differ in length");
  for (size_t i = 1; i + 1 < n; ++i) {
    const int64_t want = plain->ids[i] == 0 ? 3 : plain->ids[i] + 1;
    Check(e.ids[i] == want && e.begins[i] == plain->begins[i] && e.ends[i] == plain->ends[i],
          absl::StrCat("fairseq: position ", i, " is not the plain piece mapped"));
  }
}

}  // namespace

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
  CheckFairseq(text);
  return 0;
}
