/* Full-ranking metrics for one held-out target per row: HR@K, NDCG@K
 * (K in 5, 10, 20, 50) and MRR@10, the protocol of RecBole's full sort. */
#ifndef UZ_RECSYS_METRICS_H
#define UZ_RECSYS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/seqrec.h"
#include "recsys/split.h"

#define UZ_RANK_NK 4
extern const int uz_rank_ks[UZ_RANK_NK]; /* 5, 10, 20, 50 */

/* 0-based rank of each row's target among items 1..n_items of scores
 * [b, n_items + 1] (column 0 is padding and never counted): the number of
 * items scoring strictly higher. Ties therefore go to the target. RecBole
 * takes torch.topk's order among equal scores, which is unspecified; with
 * real-valued model scores an exact tie with the target does not occur, so
 * both agree. Fails on a target outside 1..n_items or a NaN score (a NaN
 * would otherwise compare false and fake a hit). */
uz_status uz_rank_targets(const float *scores, int64_t b, int64_t n_items, const int32_t *targets,
                          int64_t *ranks);

/* Sets to -inf the scores of every item in each row's full history
 * (items[0 .. pos), not only the batch window), as the S3-Rec family does.
 * A target that occurs in the history is then ranked behind every unmasked
 * item. Off in the paper's protocol; the caller decides. */
void uz_rank_mask_history(float *scores, int64_t n_items, const uz_seqrec *d,
                          const uz_seqrec_batch *bt);

/* Running sums over evaluated rows; add batches in a fixed order for a
 * deterministic result. */
typedef struct uz_rank_metrics {
    int64_t count;
    double hr[UZ_RANK_NK], ndcg[UZ_RANK_NK], mrr10;
} uz_rank_metrics;

void uz_rank_metrics_add(uz_rank_metrics *m, const int64_t *ranks, int64_t b);

/* The mean of a metric by RecBole's name ("hit@10" / "recall@10" = HR@10,
 * "ndcg@20", "mrr@10"; case-insensitive). */
uz_status uz_rank_metric(const uz_rank_metrics *m, const char *name, double *out);

/* "HR@5 0.0581 HR@10 ... NDCG@50 ... MRR@10 ..." (means, 4 decimals). */
void uz_rank_metrics_format(const uz_rank_metrics *m, char *buf, size_t n);

#endif
