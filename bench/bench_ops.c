/* Op benchmarks: forward + backward of the ops a transformer block and a
 * small CNN spend their time in, a full block training step, and OpenBLAS
 * running the same GEMMs (the ceiling an op built on GEMM can reach) plus a
 * large square SGEMM (the machine's peak). One JSON line per measurement on
 * stdout; bench/torch_ops.py prints the same lines for PyTorch and
 * bench/run.sh puts them side by side.
 *
 * Timing: WARMUP untimed iterations, then `reps` single iterations each timed
 * with CLOCK_MONOTONIC; the median is reported (and the minimum, which is the
 * better estimate when other processes share the cores).
 *
 * FLOP counts (the same in torch_ops.py): 2 m n k per GEMM; a linear layer's
 * forward + backward is 3x its forward GEMM (dx and dw are one GEMM each);
 * attention 4 B H T T D forward (q k^T and p v, counted dense even when
 * causal), twice that backward; conv2d 2 N O OH OW C KH KW forward, 3x that
 * for forward + backward; layer norm a nominal 24 flops per element forward
 * + backward; the block step the sum of its linears and attention (elementwise
 * work, layer norms and the update uncounted).
 *
 * usage: bench_ops [reps] [case-substring] [impl: unizoo or openblas, for profiling one] */
#include "bench/support/bench_time.h"
#include "core/unizoo.h"
#include "models/transformer.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WARMUP = 3 };

/* The benchmarked transformer block: batch 32, seq 64, width 256, 4 heads of
 * 64, MLP 1024 (2048 token rows). */
enum { BB = 32, BT = 64, BC = 256, BH = 4, BD = BC / BH, BMLP = 1024, ROWS = BB * BT };

/* Conv case: N 32, 64 -> 64 channels, 32x32, 3x3, padding 1. */
enum { CN = 32, CC = 64, CO = 64, CHW = 32, CK = 3 };

typedef struct linear_shape {
    const char *name;
    int64_t in, out;
} linear_shape;

static const linear_shape LINEARS[] = {
    {"linear_qkv", BC, 3 * BC},
    {"linear_proj", BC, BC},
    {"linear_fc1", BC, BMLP},
    {"linear_fc2", BMLP, BC},
};
enum { N_LINEARS = (int)(sizeof LINEARS / sizeof LINEARS[0]) };

static int g_failed;
static const char *g_impl; /* run only this implementation's measurements (NULL: all) */

typedef bool (*step_fn)(void *state);

/* Runs warm-up and timed repeats of one step and prints its JSON line. A step
 * that fails (an op returned NULL) stops the case and is reported. */
static void measure(const char *impl, const char *name, double gflop, step_fn step, void *state,
                    int reps)
{
    if (g_impl && strcmp(g_impl, impl) != 0)
        return;
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!t) {
        fprintf(stderr, "bench: out of memory\n");
        g_failed = 1;
        return;
    }
    for (int i = 0; i < WARMUP + reps; i++) {
        double t0 = bench_now_ms();
        if (!step(state)) {
            fprintf(stderr, "bench %s/%s: %s\n", impl, name, uz_error_message());
            printf("{\"impl\":\"%s\",\"case\":\"%s\",\"error\":\"step failed\"}\n", impl, name);
            g_failed = 1;
            free(t);
            return;
        }
        if (i >= WARMUP)
            t[i - WARMUP] = bench_now_ms() - t0;
    }
    bench_sort(t, reps);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    printf("{\"impl\":\"%s\",\"case\":\"%s\",\"ms\":%.4f,\"ms_min\":%.4f,\"gflop\":%.6f,"
           "\"gflops\":%.2f,\"reps\":%d}\n",
           impl, name, med, t[0], gflop, gflop / (med * 1e-3), reps);
    fflush(stdout);
    free(t);
}

static float *randn(int64_t n, uint64_t stream)
{
    float *p = uz_malloc(sizeof(float) * (size_t)n, "bench buffer");
    if (p)
        uz_rng_fill_normal(p, n, 1234, stream, 0, 0.0f, 1.0f);
    return p;
}

static double linear_gflop(int64_t rows, int64_t in, int64_t out)
{
    return 3.0 * 2.0 * (double)rows * (double)in * (double)out * 1e-9;
}

static double attention_gflop(void) { return 3.0 * 4.0 * BB * BH * BT * BT * BD * 1e-9; }

/* ---- OpenBLAS ceilings ------------------------------------------------------ */

static void sgemm(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b,
                  int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* The three GEMMs of a linear layer as uz_linear issues them: y = x w^T,
 * dx += dy w, dw += dy^T x. */
typedef struct blas_linear {
    int rows, in, out;
    float *x, *w, *y, *dy, *dx, *dw;
} blas_linear;

static void blas_linear_run(const blas_linear *s)
{
    sgemm(false, true, s->rows, s->out, s->in, s->x, s->in, s->w, s->in, 0.0f, s->y, s->out);
    sgemm(false, false, s->rows, s->in, s->out, s->dy, s->out, s->w, s->in, 1.0f, s->dx, s->in);
    sgemm(true, false, s->out, s->in, s->rows, s->dy, s->out, s->x, s->in, 1.0f, s->dw, s->in);
}

static bool blas_linear_step(void *state)
{
    blas_linear_run(state);
    return true;
}

static bool blas_linear_init(blas_linear *s, int64_t rows, int64_t in, int64_t out)
{
    s->rows = (int)rows;
    s->in = (int)in;
    s->out = (int)out;
    s->x = randn(rows * in, 1);
    s->w = randn(out * in, 2);
    s->y = randn(rows * out, 3);
    s->dy = randn(rows * out, 4);
    s->dx = randn(rows * in, 5);
    s->dw = randn(out * in, 6);
    return s->x && s->w && s->y && s->dy && s->dx && s->dw;
}

static void blas_linear_free(blas_linear *s)
{
    uz_free(s->x);
    uz_free(s->w);
    uz_free(s->y);
    uz_free(s->dy);
    uz_free(s->dx);
    uz_free(s->dw);
}

/* The six 64x64x64 GEMMs per (batch, head) of attention forward + backward,
 * (batch, head) pairs split over threads with single-threaded GEMMs inside
 * (OpenBLAS runs serially when called from a parallel region). */
typedef struct blas_attention {
    float *q, *k, *v, *s, *o, *dout, *ds, *dq, *dk, *dv;
} blas_attention;

static void blas_attention_run(const blas_attention *a)
{
    const int64_t hd = (int64_t)BT * BD, tt = (int64_t)BT * BT;
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < (int64_t)BB * BH; bh++) {
        const float *q = a->q + bh * hd, *k = a->k + bh * hd, *v = a->v + bh * hd;
        const float *dout = a->dout + bh * hd;
        float *s = a->s + bh * tt, *ds = a->ds + bh * tt, *o = a->o + bh * hd;
        float *dq = a->dq + bh * hd, *dk = a->dk + bh * hd, *dv = a->dv + bh * hd;
        sgemm(false, true, BT, BT, BD, q, BD, k, BD, 0.0f, s, BT);    /* s = q k^T */
        sgemm(false, false, BT, BD, BT, s, BT, v, BD, 0.0f, o, BD);   /* o = p v */
        sgemm(false, true, BT, BT, BD, dout, BD, v, BD, 0.0f, ds, BT); /* dp = do v^T */
        sgemm(true, false, BT, BD, BT, s, BT, dout, BD, 1.0f, dv, BD); /* dv += p^T do */
        sgemm(false, false, BT, BD, BT, ds, BT, k, BD, 1.0f, dq, BD); /* dq += ds k */
        sgemm(true, false, BT, BD, BT, ds, BT, q, BD, 1.0f, dk, BD);  /* dk += ds^T q */
    }
}

static bool blas_attention_step(void *state)
{
    blas_attention_run(state);
    return true;
}

static bool blas_attention_init(blas_attention *a)
{
    int64_t nh = (int64_t)BB * BH * BT * BD, ns = (int64_t)BB * BH * BT * BT;
    float **hd[] = {&a->q, &a->k, &a->v, &a->o, &a->dout, &a->dq, &a->dk, &a->dv};
    bool ok = true;
    for (size_t i = 0; i < sizeof hd / sizeof hd[0]; i++)
        ok = (*hd[i] = randn(nh, 10 + i)) && ok;
    ok = (a->s = randn(ns, 20)) && ok;
    ok = (a->ds = randn(ns, 21)) && ok;
    return ok;
}

static void blas_attention_free(blas_attention *a)
{
    float *bufs[] = {a->q, a->k, a->v, a->s, a->o, a->dout, a->ds, a->dq, a->dk, a->dv};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        uz_free(bufs[i]);
}

/* im2col convolution's GEMMs with the batch folded into N (one large GEMM
 * each: y = w col, dw += dy col^T, dcol = w^T dy), the best layout for it. */
typedef struct blas_conv {
    float *w, *col, *y, *dy, *dw, *dcol;
} blas_conv;

enum { CONV_K = CC * CK * CK, CONV_P = CN * CHW * CHW };

static bool blas_conv_step(void *state)
{
    blas_conv *c = state;
    sgemm(false, false, CO, CONV_P, CONV_K, c->w, CONV_K, c->col, CONV_P, 0.0f, c->y, CONV_P);
    sgemm(false, true, CO, CONV_K, CONV_P, c->dy, CONV_P, c->col, CONV_P, 1.0f, c->dw, CONV_K);
    sgemm(true, false, CONV_K, CONV_P, CO, c->w, CONV_K, c->dy, CONV_P, 0.0f, c->dcol, CONV_P);
    return true;
}

typedef struct blas_square {
    float *a, *b, *c;
    int n;
} blas_square;

static bool blas_square_step(void *state)
{
    blas_square *s = state;
    sgemm(false, false, s->n, s->n, s->n, s->a, s->n, s->b, s->n, 0.0f, s->c, s->n);
    return true;
}

/* ---- unizoo ops ------------------------------------------------------------ */

typedef struct op_state {
    uz_ctx *ctx;
    uz_params *params;
    uz_tensor *w, *b;
    float *x[3];      /* inputs (data outlives the step) */
    int64_t xshape[UZ_MAX_DIMS];
    int xndim;
    float *dy;        /* upstream gradient of the output */
    int64_t out_dim;  /* linear */
} op_state;

static uz_tensor *leaf(op_state *s, int i)
{
    uz_tensor *t = uz_tensor_wrap(s->ctx, s->xndim, s->xshape, s->x[i]);
    if (t)
        uz_tensor_set_requires_grad(t, true);
    return t;
}

static bool finish(op_state *s, uz_tensor *y)
{
    return y && uz_backward_with(s->ctx, y, s->dy) == UZ_OK;
}

static bool linear_step(void *state)
{
    op_state *s = state;
    uz_ctx_reset(s->ctx);
    return finish(s, uz_linear(s->ctx, leaf(s, 0), s->w, s->b));
}

static bool attention_step(void *state)
{
    op_state *s = state;
    uz_ctx_reset(s->ctx);
    return finish(s, uz_attention(s->ctx, leaf(s, 0), leaf(s, 1), leaf(s, 2), NULL, true, 0.0f));
}

static bool layer_norm_step(void *state)
{
    op_state *s = state;
    uz_ctx_reset(s->ctx);
    return finish(s, uz_layer_norm(s->ctx, leaf(s, 0), s->w, s->b, 1e-5f));
}

static bool conv_step(void *state)
{
    op_state *s = state;
    uz_ctx_reset(s->ctx);
    uz_conv2d_opts o = {.pad_h = 1, .pad_w = 1};
    return finish(s, uz_conv2d(s->ctx, leaf(s, 0), s->w, s->b, o));
}

/* Parameters w (wshape) and b ([bn], if bn > 0), inputs of xshape, and an
 * upstream gradient of dy_numel elements. */
static bool op_init(op_state *s, int xndim, const int64_t *xshape, int n_x, int wndim,
                    const int64_t *wshape, int64_t bn, float w_init, int64_t dy_numel)
{
    memset(s, 0, sizeof *s);
    s->ctx = uz_ctx_new(0, 0);
    s->params = uz_params_new();
    if (!s->ctx || !s->params)
        return false;
    s->w = uz_params_add(s->params, "weight", wndim, wshape);
    s->b = bn > 0 ? uz_params_add(s->params, "bias", 1, &bn) : NULL;
    if (!s->w || (bn > 0 && !s->b) || uz_params_finalize(s->params) != UZ_OK)
        return false;
    if (w_init > 0.0f)
        uz_param_init_uniform(s->w, 7, 0, -w_init, w_init);
    else
        uz_param_init_const(s->w, 1.0f);
    s->xndim = xndim;
    int64_t n = 1;
    for (int i = 0; i < xndim; i++) {
        s->xshape[i] = xshape[i];
        n *= xshape[i];
    }
    for (int i = 0; i < n_x; i++)
        if (!(s->x[i] = randn(n, 30 + (uint64_t)i)))
            return false;
    s->dy = randn(dy_numel, 40);
    return s->dy != NULL;
}

static void op_free(op_state *s)
{
    uz_ctx_free(s->ctx);
    uz_params_free(s->params);
    for (int i = 0; i < 3; i++)
        uz_free(s->x[i]);
    uz_free(s->dy);
}

/* ---- transformer block training step ---------------------------------------- */

typedef struct block_state {
    uz_ctx *ctx;
    uz_params *params;
    uz_transformer_block block;
    float *x, *g; /* input and the weights of the loss mean(y * g) */
} block_state;

static bool block_step(void *state)
{
    block_state *s = state;
    uz_ctx *ctx = s->ctx;
    uz_ctx_reset(ctx);
    const int64_t shape[3] = {BB, BT, BC};
    uz_tensor *x = uz_tensor_wrap(ctx, 3, shape, s->x);
    uz_tensor *g = uz_tensor_wrap(ctx, 3, shape, s->g);
    uz_tensor *y = uz_transformer_block_forward(ctx, &s->block, x, NULL, true, true);
    uz_tensor *loss = uz_mean(ctx, uz_mul(ctx, y, g), NULL, 0, false);
    if (!loss || uz_backward(ctx, loss) != UZ_OK)
        return false;
    /* Plain SGD, then zero-grad, as torch.optim.SGD + zero_grad. */
    float *p = uz_params_data(s->params);
    const float *dp = uz_params_grad(s->params);
    int64_t n = uz_params_numel(s->params);
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        p[i] -= 1e-3f * dp[i];
    uz_params_zero_grad(s->params);
    return true;
}

/* The block's GEMMs through OpenBLAS: its four linear layers and attention. */
typedef struct blas_block {
    blas_linear lin[N_LINEARS];
    blas_attention att;
} blas_block;

static bool blas_block_step(void *state)
{
    blas_block *s = state;
    for (int i = 0; i < N_LINEARS; i++)
        blas_linear_run(&s->lin[i]);
    blas_attention_run(&s->att);
    return true;
}

static void bench_block(int reps)
{
    double gf = attention_gflop();
    for (int i = 0; i < N_LINEARS; i++)
        gf += linear_gflop(ROWS, LINEARS[i].in, LINEARS[i].out);

    block_state s = {.ctx = uz_ctx_new(0, 0), .params = uz_params_new(),
                     .x = randn(ROWS * BC, 50), .g = randn(ROWS * BC, 51)};
    uz_transformer_config cfg = {.width = BC, .heads = BH, .mlp_hidden = BMLP, .pre_ln = true,
                                 .gelu = UZ_GELU_ERF};
    if (s.ctx && s.params && s.x && s.g &&
        uz_transformer_block_declare(&s.block, s.params, "", &cfg) == UZ_OK &&
        uz_params_finalize(s.params) == UZ_OK) {
        uz_transformer_block_init(&s.block, 1);
        measure("unizoo", "block", gf, block_step, &s, reps);
    } else {
        fprintf(stderr, "bench block: %s\n", uz_error_message());
        g_failed = 1;
    }
    uz_ctx_free(s.ctx);
    uz_params_free(s.params);
    uz_free(s.x);
    uz_free(s.g);

    blas_block bb;
    bool ok = blas_attention_init(&bb.att);
    for (int i = 0; i < N_LINEARS; i++)
        ok = blas_linear_init(&bb.lin[i], ROWS, LINEARS[i].in, LINEARS[i].out) && ok;
    if (ok)
        measure("openblas", "block", gf, blas_block_step, &bb, reps);
    for (int i = 0; i < N_LINEARS; i++)
        blas_linear_free(&bb.lin[i]);
    blas_attention_free(&bb.att);
}

static bool want(const char *only, const char *name) { return !only || strstr(name, only); }

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    const char *only = argc > 2 && argv[2][0] ? argv[2] : NULL;
    g_impl = argc > 3 ? argv[3] : NULL;
    if (reps < 1)
        reps = 1;
    printf("{\"impl\":\"unizoo\",\"info\":\"%d OpenMP threads, OpenBLAS %d threads (%s)\"}\n",
           omp_get_max_threads(), openblas_get_num_threads(), openblas_get_config());

    for (int i = 0; i < N_LINEARS; i++) {
        const linear_shape *l = &LINEARS[i];
        if (!want(only, l->name))
            continue;
        double gf = linear_gflop(ROWS, l->in, l->out);
        op_state s;
        int64_t xs[2] = {ROWS, l->in}, ws[2] = {l->out, l->in};
        if (op_init(&s, 2, xs, 1, 2, ws, l->out, 1.0f / sqrtf((float)l->in), ROWS * l->out))
            measure("unizoo", l->name, gf, linear_step, &s, reps);
        else
            g_failed = 1;
        op_free(&s);
        blas_linear bl;
        if (blas_linear_init(&bl, ROWS, l->in, l->out))
            measure("openblas", l->name, gf, blas_linear_step, &bl, reps);
        blas_linear_free(&bl);
    }

    if (want(only, "attention")) {
        op_state s;
        int64_t xs[4] = {BB, BH, BT, BD}, ws[1] = {1};
        if (op_init(&s, 4, xs, 3, 1, ws, 0, 1.0f, (int64_t)BB * BH * BT * BD))
            measure("unizoo", "attention", attention_gflop(), attention_step, &s, reps);
        else
            g_failed = 1;
        op_free(&s);
        blas_attention ba;
        if (blas_attention_init(&ba))
            measure("openblas", "attention", attention_gflop(), blas_attention_step, &ba, reps);
        blas_attention_free(&ba);
    }

    if (want(only, "layer_norm")) {
        op_state s;
        int64_t xs[2] = {ROWS, BC}, ws[1] = {BC};
        if (op_init(&s, 2, xs, 1, 1, ws, BC, 0.0f, ROWS * BC))
            measure("unizoo", "layer_norm", 24.0 * ROWS * BC * 1e-9, layer_norm_step, &s, reps);
        else
            g_failed = 1;
        op_free(&s);
    }

    if (want(only, "conv2d")) {
        double gf = 3.0 * 2.0 * CN * CO * CHW * CHW * (double)CC * CK * CK * 1e-9;
        op_state s;
        int64_t xs[4] = {CN, CC, CHW, CHW}, ws[4] = {CO, CC, CK, CK};
        if (op_init(&s, 4, xs, 1, 4, ws, CO, 1.0f / sqrtf((float)CONV_K),
                    (int64_t)CN * CO * CHW * CHW))
            measure("unizoo", "conv2d", gf, conv_step, &s, reps);
        else
            g_failed = 1;
        op_free(&s);
        blas_conv bc = {randn(CO * CONV_K, 1), randn((int64_t)CONV_K * CONV_P, 2),
                        randn((int64_t)CO * CONV_P, 3), randn((int64_t)CO * CONV_P, 4),
                        randn(CO * CONV_K, 5), randn((int64_t)CONV_K * CONV_P, 6)};
        if (bc.w && bc.col && bc.y && bc.dy && bc.dw && bc.dcol)
            measure("openblas", "conv2d", gf, blas_conv_step, &bc, reps);
        float *bufs[] = {bc.w, bc.col, bc.y, bc.dy, bc.dw, bc.dcol};
        for (size_t i = 0; i < 6; i++)
            uz_free(bufs[i]);
    }

    if (want(only, "block"))
        bench_block(reps);

    if (want(only, "sgemm_2048")) {
        blas_square sq = {randn(2048 * 2048, 1), randn(2048 * 2048, 2), randn(2048 * 2048, 3),
                          2048};
        if (sq.a && sq.b && sq.c)
            measure("openblas", "sgemm_2048", 2.0 * 2048.0 * 2048.0 * 2048.0 * 1e-9,
                    blas_square_step, &sq, reps / 2 > 3 ? reps / 2 : 3);
        uz_free(sq.a);
        uz_free(sq.b);
        uz_free(sq.c);
    }
    return g_failed;
}
