/* sum, mean and max: values against a double-precision loop for every set of
 * dims (keepdim or not, transposed input, 0-d results), results independent
 * of the thread count on every kernel path, first-maximum gradients at ties,
 * gradient checks, empty reductions and errors. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

/* ck_assert marks a point on every success: too slow inside big loops. */
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond))                                                                         \
            ck_abort_msg(__VA_ARGS__);                                                       \
    } while (0)

typedef enum kind { K_SUM, K_MEAN, K_MAX } kind;
static const char *const kind_names[] = {"sum", "mean", "max"};

static uz_tensor *reduce(uz_ctx *ctx, kind k, uz_tensor *a, const int *dims, int n, bool keep)
{
    switch (k) {
    case K_SUM: return uz_sum(ctx, a, dims, n, keep);
    case K_MEAN: return uz_mean(ctx, a, dims, n, keep);
    case K_MAX: return uz_max(ctx, a, dims, n, keep);
    }
    return NULL;
}

/* The expected reduction of a (read through its strides) in double; the
 * output is indexed over the kept dims in order. scale gets sum |x| per output
 * for sum-error bounds. */
static void naive(kind k, const uz_tensor *a, const bool *red, double *out, double *scale,
                  int64_t n_out)
{
    int64_t n = uz_tensor_numel(a), idx[UZ_MAX_DIMS], count = n_out ? n / n_out : 0;
    for (int64_t o = 0; o < n_out; o++) {
        out[o] = k == K_MAX ? -INFINITY : 0.0;
        scale[o] = 0.0;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t f = i, o = 0, mul = 1;
        for (int d = a->ndim - 1; d >= 0; d--) {
            idx[d] = f % a->shape[d];
            f /= a->shape[d];
        }
        for (int d = a->ndim - 1; d >= 0; d--)
            if (!red[d]) {
                o += idx[d] * mul;
                mul *= a->shape[d];
            }
        double v = uz_tensor_get(a, idx);
        out[o] = k == K_MAX ? fmax(out[o], v) : out[o] + v;
        scale[o] += fabs(v);
    }
    if (k == K_MEAN)
        for (int64_t o = 0; o < n_out; o++) {
            out[o] /= (double)count;
            scale[o] /= (double)count;
        }
}

/* Runs op over `dims` and checks shape and every value. */
static void check_reduce(uz_ctx *ctx, kind k, uz_tensor *a, const int *dims, int n_dims,
                         bool keep, double rtol)
{
    bool red[UZ_MAX_DIMS] = {false};
    for (int i = 0; i < n_dims; i++)
        red[dims[i] < 0 ? dims[i] + a->ndim : dims[i]] = true;
    if (n_dims == 0)
        for (int d = 0; d < a->ndim; d++)
            red[d] = true;
    uz_tensor *y = reduce(ctx, k, a, dims, n_dims, keep);
    UZ_CK_NOTNULL(y);
    int nd = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (red[d] && !keep)
            continue;
        CHECK(y->shape[nd] == (red[d] ? 1 : a->shape[d]), "%s: dim %d of the result is %lld",
              kind_names[k], nd, (long long)y->shape[nd]);
        nd++;
    }
    ck_assert_int_eq(y->ndim, nd);
    int64_t n_out = uz_tensor_numel(y);
    double *want = malloc(sizeof(double) * (size_t)n_out);
    double *scale = malloc(sizeof(double) * (size_t)n_out);
    naive(k, a, red, want, scale, n_out);
    for (int64_t o = 0; o < n_out; o++) {
        double got = y->data[o];
        if (k == K_MAX)
            CHECK(got == want[o], "max output %lld: %g vs %g", (long long)o, got, want[o]);
        else
            CHECK(fabs(got - want[o]) <= 1e-6 + rtol * scale[o], "%s output %lld: %.9g vs %.9g",
                  kind_names[k], (long long)o, got, want[o]);
    }
    free(want);
    free(scale);
}

START_TEST(test_values_all_dim_sets)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 1, -1, 1);
    uz_tensor *at = uz_transpose(ctx, uz_test_rand(ctx, 3, (int64_t[]){5, 4, 3}, 2, -1, 1), 0, 2);
    uz_tensor *inputs[] = {a, at};
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++)
            for (int mask = 0; mask < 8; mask++)
                for (int keep = 0; keep < 2; keep++) {
                    int dims[3], n = 0;
                    for (int d = 0; d < 3; d++)
                        if (mask & (1 << d))
                            dims[n++] = d;
                    check_reduce(ctx, (kind)k, inputs[t], dims, n, keep, 1e-6);
                }
    for (int k = 0; k < 3; k++) {
        check_reduce(ctx, (kind)k, a, (int[]){-1}, 1, false, 1e-6);
        check_reduce(ctx, (kind)k, a, (int[]){-1, -3}, 2, true, 1e-6);
        check_reduce(ctx, (kind)k, a, (int[]){2, 0}, 2, false, 1e-6); /* any order */
    }
    /* Size-1 dims among the reduced and kept ones. */
    uz_tensor *b = uz_test_rand(ctx, 4, (int64_t[]){2, 1, 3, 1}, 3, -1, 1);
    for (int k = 0; k < 3; k++) {
        check_reduce(ctx, (kind)k, b, (int[]){1, 2}, 2, false, 1e-6);
        check_reduce(ctx, (kind)k, b, (int[]){3}, 1, true, 1e-6);
    }
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_zero_d)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_tensor_from(ctx, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    uz_tensor *s = uz_sum(ctx, a, NULL, 0, false);
    UZ_CK_NOTNULL(s);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_float_eq(s->data[0], 10.0f);
    uz_tensor *m = uz_mean(ctx, a, NULL, 0, true);
    ck_assert_int_eq(m->ndim, 2);
    ck_assert_int_eq(m->shape[0], 1);
    ck_assert_float_eq(m->data[0], 2.5f);
    ck_assert_float_eq(uz_max(ctx, a, NULL, 0, false)->data[0], 4.0f);
    /* A 0-d input reduces to itself, over no dims or over dim 0 / -1. */
    uz_tensor *z = uz_tensor_from(ctx, 0, (int64_t[]){1}, (float[]){-3.5f});
    uz_tensor *r = uz_sum(ctx, z, (int[]){-1}, 1, false);
    UZ_CK_NOTNULL(r);
    ck_assert_int_eq(r->ndim, 0);
    ck_assert_float_eq(r->data[0], -3.5f);
    ck_assert_float_eq(uz_max(ctx, z, NULL, 0, true)->data[0], -3.5f);
    uz_ctx_free(ctx);
}
END_TEST

/* Each case exercises one kernel path past the threading thresholds:
 * long full reductions split into segments, few and many outputs along the
 * last dim, the kept-last-dim path with row blocks, and mixed patterns. */
static const struct {
    int ndim;
    int64_t shape[3];
    int n_dims;
    int dims[2];
} big_cases[] = {
    {1, {1 << 20}, 0, {0}},
    {2, {3, 200000}, 1, {1}},
    {2, {64, 5000}, 1, {1}},
    {2, {5000, 300}, 1, {0}},
    {3, {40, 50, 60}, 2, {0, 2}},
    {3, {20, 300, 40}, 1, {1}},
    {3, {7, 9000, 3}, 2, {0, 1}},
};

START_TEST(test_large_and_thread_independent)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_grad_enable(ctx, false);
    int threads = omp_get_max_threads();
    for (size_t c = 0; c < sizeof big_cases / sizeof big_cases[0]; c++) {
        uz_tensor *a = uz_test_rand(ctx, big_cases[c].ndim, big_cases[c].shape, 5 + c, -1, 1);
        for (int k = 0; k < 3; k++) {
            check_reduce(ctx, (kind)k, a, big_cases[c].dims, big_cases[c].n_dims, false, 1e-5);
            float *runs[3];
            int64_t n = 0;
            const int counts[3] = {1, 3, 8};
            for (int r = 0; r < 3; r++) {
                omp_set_num_threads(counts[r]);
                uz_tensor *y = reduce(ctx, (kind)k, a, big_cases[c].dims, big_cases[c].n_dims,
                                      false);
                UZ_CK_NOTNULL(y);
                n = uz_tensor_numel(y);
                runs[r] = y->data;
            }
            omp_set_num_threads(threads);
            for (int r = 1; r < 3; r++)
                ck_assert_msg(memcmp(runs[0], runs[r], sizeof(float) * (size_t)n) == 0,
                              "case %zu %s: %d threads differ from 1", c, kind_names[k],
                              counts[r]);
        }
    }
    uz_ctx_free(ctx);
}
END_TEST

/* sum's backward at scale: every input element gets its output's gradient. */
START_TEST(test_large_backward)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (size_t c = 0; c < sizeof big_cases / sizeof big_cases[0]; c++) {
        uz_tensor *a = uz_test_rand(ctx, big_cases[c].ndim, big_cases[c].shape, 50 + c, -1, 1);
        uz_tensor *y = uz_mean(ctx, a, big_cases[c].dims, big_cases[c].n_dims, true);
        int64_t n_out = uz_tensor_numel(y), n = uz_tensor_numel(a);
        float *g = malloc(sizeof(float) * (size_t)n_out);
        uz_rng_fill_uniform(g, n_out, 3, 1, 0, -1.0f, 1.0f);
        UZ_CK_OK(uz_backward_with(ctx, y, g));
        float scale = (float)n_out / (float)n;
        int64_t idx[3];
        for (int64_t i = 0; i < n; i++) {
            int64_t f = i, o = 0;
            for (int d = a->ndim - 1; d >= 0; d--) {
                idx[d] = f % a->shape[d];
                f /= a->shape[d];
            }
            for (int d = 0; d < a->ndim; d++)
                o = o * y->shape[d] + (y->shape[d] == 1 ? 0 : idx[d]);
            CHECK(a->grad->data[i] == scale * g[o], "case %zu element %lld: %g vs %g", c,
                  (long long)i, (double)a->grad->data[i], (double)(scale * g[o]));
        }
        free(g);
        uz_ctx_reset(ctx);
    }
    uz_ctx_free(ctx);
}
END_TEST

/* The gradient of max goes to the first maximal element of each group,
 * including across the segments a long reduction is split into. */
START_TEST(test_max_ties_and_nan)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_tensor_from(ctx, 2, (int64_t[]){2, 3}, (float[]){1, 5, 5, 2, 2, 0});
    a->requires_grad = true;
    uz_tensor *m = uz_max(ctx, a, (int[]){1}, 1, false);
    ck_assert_float_eq(m->data[0], 5.0f);
    ck_assert_float_eq(m->data[1], 2.0f);
    UZ_CK_OK(uz_backward_with(ctx, m, (float[]){1, 1}));
    const float g1[] = {0, 1, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(a->grad->data[i], g1[i]);

    uz_tensor *b = uz_tensor_from(ctx, 2, (int64_t[]){2, 2}, (float[]){3, 1, 3, 4});
    b->requires_grad = true;
    UZ_CK_OK(uz_backward_with(ctx, uz_max(ctx, b, (int[]){0}, 1, true), (float[]){1, 1}));
    const float g0[] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(b->grad->data[i], g0[i]);

    int64_t R = 3, L = 100000;
    uz_tensor *z = uz_tensor_zeros(ctx, 2, (int64_t[]){R, L});
    z->requires_grad = true;
    uz_tensor *mz = uz_max(ctx, z, (int[]){1}, 1, false);
    UZ_CK_OK(uz_backward_with(ctx, mz, (float[]){1, 2, 3}));
    for (int64_t i = 0; i < R * L; i++)
        CHECK(z->grad->data[i] == (i % L == 0 ? (float)(i / L + 1) : 0.0f), "tie at %lld",
              (long long)i);
    uz_tensor *zt = uz_tensor_zeros(ctx, 2, (int64_t[]){L, R});
    zt->requires_grad = true;
    UZ_CK_OK(uz_backward_with(ctx, uz_max(ctx, zt, (int[]){0}, 1, false), (float[]){1, 2, 3}));
    for (int64_t i = 0; i < R * L; i++)
        CHECK(zt->grad->data[i] == (i < R ? (float)(i + 1) : 0.0f), "tie at %lld", (long long)i);

    /* A NaN is the maximum, and the first NaN gets the gradient, on both paths. */
    uz_tensor *n = uz_tensor_from(ctx, 1, (int64_t[]){4}, (float[]){1, NAN, 7, NAN});
    n->requires_grad = true;
    uz_tensor *mn = uz_max(ctx, n, NULL, 0, false);
    ck_assert(isnan(mn->data[0]));
    UZ_CK_OK(uz_backward_with(ctx, mn, (float[]){1}));
    const float gn[] = {0, 1, 0, 0};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(n->grad->data[i], gn[i]);
    ck_assert(isnan(uz_sum(ctx, n, NULL, 0, false)->data[0]));
    uz_tensor *nk = uz_tensor_from(ctx, 2, (int64_t[]){3, 2}, (float[]){1, 2, NAN, 0, 5, NAN});
    nk->requires_grad = true;
    uz_tensor *mk = uz_max(ctx, nk, (int[]){0}, 1, false);
    ck_assert(isnan(mk->data[0]) && isnan(mk->data[1]));
    UZ_CK_OK(uz_backward_with(ctx, mk, (float[]){1, 1}));
    const float gk[] = {0, 0, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(nk->grad->data[i], gk[i]);
    z->data[150000] = NAN; /* row 1, in a later segment */
    ck_assert(isnan(uz_max(ctx, z, (int[]){1}, 1, false)->data[1]));
    uz_ctx_free(ctx);
}
END_TEST

/* ---- gradient checks --------------------------------------------------------------- */

typedef struct red_case {
    kind k;
    int dims[3], n_dims;
    bool keep, transpose;
} red_case;

static uz_tensor *f_reduce(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const red_case *c = user;
    uz_tensor *x = c->transpose ? uz_transpose(ctx, in[0], 0, 2) : in[0];
    return reduce(ctx, c->k, x, c->dims, c->n_dims, c->keep);
}

/* Distinct values 2/n apart (a shuffled ramp), so no finite-difference step
 * can change which element is the maximum. */
static uz_tensor *spaced(uz_ctx *ctx, int ndim, const int64_t *shape)
{
    uz_tensor *t = uz_test_rand(ctx, ndim, shape, 1, 0, 1);
    int64_t n = uz_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)((i * 37) % n) * (2.0f / (float)n) - 1.0f;
    return t;
}

START_TEST(test_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    const struct {
        int dims[3], n_dims;
        bool keep;
    } sets[] = {
        {{0}, 0, false}, {{0}, 0, true}, {{1}, 1, false}, {{-1}, 1, true},
        {{0, 2}, 2, false}, {{0}, 1, true}, {{1, 2}, 2, false},
    };
    for (int k = 0; k < 3; k++)
        for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
            for (int tr = 0; tr < 2; tr++) {
                /* [3,4,5]: 37 is coprime with 60, so the ramp is a permutation. */
                int64_t shape[3] = {tr ? 5 : 3, 4, tr ? 3 : 5};
                uz_tensor *in[1] = {k == K_MAX ? spaced(ctx, 3, shape)
                                               : uz_test_rand(ctx, 3, shape, 7 + s, -1, 1)};
                red_case c = {(kind)k, {0}, sets[s].n_dims, sets[s].keep, tr == 1};
                memcpy(c.dims, sets[s].dims, sizeof c.dims);
                ck_assert_msg(uz_gradcheck(in, 1, f_reduce, &c, UZ_GC_DEFAULT, msg, sizeof msg),
                              "%s set %zu%s: %s", kind_names[k], s, tr ? " transposed" : "", msg);
            }
    uz_ctx_free(ctx);
}
END_TEST

/* ---- empty reductions and errors ------------------------------------------------------ */

START_TEST(test_empty)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *e = uz_tensor_zeros(ctx, 2, (int64_t[]){0, 3});
    uz_tensor *s = uz_sum(ctx, e, (int[]){0}, 1, false);
    UZ_CK_NOTNULL(s);
    ck_assert_int_eq(s->shape[0], 3);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(s->data[i], 0.0f);
    uz_tensor *m = uz_mean(ctx, e, NULL, 0, false);
    ck_assert(isnan(m->data[0]));
    uz_tensor *m1 = uz_max(ctx, e, (int[]){1}, 1, false); /* nothing to reduce per output */
    UZ_CK_NOTNULL(m1);
    ck_assert_int_eq(m1->shape[0], 0);
    ck_assert_ptr_null(uz_max(ctx, e, (int[]){0}, 1, false));
    ck_assert_ptr_nonnull(
        strstr(uz_error_message(), "max: cannot reduce over an empty dim of [0,3]"));
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    ck_assert_ptr_null(uz_sum(ctx, a, (int[]){3}, 1, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "sum: dim 3 out of range for [2,3,4]"));
    ck_assert_ptr_null(uz_mean(ctx, a, (int[]){-4}, 1, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "mean: dim -4 out of range for [2,3,4]"));
    ck_assert_ptr_null(uz_max(ctx, a, (int[]){1, -2}, 2, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "max: dim -2 appears twice"));
    ck_assert_ptr_null(uz_sum(ctx, a, (int[]){0}, -1, false));
    ck_assert_ptr_nonnull(strstr(uz_error_message(), "sum: bad dim list"));
    ck_assert_ptr_null(uz_sum(ctx, NULL, NULL, 0, false));
    ck_assert_ptr_null(uz_max(ctx, NULL, (int[]){0}, 1, true));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_values_all_dim_sets);
    tcase_add_test(tc, test_zero_d);
    tcase_add_test(tc, test_large_and_thread_independent);
    tcase_add_test(tc, test_large_backward);
    tcase_add_test(tc, test_max_ties_and_nan);
    tcase_add_test(tc, test_grad);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
