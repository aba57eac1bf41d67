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

#define EAOS_SPM_ABI_VERSION 1
/* The library is built with hidden visibility; only these entry points are exported. */
#define EAOS_SPM_EXPORT __attribute__((visibility("default")))

typedef struct eaos_spm eaos_spm;

/* Returns EAOS_SPM_ABI_VERSION of the loaded library. */
EAOS_SPM_EXPORT int eaos_spm_abi_version(void);

/* Loads a sentencepiece model file. On failure returns NULL and writes a message to err. */
EAOS_SPM_EXPORT eaos_spm* eaos_spm_load(const char* path, char* err, size_t err_len);
EAOS_SPM_EXPORT void eaos_spm_free(eaos_spm* spm);

/* Vocabulary size, and the id of a piece (unk id when unknown). */
EAOS_SPM_EXPORT int eaos_spm_vocab_size(const eaos_spm* spm);

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
