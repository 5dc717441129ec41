/* The tokenizer the models use: a SentencePiece model (trained by
 * SentencePiece's own trainer, loaded from its .model file) behind a C API.
 * Ids are exactly what `spm_encode --output_format=id` prints for the same
 * model and text; bos/eos are added on request only. */
#ifndef UZ_TOKENIZER_H
#define UZ_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct uz_tokenizer uz_tokenizer;

/* Flags of uz_tokenizer_encode. */
enum { UZ_TOK_BOS = 1, UZ_TOK_EOS = 2 };

/* Loads PREFIX.model; NULL with the error set (naming the file). */
uz_tokenizer *uz_tokenizer_load(const char *model_path);
void uz_tokenizer_free(uz_tokenizer *tok);

/* Encodes text into ids[0..cap), with bos first / eos last when flags ask
 * for them, and returns the full number of ids; when that exceeds cap only
 * the first cap are written (the caller truncates on purpose, snprintf
 * style). -1 with the error set on failure (e.g. bos asked of a model
 * without one). */
int64_t uz_tokenizer_encode(const uz_tokenizer *tok, const char *text, int flags, int32_t *ids,
                            int64_t cap);
/* Decodes ids into out (NUL-terminated, at most cap - 1 bytes) and returns
 * the full text length, snprintf style; pad/bos/eos decode to nothing.
 * -1 with the error set for an id outside the vocabulary. */
int64_t uz_tokenizer_decode(const uz_tokenizer *tok, const int32_t *ids, int64_t n, char *out,
                            size_t cap);

/* The accessors below answer 0 / -1 / NULL for a NULL tokenizer. */
int32_t uz_tokenizer_vocab_size(const uz_tokenizer *tok);
/* The id of a piece ("<spe>", "▁bag"), -1 when the vocabulary lacks it. */
int32_t uz_tokenizer_piece_id(const uz_tokenizer *tok, const char *piece);
/* The piece of an id (valid while tok lives), NULL when out of range. */
const char *uz_tokenizer_piece(const uz_tokenizer *tok, int32_t id);
/* Special ids; -1 when the model has that symbol disabled. */
int32_t uz_tokenizer_pad_id(const uz_tokenizer *tok);
int32_t uz_tokenizer_unk_id(const uz_tokenizer *tok);
int32_t uz_tokenizer_bos_id(const uz_tokenizer *tok);
int32_t uz_tokenizer_eos_id(const uz_tokenizer *tok);

/* Trainer settings beyond the corpus, the prefix and the vocabulary size. */
typedef struct uz_tokenizer_train_opts {
    const char *model_type;      /* "unigram", "bpe", "word" or "char" */
    int32_t pad_id, unk_id, bos_id, eos_id; /* -1 disables (unk cannot be) */
    const char *const *user_symbols;    /* always one piece each, e.g. "<spe>" */
    int n_user_symbols;
    const char *const *control_symbols; /* ids reserved, never produced by encode */
    int n_control_symbols;
    double character_coverage;   /* fraction of characters kept; rest map to unk */
    /* false: vocab_size is an upper bound (a small corpus yields fewer
     * pieces); true: SentencePiece's default, fail unless exactly reached. */
    bool hard_vocab_limit;
    const char *normalization;   /* SentencePiece rule name, e.g. "nmt_nfkc_cf" */
    bool verbose;                /* SentencePiece's log (progress, warnings) on stderr */
} uz_tokenizer_train_opts;

/* unigram; pad 0, unk 1, bos 2, eos 3; the user symbol "<spe>" (id 4);
 * no control symbols; character coverage 1.0; soft vocabulary limit;
 * nmt_nfkc normalisation; quiet.
 *
 * On templated text (generated scene captions) prefer "bpe": the unigram
 * trainer seeds its pieces with the substrings that occur followed by at
 * least two different characters (the suffix tree's branching nodes), so a
 * word always followed by the same words ("left" in "left of a") is never
 * a seed and ends up spelled out in characters. Natural text varies enough
 * for this not to matter. BPE merges by frequency and keeps such words
 * whole. */
uz_tokenizer_train_opts uz_tokenizer_train_defaults(void);

/* Trains on texts[0..n) (one sentence each; SentencePiece skips those over
 * its max_sentence_length, 4192 bytes) and writes model_prefix.model and
 * model_prefix.vocab. opts NULL means the defaults. Training runs on one
 * thread with a fixed seed, so the same texts and prefix give the same
 * model file, byte for byte. */
uz_status uz_tokenizer_train(const char *const *texts, int64_t n, const char *model_prefix,
                             int vocab_size, const uz_tokenizer_train_opts *opts);

#endif
