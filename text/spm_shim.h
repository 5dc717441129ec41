/* A C view of Debian's libsentencepiece (C++): the few calls unizoo needs.
 * The implementation (spm_shim.cc) catches every C++ exception and turns
 * every failed util::Status into our error (core/error.h), so nothing
 * C++ crosses this boundary. Use text/tokenizer.h, not this, from models. */
#ifndef UZ_SPM_SHIM_H
#define UZ_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Inside the block so that spm_shim.cc sees uz_error_set with C linkage. */
#include "core/error.h"

typedef struct uz_spm uz_spm;

/* A loaded model (a .model file); NULL with the error set (naming the
 * file) when it cannot be read or parsed. */
uz_spm *uz_spm_load(const char *path);
void uz_spm_free(uz_spm *m);

int32_t uz_spm_piece_size(const uz_spm *m);
/* The id of a piece, or -1 when the vocabulary does not hold it (the
 * library itself answers unk_id then, which is ambiguous). */
int32_t uz_spm_piece_to_id(const uz_spm *m, const char *piece);
/* The piece of id (valid while m lives), or NULL when id is out of range. */
const char *uz_spm_id_to_piece(const uz_spm *m, int32_t id);
/* Special ids as the model stores them; -1 when disabled. */
int32_t uz_spm_unk_id(const uz_spm *m);
int32_t uz_spm_bos_id(const uz_spm *m);
int32_t uz_spm_eos_id(const uz_spm *m);
int32_t uz_spm_pad_id(const uz_spm *m);

/* Encodes text into ids[0..cap) and returns the full number of ids (which
 * may exceed cap: then only the first cap are written), or -1 with the
 * error set. */
int64_t uz_spm_encode(const uz_spm *m, const char *text, int32_t *ids, int64_t cap);
/* Decodes ids into out (NUL-terminated, truncated to cap - 1 bytes) and
 * returns the full length of the text, snprintf-style, or -1 with the error
 * set (an id out of range). */
int64_t uz_spm_decode(const uz_spm *m, const int32_t *ids, int64_t n, char *out, size_t cap);

/* Runs SentencePieceTrainer on the n sentences texts[] with the trainer
 * flags keys[i]=values[i] (spm_train's names, e.g. "vocab_size", "512";
 * "model_prefix" says where PREFIX.model and PREFIX.vocab go).
 * SentencePiece's global random generator is seeded with a fixed value
 * first, so any sampling the trainer does repeats from run to run. */
uz_status uz_spm_train(const char *const *texts, int64_t n, const char *const *keys,
                       const char *const *values, int n_flags);

/* Records msg as the current error (text/spm_error.c). The C++ side reports
 * through this C function so that its errors carry a C file location like
 * every other error, which the CLI knows to strip. */
uz_status uz_spm_error(uz_status st, const char *msg);

#ifdef __cplusplus
}
#endif

#endif
