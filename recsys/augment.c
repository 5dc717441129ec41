/* Crop, mask and reorder over padded id rows, and the per-row two-view
 * augmentation of a batch with counter-based draws. */
#include "augment.h"

#include <math.h>
#include <string.h>

#include "core/rng.h"

uz_augment_config uz_augment_defaults(void)
{
    return (uz_augment_config){.crop_ratio = 0.5, .mask_ratio = 0.5, .reorder_ratio = 0.8};
}

int32_t uz_augment_count(double fraction, int32_t len)
{
    return (int32_t)floorf((float)len * (float)fraction);
}

static uz_status check_row(const char *op, int32_t len, int64_t max_len)
{
    if (len < 0 || (int64_t)len > max_len)
        return UZ_FAIL(UZ_ERR_ARG, "%s: length %d outside [0, %lld]", op, (int)len,
                       (long long)max_len);
    return UZ_OK;
}

/* The operators without argument checks, for draws that are valid by
 * construction; the public functions check and then call them. */
static void crop_row(const int32_t *row, int64_t max_len, int32_t keep, int32_t start,
                     int32_t *out)
{
    memcpy(out, row + start, (size_t)keep * sizeof *out);
    memset(out + keep, 0, (size_t)(max_len - keep) * sizeof *out);
}

static void mask_row(const int32_t *row, int64_t max_len, const int32_t *positions, int32_t n,
                     int32_t *out)
{
    memcpy(out, row, (size_t)max_len * sizeof *out);
    for (int32_t i = 0; i < n; i++)
        out[positions[i]] = 0;
}

static void reorder_row(const int32_t *row, int64_t max_len, int32_t start, const int32_t *perm,
                        int32_t n, int32_t *out)
{
    memcpy(out, row, (size_t)max_len * sizeof *out);
    for (int32_t i = 0; i < n; i++)
        out[start + i] = row[start + perm[i]];
}

uz_status uz_augment_crop(const int32_t *row, int32_t len, int64_t max_len, int32_t keep,
                          int32_t start, int32_t *out)
{
    uz_status st = check_row("augment crop", len, max_len);
    if (st)
        return st;
    if (keep < 0 || start < 0 || (int64_t)start + keep > len)
        return UZ_FAIL(UZ_ERR_ARG, "augment crop: window [%d, %d + %d) outside the row's %d items",
                       (int)start, (int)start, (int)keep, (int)len);
    crop_row(row, max_len, keep, start, out);
    return UZ_OK;
}

uz_status uz_augment_mask(const int32_t *row, int32_t len, int64_t max_len,
                          const int32_t *positions, int32_t n, int32_t *out)
{
    uz_status st = check_row("augment mask", len, max_len);
    if (st)
        return st;
    for (int32_t i = 0; i < n; i++)
        if (positions[i] < 0 || positions[i] >= len)
            return UZ_FAIL(UZ_ERR_ARG, "augment mask: position %d (entry %d) outside [0, %d)",
                           (int)positions[i], (int)i, (int)len);
    mask_row(row, max_len, positions, n, out);
    return UZ_OK;
}

uz_status uz_augment_reorder(const int32_t *row, int32_t len, int64_t max_len, int32_t start,
                             const int32_t *perm, int32_t n, int32_t *out)
{
    uz_status st = check_row("augment reorder", len, max_len);
    if (st)
        return st;
    if (n < 0 || start < 0 || (int64_t)start + n > len)
        return UZ_FAIL(UZ_ERR_ARG, "augment reorder: window [%d, %d + %d) outside the row's %d items",
                       (int)start, (int)start, (int)n, (int)len);
    for (int32_t i = 0; i < n; i++)
        if (perm[i] < 0 || perm[i] >= n)
            return UZ_FAIL(UZ_ERR_ARG, "augment reorder: perm[%d] = %d outside [0, %d)", (int)i,
                           (int)perm[i], (int)n);
    reorder_row(row, max_len, start, perm, n, out);
    return UZ_OK;
}

/* ---- per-row draws ---------------------------------------------------------- */

typedef struct row_rng {
    uint64_t seed, stream, block;
    uint32_t word[4];
    int used;
} row_rng;

static row_rng row_rng_init(uint64_t seed, uint64_t stream, int64_t row)
{
    return (row_rng){.seed = seed, .stream = stream, .block = (uint64_t)row << 32, .used = 4};
}

static uint32_t next_u32(row_rng *r)
{
    if (r->used == 4) {
        uz_philox(r->seed, r->stream, r->block++, r->word);
        r->used = 0;
    }
    return r->word[r->used++];
}

/* Uniform in [0, n), n >= 1, without modulo bias (Lemire's method). */
static int32_t uniform_below(row_rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)next_u32(r) * n;
    if ((uint32_t)m < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while ((uint32_t)m < threshold)
            m = (uint64_t)next_u32(r) * n;
    }
    return (int32_t)(m >> 32);
}

/* One view of one row with operator op (every draw in range by
 * construction); returns its length. */
static int32_t augment_view(const uz_augment_config *cfg, uz_aug_op op, const int32_t *row,
                            int32_t len, int64_t max_len, row_rng *r, int32_t *draws,
                            int32_t *out)
{
    int32_t out_len = len;
    switch (op) {
    case UZ_AUG_CROP: {
        int32_t keep = uz_augment_count(1.0 - cfg->crop_ratio, len);
        int32_t start = uniform_below(r, (uint32_t)(len - keep + 1));
        crop_row(row, max_len, keep, start, out);
        out_len = keep;
        break;
    }
    case UZ_AUG_MASK: {
        /* random.sample(range(L), k): the first k steps of a Fisher-Yates
         * shuffle of 0..L-1. */
        int32_t k = uz_augment_count(cfg->mask_ratio, len);
        for (int32_t i = 0; i < len; i++)
            draws[i] = i;
        for (int32_t i = 0; i < k; i++) {
            int32_t j = i + uniform_below(r, (uint32_t)(len - i));
            int32_t t = draws[i];
            draws[i] = draws[j];
            draws[j] = t;
        }
        mask_row(row, max_len, draws, k, out);
        break;
    }
    case UZ_AUG_REORDER: {
        int32_t n = uz_augment_count(cfg->reorder_ratio, len);
        int32_t start = uniform_below(r, (uint32_t)(len - n + 1));
        for (int32_t i = 0; i < n; i++)
            draws[i] = i;
        for (int32_t i = n - 1; i > 0; i--) {
            int32_t j = uniform_below(r, (uint32_t)(i + 1));
            int32_t t = draws[i];
            draws[i] = draws[j];
            draws[j] = t;
        }
        reorder_row(row, max_len, start, draws, n, out);
        break;
    }
    case UZ_AUG_NONE:
        memcpy(out, row, (size_t)max_len * sizeof *out);
        break;
    }
    return out_len;
}

static uz_status check_ratio(const char *name, double v)
{
    if (!(v >= 0.0 && v <= 1.0))
        return UZ_FAIL(UZ_ERR_ARG, "augment: %s %g outside [0, 1]", name, v);
    return UZ_OK;
}

uz_status uz_augment_batch(const uz_augment_config *cfg, const int32_t *ids,
                           const int32_t *lengths, int64_t batch, int64_t max_len, uint64_t seed,
                           uint64_t stream, int32_t *const out_ids[2], int32_t *const out_len[2],
                           uint8_t *ops_out)
{
    uz_status st;
    if ((st = check_ratio("crop_ratio", cfg->crop_ratio)) ||
        (st = check_ratio("mask_ratio", cfg->mask_ratio)) ||
        (st = check_ratio("reorder_ratio", cfg->reorder_ratio)))
        return st;
    if (batch < 0 || max_len < 1 || max_len > UZ_AUGMENT_MAX_LEN)
        return UZ_FAIL(UZ_ERR_ARG, "augment: batch %lld x max_len %lld (max_len must be in [1, %d])",
                       (long long)batch, (long long)max_len, UZ_AUGMENT_MAX_LEN);
    for (int64_t b = 0; b < batch; b++)
        if (lengths[b] < 0 || lengths[b] > max_len)
            return UZ_FAIL(UZ_ERR_ARG, "augment: lengths[%lld] = %d outside [0, %lld]",
                           (long long)b, (int)lengths[b], (long long)max_len);

#pragma omp parallel for if (batch * max_len > 16384) schedule(static)
    for (int64_t b = 0; b < batch; b++) {
        int32_t draws[UZ_AUGMENT_MAX_LEN];
        const int32_t *row = ids + b * max_len;
        int32_t len = lengths[b];
        row_rng r = row_rng_init(seed, stream, b);
        uz_aug_op op[2] = {UZ_AUG_NONE, UZ_AUG_NONE};
        if (len > 1) {
            /* random.sample(range(3), k=2): two different operators. */
            int32_t first = uniform_below(&r, 3);
            int32_t second = uniform_below(&r, 2);
            if (second >= first)
                second++;
            op[0] = (uz_aug_op)first;
            op[1] = (uz_aug_op)second;
        }
        for (int v = 0; v < 2; v++) {
            out_len[v][b] = augment_view(cfg, op[v], row, len, max_len, &r, draws,
                                         out_ids[v] + b * max_len);
            if (ops_out)
                ops_out[b * 2 + v] = (uint8_t)op[v];
        }
    }
    return UZ_OK;
}
