// The only translation unit that includes sentencepiece. See spm_shim.h for why.
#include "server/text/spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <string>

struct eaos_spm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {
void WriteError(char* err, size_t err_len, const std::string& message) {
  if (err != nullptr && err_len > 0) std::snprintf(err, err_len, "%s", message.c_str());
}
}  // namespace

extern "C" {

int eaos_spm_abi_version(void) { return EAOS_SPM_ABI_VERSION; }

eaos_spm* eaos_spm_load(const char* path, char* err, size_t err_len) {
  auto* spm = new eaos_spm;
  const auto status = spm->processor.Load(path);
  if (!status.ok()) {
    WriteError(err, err_len, status.ToString());
    delete spm;
    return nullptr;
  }
  return spm;
}

void eaos_spm_free(eaos_spm* spm) { delete spm; }

int eaos_spm_vocab_size(const eaos_spm* spm) { return spm->processor.GetPieceSize(); }

int eaos_spm_unk_id(const eaos_spm* spm) { return spm->processor.unk_id(); }

int eaos_spm_piece(const eaos_spm* spm, int id, char* buf, size_t cap, int* kind) {
  const auto& p = spm->processor;
  if (id < 0 || id >= p.GetPieceSize()) return -1;
  if (kind != nullptr) {
    *kind = p.IsUnknown(id)   ? EAOS_SPM_PIECE_UNKNOWN
            : p.IsControl(id) ? EAOS_SPM_PIECE_CONTROL
            : p.IsUnused(id)  ? EAOS_SPM_PIECE_UNUSED
            : p.IsByte(id)    ? EAOS_SPM_PIECE_BYTE
                              : EAOS_SPM_PIECE_NORMAL;
  }
  const std::string& text = p.IdToPiece(id);
  if (buf != nullptr) text.copy(buf, text.size() < cap ? text.size() : cap);  // no NUL (spm_shim.h)
  return static_cast<int>(text.size());
}

int eaos_spm_encode(const eaos_spm* spm, const char* text, size_t len, int32_t* ids,
                    uint32_t* begins, uint32_t* ends, size_t cap, char* err, size_t err_len) {
  // The byte offsets live in SentencePieceText; its generated header is not shipped by Debian, so
  // go through the immutable wrapper, which exposes begin()/end().
  sentencepiece::ImmutableSentencePieceText spt;
  const auto status = spm->processor.Encode(std::string(text, len), spt.mutable_proto());
  if (!status.ok()) {
    WriteError(err, err_len, status.ToString());
    return -1;
  }
  const int n = static_cast<int>(spt.pieces_size());
  for (int i = 0; i < n && static_cast<size_t>(i) < cap; ++i) {
    const auto& piece = spt.pieces(i);
    ids[i] = static_cast<int32_t>(piece.id());
    begins[i] = piece.begin();
    ends[i] = piece.end();
  }
  return n;
}

}  // extern "C"
