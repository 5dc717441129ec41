/* Leave-one-out split and padded batches over a uz_seqrec, as index arrays
 * into the CSR (no sequence is copied until a batch is built). */
#ifndef UZ_RECSYS_SPLIT_H
#define UZ_RECSYS_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/seqrec.h"

/* Sample k is user[k]'s history items[0 .. pos[k]) predicting items[pos[k]];
 * pos[k] == the user's length means "no target" (the history to recommend
 * from). The history is cut to its last max_len items when batched. */
typedef struct uz_seqrec_samples {
    int64_t n;
    int32_t *user;
    int32_t *pos;
} uz_seqrec_samples;

typedef struct uz_seqrec_split {
    uz_seqrec_samples train, valid, test;
} uz_seqrec_split;

/* RecBole's leave-one-out over prefix samples: a user with n items has n-1
 * samples (targets at positions 1..n-1); the last is test, the one before
 * valid, the rest train, so n items give n-3 training samples. Short users
 * follow RecBole's rule (at most n-2 held out, leaving >= 1 for training):
 * n = 3 has one train and one test sample, n = 2 one train sample, n = 1
 * none. Samples are in user order, then position order. */
uz_status uz_seqrec_split_loo(const uz_seqrec *d, uz_seqrec_split *out);
void uz_seqrec_split_free(uz_seqrec_split *s);

/* One sample per user with its whole history and no target. */
uz_status uz_seqrec_samples_all(const uz_seqrec *d, uz_seqrec_samples *out);
void uz_seqrec_samples_free(uz_seqrec_samples *s);

/* History length of sample k once cut to max_len. */
static inline int64_t uz_seqrec_sample_len(const uz_seqrec_samples *s, int64_t k, int64_t max_len)
{
    return s->pos[k] < max_len ? s->pos[k] : max_len;
}

/* A batch of left-aligned, zero-padded histories: ids is [b, len] row-major
 * (row stride len), items at columns 0..lengths[r]-1, so the representation
 * is read at column lengths[r]-1 (RecBole's layout). */
typedef struct uz_seqrec_batch {
    int64_t cap, max_len; /* capacity: rows, columns */
    int64_t b, len;       /* this batch */
    int32_t *ids;         /* [b, len] */
    int32_t *lengths;     /* [b] */
    int32_t *targets;     /* [b]; 0 = no target */
    int32_t *users;       /* [b] */
    int32_t *pos;         /* [b]: the sample's pos (the full history is items[0 .. pos)) */
} uz_seqrec_batch;

uz_status uz_seqrec_batch_init(uz_seqrec_batch *bt, int64_t cap, int64_t max_len);
void uz_seqrec_batch_free(uz_seqrec_batch *bt);

/* Fills bt with samples idx[0..n) of s. len is the longest history in the
 * batch when cut, else max_len (padding a causal, left-aligned sequence
 * changes nothing at the positions read). */
uz_status uz_seqrec_batch_fill(uz_seqrec_batch *bt, const uz_seqrec *d, const uz_seqrec_samples *s,
                               const int64_t *idx, int64_t n, bool cut);

#endif
