#include "server/text/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/common/files.h"
#include "server/text/fairseq_ids.h"
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
  decltype(&eaos_spm_unk_id) unk_id;
  decltype(&eaos_spm_piece) piece;
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
        !Resolve(handle, "eaos_spm_unk_id", &s.unk_id) ||
        !Resolve(handle, "eaos_spm_piece", &s.piece) ||
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

// Pieces of one text before BOS/EOS and truncation: ids and byte ranges.
struct PieceList {
  std::vector<int64_t> ids;
  std::vector<uint32_t> begins;
  std::vector<uint32_t> ends;
};

// The sentencepiece processor behind the shim's C ABI.
class SentencepieceTokenizer final : public Tokenizer {
 public:
  SentencepieceTokenizer(TokenizerOptions options, const Shim* shim, void* processor,
                         std::optional<FairseqIds> fairseq)
      : options_(std::move(options)),
        shim_(shim),
        processor_(processor),
        fairseq_(std::move(fairseq)) {}
  ~SentencepieceTokenizer() override { shim_->free(static_cast<eaos_spm*>(processor_)); }
  SentencepieceTokenizer(const SentencepieceTokenizer&) = delete;
  SentencepieceTokenizer& operator=(const SentencepieceTokenizer&) = delete;

  absl::StatusOr<Encoding> Encode(absl::string_view text) const override;
  int vocab_size() const override {
    return fairseq_.has_value() ? fairseq_->vocab_size()
                                : shim_->vocab_size(static_cast<const eaos_spm*>(processor_));
  }
  int max_length() const override { return options_.max_length; }

 private:
  // Appends sentencepiece's pieces of text[begin, end), ids mapped by fairseq_ when it is set.
  absl::Status AppendPieces(absl::string_view text, uint32_t begin, uint32_t end,
                            PieceList* out) const;

  const TokenizerOptions options_;
  const Shim* const shim_;
  void* const processor_;  // eaos_spm*
  const std::optional<FairseqIds> fairseq_;  // set for IdMap::kFairseq
};

// The model's pieces through the shim, for FairseqIds::Build.
absl::StatusOr<std::vector<SpmPiece>> ReadPieces(const Shim& shim, const eaos_spm* processor) {
  const int n = shim.vocab_size(processor);
  std::vector<SpmPiece> pieces(static_cast<size_t>(std::max(n, 0)));
  std::string buf(64, '\0');
  for (int id = 0; id < n; ++id) {
    int kind = 0;
    int len = shim.piece(processor, id, buf.data(), buf.size(), &kind);
    if (len > static_cast<int>(buf.size())) {
      buf.resize(static_cast<size_t>(len));
      len = shim.piece(processor, id, buf.data(), buf.size(), &kind);
    }
    if (len < 0 || len > static_cast<int>(buf.size())) {
      return absl::InternalError(absl::StrCat("tokenizer: cannot read piece ", id));
    }
    pieces[id].text.assign(buf.data(), static_cast<size_t>(len));
    pieces[id].matches_text = kind == EAOS_SPM_PIECE_NORMAL;
  }
  return pieces;
}

// fairseq's ids over the loaded model (options.dict_path: BartphoTokenizer's, else XLM-R's).
absl::StatusOr<FairseqIds> LoadFairseqIds(const TokenizerOptions& options, const Shim& shim,
                                          const eaos_spm* processor) {
  if (options.bos_id != kFairseqBosId || options.eos_id != kFairseqEosId) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fairseq ids have <s>=0 and </s>=2, but bos_id=", options.bos_id, " eos_id=",
        options.eos_id, " were given"));
  }
  absl::StatusOr<std::vector<SpmPiece>> pieces = ReadPieces(shim, processor);
  if (!pieces.ok()) return pieces.status();
  const int unk_id = shim.unk_id(processor);
  if (options.dict_path.empty()) {
    auto ids = FairseqIds::Build(*pieces, unk_id, nullptr);
    if (!ids.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.model_path, ": ", ids.status().message()));
    }
    return ids;
  }
  absl::StatusOr<std::string> dict =
      common::ReadFileCapped(options.dict_path, kMaxTokenizerFileBytes, "fairseq dictionary");
  if (!dict.ok()) return dict.status();
  absl::StatusOr<std::vector<std::string>> tokens = ParseFairseqDict(*dict, options.dict_path);
  if (!tokens.ok()) return tokens.status();
  return FairseqIds::Build(*pieces, unk_id, &*tokens, options.dict_path);
}

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
  std::optional<FairseqIds> fairseq;
  if (options.id_map == IdMap::kFairseq) {
    absl::StatusOr<FairseqIds> ids =
        LoadFairseqIds(options, *shim, static_cast<const eaos_spm*>(processor));
    if (!ids.ok()) {
      shim->free(static_cast<eaos_spm*>(processor));
      return ids.status();
    }
    fairseq = *std::move(ids);
  }
  return std::make_unique<SentencepieceTokenizer>(options, shim, processor, std::move(fairseq));
}

absl::Status SentencepieceTokenizer::AppendPieces(absl::string_view text, uint32_t begin,
                                                  uint32_t end, PieceList* out) const {
  const absl::string_view part = text.substr(begin, end - begin);
  // Usually a piece covers at least one byte; retry with the exact size when it did not.
  size_t cap = part.size() + 2;
  std::vector<int32_t> ids;
  std::vector<uint32_t> begins, ends;
  int n = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    ids.resize(cap);
    begins.resize(cap);
    ends.resize(cap);
    std::array<char, 512> err{};
    n = shim_->encode(static_cast<const eaos_spm*>(processor_), part.data(), part.size(),
                      ids.data(), begins.data(), ends.data(), cap, err.data(), err.size());
    if (n < 0) return absl::InternalError(absl::StrCat("tokenizer: ", err.data()));
    if (static_cast<size_t>(n) <= cap) break;
    cap = static_cast<size_t>(n);
  }
  if (static_cast<size_t>(n) > cap) return absl::InternalError("tokenizer: piece count changed");
  out->ids.reserve(out->ids.size() + n);
  out->begins.reserve(out->begins.size() + n);
  out->ends.reserve(out->ends.size() + n);
  for (int i = 0; i < n; ++i) {
    int64_t id = ids[i];
    if (fairseq_.has_value()) {
      id = fairseq_->ModelId(ids[i]);
      if (id < 0) return absl::InternalError(absl::StrCat("tokenizer: piece id ", ids[i]));
    }
    out->ids.push_back(id);
    out->begins.push_back(begin + begins[i]);
    out->ends.push_back(begin + ends[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<Encoding> SentencepieceTokenizer::Encode(absl::string_view text) const {
  if (text.size() > UINT32_MAX) return absl::InvalidArgumentError("text is larger than 4 GiB");
  PieceList pieces;
  if (!fairseq_.has_value()) {
    if (auto s = AppendPieces(text, 0, static_cast<uint32_t>(text.size()), &pieces); !s.ok()) {
      return s;
    }
  } else {
    // As transformers' tokenize(): the literal specials are ids of their own, and sentencepiece
    // sees each part between them on its own.
    for (const SpecialSplit& part : fairseq_->SplitSpecials(text)) {
      if (part.special_id >= 0) {
        pieces.ids.push_back(part.special_id);
        pieces.begins.push_back(part.begin);
        pieces.ends.push_back(part.end);
      } else if (auto s = AppendPieces(text, part.begin, part.end, &pieces); !s.ok()) {
        return s;
      }
    }
  }
  const size_t n = pieces.ids.size();
  const size_t keep = std::min<size_t>(n, options_.max_length - 2);
  Encoding out;
  out.truncated = keep < n;
  out.ids.reserve(keep + 2);
  out.begins.reserve(keep + 2);
  out.ends.reserve(keep + 2);
  out.ids.push_back(options_.bos_id);
  out.begins.push_back(0);
  out.ends.push_back(0);
  out.ids.insert(out.ids.end(), pieces.ids.begin(), pieces.ids.begin() + keep);
  out.begins.insert(out.begins.end(), pieces.begins.begin(), pieces.begins.begin() + keep);
  out.ends.insert(out.ends.end(), pieces.ends.begin(), pieces.ends.begin() + keep);
  const uint32_t tail = keep > 0 ? pieces.ends[keep - 1] : 0;
  out.ids.push_back(options_.eos_id);
  out.begins.push_back(tail);
  out.ends.push_back(tail);
  return out;
}

}  // namespace eaos::text
