/* Rank of the target per row and the metrics derived from it. */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const int uz_rank_ks[UZ_RANK_NK] = {5, 10, 20, 50};

uz_status uz_rank_targets(const float *scores, int64_t b, int64_t n_items, const int32_t *targets,
                          int64_t *ranks)
{
    for (int64_t r = 0; r < b; r++)
        if (targets[r] < 1 || targets[r] > n_items)
            return UZ_FAIL(UZ_ERR_ARG, "rank: row %lld has target %d outside 1..%lld",
                           (long long)r, (int)targets[r], (long long)n_items);
    int64_t nan_row = -1;
#pragma omp parallel for schedule(static) if (b * n_items > 100000)
    for (int64_t r = 0; r < b; r++) {
        const float *row = scores + r * (n_items + 1);
        float t = row[targets[r]];
        int64_t higher = 0;
        bool nan = t != t;
        for (int64_t i = 1; i <= n_items; i++) {
            higher += row[i] > t;
            nan |= row[i] != row[i];
        }
        ranks[r] = higher;
        if (nan) {
#pragma omp critical(uz_rank_nan)
            if (nan_row < 0 || r < nan_row)
                nan_row = r;
        }
    }
    if (nan_row >= 0)
        return UZ_FAIL(UZ_ERR_NUMERIC, "rank: row %lld has a NaN score", (long long)nan_row);
    return UZ_OK;
}

void uz_rank_mask_history(float *scores, int64_t n_items, const uz_seqrec *d,
                          const uz_seqrec_batch *bt)
{
    for (int64_t r = 0; r < bt->b; r++) {
        const int32_t *seq = d->items + d->offsets[bt->users[r]];
        float *row = scores + r * (n_items + 1);
        for (int64_t p = 0; p < bt->pos[r]; p++)
            row[seq[p]] = -INFINITY;
    }
}

void uz_rank_metrics_add(uz_rank_metrics *m, const int64_t *ranks, int64_t b)
{
    for (int64_t r = 0; r < b; r++) {
        int64_t k = ranks[r];
        for (int j = 0; j < UZ_RANK_NK; j++)
            if (k < uz_rank_ks[j]) {
                m->hr[j] += 1.0;
                m->ndcg[j] += 1.0 / log2((double)k + 2.0);
            }
        if (k < 10)
            m->mrr10 += 1.0 / ((double)k + 1.0);
    }
    m->count += b;
}

uz_status uz_rank_metric(const uz_rank_metrics *m, const char *name, double *out)
{
    const char *at = strchr(name, '@');
    int k = 0;
    if (at && sscanf(at + 1, "%d", &k) == 1) {
        size_t n = (size_t)(at - name);
        double denom = m->count ? (double)m->count : 1.0;
        bool hit = (n == 3 && strncasecmp(name, "hit", 3) == 0) ||
                   (n == 2 && strncasecmp(name, "hr", 2) == 0) ||
                   (n == 6 && strncasecmp(name, "recall", 6) == 0);
        bool ndcg = n == 4 && strncasecmp(name, "ndcg", 4) == 0;
        for (int j = 0; j < UZ_RANK_NK; j++)
            if (k == uz_rank_ks[j] && (hit || ndcg)) {
                *out = (hit ? m->hr[j] : m->ndcg[j]) / denom;
                return UZ_OK;
            }
        if (n == 3 && strncasecmp(name, "mrr", 3) == 0 && k == 10) {
            *out = m->mrr10 / denom;
            return UZ_OK;
        }
    }
    return UZ_FAIL(UZ_ERR_ARG,
                   "unknown metric '%s' (hit@K, recall@K, ndcg@K for K in 5, 10, 20, 50; mrr@10)",
                   name);
}

void uz_rank_metrics_format(const uz_rank_metrics *m, char *buf, size_t n)
{
    double denom = m->count ? (double)m->count : 1.0;
    size_t w = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < UZ_RANK_NK && w < n; j++) {
            int c = snprintf(buf + w, n - w, "%s%s@%d %.4f", w ? " " : "", pass ? "NDCG" : "HR",
                             uz_rank_ks[j], (pass ? m->ndcg[j] : m->hr[j]) / denom);
            w += c > 0 ? (size_t)c : 0;
        }
    if (w < n)
        snprintf(buf + w, n - w, " MRR@10 %.4f", m->mrr10 / denom);
}
