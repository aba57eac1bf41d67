#include "server/text/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/files.h"
#include "server/text/spm_shim.h"

#ifndef EAOS_SPM_SHIM_INSTALL_PATH
#define EAOS_SPM_SHIM_INSTALL_PATH "/usr/local/lib/eaos/libeaos_spm.so"
#endif

namespace eaos::text {
namespace {

struct Shim {
  decltype(&eaos_spm_abi_version) abi_version;
  decltype(&eaos_spm_load) load;
  decltype(&eaos_spm_free) free;
  decltype(&eaos_spm_vocab_size) vocab_size;
  decltype(&eaos_spm_encode) encode;
};

std::string ExecutableDir() {
  std::array<char, 4096> buf{};
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return ".";
  std::string path(buf.data(), static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

std::vector<std::string> ShimCandidates(const std::string& explicit_path) {
  if (!explicit_path.empty()) return {explicit_path};
  std::vector<std::string> out;
  if (const char* env = std::getenv("EAOS_SPM_SHIM"); env != nullptr && *env != '\0') {
    out.emplace_back(env);
  }
  const std::string exe_dir = ExecutableDir();
  out.push_back(exe_dir + "/libeaos_spm.so");
  out.push_back(exe_dir + "/../lib/eaos/libeaos_spm.so");
  out.emplace_back(EAOS_SPM_SHIM_INSTALL_PATH);
  return out;
}

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, name));
  return *fn != nullptr;
}

// Loads the shim once per process (per path) and keeps it loaded for the process lifetime.
absl::StatusOr<const Shim*> LoadShimOnce(const std::string& explicit_path, Shim* storage) {
  std::string errors;
  for (const std::string& path : ShimCandidates(explicit_path)) {
    // DEEPBIND: the shim and sentencepiece resolve their own symbols (sentencepiece's embedded
    // protobuf) before the process's global ones (gRPC's libprotobuf).
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
      absl::StrAppend(&errors, "\n  ", path, ": ", dlerror());
      continue;
    }
    Shim& s = *storage;
    if (!Resolve(handle, "eaos_spm_abi_version", &s.abi_version) ||
        !Resolve(handle, "eaos_spm_load", &s.load) || !Resolve(handle, "eaos_spm_free", &s.free) ||
        !Resolve(handle, "eaos_spm_vocab_size", &s.vocab_size) ||
        !Resolve(handle, "eaos_spm_encode", &s.encode)) {
      absl::StrAppend(&errors, "\n  ", path, ": lacks an eaos_spm_* entry point: ", dlerror());
      dlclose(handle);
      continue;
    }
    if (s.abi_version() != EAOS_SPM_ABI_VERSION) {
      absl::StrAppend(&errors, "\n  ", path, ": ABI version ", s.abi_version(), ", expected ",
                      EAOS_SPM_ABI_VERSION);
      dlclose(handle);
      continue;
    }
    return storage;
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot load the tokenizer library libeaos_spm.so (set EAOS_SPM_SHIM):", errors));
}

// The sentencepiece processor behind the shim's C ABI.
class SentencepieceTokenizer final : public Tokenizer {
 public:
  SentencepieceTokenizer(TokenizerOptions options, const Shim* shim, void* processor)
      : options_(std::move(options)), shim_(shim), processor_(processor) {}
  ~SentencepieceTokenizer() override { shim_->free(static_cast<eaos_spm*>(processor_)); }
  SentencepieceTokenizer(const SentencepieceTokenizer&) = delete;
  SentencepieceTokenizer& operator=(const SentencepieceTokenizer&) = delete;

  absl::StatusOr<Encoding> Encode(absl::string_view text) const override;
  int vocab_size() const override {
    return shim_->vocab_size(static_cast<const eaos_spm*>(processor_));
  }
  int max_length() const override { return options_.max_length; }

 private:
  const TokenizerOptions options_;
  const Shim* const shim_;
  void* const processor_;  // eaos_spm*
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const TokenizerOptions& options) {
  if (options.max_length < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_length must be at least 3 (BOS, one piece, EOS), got ", options.max_length));
  }
  static std::mutex mu;
  static Shim storage;
  static absl::StatusOr<const Shim*>* loaded = nullptr;
  const Shim* shim = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (loaded == nullptr) {
      loaded = new absl::StatusOr<const Shim*>(LoadShimOnce(options.shim_path, &storage));
    }
    if (!loaded->ok()) return loaded->status();
    shim = **loaded;
  }
  if (absl::Status s = common::CheckRegularFile(options.model_path, "sentencepiece model",
                                               kMaxTokenizerFileBytes);
      !s.ok()) {
    return s;
  }
  std::array<char, 1024> err{};
  void* processor = shim->load(options.model_path.c_str(), err.data(), err.size());
  if (processor == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load tokenizer ", options.model_path, ": ", err.data()));
  }
  return std::make_unique<SentencepieceTokenizer>(options, shim, processor);
}

absl::StatusOr<Encoding> SentencepieceTokenizer::Encode(absl::string_view text) const {
  // Usually a piece covers at least one byte; retry with the exact size when it did not.
  size_t cap = text.size() + 2;
  std::vector<int32_t> ids;
  std::vector<uint32_t> begins, ends;
  int n = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    ids.resize(cap);
    begins.resize(cap);
    ends.resize(cap);
    std::array<char, 512> err{};
    n = shim_->encode(static_cast<const eaos_spm*>(processor_), text.data(), text.size(),
                      ids.data(), begins.data(), ends.data(), cap, err.data(), err.size());
    if (n < 0) return absl::InternalError(absl::StrCat("tokenizer: ", err.data()));
    if (static_cast<size_t>(n) <= cap) break;
    cap = static_cast<size_t>(n);
  }
  if (static_cast<size_t>(n) > cap) return absl::InternalError("tokenizer: piece count changed");

  const size_t keep = std::min<size_t>(static_cast<size_t>(n), options_.max_length - 2);
  Encoding out;
  out.truncated = keep < static_cast<size_t>(n);
  out.ids.reserve(keep + 2);
  out.begins.reserve(keep + 2);
  out.ends.reserve(keep + 2);
  out.ids.push_back(options_.bos_id);
  out.begins.push_back(0);
  out.ends.push_back(0);
  for (size_t i = 0; i < keep; ++i) {
    out.ids.push_back(ids[i]);
    out.begins.push_back(begins[i]);
    out.ends.push_back(ends[i]);
  }
  const uint32_t tail = keep > 0 ? ends[keep - 1] : 0;
  out.ids.push_back(options_.eos_id);
  out.begins.push_back(tail);
  out.ends.push_back(tail);
  return out;
}

}  // namespace eaos::text
