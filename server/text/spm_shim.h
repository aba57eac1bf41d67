/* Narrow C ABI over sentencepiece, built into its own shared library (libeaos_spm.so).
 *
 * Why: Debian's libsentencepiece embeds protobuf-lite 3.14 and exports its symbols, which clash
 * with gRPC's libprotobuf 3.21 in one process, and its headers clash with Abseil's. Only
 * spm_shim.cc includes sentencepiece; the server loads this library with
 * dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) so each side keeps its own protobuf.
 *
 * Thread-safety: a loaded processor may be used by several threads at once for encoding.
 */
#ifndef EAOS_SERVER_TEXT_SPM_SHIM_H_
#define EAOS_SERVER_TEXT_SPM_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EAOS_SPM_ABI_VERSION 2
/* The library is built with hidden visibility; only these entry points are exported. */
#define EAOS_SPM_EXPORT __attribute__((visibility("default")))

typedef struct eaos_spm eaos_spm;

/* Returns EAOS_SPM_ABI_VERSION of the loaded library. */
EAOS_SPM_EXPORT int eaos_spm_abi_version(void);

/* Loads a sentencepiece model file. On failure returns NULL and writes a message to err. */
EAOS_SPM_EXPORT eaos_spm* eaos_spm_load(const char* path, char* err, size_t err_len);
EAOS_SPM_EXPORT void eaos_spm_free(eaos_spm* spm);

/* Vocabulary size (pieces), and the id of the unknown piece. */
EAOS_SPM_EXPORT int eaos_spm_vocab_size(const eaos_spm* spm);
EAOS_SPM_EXPORT int eaos_spm_unk_id(const eaos_spm* spm);

/* Piece kinds (eaos_spm_piece): sentencepiece's IsUnknown / IsControl / IsUnused / IsByte. */
#define EAOS_SPM_PIECE_NORMAL 0 /* normal or user-defined: matches its text */
#define EAOS_SPM_PIECE_UNKNOWN 1
#define EAOS_SPM_PIECE_CONTROL 2
#define EAOS_SPM_PIECE_UNUSED 3
#define EAOS_SPM_PIECE_BYTE 4

/* The text of piece `id` (0 <= id < vocab size): writes at most `cap` bytes to buf (no NUL) and
 * returns the text's full byte length (call again with a larger buffer when it exceeds cap), or
 * -1 when id is out of range. *kind receives one of EAOS_SPM_PIECE_*. */
EAOS_SPM_EXPORT int eaos_spm_piece(const eaos_spm* spm, int id, char* buf, size_t cap, int* kind);

/* Encodes text[0, len) into piece ids with each piece's byte range [begin, end) in the text.
 * Writes at most `cap` entries and returns the total number of pieces (call again with a larger
 * buffer when it exceeds cap), or -1 on error with a message in err. */
EAOS_SPM_EXPORT int eaos_spm_encode(const eaos_spm* spm, const char* text, size_t len, int32_t* ids,
                                    uint32_t* begins, uint32_t* ends, size_t cap, char* err,
                                    size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* EAOS_SERVER_TEXT_SPM_SHIM_H_ */
