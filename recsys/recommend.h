/* Offline top-K recommendations for every user: encode each history, score
 * all items with one GEMM per user batch, keep the best K per row with a
 * bounded heap, write TSV or JSONL atomically. */
#ifndef UZ_RECSYS_RECOMMEND_H
#define UZ_RECSYS_RECOMMEND_H

#include <stdbool.h>
#include <stdint.h>

#include "datasets/seqrec.h"
#include "recsys/split.h"

/* Writes the [batch->b, dim] representations of the batch's histories. */
typedef uz_status (*uz_seqrec_encoder)(void *ctx, const uz_seqrec_batch *batch, float *out);

typedef struct uz_recommend_opts {
    int64_t topk;      /* K >= 1 */
    int64_t batch;     /* users per encoder call; 0 = max(256, 64 x threads) */
    int64_t max_len;   /* history window; 0 = 50 */
    bool keep_history; /* false (default): never recommend an item already in the history */
} uz_recommend_opts;

/* [n_users, k] best items per user, best first; equal scores order by
 * smaller item id. A row with fewer than k candidates ends with item 0. */
typedef struct uz_recs {
    int64_t n_users, k;
    int32_t *items;
    float *scores;
} uz_recs;

/* item_table holds at least n_items + 1 rows of dim floats (row i = item i,
 * row 0 = padding, never scored). Users are encoded in order of history
 * length so each batch is cut to its longest history with little padding. */
uz_status uz_recommend_topk(const uz_seqrec *d, uz_seqrec_encoder enc, void *enc_ctx,
                            const float *item_table, int64_t dim, const uz_recommend_opts *opts,
                            uz_recs *out);
void uz_recs_free(uz_recs *r);

typedef enum uz_recs_format { UZ_RECS_TSV, UZ_RECS_JSONL } uz_recs_format;

/* JSONL for a path ending in .jsonl or .json, TSV otherwise. */
uz_recs_format uz_recs_format_for(const char *path);

/* TSV: a header line, then `user rank item score [title]` per row (rank
 * from 1; the title column when the data has titles). JSONL: one object per
 * user, {"user": .., "recs": [{"rank": 1, "item": .., "score": .., "title": ..}]}.
 * Users and items are written by their names in the data. Written to a
 * temporary file in the same directory, synced, then renamed over path. */
uz_status uz_recs_write(const uz_recs *r, const uz_seqrec *d, uz_recs_format fmt,
                        const char *path);

#endif
