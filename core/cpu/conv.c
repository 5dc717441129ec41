/* 2-D convolution on the CPU: im2col + OpenBLAS GEMM forward, GEMM + col2im
 * for the input gradient, per-sample GEMMs in sample order for the weight
 * gradient. 1x1 stride-1 unpadded convolutions use the input as its own
 * column matrix. The family's table, pooling included (cpu/pool.c), is here. */
#include "../kernels_conv.h"
#include "kernels_cpu.h"
#include "pool.h"

#include <omp.h>
#include <string.h>

/* Below this many multiply-adds (or copied elements) threads cost more than they save. */
enum { PAR_MIN_WORK = 1 << 16 };

/* Largest sum of per-thread column buffers (floats) for running one sample per
 * thread. The buffers live in the step arena until its reset, so they are kept
 * small; problems whose columns are larger give GEMM enough work to thread well
 * by itself, one sample at a time. */
static const int64_t PAR_MAX_WORKSPACE = (int64_t)1 << 22;

static bool is_pointwise(const uz_conv2d_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
           g->pad_w == 0;
}

/* One sample's column matrix: [c * kh * kw, oh * ow]; group gi owns a
 * contiguous block of rows, so each group's GEMM reads a plain sub-matrix. */
static int64_t col_size(const uz_conv2d_geom *g)
{
    return g->c * g->kh * g->kw * g->oh * g->ow;
}

/* Samples processed at once, one per thread with a serial GEMM inside (the
 * OpenMP build of OpenBLAS runs serially within a parallel region); 1 means
 * samples go one after another and GEMM threads itself. Only with at least
 * as many samples as threads does one-per-thread keep every thread busy. */
static int64_t batch_threads(const uz_conv2d_geom *g)
{
    int64_t nt = omp_get_max_threads();
    int64_t macs = g->n * (g->o / g->groups) * col_size(g);
    if (nt < 2 || g->n < nt || macs < PAR_MIN_WORK || nt * col_size(g) > PAR_MAX_WORKSPACE)
        return 1;
    return nt;
}

static int64_t conv2d_workspace(const uz_conv2d_geom *g)
{
    return is_pointwise(g) ? 0 : batch_threads(g) * col_size(g);
}

/* Output positions [lo, hi) along one axis whose input index o*stride - pad + k
 * falls inside [0, size). */
static void valid_range(int64_t size, int64_t out, int64_t stride, int64_t pad, int64_t k,
                        int64_t *lo, int64_t *hi)
{
    int64_t off = pad - k; /* input index = o * stride - off */
    int64_t a = off > 0 ? (off + stride - 1) / stride : 0;
    int64_t b = size + off > 0 ? (size - 1 + off) / stride + 1 : 0;
    if (b > out)
        b = out;
    if (a > b)
        a = b;
    *lo = a;
    *hi = b;
}

static void im2col(const uz_conv2d_geom *g, const float *x, float *col, bool par)
{
    int64_t H = g->h, W = g->w, KH = g->kh, KW = g->kw, OH = g->oh, OW = g->ow;
    int64_t sh = g->stride_h, sw = g->stride_w, rows = g->c * KH * KW;
#pragma omp parallel for schedule(static) if (par && rows * OH * OW >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / (KH * KW), i = (r / KW) % KH, j = r % KW;
        int64_t lo, hi;
        valid_range(W, OW, sw, g->pad_w, j, &lo, &hi);
        int64_t off = g->pad_w - j;
        const float *plane = x + c * H * W;
        float *dst = col + r * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            int64_t iy = oy * sh - g->pad_h + i;
            float *d = dst + oy * OW;
            if (iy < 0 || iy >= H) {
                memset(d, 0, sizeof(float) * (size_t)OW);
                continue;
            }
            const float *row = plane + iy * W;
            for (int64_t ox = 0; ox < lo; ox++)
                d[ox] = 0.0f;
            if (sw == 1)
                memcpy(d + lo, row + lo - off, sizeof(float) * (size_t)(hi - lo));
            else
                for (int64_t ox = lo; ox < hi; ox++)
                    d[ox] = row[ox * sw - off];
            for (int64_t ox = hi; ox < OW; ox++)
                d[ox] = 0.0f;
        }
    }
}

/* dx (one sample) += the column matrix folded back onto the image; each
 * channel plane is summed by one thread in a fixed order. */
static void col2im_add(const uz_conv2d_geom *g, const float *col, float *dx, bool par)
{
    int64_t H = g->h, W = g->w, KH = g->kh, KW = g->kw, OH = g->oh, OW = g->ow;
    int64_t sh = g->stride_h, sw = g->stride_w;
#pragma omp parallel for schedule(static) if (par && g->c * KH * KW * OH * OW >= PAR_MIN_WORK)
    for (int64_t c = 0; c < g->c; c++) {
        float *plane = dx + c * H * W;
        for (int64_t i = 0; i < KH; i++) {
            for (int64_t j = 0; j < KW; j++) {
                const float *src = col + ((c * KH + i) * KW + j) * OH * OW;
                int64_t lo, hi;
                valid_range(W, OW, sw, g->pad_w, j, &lo, &hi);
                int64_t off = g->pad_w - j;
                for (int64_t oy = 0; oy < OH; oy++) {
                    int64_t iy = oy * sh - g->pad_h + i;
                    if (iy < 0 || iy >= H)
                        continue;
                    float *row = plane + iy * W;
                    const float *s = src + oy * OW;
                    for (int64_t ox = lo; ox < hi; ox++)
                        row[ox * sw - off] += s[ox];
                }
            }
        }
    }
}

static void forward_sample(const uz_conv2d_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *col, bool par)
{
    int64_t og = g->o / g->groups, k = (g->c / g->groups) * g->kh * g->kw, p = g->oh * g->ow;
    const float *src = x;
    if (!is_pointwise(g)) {
        im2col(g, x, col, par);
        src = col;
    }
    if (bias)
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t i = 0; i < p; i++)
                y[o * p + i] = bias[o];
    for (int64_t gi = 0; gi < g->groups; gi++)
        uz_cpu_kernels_blas.gemm(false, false, og, p, k, 1.0f, w + gi * og * k, k,
                                 src + gi * k * p, p, bias ? 1.0f : 0.0f, y + gi * og * p, p);
}

static void conv2d_forward(const uz_conv2d_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *work)
{
    int64_t xs = g->c * g->h * g->w, ys = g->o * g->oh * g->ow, cs = col_size(g);
    int64_t nt = batch_threads(g);
    if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads((int)nt)
        for (int64_t n = 0; n < g->n; n++) {
            float *col = work ? work + omp_get_thread_num() * cs : NULL;
            forward_sample(g, x + n * xs, w, bias, y + n * ys, col, false);
        }
    } else {
        for (int64_t n = 0; n < g->n; n++)
            forward_sample(g, x + n * xs, w, bias, y + n * ys, work, true);
    }
}

static void bias_grad(const uz_conv2d_geom *g, const float *dy, float *db)
{
    int64_t p = g->oh * g->ow;
#pragma omp parallel for schedule(static) if (g->n * g->o * p >= PAR_MIN_WORK)
    for (int64_t o = 0; o < g->o; o++) {
        double acc = 0.0;
        for (int64_t n = 0; n < g->n; n++) {
            const float *plane = dy + (n * g->o + o) * p;
            for (int64_t i = 0; i < p; i++)
                acc += (double)plane[i];
        }
        db[o] += (float)acc;
    }
}

static void conv2d_backward(const uz_conv2d_geom *g, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *db, float *work)
{
    if (db)
        bias_grad(g, dy, db);
    if (!dx && !dw)
        return;
    int64_t og = g->o / g->groups, k = (g->c / g->groups) * g->kh * g->kw, p = g->oh * g->ow;
    int64_t xs = g->c * g->h * g->w, ys = g->o * p, cs = col_size(g);
    bool pointwise = is_pointwise(g);
    int64_t nt = batch_threads(g);
    const struct uz_kernels_blas *blas = &uz_cpu_kernels_blas;
    /* Chunks of nt samples: the input gradient and the weight gradient's
     * columns are built one sample per thread, then the weight gradient takes
     * the chunk's samples in order, so its sum does not depend on nt. */
    for (int64_t n0 = 0; n0 < g->n; n0 += nt) {
        int64_t nb = g->n - n0 < nt ? g->n - n0 : nt;
        /* A pointwise weight gradient reads x directly: no per-sample pass then. */
        int64_t np = dx || !pointwise ? nb : 0;
#pragma omp parallel for schedule(static) num_threads((int)nt) if (nt > 1)
        for (int64_t t = 0; t < np; t++) {
            int64_t n = n0 + t;
            const float *dyn = dy + n * ys;
            if (pointwise) {
                for (int64_t gi = 0; gi < g->groups; gi++)
                    blas->gemm(true, false, k, p, og, 1.0f, w + gi * og * k, k,
                               dyn + gi * og * p, p, 1.0f, dx + n * xs + gi * k * p, p);
                continue;
            }
            float *col = work + t * cs;
            if (dx) {
                for (int64_t gi = 0; gi < g->groups; gi++)
                    blas->gemm(true, false, k, p, og, 1.0f, w + gi * og * k, k,
                               dyn + gi * og * p, p, 0.0f, col + gi * k * p, p);
                col2im_add(g, col, dx + n * xs, nt == 1);
            }
            if (dw)
                im2col(g, x + n * xs, col, nt == 1);
        }
        if (!dw)
            continue;
        for (int64_t t = 0; t < nb; t++) {
            int64_t n = n0 + t;
            const float *src = pointwise ? x + n * xs : work + t * cs;
            for (int64_t gi = 0; gi < g->groups; gi++)
                blas->gemm(false, true, og, k, p, 1.0f, dy + n * ys + gi * og * p, p,
                           src + gi * k * p, p, 1.0f, dw + gi * og * k, k);
        }
    }
}

const struct uz_kernels_conv uz_cpu_kernels_conv = {
    .conv2d_workspace = conv2d_workspace,
    .conv2d_forward = conv2d_forward,
    .conv2d_backward = conv2d_backward,
    .max_pool2d_forward = uz_cpu_max_pool2d_forward,
    .max_pool2d_backward = uz_cpu_max_pool2d_backward,
    .avg_pool2d_forward = uz_cpu_avg_pool2d_forward,
    .avg_pool2d_backward = uz_cpu_avg_pool2d_backward,
    .adaptive_avg_pool2d_forward = uz_cpu_adaptive_avg_pool2d_forward,
    .adaptive_avg_pool2d_backward = uz_cpu_adaptive_avg_pool2d_backward,
};
