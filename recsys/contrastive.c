/* InfoNCE and the contrastive regulariser as compositions of core ops:
 * matmul against a transposed view, an additive -inf mask for the excluded
 * columns, log-softmax, gather, max and relu. */
#include "contrastive.h"

#include <math.h>

uz_tensor *uz_contrastive_scores(uz_ctx *ctx, uz_tensor *u, uz_tensor *v, float tau)
{
    if (!u || !v)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (u->ndim != 2 || !uz_tensor_same_shape(u, v) || u->shape[0] < 1) {
        UZ_FAIL(UZ_ERR_ARG, "contrastive: views must be two equal [B, d] tensors, got %s and %s",
                uz_shape_str(u, s1, sizeof s1), uz_shape_str(v, s2, sizeof s2));
        return NULL;
    }
    if (!(tau > 0.0f)) {
        UZ_FAIL(UZ_ERR_ARG, "contrastive: temperature %g must be positive", (double)tau);
        return NULL;
    }
    uz_tensor *z = uz_concat(ctx, (uz_tensor *[]){u, v}, 2, 0);
    uz_tensor *s = uz_matmul(ctx, z, uz_transpose(ctx, z, 0, 1));
    return tau == 1.0f ? s : uz_mul_scalar(ctx, s, 1.0f / tau);
}

static int64_t partner_of(int64_t a, int64_t b) { return a < b ? a + b : a - b; }

/* [n, n] constant: at_self on the diagonal, at_partner at (a, p(a)),
 * elsewhere `other`. */
static uz_tensor *pair_mask(uz_ctx *ctx, int64_t n, float at_self, float at_partner, float other)
{
    uz_tensor *m = uz_tensor_full(ctx, 2, (int64_t[]){n, n}, other);
    if (!m)
        return NULL;
    for (int64_t a = 0; a < n; a++) {
        m->data[a * n + a] = at_self;
        m->data[a * n + partner_of(a, n / 2)] = at_partner;
    }
    return m;
}

/* S[a, p(a)] as [2B, 1]. */
static uz_tensor *positives(uz_ctx *ctx, uz_tensor *s)
{
    int64_t n = s->shape[0];
    int32_t *idx = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!idx)
        return NULL;
    for (int64_t a = 0; a < n; a++)
        idx[a] = (int32_t)partner_of(a, n / 2);
    return uz_gather(ctx, s, 1, idx, 2, (int64_t[]){n, 1});
}

static bool check_scores(const char *op, const uz_tensor *s, int64_t min_batch)
{
    char buf[UZ_SHAPE_STR_LEN];
    if (s->ndim != 2 || s->shape[0] != s->shape[1] || s->shape[0] % 2 != 0 ||
        s->shape[0] < 2 * min_batch) {
        UZ_FAIL(UZ_ERR_ARG, "%s: scores must be [2B, 2B] with B >= %lld, got %s", op,
                (long long)min_batch, uz_shape_str(s, buf, sizeof buf));
        return false;
    }
    return true;
}

uz_tensor *uz_info_nce_scores(uz_ctx *ctx, uz_tensor *s)
{
    if (!s || !check_scores("info_nce", s, 1))
        return NULL;
    uz_tensor *no_self = pair_mask(ctx, s->shape[0], -INFINITY, 0.0f, 0.0f);
    if (!no_self)
        return NULL;
    uz_tensor *logp = uz_log_softmax(ctx, s, no_self);
    uz_tensor *picked = logp ? positives(ctx, logp) : NULL;
    return uz_mul_scalar(ctx, uz_mean(ctx, picked, NULL, 0, false), -1.0f);
}

uz_tensor *uz_info_nce(uz_ctx *ctx, uz_tensor *u, uz_tensor *v, float tau)
{
    return uz_info_nce_scores(ctx, uz_contrastive_scores(ctx, u, v, tau));
}

/* mean over the 2B(2B - 2) negative entries of x [2B, 2B]. */
static uz_tensor *mean_over_negatives(uz_ctx *ctx, uz_tensor *x, uz_tensor *neg01)
{
    int64_t n = x->shape[0];
    uz_tensor *total = uz_sum(ctx, uz_mul(ctx, x, neg01), NULL, 0, false);
    return uz_mul_scalar(ctx, total, 1.0f / (float)(n * (n - 2)));
}

uz_tensor *uz_contrastive_margin(uz_ctx *ctx, uz_tensor *s, uz_margin_mode mode)
{
    if (!s || !check_scores("contrastive margin", s, 2))
        return NULL;
    int64_t n = s->shape[0];
    uz_tensor *only_neg = pair_mask(ctx, n, -INFINITY, -INFINITY, 0.0f);
    uz_tensor *neg01 = pair_mask(ctx, n, 0.0f, 0.0f, 1.0f);
    uz_tensor *pos = positives(ctx, s);                       /* [2B, 1] */
    uz_tensor *negs = uz_add(ctx, s, only_neg);               /* -inf off the negatives */
    if (!neg01 || !pos || !negs)
        return NULL;
    if (mode == UZ_MARGIN_CODE) {
        uz_tensor *max_neg = uz_max(ctx, negs, (int[]){1}, 1, true);  /* [2B, 1] */
        uz_tensor *first = uz_mean(ctx, uz_relu(ctx, uz_sub(ctx, pos, max_neg)), NULL, 0, false);
        uz_tensor *upper = uz_max(ctx, uz_concat(ctx, (uz_tensor *[]){pos, max_neg}, 2, 1),
                                  (int[]){1}, 1, true);
        uz_tensor *second = mean_over_negatives(ctx, uz_relu(ctx, uz_sub(ctx, upper, s)), neg01);
        return uz_add(ctx, first, second);
    }
    /* Set level: min pos = -max(-pos); both margins are [1] so they
     * broadcast against the positives and the scores. */
    uz_tensor *min_pos = uz_mul_scalar(
        ctx, uz_max(ctx, uz_reshape(ctx, uz_mul_scalar(ctx, pos, -1.0f), 1, (int64_t[]){n}),
                    NULL, 0, true), -1.0f);
    uz_tensor *max_neg = uz_reshape(ctx, uz_max(ctx, negs, NULL, 0, true), 1, (int64_t[]){1});
    uz_tensor *both = uz_concat(ctx, (uz_tensor *[]){min_pos, max_neg}, 2, 0);
    uz_tensor *mar_max = uz_max(ctx, both, NULL, 0, true);
    uz_tensor *mar_min =
        uz_mul_scalar(ctx, uz_max(ctx, uz_mul_scalar(ctx, both, -1.0f), NULL, 0, true), -1.0f);
    uz_tensor *first = uz_mean(ctx, uz_relu(ctx, uz_sub(ctx, pos, mar_min)), NULL, 0, false);
    uz_tensor *second = mean_over_negatives(ctx, uz_relu(ctx, uz_sub(ctx, mar_max, s)), neg01);
    return uz_add(ctx, first, second);
}
