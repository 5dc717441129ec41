/* Autograd semantics (gradient accumulation, no-grad scopes, inputs that
 * do not require grad, tensors used twice, backward errors, backward_with),
 * the allocation-free training step, and the Philox RNG (known-answer
 * vectors, thread-count independence, moments). */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

static bool has(const char *needle)
{
    return strstr(uz_error_message(), needle) != NULL;
}

/* A scalar out of any tensor without elementwise ops: the dot product of
 * its flattened values with a fixed vector c, as a [1,n] x [n,1] matmul. */
static uz_tensor *dot_loss(uz_ctx *ctx, uz_tensor *y, const float *c)
{
    int64_t n = uz_tensor_numel(y);
    uz_tensor *cv = uz_tensor_from(ctx, 2, (int64_t[]){n, 1}, c);
    return uz_matmul(ctx, uz_reshape(ctx, y, 2, (int64_t[]){1, n}), cv);
}

/* One linear layer y = x W^T + b as parameters "fc.weight" [3,4], "fc.bias" [3]. */
static uz_params *make_layer(void)
{
    uz_params *p = uz_params_new();
    uz_params_add(p, "fc.weight", 2, (int64_t[]){3, 4});
    uz_params_add(p, "fc.bias", 1, (int64_t[]){3});
    ck_assert_int_eq(uz_params_finalize(p), UZ_OK);
    uz_param_init_uniform(uz_params_find(p, "fc.weight"), 1, 0, -1.0f, 1.0f);
    uz_param_init_uniform(uz_params_find(p, "fc.bias"), 1, 1, -1.0f, 1.0f);
    return p;
}

static const float X[8] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f, 1.0f, -0.5f};
static const float C[6] = {1.0f, -2.0f, 0.5f, 3.0f, -1.0f, 0.25f};

static uz_tensor *layer_loss(uz_ctx *ctx, uz_params *p, uz_tensor **x_out)
{
    uz_tensor *x = uz_tensor_from(ctx, 2, (int64_t[]){2, 4}, X); /* requires_grad false */
    if (x_out)
        *x_out = x;
    uz_tensor *y = uz_linear(ctx, x, uz_params_find(p, "fc.weight"), uz_params_find(p, "fc.bias"));
    return dot_loss(ctx, y, C);
}

START_TEST(test_param_grad_accumulates)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_params *p = make_layer();
    uz_tensor *w = uz_params_find(p, "fc.weight"), *b = uz_params_find(p, "fc.bias");
    uz_tensor *x;
    uz_tensor *loss = layer_loss(ctx, p, &x);
    UZ_CK_NOTNULL(loss);
    UZ_CK_OK(uz_backward(ctx, loss));
    /* dL/dW[o][i] = sum_r C[r][o] X[r][i], dL/db[o] = sum_r C[r][o]. */
    float g1[15];
    for (int o = 0; o < 3; o++) {
        for (int i = 0; i < 4; i++) {
            float want = C[o] * X[i] + C[3 + o] * X[4 + i];
            ck_assert_float_eq_tol(w->grad->data[o * 4 + i], want, 1e-6f);
        }
        ck_assert_float_eq_tol(b->grad->data[o], C[o] + C[3 + o], 1e-6f);
    }
    ck_assert_ptr_null(x->grad); /* the input did not require grad */
    memcpy(g1, uz_params_grad(p), sizeof g1);

    /* Second backward over the same tape: parameter gradients add up. */
    UZ_CK_OK(uz_backward(ctx, loss));
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(uz_params_grad(p)[i], 2.0f * g1[i]);
    /* Third, after a reset and a fresh forward (micro-batch accumulation). */
    uz_ctx_reset(ctx);
    UZ_CK_OK(uz_backward(ctx, layer_loss(ctx, p, NULL)));
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq_tol(uz_params_grad(p)[i], 3.0f * g1[i], 1e-6f);
    uz_params_zero_grad(p);
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(uz_params_grad(p)[i], 0.0f);
    uz_params_free(p);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_no_grad_scope)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_params *p = make_layer();
    ck_assert(uz_grad_enabled(ctx));
    bool was = uz_grad_enable(ctx, false);
    ck_assert(was);
    ck_assert(!uz_grad_enabled(ctx));
    uz_tensor *wt = uz_transpose(ctx, uz_params_find(p, "fc.weight"), 0, 1);
    uz_tensor *loss = layer_loss(ctx, p, NULL);
    UZ_CK_NOTNULL(loss);
    ck_assert(!wt->requires_grad);
    ck_assert_ptr_null(wt->node);
    ck_assert(!loss->requires_grad);
    ck_assert_ptr_null(loss->node);
    /* Nothing was recorded, so there is nothing to differentiate. */
    ck_assert_int_eq(uz_backward(ctx, loss), UZ_ERR_ARG);
    ck_assert_msg(has("does not require grad"), "%s", uz_error_message());
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(uz_params_grad(p)[i], 0.0f);
    /* Nested scopes restore what they found. */
    ck_assert(!uz_grad_enable(ctx, false));
    ck_assert(!uz_grad_enable(ctx, was));
    ck_assert(uz_grad_enabled(ctx));
    loss = layer_loss(ctx, p, NULL);
    ck_assert(loss->requires_grad);
    UZ_CK_OK(uz_backward(ctx, loss));
    uz_params_free(p);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_no_grad_input)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){3, 2}, 2, -1, 1);
    uz_tensor_set_requires_grad(b, false);
    uz_tensor *y = uz_matmul(ctx, a, uz_transpose(ctx, uz_transpose(ctx, b, 0, 1), 0, 1));
    ck_assert(y->requires_grad);
    UZ_CK_OK(uz_backward(ctx, dot_loss(ctx, y, (float[]){1, 1, 1, 1})));
    ck_assert_ptr_nonnull(a->grad);
    ck_assert_ptr_null(b->grad);
    /* Constants only: the result needs no grad and records nothing. */
    uz_tensor_set_requires_grad(a, false);
    uz_tensor *z = uz_matmul(ctx, a, b);
    ck_assert(!z->requires_grad);
    ck_assert_ptr_null(z->node);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_used_twice)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* L = a . a (a as [1,3] times its own transpose): dL/da = a + a. */
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){1, 3}, 1, -1, 1);
    uz_tensor *loss = uz_matmul(ctx, a, uz_transpose(ctx, a, 0, 1));
    UZ_CK_OK(uz_backward(ctx, loss));
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(a->grad->data[i], a->data[i] + a->data[i]);
    /* A shared intermediate: h feeds two matmuls; its gradient is summed
     * before flowing to w. L = sum_j (x w)_j * (1 + 2) for x [1,2], w [2,2]. */
    uz_tensor *x = uz_tensor_from(ctx, 2, (int64_t[]){1, 2}, (float[]){2.0f, -3.0f});
    uz_tensor *w = uz_test_rand(ctx, 2, (int64_t[]){2, 2}, 2, -1, 1);
    uz_tensor *h = uz_matmul(ctx, x, w);
    uz_tensor *l1 = uz_matmul(ctx, h, uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){1, 1}));
    uz_tensor *l2 = uz_matmul(ctx, h, uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){2, 2}));
    uz_tensor *both[2] = {l1, l2};
    uz_tensor *l = uz_matmul(ctx, uz_reshape(ctx, uz_concat(ctx, both, 2, 1), 2, (int64_t[]){1, 2}),
                             uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){1, 1}));
    UZ_CK_OK(uz_backward(ctx, l));
    const float want[4] = {6.0f, 6.0f, -9.0f, -9.0f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(w->grad->data[i], want[i]);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_backward_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 1, -1, 1);
    uz_tensor *y = uz_matmul(ctx, a, uz_transpose(ctx, a, 0, 1)); /* [2,2] */
    ck_assert_int_eq(uz_backward(ctx, y), UZ_ERR_ARG);
    ck_assert_msg(has("backward: loss must have one element, got shape [2,2]"), "%s", uz_error_message());
    ck_assert_ptr_null(a->grad);
    uz_error_clear();
    ck_assert_int_ne(uz_backward(ctx, NULL), UZ_OK);
    ck_assert_msg(has("NULL"), "%s", uz_error_message());
    /* A failed forward leaves its own error for backward to report. */
    ck_assert_ptr_null(uz_matmul(ctx, a, a));
    ck_assert_int_eq(uz_backward(ctx, NULL), UZ_ERR_ARG);
    ck_assert_msg(has("matmul"), "%s", uz_error_message());
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_backward_with)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 2, (int64_t[]){2, 4}, 1, -1, 1);
    uz_tensor *w = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 2, -1, 1);
    uz_tensor *y = uz_linear(ctx, x, w, NULL); /* [2,3] */
    const float g[6] = {1.0f, 0.5f, -1.0f, 2.0f, 0.0f, -0.5f};
    UZ_CK_OK(uz_backward_with(ctx, y, g));
    /* dW = g^T x, dx = g W. */
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq_tol(w->grad->data[o * 4 + i],
                                   g[o] * x->data[i] + g[3 + o] * x->data[4 + i], 1e-6f);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 4; i++) {
            float want = 0.0f;
            for (int o = 0; o < 3; o++)
                want += g[r * 3 + o] * w->data[o * 4 + i];
            ck_assert_float_eq_tol(x->grad->data[r * 4 + i], want, 1e-6f);
        }
    /* Any shape works as a root, including a view of the result. */
    x->grad = w->grad = NULL;
    uz_tensor *yt = uz_transpose(ctx, uz_linear(ctx, x, w, NULL), 0, 1); /* [3,2] */
    const float gt[6] = {1.0f, 2.0f, 0.5f, 0.0f, -1.0f, -0.5f};      /* g transposed */
    UZ_CK_OK(uz_backward_with(ctx, yt, gt));
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq_tol(w->grad->data[o * 4 + i],
                                   g[o] * x->data[i] + g[3 + o] * x->data[4 + i], 1e-6f);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- the allocation-free training step ------------------------------------------ */

enum { B = 32, IN = 8, HID = 16, OUT = 4 };

/* One step of a 2-layer MLP (linear, then matmul by W2^T plus nothing) with
 * loss = ||out||^2 as flat(out) . flat(out); plain SGD. Returns the loss. */
static float mlp_step(uz_ctx *ctx, uz_params *p, const float *x_data, float lr)
{
    uz_tensor *x = uz_tensor_from(ctx, 2, (int64_t[]){B, IN}, x_data);
    uz_tensor *h = uz_linear(ctx, x, uz_params_find(p, "0.weight"), uz_params_find(p, "0.bias"));
    uz_tensor *out = uz_matmul(ctx, h, uz_transpose(ctx, uz_params_find(p, "1.weight"), 0, 1));
    uz_tensor *flat = uz_reshape(ctx, out, 2, (int64_t[]){1, B * OUT});
    uz_tensor *loss = uz_matmul(ctx, flat, uz_transpose(ctx, flat, 0, 1));
    ck_assert_msg(loss != NULL, "%s", uz_error_message());
    float value = loss->data[0];
    ck_assert_int_eq(uz_backward(ctx, loss), UZ_OK);
    float *data = uz_params_data(p), *grad = uz_params_grad(p);
    for (int64_t i = 0; i < uz_params_numel(p); i++)
        data[i] -= lr * grad[i];
    uz_params_zero_grad(p);
    uz_ctx_reset(ctx);
    return value;
}

START_TEST(test_training_loop_no_alloc)
{
    /* A small first arena so the first step must grow it. */
    uz_ctx *ctx = uz_ctx_new(4096, 0);
    uz_params *p = uz_params_new();
    uz_params_add(p, "0.weight", 2, (int64_t[]){HID, IN});
    uz_params_add(p, "0.bias", 1, (int64_t[]){HID});
    uz_params_add(p, "1.weight", 2, (int64_t[]){OUT, HID});
    UZ_CK_OK(uz_params_finalize(p));
    for (int i = 0; i < uz_params_count(p); i++)
        uz_param_init_uniform(uz_params_at(p, i), 3, (uint64_t)i, -0.3f, 0.3f);
    static float x[B * IN];
    uz_rng_fill_uniform(x, B * IN, 4, 0, 0, -1.0f, 1.0f);

    uint64_t before = uz_alloc_count();
    float l1 = mlp_step(ctx, p, x, 1e-3f);
    ck_assert_uint_gt(uz_alloc_count(), before); /* the test is sensitive: step 1 grows */
    float prev = mlp_step(ctx, p, x, 1e-3f);
    ck_assert_float_lt(prev, l1);
    uint64_t after_two = uz_alloc_count();
    for (int s = 0; s < 8; s++) {
        float l = mlp_step(ctx, p, x, 1e-3f);
        ck_assert_float_lt(l, prev);
        prev = l;
    }
    ck_assert_uint_eq(uz_alloc_count(), after_two);
    ck_assert_uint_gt(uz_ctx_arena_peak(ctx), 4096);
    uz_params_free(p);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- Philox RNG ------------------------------------------------------------------ */

static uint64_t words(uint32_t lo, uint32_t hi) { return (uint64_t)hi << 32 | lo; }

START_TEST(test_philox_known_answers)
{
    /* Philox4x32-10 vectors of the Random123 distribution (kat_vectors).
     * Counter words c0..c3 = block lo/hi, stream lo/hi; key k0,k1 = seed lo/hi. */
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[3] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        uz_philox(words(kat[v].key[0], kat[v].key[1]), words(kat[v].ctr[2], kat[v].ctr[3]),
                  words(kat[v].ctr[0], kat[v].ctr[1]), out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == kat[v].out[i], "vector %d word %d: %08x, expected %08x", v,
                          i, out[i], kat[v].out[i]);
    }
    /* Element i of a stream is word i % 4 of block i / 4, top 24 bits. */
    for (uint64_t i = 0; i < 12; i++) {
        uint32_t w[4];
        uz_philox(5, 6, i / 4, w);
        ck_assert_float_eq(uz_rng_uniform(5, 6, i), (float)(w[i % 4] >> 8) / 16777216.0f);
    }
}
END_TEST

START_TEST(test_rng_threads_and_offsets)
{
    enum { N = 200000 }; /* above the fill's parallel threshold */
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    uz_rng_fill_uniform(a, N, 42, 3, 0, -2.0f, 5.0f);
    omp_set_num_threads(2);
    uz_rng_fill_uniform(b, N, 42, 3, 0, -2.0f, 5.0f);
    ck_assert_int_eq(memcmp(a, b, sizeof(float) * N), 0);
    omp_set_num_threads(1);
    uz_rng_fill_normal(a, N, 42, 3, 0, 0.0f, 1.0f);
    omp_set_num_threads(2);
    uz_rng_fill_normal(b, N, 42, 3, 0, 0.0f, 1.0f);
    ck_assert_int_eq(memcmp(a, b, sizeof(float) * N), 0);
    omp_set_num_threads(keep);
    /* An offset draw is the same stream, shifted (odd offset splits a normal pair). */
    uz_rng_fill_normal(b, 1000, 42, 3, 777, 0.0f, 1.0f);
    ck_assert_int_eq(memcmp(a + 777, b, sizeof(float) * 1000), 0);
    uz_rng_fill_uniform(a, 1000, 42, 3, 0, 0.0f, 1.0f);
    uz_rng_fill_uniform(b, 999, 42, 3, 1, 0.0f, 1.0f);
    ck_assert_int_eq(memcmp(a + 1, b, sizeof(float) * 999), 0);
    /* Different streams and seeds differ. */
    uz_rng_fill_uniform(b, 1000, 42, 4, 0, 0.0f, 1.0f);
    ck_assert_int_ne(memcmp(a, b, sizeof(float) * 1000), 0);
    uz_rng_fill_uniform(b, 1000, 43, 3, 0, 0.0f, 1.0f);
    ck_assert_int_ne(memcmp(a, b, sizeof(float) * 1000), 0);
    free(a);
    free(b);
}
END_TEST

/* Sample mean and central moments 2..4. */
static void moments(const float *x, int64_t n, double m[4])
{
    double mean = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    m[0] = mean;
    m[1] = m[2] = m[3] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        m[1] += d * d;
        m[2] += d * d * d;
        m[3] += d * d * d * d;
    }
    for (int k = 1; k < 4; k++)
        m[k] /= (double)n;
}

START_TEST(test_rng_moments)
{
    /* Bounds are 5 standard errors at n = 1e6: a correct generator fails
     * with probability ~1e-6, a biased mapping (wrong scale, lost bits,
     * wrong Box-Muller branch) is off by far more. */
    enum { N = 1000000 };
    float *x = malloc(sizeof(float) * N);
    double m[4];
    uz_rng_fill_uniform(x, N, 7, 1, 0, 0.0f, 1.0f);
    float lo = 1.0f, hi = 0.0f;
    for (int i = 0; i < N; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    ck_assert(lo >= 0.0f && hi < 1.0f);
    ck_assert(lo < 1e-4f && hi > 1.0f - 1e-4f);
    moments(x, N, m);
    /* U(0,1): mean 1/2 (se 2.9e-4), variance 1/12 (se 7.5e-5), skew 0. */
    ck_assert_double_eq_tol(m[0], 0.5, 1.5e-3);
    ck_assert_double_eq_tol(m[1], 1.0 / 12.0, 3.7e-4);
    ck_assert_double_eq_tol(m[2], 0.0, 5e-4);
    uz_rng_fill_uniform(x, N, 7, 2, 0, -3.0f, 1.0f);
    moments(x, N, m);
    ck_assert_double_eq_tol(m[0], -1.0, 6e-3);
    ck_assert_double_eq_tol(m[1], 16.0 / 12.0, 6e-3);

    /* N(1, 2^2): mean (se 2e-3), variance 4 (se 5.7e-3), standardized
     * skewness 0 (se 2.4e-3) and kurtosis 3 (se 4.9e-3). */
    uz_rng_fill_normal(x, N, 7, 3, 0, 1.0f, 2.0f);
    moments(x, N, m);
    double var = m[1];
    ck_assert_double_eq_tol(m[0], 1.0, 1e-2);
    ck_assert_double_eq_tol(var, 4.0, 3e-2);
    ck_assert_double_eq_tol(m[2] / pow(var, 1.5), 0.0, 1.25e-2);
    ck_assert_double_eq_tol(m[3] / (var * var), 3.0, 2.5e-2);
    /* Tail mass beyond 3 sigma: 0.27% (se 5.2e-5). */
    int64_t tail = 0;
    for (int i = 0; i < N; i++)
        tail += fabsf(x[i] - 1.0f) > 6.0f;
    ck_assert_double_eq_tol((double)tail / N, 0.0026998, 2.6e-4);
    free(x);
}
END_TEST

START_TEST(test_ctx_streams)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_ctx_set_seed(ctx, 99);
    ck_assert_uint_eq(uz_ctx_seed(ctx), 99);
    ck_assert_uint_eq(uz_ctx_next_stream(ctx), 0);
    ck_assert_uint_eq(uz_ctx_next_stream(ctx), 1);
    ck_assert_uint_eq(uz_ctx_stream(ctx), 2);
    uz_ctx_set_stream(ctx, 10);
    ck_assert_uint_eq(uz_ctx_next_stream(ctx), 10);
    uz_ctx_set_seed(ctx, 5); /* a new seed restarts the streams */
    ck_assert_uint_eq(uz_ctx_stream(ctx), 0);
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_param_grad_accumulates);
    tcase_add_test(tc, test_no_grad_scope);
    tcase_add_test(tc, test_no_grad_input);
    tcase_add_test(tc, test_used_twice);
    tcase_add_test(tc, test_backward_errors);
    tcase_add_test(tc, test_backward_with);
    tcase_add_test(tc, test_training_loop_no_alloc);
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_rng_threads_and_offsets);
    tcase_add_test(tc, test_rng_moments);
    tcase_add_test(tc, test_ctx_streams);
    suite_add_tcase(s, tc);
    return s;
}
