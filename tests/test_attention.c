/* attention: values against a naive double-precision softmax(q k^T s + mask) v
 * (masks of every broadcast form, causal, Tq != Tk, strided inputs, the
 * parallel path), gradient checks of q, k, v, fully masked rows, errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

/* Mask element (b, h, i, j) read through broadcasting, as the op does. */
static double mask_at(const uz_tensor *mask, int64_t b, int64_t h, int64_t i, int64_t j)
{
    if (!mask)
        return 0.0;
    int64_t full[4] = {b, h, i, j}, idx[UZ_MAX_DIMS] = {0};
    for (int d = 0; d < mask->ndim; d++) {
        int f = 4 - mask->ndim + d;
        idx[d] = f < 0 || mask->shape[d] == 1 ? 0 : full[f];
    }
    return (double)uz_tensor_get(mask, idx);
}

/* Max |out - naive| over every element; fully masked rows expect zeros. */
static double naive_diff(const uz_tensor *out, const uz_tensor *q, const uz_tensor *k,
                         const uz_tensor *v, const uz_tensor *mask, bool causal, double scale)
{
    int64_t B = q->shape[0], H = q->shape[1], tq = q->shape[2], tk = k->shape[2];
    int64_t d = q->shape[3], dv = v->shape[3];
    double *s = malloc(sizeof(double) * (size_t)tk), worst = 0.0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < tq; i++) {
                double max = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < tk; j++) {
                    double dot = 0.0;
                    for (int64_t e = 0; e < d; e++)
                        dot += (double)uz_tensor_get(q, (int64_t[]){b, h, i, e}) *
                               (double)uz_tensor_get(k, (int64_t[]){b, h, j, e});
                    s[j] = causal && j > i ? -INFINITY : dot * scale + mask_at(mask, b, h, i, j);
                    max = s[j] > max ? s[j] : max;
                }
                for (int64_t j = 0; j < tk; j++) {
                    s[j] = max == -INFINITY ? 0.0 : exp(s[j] - max);
                    sum += s[j];
                }
                for (int64_t e = 0; e < dv; e++) {
                    double o = 0.0;
                    for (int64_t j = 0; j < tk; j++)
                        o += s[j] * (double)uz_tensor_get(v, (int64_t[]){b, h, j, e});
                    o = sum > 0.0 ? o / sum : 0.0;
                    double diff = fabs(o - (double)uz_tensor_get(out, (int64_t[]){b, h, i, e}));
                    worst = diff > worst || diff != diff ? diff : worst;
                }
            }
    free(s);
    return worst;
}

/* Padding mask [B,1,1,Tk]: batch b sees its first len[b] keys. */
static uz_tensor *padding_mask(uz_ctx *ctx, int64_t B, int64_t tk, const int64_t *len)
{
    uz_tensor *m = uz_tensor_zeros(ctx, 4, (int64_t[]){B, 1, 1, tk});
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = len[b]; j < tk; j++)
            m->data[b * tk + j] = -INFINITY;
    return m;
}

static uz_tensor *rand_mask(uz_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed)
{
    uz_tensor *m = uz_test_rand(ctx, ndim, shape, seed, -1, 1);
    m->requires_grad = false;
    return m;
}

START_TEST(test_attention_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t B = 2, H = 3, tq = 5, tk = 7, d = 4;
    uz_tensor *q = uz_test_rand(ctx, 4, (int64_t[]){B, H, tq, d}, 1, -1, 1);
    uz_tensor *k = uz_test_rand(ctx, 4, (int64_t[]){B, H, tk, d}, 2, -1, 1);
    uz_tensor *v = uz_test_rand(ctx, 4, (int64_t[]){B, H, tk, 6}, 3, -1, 1);
    uz_tensor *masks[] = {
        NULL,
        padding_mask(ctx, B, tk, (int64_t[]){7, 4}),
        rand_mask(ctx, 2, (int64_t[]){tq, tk}, 4),
        rand_mask(ctx, 4, (int64_t[]){B, H, tq, tk}, 5),
        rand_mask(ctx, 3, (int64_t[]){H, 1, tk}, 6),
        uz_transpose(ctx, rand_mask(ctx, 2, (int64_t[]){tk, tq}, 7), 0, 1), /* strided */
    };
    for (size_t m = 0; m < sizeof masks / sizeof *masks; m++)
        for (int causal = 0; causal < 2; causal++)
            for (int grad = 0; grad < 2; grad++) {
                bool was = uz_grad_enable(ctx, grad); /* kept vs scratch probabilities */
                uz_tensor *o = uz_attention(ctx, q, k, v, masks[m], causal, 0.0f);
                uz_grad_enable(ctx, was);
                UZ_CK_NOTNULL(o);
                ck_assert_int_eq(o->shape[3], 6);
                ck_assert(uz_tensor_is_contiguous(o));
                double diff = naive_diff(o, q, k, v, masks[m], causal, 1.0 / sqrt((double)d));
                ck_assert_msg(diff < 1e-5, "mask %zu causal %d grad %d: diff %g", m, causal,
                              grad, diff);
            }
    /* Custom scale, causal with Tq > Tk. */
    uz_tensor *q2 = uz_test_rand(ctx, 4, (int64_t[]){B, H, 9, d}, 8, -1, 1);
    uz_tensor *o = uz_attention(ctx, q2, k, v, NULL, true, 0.75f);
    UZ_CK_NOTNULL(o);
    ck_assert(naive_diff(o, q2, k, v, NULL, true, 0.75) < 1e-5);
    uz_ctx_free(ctx);
}
END_TEST

/* [B,T,H,D] projections permuted to [B,H,T,D] (read in place), and a
 * slice along D (head dim strided: copied first), against the naive loop. */
START_TEST(test_attention_strided_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int perm[4] = {0, 2, 1, 3};
    uz_tensor *qb = uz_test_rand(ctx, 4, (int64_t[]){2, 5, 3, 4}, 1, -1, 1);
    uz_tensor *kb = uz_test_rand(ctx, 4, (int64_t[]){2, 6, 3, 4}, 2, -1, 1);
    uz_tensor *vb = uz_test_rand(ctx, 4, (int64_t[]){2, 3, 4, 6}, 3, -1, 1);
    uz_tensor *q = uz_permute(ctx, qb, perm), *k = uz_permute(ctx, kb, perm);
    uz_tensor *v = uz_transpose(ctx, vb, 2, 3); /* [2,3,6,4], head dim strided */
    uz_tensor *o = uz_attention(ctx, q, k, v, NULL, true, 0.0f);
    UZ_CK_NOTNULL(o);
    ck_assert(naive_diff(o, q, k, v, NULL, true, 0.5) < 1e-5);
    /* One key, one query: single rows with arbitrary strides. */
    uz_tensor *q1 = uz_narrow(ctx, q, 2, 2, 1), *k1 = uz_narrow(ctx, k, 2, 3, 1);
    uz_tensor *v1 = uz_narrow(ctx, v, 2, 3, 1);
    o = uz_attention(ctx, q1, k1, v1, NULL, false, 0.0f);
    UZ_CK_NOTNULL(o);
    ck_assert(naive_diff(o, q1, k1, v1, NULL, false, 0.5) < 1e-5);
    uz_ctx_free(ctx);
}
END_TEST

/* Enough work for the OpenMP path: equal to the naive loop, and the same
 * bits with and without the probabilities kept and over repeated calls. */
START_TEST(test_attention_parallel)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t B = 2, H = 4, tq = 33, tk = 40, d = 16;
    uz_tensor *q = uz_test_rand(ctx, 4, (int64_t[]){B, H, tq, d}, 1, -1, 1);
    uz_tensor *k = uz_test_rand(ctx, 4, (int64_t[]){B, H, tk, d}, 2, -1, 1);
    uz_tensor *v = uz_test_rand(ctx, 4, (int64_t[]){B, H, tk, d}, 3, -1, 1);
    uz_tensor *mask = padding_mask(ctx, B, tk, (int64_t[]){40, 25});
    uz_tensor *o1 = uz_attention(ctx, q, k, v, mask, true, 0.0f);
    bool was = uz_grad_enable(ctx, false);
    uz_tensor *o2 = uz_attention(ctx, q, k, v, mask, true, 0.0f);
    uz_grad_enable(ctx, was);
    UZ_CK_NOTNULL(o1);
    UZ_CK_NOTNULL(o2);
    ck_assert(naive_diff(o1, q, k, v, mask, true, 0.25) < 1e-5);
    ck_assert(memcmp(o1->data, o2->data, sizeof(float) * (size_t)uz_tensor_numel(o1)) == 0);
    /* Backward through the parallel path: each slice's grads match a
     * single-slice call, which runs serially. */
    UZ_CK_OK(uz_backward_with(ctx, o1, o2->data));
    uz_tensor *dq = q->grad, *dk = k->grad, *dv = v->grad;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            uz_ctx *one = uz_ctx_new(0, 0);
            uz_tensor *in[3] = {q, k, v}, *part[3];
            bool on = uz_grad_enable(one, false); /* slicing ctx's leaves is not recorded */
            for (int i = 0; i < 3; i++) {
                uz_tensor *s = uz_narrow(one, uz_narrow(one, in[i], 0, b, 1), 1, h, 1);
                part[i] = uz_tensor_like(one, s);
                uz_tensor_copy_out(s, part[i]->data);
                part[i]->requires_grad = true;
            }
            uz_grad_enable(one, on);
            uz_tensor *pm = uz_narrow(one, mask, 0, b, 1);
            uz_tensor *po = uz_attention(one, part[0], part[1], part[2], pm, true, 0.0f);
            UZ_CK_NOTNULL(po);
            UZ_CK_OK(uz_backward_with(one, po, o2->data + (b * H + h) * tq * d));
            uz_tensor *full[3] = {dq, dk, dv};
            for (int i = 0; i < 3; i++) {
                int64_t n = uz_tensor_numel(part[i]);
                const float *g = full[i]->data + (b * H + h) * n;
                for (int64_t e = 0; e < n; e++)
                    ck_assert_float_eq_tol(g[e], part[i]->grad->data[e], 1e-5f * (1.0f + fabsf(g[e])));
            }
            uz_ctx_free(one);
        }
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gc_case {
    int64_t mask_kind; /* 0 none, 1 padding [B,1,1,Tk], 2 [Tq,Tk], 3 [B,H,Tq,Tk] */
    const int64_t *pad_len;
    bool causal, permuted;
    float scale;
} gc_case;

static uz_tensor *f_attention(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gc_case *c = user;
    uz_tensor *q = in[0], *k = in[1], *v = in[2];
    if (c->permuted) { /* leaves are [B,T,H,D] */
        int perm[4] = {0, 2, 1, 3};
        q = uz_permute(ctx, q, perm);
        k = uz_permute(ctx, k, perm);
        v = uz_permute(ctx, v, perm);
        if (!q || !k || !v)
            return NULL;
    }
    int64_t B = q->shape[0], H = q->shape[1], tq = q->shape[2], tk = k->shape[2];
    uz_tensor *mask = NULL;
    if (c->mask_kind == 1)
        mask = padding_mask(ctx, B, tk, c->pad_len);
    else if (c->mask_kind == 2)
        mask = rand_mask(ctx, 2, (int64_t[]){tq, tk}, 21);
    else if (c->mask_kind == 3)
        mask = rand_mask(ctx, 4, (int64_t[]){B, H, tq, tk}, 22);
    return uz_attention(ctx, q, k, v, mask, c->causal, c->scale);
}

static void gradcheck_case(const char *name, const int64_t *qs, const int64_t *ks,
                           const int64_t *vs, gc_case c)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[3] = {
        uz_test_rand(ctx, 4, qs, 1, -1, 1),
        uz_test_rand(ctx, 4, ks, 2, -1, 1),
        uz_test_rand(ctx, 4, vs, 3, -1, 1),
    };
    ck_assert_msg(uz_gradcheck(in, 3, f_attention, &c, UZ_GC_DEFAULT, msg, sizeof msg), "%s: %s",
                  name, msg);
    uz_ctx_free(ctx);
}

START_TEST(test_attention_grad)
{
    const int64_t qs[4] = {2, 2, 3, 3}, ks[4] = {2, 2, 4, 3}, vs[4] = {2, 2, 4, 2};
    const int64_t len[2] = {4, 2};
    gradcheck_case("plain", qs, ks, vs, (gc_case){0, NULL, false, false, 0.0f});
    gradcheck_case("causal", qs, ks, vs, (gc_case){0, NULL, true, false, 0.0f});
    gradcheck_case("padding", qs, ks, vs, (gc_case){1, len, false, false, 0.0f});
    gradcheck_case("[Tq,Tk] mask", qs, ks, vs, (gc_case){2, NULL, false, false, 0.9f});
    gradcheck_case("[B,H,Tq,Tk] mask + causal", qs, ks, vs, (gc_case){3, NULL, true, false, 0.0f});
    const int64_t qlong[4] = {1, 2, 5, 3}, kshort[4] = {1, 2, 3, 3};
    gradcheck_case("Tq > Tk causal", qlong, kshort, kshort, (gc_case){0, NULL, true, false, 0.0f});
    /* Causal over several query row blocks (the kernel skips the keys past
     * each block's last row), with Tq > Tk and Tq < Tk. */
    const int64_t q20[4] = {1, 2, 20, 3}, k18[4] = {1, 2, 18, 3}, k37[4] = {1, 1, 37, 2};
    const int64_t q18[4] = {1, 1, 18, 2};
    gradcheck_case("causal blocks, Tq > Tk", q20, k18, k18, (gc_case){0, NULL, true, false, 0.0f});
    gradcheck_case("causal blocks + mask, Tq < Tk", q18, k37, k37,
                   (gc_case){2, NULL, true, false, 0.0f});
    /* [B,T,H,D] leaves permuted to [B,H,T,D]. */
    const int64_t qp[4] = {2, 3, 2, 3}, kp[4] = {2, 4, 2, 3};
    gradcheck_case("permuted", qp, kp, kp, (gc_case){1, len, true, true, 0.0f});
}
END_TEST

/* Queries that see no key get zeros and zero, finite gradients. */
START_TEST(test_attention_fully_masked)
{
    const int64_t qs[4] = {2, 2, 3, 3}, ks[4] = {2, 2, 4, 3};
    const int64_t len[2] = {4, 0}; /* batch 1 sees nothing */
    gradcheck_case("batch fully masked", qs, ks, ks, (gc_case){1, len, true, false, 0.0f});

    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *q = uz_test_rand(ctx, 4, qs, 1, -1, 1);
    uz_tensor *k = uz_test_rand(ctx, 4, ks, 2, -1, 1);
    uz_tensor *v = uz_test_rand(ctx, 4, ks, 3, -1, 1);
    uz_tensor *mask = rand_mask(ctx, 2, (int64_t[]){3, 4}, 4);
    for (int64_t j = 0; j < 4; j++)
        mask->data[1 * 4 + j] = -INFINITY; /* query 1 of every head */
    uz_tensor *o = uz_attention(ctx, q, k, v, mask, false, 0.0f);
    UZ_CK_NOTNULL(o);
    ck_assert(naive_diff(o, q, k, v, mask, false, 1.0 / sqrt(3.0)) < 1e-5);
    for (int64_t bh = 0; bh < 4; bh++)
        for (int64_t e = 0; e < 3; e++)
            ck_assert_float_eq(o->data[(bh * 3 + 1) * 3 + e], 0.0f);
    UZ_CK_OK(uz_backward_with(ctx, o, uz_tensor_full(ctx, 4, o->shape, 1.0f)->data));
    uz_tensor *grads[3] = {q->grad, k->grad, v->grad};
    for (int i = 0; i < 3; i++)
        for (int64_t e = 0; e < uz_tensor_numel(grads[i]); e++)
            ck_assert(isfinite(grads[i]->data[e]));
    for (int64_t bh = 0; bh < 4; bh++)
        for (int64_t e = 0; e < 3; e++)
            ck_assert_float_eq(q->grad->data[(bh * 3 + 1) * 3 + e], 0.0f);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_attention_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *q = uz_test_rand(ctx, 4, (int64_t[]){2, 2, 3, 4}, 1, -1, 1);
    uz_tensor *k = uz_test_rand(ctx, 4, (int64_t[]){2, 2, 5, 4}, 2, -1, 1);
    uz_tensor *v = uz_test_rand(ctx, 4, (int64_t[]){2, 2, 5, 4}, 3, -1, 1);
    uz_tensor *k3 = uz_test_rand(ctx, 4, (int64_t[]){2, 2, 5, 3}, 4, -1, 1);
    ck_assert_ptr_null(uz_attention(ctx, q, k3, v, NULL, false, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "k [2,2,5,3] does not match q [2,2,3,4]"));
    uz_tensor *v6 = uz_test_rand(ctx, 4, (int64_t[]){2, 2, 6, 4}, 5, -1, 1);
    ck_assert_ptr_null(uz_attention(ctx, q, k, v6, NULL, false, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "v [2,2,6,4] does not match k [2,2,5,4]"));
    uz_tensor *h3 = uz_test_rand(ctx, 4, (int64_t[]){2, 3, 5, 4}, 6, -1, 1);
    ck_assert_ptr_null(uz_attention(ctx, q, h3, v, NULL, false, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "[2,3,5,4]"));
    uz_tensor *q3 = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 7, -1, 1);
    ck_assert_ptr_null(uz_attention(ctx, q3, k, v, NULL, false, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "4-D"));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "q [2,3,4]"));
    uz_tensor *bad[] = {
        uz_tensor_zeros(ctx, 2, (int64_t[]){3, 4}),         /* Tk wrong */
        uz_tensor_zeros(ctx, 4, (int64_t[]){2, 1, 2, 5}),   /* Tq wrong */
        uz_tensor_zeros(ctx, 5, (int64_t[]){2, 1, 1, 1, 5}), /* extra non-1 dim */
    };
    const char *shapes[] = {"mask [3,4]", "mask [2,1,2,5]", "mask [2,1,1,1,5]"};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(uz_attention(ctx, q, k, v, bad[i], false, 0.0f));
        ck_assert_ptr_nonnull(strstr(uz_error_message(), shapes[i]));
        ck_assert_ptr_nonnull(strstr(uz_error_message(), "not broadcastable to [2,2,3,5]"));
    }
    /* A leading 1 beyond four dims still broadcasts. */
    UZ_CK_NOTNULL(uz_attention(ctx, q, k, v, uz_tensor_zeros(ctx, 5, (int64_t[]){1, 2, 1, 3, 1}),
                               false, 0.0f));
    ck_assert_ptr_null(uz_attention(ctx, NULL, k, v, NULL, false, 0.0f));
    ck_assert_ptr_null(uz_attention(ctx, q, k, NULL, NULL, false, 0.0f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_attention_values);
    tcase_add_test(tc, test_attention_strided_values);
    tcase_add_test(tc, test_attention_parallel);
    tcase_add_test(tc, test_attention_grad);
    tcase_add_test(tc, test_attention_fully_masked);
    tcase_add_test(tc, test_attention_errors);
    suite_add_tcase(s, tc);
    return s;
}
