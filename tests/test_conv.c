/* conv2d and pooling: values against naive direct loops (strides, padding,
 * groups, depthwise, 1x1, both threading paths), gradient checks, the
 * first-maximum rule of max pooling, adaptive windows, thread-count
 * independence, shape errors. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

/* conv2d is linear in x, in w and in bias separately, so the central
 * difference has no truncation error at any eps; eps = 1e-2 divides the float
 * rounding noise of the quotient by 10 against the default 1e-3. */
#define CONV_TOL ((uz_gc_tol){1e-2, 2e-3, 1e-2})

/* Direct convolution in double through strided reads. */
static double naive_conv(const uz_tensor *x, const uz_tensor *w, const uz_tensor *b,
                         uz_conv2d_opts o, int64_t n, int64_t oc, int64_t oy, int64_t ox)
{
    int64_t groups = o.groups ? o.groups : 1, sh = o.stride_h ? o.stride_h : 1,
            sw = o.stride_w ? o.stride_w : 1;
    int64_t cg = w->shape[1], og = w->shape[0] / groups, g = oc / og;
    double acc = b ? (double)uz_tensor_get(b, (int64_t[]){oc}) : 0.0;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t i = 0; i < w->shape[2]; i++)
            for (int64_t j = 0; j < w->shape[3]; j++) {
                int64_t iy = oy * sh - o.pad_h + i, ix = ox * sw - o.pad_w + j;
                if (iy < 0 || ix < 0 || iy >= x->shape[2] || ix >= x->shape[3])
                    continue;
                acc += (double)uz_tensor_get(x, (int64_t[]){n, g * cg + ci, iy, ix}) *
                       (double)uz_tensor_get(w, (int64_t[]){oc, ci, i, j});
            }
    return acc;
}

static void check_conv_values(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o,
                              int64_t kh, int64_t kw, uz_conv2d_opts opts, bool bias,
                              bool transposed_x, uint64_t seed)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t groups = opts.groups ? opts.groups : 1;
    uz_tensor *x = transposed_x
                       ? uz_transpose(ctx, uz_test_rand(ctx, 4, (int64_t[]){n, c, wd, h}, seed, -1, 1), 2, 3)
                       : uz_test_rand(ctx, 4, (int64_t[]){n, c, h, wd}, seed, -1, 1);
    uz_tensor *w = uz_test_rand(ctx, 4, (int64_t[]){o, c / groups, kh, kw}, seed + 1, -1, 1);
    uz_tensor *b = bias ? uz_test_rand(ctx, 1, (int64_t[]){o}, seed + 2, -1, 1) : NULL;
    uz_tensor *y = uz_conv2d(ctx, x, w, b, opts);
    UZ_CK_NOTNULL(y);
    int64_t sh = opts.stride_h ? opts.stride_h : 1, sw = opts.stride_w ? opts.stride_w : 1;
    int64_t oh = (h + 2 * opts.pad_h - kh) / sh + 1, ow = (wd + 2 * opts.pad_w - kw) / sw + 1;
    ck_assert_int_eq(y->ndim, 4);
    ck_assert_int_eq(y->shape[0], n);
    ck_assert_int_eq(y->shape[1], o);
    ck_assert_int_eq(y->shape[2], oh);
    ck_assert_int_eq(y->shape[3], ow);
    for (int64_t ni = 0; ni < n; ni++)
        for (int64_t oc = 0; oc < o; oc++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double want = naive_conv(x, w, b, opts, ni, oc, oy, ox);
                    float got = uz_tensor_get(y, (int64_t[]){ni, oc, oy, ox});
                    ck_assert_msg(fabs((double)got - want) <= 1e-4 * (1.0 + fabs(want)),
                                  "conv [%lld,%lld,%lld,%lld]: %g vs naive %g", (long long)ni,
                                  (long long)oc, (long long)oy, (long long)ox, (double)got, want);
                }
    uz_ctx_free(ctx);
}

START_TEST(test_conv_values)
{
    /* stride 2, padding 1, bias */
    check_conv_values(2, 3, 7, 6, 4, 3, 3, (uz_conv2d_opts){.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}, true, false, 1);
    /* groups 2, rectangular kernel, uneven padding */
    check_conv_values(2, 4, 5, 5, 6, 3, 2, (uz_conv2d_opts){.pad_h = 1, .groups = 2}, true, false, 2);
    /* depthwise with channel multiplier 2 */
    check_conv_values(2, 4, 6, 5, 8, 3, 3, (uz_conv2d_opts){.pad_h = 1, .pad_w = 1, .groups = 4}, false, false, 3);
    /* 1x1 stride 1 (no im2col), plain and grouped */
    check_conv_values(3, 5, 4, 3, 3, 1, 1, (uz_conv2d_opts){0}, true, false, 4);
    check_conv_values(2, 6, 3, 4, 4, 1, 1, (uz_conv2d_opts){.groups = 2}, false, false, 5);
    /* 1x1 with stride 2 goes through im2col */
    check_conv_values(2, 3, 5, 5, 2, 1, 1, (uz_conv2d_opts){.stride_h = 2, .stride_w = 2}, true, false, 6);
    /* unequal strides, padding wider than the kernel's half, non-contiguous x */
    check_conv_values(2, 3, 6, 7, 2, 5, 3, (uz_conv2d_opts){.stride_h = 2, .stride_w = 1, .pad_h = 0, .pad_w = 2}, true, true, 7);
    /* big enough for one sample per thread (N >= threads) */
    check_conv_values(4, 8, 16, 16, 8, 3, 3, (uz_conv2d_opts){.pad_h = 1, .pad_w = 1}, true, false, 8);
    /* one sample, big enough for a threaded im2col */
    check_conv_values(1, 16, 32, 32, 4, 3, 3, (uz_conv2d_opts){.stride_h = 1, .pad_h = 1, .pad_w = 1}, false, false, 9);
}
END_TEST

typedef struct conv_case {
    uz_conv2d_opts opts;
    bool transpose_x, transpose_w;
} conv_case;

static uz_tensor *f_conv(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const conv_case *cc = user;
    uz_tensor *x = cc->transpose_x ? uz_transpose(ctx, in[0], 2, 3) : in[0];
    uz_tensor *w = cc->transpose_w ? uz_transpose(ctx, in[1], 2, 3) : in[1];
    return uz_conv2d(ctx, x, w, in[2], cc->opts);
}

static void gradcheck_conv(const int64_t *xs, const int64_t *ws, bool bias, conv_case cc,
                           uint64_t seed, const char *what)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[3];
    in[0] = uz_test_rand(ctx, 4, xs, seed, -1, 1);
    in[1] = uz_test_rand(ctx, 4, ws, seed + 1, -1, 1);
    in[2] = bias ? uz_test_rand(ctx, 1, (int64_t[]){ws[0]}, seed + 2, -1, 1)
                 : NULL;
    ck_assert_msg(uz_gradcheck(in, 3, f_conv, &cc, CONV_TOL, msg, sizeof msg), "%s: %s", what, msg);
    uz_ctx_free(ctx);
}

START_TEST(test_conv_grad)
{
    gradcheck_conv((int64_t[]){2, 4, 5, 5}, (int64_t[]){3, 4, 3, 3}, true,
                   (conv_case){.opts = {.pad_h = 1, .pad_w = 1}}, 10, "groups 1");
    gradcheck_conv((int64_t[]){2, 4, 5, 5}, (int64_t[]){4, 2, 3, 3}, true,
                   (conv_case){.opts = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 2}},
                   20, "groups 2 stride 2");
    gradcheck_conv((int64_t[]){2, 3, 5, 6}, (int64_t[]){3, 1, 3, 3}, true,
                   (conv_case){.opts = {.pad_h = 1, .groups = 3}}, 30, "depthwise");
    gradcheck_conv((int64_t[]){2, 4, 3, 4}, (int64_t[]){6, 2, 1, 1}, true,
                   (conv_case){.opts = {.groups = 2}}, 40, "1x1 grouped");
    /* Leaves [N,C,W,H] and [O,C,KW,KH] transposed into place: non-contiguous inputs. */
    gradcheck_conv((int64_t[]){2, 4, 6, 5}, (int64_t[]){3, 4, 2, 3}, false,
                   (conv_case){.opts = {.stride_h = 2, .pad_w = 1}, .transpose_x = true, .transpose_w = true},
                   50, "transposed x, w");
}
END_TEST

/* Forward and all gradients are bitwise equal on 1 thread (samples in turn,
 * the path the gradient checks cover) and 2 threads (one sample per thread).
 * This also checks the second path's gradients without a gradient check
 * whose thousands of small parallel forwards crawl on a loaded machine. */
static void check_thread_independence(const int64_t *xs, const int64_t *ws, uz_conv2d_opts opts)
{
    float *ref[4] = {NULL};
    int64_t sizes[4];
    int saved_threads = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        uz_ctx *ctx = uz_ctx_new(0, 0);
        uz_tensor *x = uz_test_rand(ctx, 4, xs, 70, -1, 1);
        uz_tensor *w = uz_test_rand(ctx, 4, ws, 71, -1, 1);
        uz_tensor *b = uz_test_rand(ctx, 1, ws, 72, -1, 1);
        uz_tensor *y = uz_conv2d(ctx, x, w, b, opts);
        UZ_CK_NOTNULL(y);
        int64_t ny = uz_tensor_numel(y);
        float *dy = malloc(sizeof(float) * (size_t)ny);
        uz_rng_fill_uniform(dy, ny, 73, 0, 0, -1.0f, 1.0f);
        UZ_CK_OK(uz_backward_with(ctx, y, dy));
        free(dy);
        const uz_tensor *outs[4] = {y, x->grad, w->grad, b->grad};
        for (int i = 0; i < 4; i++) {
            UZ_CK_NOTNULL(outs[i]);
            int64_t n = uz_tensor_numel(outs[i]);
            if (threads == 1) {
                sizes[i] = n;
                ref[i] = malloc(sizeof(float) * (size_t)n);
                memcpy(ref[i], outs[i]->data, sizeof(float) * (size_t)n);
            } else {
                ck_assert_int_eq(n, sizes[i]);
                ck_assert_msg(memcmp(ref[i], outs[i]->data, sizeof(float) * (size_t)n) == 0,
                              "output %d differs between 1 and 2 threads", i);
            }
        }
        uz_ctx_free(ctx);
    }
    omp_set_num_threads(saved_threads);
    for (int i = 0; i < 4; i++)
        free(ref[i]);
}

/* N = 5 on 2 threads leaves a last chunk of one sample. */
START_TEST(test_conv_deterministic)
{
    check_thread_independence((int64_t[]){5, 8, 12, 12}, (int64_t[]){8, 4, 3, 3},
                              (uz_conv2d_opts){.stride_h = 2, .pad_h = 1, .pad_w = 1, .groups = 2});
    check_thread_independence((int64_t[]){5, 32, 8, 8}, (int64_t[]){8, 32, 1, 1}, (uz_conv2d_opts){0});
}
END_TEST

/* ---- pooling ---------------------------------------------------------------- */

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

static double naive_pool(const uz_tensor *x, pool_kind kind, uz_pool2d_opts o, int64_t n,
                         int64_t c, int64_t oy, int64_t ox)
{
    int64_t sh = o.stride_h ? o.stride_h : o.kernel_h, sw = o.stride_w ? o.stride_w : o.kernel_w;
    double best = -INFINITY, sum = 0.0;
    for (int64_t i = 0; i < o.kernel_h; i++)
        for (int64_t j = 0; j < o.kernel_w; j++) {
            int64_t iy = oy * sh - o.pad_h + i, ix = ox * sw - o.pad_w + j;
            if (iy < 0 || ix < 0 || iy >= x->shape[2] || ix >= x->shape[3])
                continue;
            double v = uz_tensor_get(x, (int64_t[]){n, c, iy, ix});
            sum += v;
            best = v > best ? v : best;
        }
    return kind == POOL_MAX ? best : sum / (double)(o.kernel_h * o.kernel_w);
}

static void check_pool_values(pool_kind kind, const int64_t *xs, uz_pool2d_opts o, uint64_t seed)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 4, xs, seed, -1, 1);
    uz_tensor *y = kind == POOL_MAX ? uz_max_pool2d(ctx, x, o) : uz_avg_pool2d(ctx, x, o);
    UZ_CK_NOTNULL(y);
    int64_t sh = o.stride_h ? o.stride_h : o.kernel_h, sw = o.stride_w ? o.stride_w : o.kernel_w;
    ck_assert_int_eq(y->shape[2], (xs[2] + 2 * o.pad_h - o.kernel_h) / sh + 1);
    ck_assert_int_eq(y->shape[3], (xs[3] + 2 * o.pad_w - o.kernel_w) / sw + 1);
    for (int64_t n = 0; n < xs[0]; n++)
        for (int64_t c = 0; c < xs[1]; c++)
            for (int64_t oy = 0; oy < y->shape[2]; oy++)
                for (int64_t ox = 0; ox < y->shape[3]; ox++)
                    ck_assert_double_eq_tol(uz_tensor_get(y, (int64_t[]){n, c, oy, ox}),
                                            naive_pool(x, kind, o, n, c, oy, ox), 1e-6);
    uz_ctx_free(ctx);
}

START_TEST(test_pool_values)
{
    for (int k = POOL_MAX; k <= POOL_AVG; k++) {
        check_pool_values((pool_kind)k, (int64_t[]){2, 3, 7, 6}, (uz_pool2d_opts){3, 3, 2, 2, 1, 1}, 80);
        check_pool_values((pool_kind)k, (int64_t[]){2, 2, 6, 5}, (uz_pool2d_opts){.kernel_h = 2, .kernel_w = 2}, 81);
        check_pool_values((pool_kind)k, (int64_t[]){1, 2, 5, 8}, (uz_pool2d_opts){2, 4, 1, 3, 1, 2}, 82);
        check_pool_values((pool_kind)k, (int64_t[]){4, 16, 32, 32}, (uz_pool2d_opts){3, 3, 2, 2, 1, 1}, 83);
    }
    /* count_include_pad: the corner window of a 3x3, pad 1 pool holds 4 real ones of 9 */
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_tensor_full(ctx, 4, (int64_t[]){1, 1, 4, 4}, 1.0f);
    uz_tensor *y = uz_avg_pool2d(ctx, x, (uz_pool2d_opts){3, 3, 2, 2, 1, 1});
    UZ_CK_NOTNULL(y);
    ck_assert_float_eq_tol(uz_tensor_get(y, (int64_t[]){0, 0, 0, 0}), 4.0f / 9.0f, 1e-6f);
    ck_assert_float_eq_tol(uz_tensor_get(y, (int64_t[]){0, 0, 1, 1}), 1.0f, 1e-6f);
    uz_ctx_free(ctx);
}
END_TEST

/* Tied windows send the whole gradient to their first maximum (row-major). */
START_TEST(test_max_pool_first_max)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* Overlapping 2x2 windows at stride 1 over a 3x3 plane holding one value. */
    uz_tensor *x = uz_tensor_full(ctx, 4, (int64_t[]){1, 1, 3, 3}, 0.5f);
    x->requires_grad = true;
    uz_tensor *y = uz_max_pool2d(ctx, x, (uz_pool2d_opts){2, 2, 1, 1, 0, 0});
    UZ_CK_NOTNULL(y);
    UZ_CK_OK(uz_backward_with(ctx, y, (float[]){1.0f, 2.0f, 3.0f, 4.0f}));
    const float want[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(x->grad->data[i], want[i]);
    /* Padding never wins, even over negative values. */
    uz_tensor *neg = uz_tensor_full(ctx, 4, (int64_t[]){1, 1, 2, 2}, -3.0f);
    uz_tensor *yn = uz_max_pool2d(ctx, neg, (uz_pool2d_opts){3, 3, 1, 1, 1, 1});
    UZ_CK_NOTNULL(yn);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(yn->data[i], -3.0f);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct pool_case {
    pool_kind kind;
    uz_pool2d_opts opts;
    int out_h, out_w;
    bool adaptive, transpose;
} pool_case;

static uz_tensor *f_pool(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const pool_case *pc = user;
    uz_tensor *x = pc->transpose ? uz_transpose(ctx, in[0], 2, 3) : in[0];
    if (pc->adaptive)
        return uz_adaptive_avg_pool2d(ctx, x, pc->out_h, pc->out_w);
    return pc->kind == POOL_MAX ? uz_max_pool2d(ctx, x, pc->opts) : uz_avg_pool2d(ctx, x, pc->opts);
}

/* A leaf holding a shuffled ramp: no two values within 0.05, so the
 * finite-difference steps (1e-3) never change which element is a maximum. */
static uz_tensor *distinct_leaf(uz_ctx *ctx, const int64_t *shape, uint64_t seed)
{
    uz_tensor *t = uz_test_rand(ctx, 4, shape, seed, 0, 1);
    int64_t n = uz_tensor_numel(t);
    float *key = malloc(sizeof(float) * (size_t)n);
    memcpy(key, t->data, sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t rank = 0;
        for (int64_t j = 0; j < n; j++)
            rank += key[j] < key[i] || (key[j] == key[i] && j < i);
        t->data[i] = (float)rank * 0.05f - (float)n * 0.025f;
    }
    free(key);
    return t;
}

static void gradcheck_pool(const int64_t *xs, pool_case pc, uint64_t seed, const char *what)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1] = {pc.kind == POOL_MAX && !pc.adaptive ? distinct_leaf(ctx, xs, seed)
                                                             : uz_test_rand(ctx, 4, xs, seed, -1, 1)};
    ck_assert_msg(uz_gradcheck(in, 1, f_pool, &pc, UZ_GC_DEFAULT, msg, sizeof msg), "%s: %s", what, msg);
    uz_ctx_free(ctx);
}

START_TEST(test_pool_grad)
{
    for (int k = POOL_MAX; k <= POOL_AVG; k++) {
        pool_kind kind = (pool_kind)k;
        gradcheck_pool((int64_t[]){2, 2, 5, 5}, (pool_case){.kind = kind, .opts = {3, 3, 2, 2, 1, 1}}, 90, "3x3 s2 p1");
        gradcheck_pool((int64_t[]){2, 2, 4, 6}, (pool_case){.kind = kind, .opts = {.kernel_h = 2, .kernel_w = 2}}, 91, "2x2");
        gradcheck_pool((int64_t[]){1, 3, 6, 5}, (pool_case){.kind = kind, .opts = {3, 2, 1, 2, 1, 0}, .transpose = true},
                       92, "overlapping, transposed x");
    }
    gradcheck_pool((int64_t[]){2, 2, 5, 5}, (pool_case){.adaptive = true, .out_h = 3, .out_w = 3}, 93, "adaptive 5->3");
    gradcheck_pool((int64_t[]){1, 2, 7, 4}, (pool_case){.adaptive = true, .out_h = 3, .out_w = 6, .transpose = true},
                   94, "adaptive 4x7->3x6, transposed x");
}
END_TEST

START_TEST(test_adaptive_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    /* 5 -> 3: rows and columns [0,2), [1,4), [3,5) */
    float v[25];
    for (int i = 0; i < 25; i++)
        v[i] = (float)i;
    uz_tensor *x = uz_tensor_from(ctx, 4, (int64_t[]){1, 1, 5, 5}, v);
    uz_tensor *y = uz_adaptive_avg_pool2d(ctx, x, 3, 3);
    UZ_CK_NOTNULL(y);
    const int lo[3] = {0, 1, 3}, hi[3] = {2, 4, 5};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double sum = 0;
            for (int r = lo[a]; r < hi[a]; r++)
                for (int c = lo[b]; c < hi[b]; c++)
                    sum += v[r * 5 + c];
            ck_assert_double_eq_tol(y->data[a * 3 + b], sum / ((hi[a] - lo[a]) * (hi[b] - lo[b])), 1e-5);
        }
    /* 7x5 -> 3x2 and an upsampling 2x3 -> 3x4 against the window rule */
    const int64_t shapes[2][4] = {{2, 3, 7, 5}, {1, 2, 2, 3}};
    const int outs[2][2] = {{3, 2}, {3, 4}};
    for (int t = 0; t < 2; t++) {
        uz_tensor *xt = uz_test_rand(ctx, 4, shapes[t], 95 + (uint64_t)t, -1, 1);
        uz_tensor *yt = uz_adaptive_avg_pool2d(ctx, xt, outs[t][0], outs[t][1]);
        UZ_CK_NOTNULL(yt);
        int64_t h = shapes[t][2], w = shapes[t][3], oh = outs[t][0], ow = outs[t][1];
        for (int64_t n = 0; n < shapes[t][0]; n++)
            for (int64_t c = 0; c < shapes[t][1]; c++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        int64_t r0 = i * h / oh, r1 = ((i + 1) * h + oh - 1) / oh;
                        int64_t c0 = j * w / ow, c1 = ((j + 1) * w + ow - 1) / ow;
                        double sum = 0;
                        for (int64_t r = r0; r < r1; r++)
                            for (int64_t q = c0; q < c1; q++)
                                sum += uz_tensor_get(xt, (int64_t[]){n, c, r, q});
                        ck_assert_double_eq_tol(uz_tensor_get(yt, (int64_t[]){n, c, i, j}),
                                                sum / (double)((r1 - r0) * (c1 - c0)), 1e-6);
                    }
    }
    uz_ctx_free(ctx);
}
END_TEST

static void expect_error(const void *result, const char *a, const char *b)
{
    ck_assert_ptr_null(result);
    ck_assert_int_eq(uz_error_status(), UZ_ERR_ARG);
    ck_assert_msg(strstr(uz_error_message(), a) != NULL, "'%s' not in: %s", a, uz_error_message());
    if (b)
        ck_assert_msg(strstr(uz_error_message(), b) != NULL, "'%s' not in: %s", b, uz_error_message());
}

START_TEST(test_conv_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *x = uz_test_rand(ctx, 4, (int64_t[]){2, 4, 5, 5}, 1, -1, 1);
    uz_tensor *w3 = uz_test_rand(ctx, 4, (int64_t[]){6, 3, 3, 3}, 2, -1, 1);
    uz_tensor *w2 = uz_test_rand(ctx, 4, (int64_t[]){6, 2, 3, 3}, 3, -1, 1);
    uz_tensor *b5 = uz_test_rand(ctx, 1, (int64_t[]){5}, 4, -1, 1);
    expect_error(uz_conv2d(ctx, x, w3, NULL, (uz_conv2d_opts){0}), "[2,4,5,5]", "[6,3,3,3]");
    /* right for groups=2, wrong for the default groups=1 and for groups=4 */
    ck_assert_ptr_nonnull(uz_conv2d(ctx, x, w2, NULL, (uz_conv2d_opts){.groups = 2}));
    expect_error(uz_conv2d(ctx, x, w2, NULL, (uz_conv2d_opts){0}), "conv2d", "groups=1");
    expect_error(uz_conv2d(ctx, x, w2, NULL, (uz_conv2d_opts){.groups = 4}), "[6,2,3,3]", "groups=4");
    expect_error(uz_conv2d(ctx, x, w2, b5, (uz_conv2d_opts){.groups = 2}), "bias [5]", "[6,2,3,3]");
    uz_tensor *big = uz_test_rand(ctx, 4, (int64_t[]){2, 4, 7, 3}, 5, -1, 1);
    expect_error(uz_conv2d(ctx, x, big, NULL, (uz_conv2d_opts){.pad_h = 0}), "larger than input [2,4,5,5]", "7x3");
    ck_assert_ptr_nonnull(uz_conv2d(ctx, x, big, NULL, (uz_conv2d_opts){.pad_h = 1}));
    uz_tensor *x3 = uz_test_rand(ctx, 3, (int64_t[]){4, 5, 5}, 6, -1, 1);
    expect_error(uz_conv2d(ctx, x3, w2, NULL, (uz_conv2d_opts){0}), "[N,C,H,W]", "[4,5,5]");
    expect_error(uz_conv2d(ctx, x, w2, NULL, (uz_conv2d_opts){.stride_h = -1}), "conv2d", "negative");
    ck_assert_ptr_null(uz_conv2d(ctx, NULL, w2, NULL, (uz_conv2d_opts){0}));
    ck_assert_ptr_null(uz_conv2d(ctx, x, NULL, NULL, (uz_conv2d_opts){0}));

    expect_error(uz_max_pool2d(ctx, x, (uz_pool2d_opts){3, 3, 1, 1, 2, 2}), "max_pool2d", "pad 2,2");
    expect_error(uz_avg_pool2d(ctx, x, (uz_pool2d_opts){7, 2, 1, 1, 0, 0}), "avg_pool2d", "[2,4,5,5]");
    expect_error(uz_max_pool2d(ctx, x3, (uz_pool2d_opts){2, 2, 0, 0, 0, 0}), "max_pool2d", "[4,5,5]");
    expect_error(uz_adaptive_avg_pool2d(ctx, x, 0, 3), "adaptive_avg_pool2d", "[2,4,5,5]");
    ck_assert_ptr_null(uz_max_pool2d(ctx, NULL, (uz_pool2d_opts){2, 2, 0, 0, 0, 0}));
    ck_assert_ptr_null(uz_avg_pool2d(ctx, NULL, (uz_pool2d_opts){2, 2, 0, 0, 0, 0}));
    ck_assert_ptr_null(uz_adaptive_avg_pool2d(ctx, NULL, 1, 1));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_conv_values);
    tcase_add_test(tc, test_conv_grad);
    tcase_add_test(tc, test_conv_deterministic);
    tcase_add_test(tc, test_pool_values);
    tcase_add_test(tc, test_max_pool_first_max);
    tcase_add_test(tc, test_pool_grad);
    tcase_add_test(tc, test_adaptive_values);
    tcase_add_test(tc, test_conv_errors);
    suite_add_tcase(s, tc);
    return s;
}
