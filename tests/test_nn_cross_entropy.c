/* cross_entropy: values against a naive double log-softmax (ignore_index,
 * label smoothing, 3-D and non-contiguous logits), a 50,000-class run
 * (loss, gradient and arena use), gradient checks, the all-ignored case
 * and errors naming the bad row. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

/* PyTorch's F.cross_entropy(x, t, ignore_index, label_smoothing=s) with
 * mean reduction, in double over logical (row-major) logits [n, c]. */
static double naive_ce(const float *x, const int32_t *t, int64_t n, int64_t c, int32_t ignore,
                       double s)
{
    double total = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t[i] == ignore)
            continue;
        const float *xr = x + i * c;
        double mx = -INFINITY, sum = 0.0, nll_all = 0.0;
        for (int64_t j = 0; j < c; j++)
            mx = (double)xr[j] > mx ? (double)xr[j] : mx;
        for (int64_t j = 0; j < c; j++)
            sum += exp((double)xr[j] - mx);
        double lse = mx + log(sum);
        for (int64_t j = 0; j < c; j++)
            nll_all += lse - (double)xr[j];
        total += (1.0 - s) * (lse - (double)xr[t[i]]) + s * nll_all / (double)c;
        count++;
    }
    return total / (double)count;
}

START_TEST(test_ce_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){5, 6}, 1, -3, 3);
    int32_t t[5] = {2, -100, 0, 5, 3};
    const float smooth[3] = {0.0f, 0.1f, 0.5f};
    for (int k = 0; k < 3; k++) {
        uz_tensor *l = uz_cross_entropy(ctx, x, t, -100, smooth[k]);
        UZ_CK_NOTNULL(l);
        ck_assert_int_eq(l->ndim, 0);
        ck_assert_double_eq_tol((double)l->data[0], naive_ce(x->data, t, 5, 6, -100, smooth[k]), 1e-5);
    }
    /* ignore_index inside [0, C): rows with target 0 are skipped. */
    uz_tensor *l0 = uz_cross_entropy(ctx, x, (int32_t[]){2, 1, 0, 5, 0}, 0, 0.2f);
    UZ_CK_NOTNULL(l0);
    ck_assert_double_eq_tol((double)l0->data[0],
                            naive_ce(x->data, (int32_t[]){2, 1, 0, 5, 0}, 5, 6, 0, 0.2), 1e-5);
    /* [2,3,4] logits from a permuted leaf: rows are the logical rows. */
    uz_tensor *leaf = uz_test_rand(ctx, 3, (int64_t[]){4, 3, 2}, 2, -2, 2);
    uz_tensor *x3 = uz_permute(ctx, leaf, (int[]){2, 1, 0});
    float buf[24];
    uz_tensor_copy_out(x3, buf);
    int32_t t3[6] = {0, 3, -1, 1, 2, 3};
    uz_tensor *l3 = uz_cross_entropy(ctx, x3, t3, -1, 0.05f);
    UZ_CK_NOTNULL(l3);
    ck_assert_double_eq_tol((double)l3->data[0], naive_ce(buf, t3, 6, 4, -1, 0.05), 1e-5);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_ce_50k_classes)
{
    enum { N = 4, C = 50000 };
    float *logits = malloc(sizeof(float) * N * C);
    uz_rng_fill_uniform(logits, (int64_t)N * C, 77, 1, 0, -5.0f, 5.0f);
    int32_t t[N] = {0, 49999, 12345, -100};
    /* Caller-owned logits, so the arena holds only what the op allocates. */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_tensor_wrap(ctx, 2, (int64_t[]){N, C}, logits);
    uz_tensor_set_requires_grad(x, true);
    uz_tensor *l = uz_cross_entropy(ctx, x, t, -100, 0.1f);
    UZ_CK_NOTNULL(l);
    double ref = naive_ce(logits, t, N, C, -100, 0.1);
    ck_assert_double_eq_tol((double)l->data[0], ref, 1e-5 * fabs(ref));
    UZ_CK_OK(uz_backward(ctx, l));
    /* dL/dx = (softmax - smoothed one-hot) / count for the 3 counted rows. */
    for (int64_t i = 0; i < N; i++) {
        const float *xr = logits + i * C, *g = x->grad->data + i * C;
        double mx = -INFINITY, sum = 0.0, gsum = 0.0, maxerr = 0.0;
        for (int64_t j = 0; j < C; j++)
            mx = (double)xr[j] > mx ? (double)xr[j] : mx;
        for (int64_t j = 0; j < C; j++)
            sum += exp((double)xr[j] - mx);
        for (int64_t j = 0; j < C; j++) {
            double want = 0.0;
            if (t[i] != -100)
                want = (exp((double)xr[j] - mx) / sum - 0.1 / C - (j == t[i] ? 0.9 : 0.0)) / 3.0;
            double e = fabs((double)g[j] - want);
            maxerr = e > maxerr ? e : maxerr;
            gsum += (double)g[j];
        }
        ck_assert_msg(maxerr < 1e-7, "row %lld: max gradient error %g", (long long)i, maxerr);
        ck_assert_double_eq_tol(gsum, 0.0, 1e-5);
    }
    /* The gradient is the only [N, C] buffer the op and its backward made. */
    size_t nc_bytes = sizeof(float) * N * C;
    ck_assert_msg(uz_ctx_arena_peak(ctx) < nc_bytes + nc_bytes / 4, "arena peak %zu bytes for a %zu-byte [N, C]",
                  uz_ctx_arena_peak(ctx), nc_bytes);
    uz_ctx_free(ctx);
    free(logits);
}
END_TEST

typedef struct ce_case {
    const int32_t *t;
    int32_t ignore;
    float smoothing;
    bool transposed;
} ce_case;

static uz_tensor *f_ce(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const ce_case *c = user;
    uz_tensor *x = c->transposed ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_cross_entropy(ctx, x, c->t, c->ignore, c->smoothing);
}

/* Two losses on the same logits: the first backward writes their gradient
 * (a fresh buffer), the second adds to it. */
static uz_tensor *f_ce_twice(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const ce_case *c = user;
    static const int32_t other[4] = {3, 3, -100, 2};
    return uz_add(ctx, uz_cross_entropy(ctx, in[0], c->t, c->ignore, c->smoothing),
                  uz_cross_entropy(ctx, in[0], other, c->ignore, c->smoothing));
}

START_TEST(test_ce_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1];
    const int32_t t[4] = {1, -100, 4, 0};
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){4, 5}, 1, -2, 2);
    ce_case plain = {t, -100, 0.0f, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_ce, &plain, UZ_GC_DEFAULT, msg, sizeof msg), "plain: %s", msg);
    ce_case smooth = {t, -100, 0.3f, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_ce, &smooth, UZ_GC_DEFAULT, msg, sizeof msg), "smoothing: %s", msg);
    ck_assert_msg(uz_gradcheck(in, 1, f_ce_twice, &smooth, UZ_GC_DEFAULT, msg, sizeof msg),
                  "two losses: %s", msg);
    const int32_t t4[4] = {1, 4, 2, 4};
    ce_case ign_in_range = {t4, 4, 0.1f, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_ce, &ign_in_range, UZ_GC_DEFAULT, msg, sizeof msg), "ignore 4: %s", msg);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){5, 4}, 2, -2, 2); /* transposed: [4,5] */
    ce_case nc = {t, -100, 0.2f, true};
    ck_assert_msg(uz_gradcheck(in, 1, f_ce, &nc, UZ_GC_DEFAULT, msg, sizeof msg), "non-contiguous: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_ce_all_ignored)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 1, -1, 1);
    uz_tensor *l = uz_cross_entropy(ctx, x, (int32_t[]){-100, -100}, -100, 0.1f);
    UZ_CK_NOTNULL(l);
    ck_assert(isnan(l->data[0])); /* 0 / 0, as PyTorch's mean */
    UZ_CK_OK(uz_backward(ctx, l));
    for (int i = 0; i < 6; i++)
        ck_assert(x->grad->data[i] == 0.0f);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_ce_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){3, 5}, 1, -1, 1);
    ck_assert_ptr_null(uz_cross_entropy(ctx, x, (int32_t[]){0, 4, 7}, -100, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "cross_entropy: target 7 of row 2 outside [0, 5)"));
    ck_assert_ptr_null(uz_cross_entropy(ctx, x, (int32_t[]){-1, 4, 0}, -100, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "target -1 of row 0"));
    ck_assert_ptr_null(uz_cross_entropy(ctx, x, (int32_t[]){0, 1, 2}, -100, 1.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "label_smoothing 1 outside [0, 1)"));
    ck_assert_ptr_null(uz_cross_entropy(ctx, x, NULL, -100, 0.0f));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "targets is NULL"));
    ck_assert_ptr_null(uz_cross_entropy(ctx, NULL, (int32_t[]){0}, -100, 0.0f));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("nn_cross_entropy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ce_values);
    tcase_add_test(tc, test_ce_50k_classes);
    tcase_add_test(tc, test_ce_grad);
    tcase_add_test(tc, test_ce_all_ignored);
    tcase_add_test(tc, test_ce_errors);
    suite_add_tcase(s, tc);
    return s;
}
