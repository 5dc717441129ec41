/* Evaluation of the SASRec encoder: batched no-grad forward passes over
 * length-sorted samples, one scoring GEMM per batch, full-ranking metrics. */
#include "sasrec.h"

#include <stdlib.h>

uz_status uz_sasrec_encode(void *runner, const uz_seqrec_batch *batch, float *out)
{
    const uz_sasrec_runner *r = runner;
    bool was = uz_grad_enable(r->ctx, false);
    uz_tensor *h = uz_sasrec_forward(r->ctx, r->enc, batch->ids, batch->lengths, batch->b,
                                     batch->len, false);
    uz_grad_enable(r->ctx, was);
    uz_status st = h ? UZ_OK : uz_error_status();
    if (h)
        uz_tensor_copy_out(h, out);
    uz_ctx_reset(r->ctx);
    return st;
}

/* Sample indices ordered by cut history length (a stable counting sort). */
static int64_t *order_by_length(const uz_seqrec_samples *s, int64_t max_len)
{
    int64_t *order = uz_malloc(sizeof(int64_t) * (size_t)s->n, "evaluation order");
    int64_t *start = uz_calloc(sizeof(int64_t) * (size_t)(max_len + 2), "length counts");
    if (order && start) {
        for (int64_t k = 0; k < s->n; k++)
            start[uz_seqrec_sample_len(s, k, max_len) + 1]++;
        for (int64_t l = 1; l <= max_len + 1; l++)
            start[l] += start[l - 1];
        for (int64_t k = 0; k < s->n; k++)
            order[start[uz_seqrec_sample_len(s, k, max_len)]++] = k;
    } else {
        uz_free(order);
        order = NULL;
    }
    uz_free(start);
    return order;
}

/* Scores, optional history mask, ranks and sums for the batch in bt. */
static uz_status score_batch(const uz_sasrec *enc, uz_ctx *ctx, const uz_seqrec *d,
                             const uz_seqrec_batch *bt, bool mask_history, float *h,
                             int64_t *ranks, uz_rank_metrics *out)
{
    uz_sasrec_runner runner = {enc, ctx};
    uz_status st = uz_sasrec_encode(&runner, bt, h);
    if (st != UZ_OK)
        return st;
    bool was = uz_grad_enable(ctx, false);
    uz_tensor *ht = uz_tensor_wrap(ctx, 2, (int64_t[]){bt->b, enc->cfg.hidden}, h);
    uz_tensor *scores = uz_sasrec_logits(ctx, enc, ht);
    uz_grad_enable(ctx, was);
    if (!scores)
        st = uz_error_status();
    if (st == UZ_OK && mask_history)
        uz_rank_mask_history(scores->data, d->n_items, d, bt);
    if (st == UZ_OK)
        st = uz_rank_targets(scores->data, bt->b, d->n_items, bt->targets, ranks);
    if (st == UZ_OK)
        uz_rank_metrics_add(out, ranks, bt->b);
    uz_ctx_reset(ctx);
    return st;
}

uz_status uz_sasrec_evaluate(const uz_sasrec *enc, const uz_seqrec *d,
                             const uz_seqrec_samples *s, const uz_sasrec_eval_opts *opts,
                             uz_rank_metrics *out)
{
    *out = (uz_rank_metrics){0};
    const uz_sasrec_eval_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    int64_t cap = opts->batch > 0 ? opts->batch : 512, max_len = enc->cfg.max_len;
    if (d->n_items != enc->cfg.n_items)
        return UZ_FAIL(UZ_ERR_ARG, "sasrec evaluate: the data has %lld items, the encoder %lld",
                       (long long)d->n_items, (long long)enc->cfg.n_items);
    if (s->n == 0)
        return UZ_FAIL(UZ_ERR_ARG, "sasrec evaluate: no samples");
    if (cap > s->n)
        cap = s->n;
    uz_seqrec_batch bt;
    uz_status st = uz_seqrec_batch_init(&bt, cap, max_len);
    if (st != UZ_OK)
        return st;
    int64_t *order = order_by_length(s, max_len);
    float *h = uz_malloc(sizeof(float) * (size_t)(cap * enc->cfg.hidden), "representations");
    int64_t *ranks = uz_malloc(sizeof(int64_t) * (size_t)cap, "ranks");
    uz_ctx *ctx = uz_ctx_new(0, 0);
    if (!order || !h || !ranks || !ctx)
        st = UZ_FAIL(UZ_ERR_NOMEM, "sasrec evaluate: out of memory");
    for (int64_t k0 = 0; st == UZ_OK && k0 < s->n; k0 += cap) {
        int64_t n = s->n - k0 < cap ? s->n - k0 : cap;
        st = uz_seqrec_batch_fill(&bt, d, s, order + k0, n, true);
        if (st == UZ_OK)
            st = score_batch(enc, ctx, d, &bt, opts->mask_history, h, ranks, out);
    }
    uz_ctx_free(ctx);
    uz_free(ranks);
    uz_free(h);
    uz_free(order);
    uz_seqrec_batch_free(&bt);
    return st;
}
