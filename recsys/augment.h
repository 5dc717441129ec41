/* The three sequence augmentations of MCLRec / CL4SRec (crop, mask, reorder)
 * over a batch of left-aligned padded id rows, as the official MCLRec
 * dataloader does them (SequentialDataLoader.mclrec_aug): every row of
 * length L > 1 gets two different operators drawn without replacement, the
 * first for view 1 and the second for view 2; rows with L <= 1 are copied
 * unchanged into both views.
 *
 * Randomness: row r of a batch draws from Philox keyed by (seed, stream)
 * with counters (r << 32) + 0, 1, ... (the operator pair first, then view
 * 1's draws, then view 2's), so a row's views depend only on (seed, stream,
 * r, the row): the same for any thread count, and a run resumed at a given
 * stream reproduces them. */
#ifndef UZ_RECSYS_AUGMENT_H
#define UZ_RECSYS_AUGMENT_H

#include <stdint.h>

#include "core/error.h"

typedef enum uz_aug_op {
    UZ_AUG_CROP = 0,
    UZ_AUG_MASK = 1,
    UZ_AUG_REORDER = 2,
    UZ_AUG_NONE = 3     /* rows with L <= 1 */
} uz_aug_op;

/* The official config keys, as the yaml's (double) values. */
typedef struct uz_augment_config {
    double crop_ratio;     /* fraction dropped: crop keeps floor((1 - crop_ratio) L) */
    double mask_ratio;     /* floor(mask_ratio L) positions set to 0 */
    double reorder_ratio;  /* a window of floor(reorder_ratio L) items is shuffled */
} uz_augment_config;

/* MCLRec.yaml: crop 0.5 (keep half), mask 0.5, reorder 0.8. */
uz_augment_config uz_augment_defaults(void);

/* floor(len * fraction) as the official code computes it: `length` there is
 * a 0-d int64 tensor, so the product with the Python float is a float32
 * tensor op (e.g. crop's keep for L = 10 and crop_ratio 0.3 is
 * floor(10.0f * (float)(1 - 0.3)) = 7, where a double product of the
 * float-rounded ratio would give 6). */
int32_t uz_augment_count(double fraction, int32_t len);

/* Longest row the batch function takes (its per-row draws live on the stack). */
enum { UZ_AUGMENT_MAX_LEN = 4096 };

/* The operators for given draws, on one row of max_len ids whose first len
 * are items. Each writes the whole output row (out must not alias row).
 *
 * crop: out[0..keep) = row[start..start+keep), zeros after; start + keep <= len. */
uz_status uz_augment_crop(const int32_t *row, int32_t len, int64_t max_len, int32_t keep,
                          int32_t start, int32_t *out);
/* mask: a copy of row with out[positions[i]] = 0 (the padding id, as the
 * official code; there is no mask token) for i < n; positions in [0, len). */
uz_status uz_augment_mask(const int32_t *row, int32_t len, int64_t max_len,
                          const int32_t *positions, int32_t n, int32_t *out);
/* reorder: a copy of row with out[start + i] = row[start + perm[i]] for
 * i < n, perm a permutation of 0..n-1; start + n <= len. */
uz_status uz_augment_reorder(const int32_t *row, int32_t len, int64_t max_len, int32_t start,
                             const int32_t *perm, int32_t n, int32_t *out);

/* The two views of every row of ids [batch, max_len] (lengths[batch] in
 * [0, max_len]): view v's ids to out_ids[v] [batch, max_len] and lengths to
 * out_len[v] [batch] (crop shortens a row; mask and reorder keep L).
 * ops_out (optional, [batch, 2]) receives the operators used. Draws: crop's
 * start uniform in [0, L - keep]; mask's positions a uniform sample without
 * replacement of range(L); reorder's window start uniform in [0, L - n] and
 * a uniform permutation (Fisher-Yates), as random.randint / random.sample /
 * random.shuffle do in the official code. */
uz_status uz_augment_batch(const uz_augment_config *cfg, const int32_t *ids,
                           const int32_t *lengths, int64_t batch, int64_t max_len, uint64_t seed,
                           uint64_t stream, int32_t *const out_ids[2], int32_t *const out_len[2],
                           uint8_t *ops_out);

#endif
