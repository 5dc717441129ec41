/* 2-D convolution on the CPU over OpenBLAS GEMMs, a sample at a time (one
 * per thread when there are enough), its output positions in blocks that
 * bound the column buffer:
 * - forward: im2col of a block, then y[:, block] = w col;
 * - input gradient: for stride 1 with at least "same" padding, the transposed
 *   convolution (dy correlated with the flipped kernel), an im2col of dy and a
 *   GEMM accumulating straight into dx, so there is no column matrix to zero
 *   and scatter back; otherwise dcol = w^T dy per block, folded back with
 *   col2im;
 * - weight gradient: the batch is cut into runs of consecutive samples fixed
 *   by the geometry; each run sums dy col^T of its samples in order into its
 *   own partial and the partials are added to dw in order, so threads take
 *   runs as they come free and the sum does not depend on the thread count.
 * 1x1 stride-1 unpadded convolutions use the input as its own column matrix.
 * The family's table, pooling included (cpu/pool.c), is here. */
#include "../kernels_conv.h"
#include "kernels_cpu.h"
#include "pool.h"
#include "simd_math.h"

#include <omp.h>

/* im2col and col2im are UZ_SIMD_CLONES: the copies run twice as wide where
 * the CPU allows. They only move data, so both clones give the same bits. */

/* Below this many multiply-adds (or copied elements) threads cost more than they save. */
enum { PAR_MIN_WORK = 1 << 16 };

/* Floats of one column block (4 MiB): bounds the column buffers of large
 * images while keeping a block in the last-level cache between im2col and its
 * GEMM. (Blocks small enough for L2 measured slower: the GEMM packs its own
 * copy of the block, and the two do not fit together.) Blocks hold at least
 * MIN_BLOCK positions so that the GEMMs keep a useful width when a position
 * has many rows. */
enum { COL_BLOCK = 1 << 20, MIN_BLOCK = 128 };

/* Floats of weight-gradient partials, which bounds the number of runs. */
enum { PARTIAL_BUDGET = 1 << 19 };

/* Largest sum of per-thread buffers (floats) for running one sample per
 * thread. The buffers live in the step arena until its reset, so they are kept
 * small; problems whose buffers are larger give GEMM enough work to thread well
 * by itself, one sample at a time. */
static const int64_t PAR_MAX_WORKSPACE = (int64_t)1 << 22;

/* Patches read from a stack of `planes` planes of ih x iw: kernel kh x kw at
 * the given stride and zero padding (negative padding crops), giving oh x ow
 * positions. Row (plane, i, j) of a column matrix holds tap (i, j) of every
 * position. */
typedef struct patches {
    int64_t planes, ih, iw, kh, kw, sh, sw, ph, pw, oh, ow;
} patches;

static patches input_patches(const uz_conv2d_geom *g)
{
    return (patches){g->c, g->h, g->w, g->kh, g->kw, g->stride_h, g->stride_w,
                     g->pad_h, g->pad_w, g->oh, g->ow};
}

/* The input gradient of a stride-1 convolution is dy correlated with the
 * flipped kernel at padding k - 1 - pad, which gives back the input's size. */
static patches grad_patches(const uz_conv2d_geom *g)
{
    return (patches){g->o, g->oh, g->ow, g->kh, g->kw, 1, 1,
                     g->kh - 1 - g->pad_h, g->kw - 1 - g->pad_w, g->h, g->w};
}

static bool is_pointwise(const uz_conv2d_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
           g->pad_w == 0;
}

/* The transposed view costs the same GEMM work as dcol = w^T dy only when
 * the input has no more positions than the output (2 pad >= k - 1). */
static bool grad_by_transpose(const uz_conv2d_geom *g)
{
    return !is_pointwise(g) && g->stride_h == 1 && g->stride_w == 1 &&
           2 * g->pad_h >= g->kh - 1 && 2 * g->pad_w >= g->kw - 1;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Positions per block for column matrices of `rows` rows over `positions`.
 * It depends on the geometry only: the weight gradient sums over blocks. */
static int64_t block_len(int64_t rows, int64_t positions)
{
    return max64(1, min64(positions, max64(MIN_BLOCK, COL_BLOCK / rows)));
}

/* Floats of one thread's column block. */
static int64_t col_floats(const uz_conv2d_geom *g)
{
    if (is_pointwise(g))
        return 0;
    int64_t khw = g->kh * g->kw, rows = g->c * khw;
    int64_t n = rows * block_len(rows, g->oh * g->ow);
    if (grad_by_transpose(g))
        n = max64(n, g->o * khw * block_len(g->o * khw, g->h * g->w));
    return n;
}

/* Floats of the weight, and of one sample's weight-gradient partial. */
static int64_t weight_floats(const uz_conv2d_geom *g)
{
    return g->o * (g->c / g->groups) * g->kh * g->kw;
}

/* Runs of consecutive samples with a weight-gradient partial each: as many
 * as PARTIAL_BUDGET holds, at most one per sample. */
static int64_t weight_runs(const uz_conv2d_geom *g)
{
    return max64(1, min64(g->n, PARTIAL_BUDGET / max64(1, weight_floats(g))));
}

/* Threads taking samples (forward) or runs (backward) one at a time, each
 * with serial GEMMs inside (the OpenMP build of OpenBLAS runs serially within
 * a parallel region); 1 means samples go one after another with threaded
 * im2col and GEMMs. Only with at least as many runs as threads is every
 * thread kept busy. */
static int64_t sample_threads(const uz_conv2d_geom *g)
{
    int64_t nt = omp_get_max_threads();
    int64_t macs = g->n * weight_floats(g) * g->oh * g->ow;
    if (nt < 2 || weight_runs(g) < nt || macs < PAR_MIN_WORK ||
        nt * col_floats(g) > PAR_MAX_WORKSPACE)
        return 1;
    return nt;
}

/* Workspace: the per-thread column blocks, the flipped weight of the
 * transposed view, then the runs' weight-gradient partials. The forward uses
 * the column blocks only. */
static int64_t conv2d_workspace(const uz_conv2d_geom *g)
{
    return sample_threads(g) * col_floats(g) + (grad_by_transpose(g) ? weight_floats(g) : 0) +
           weight_runs(g) * weight_floats(g);
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

/* The columns of positions [q0, q0 + nq) of x: col[r * nq + q - q0]. Each row
 * is walked one output row segment at a time: zeros left of the valid range,
 * a copy (contiguous at stride 1), zeros right of it. */
UZ_SIMD_CLONES static void im2col_block(const patches *pt, const float *x, int64_t q0, int64_t nq,
                                     float *col, bool par)
{
    int64_t khw = pt->kh * pt->kw, rows = pt->planes * khw;
    int64_t oy0 = q0 / pt->ow, ox00 = q0 - oy0 * pt->ow;
#pragma omp parallel for schedule(static) if (par && rows * nq >= PAR_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = (r / pt->kw) % pt->kh, j = r % pt->kw;
        int64_t lo, hi;
        valid_range(pt->iw, pt->ow, pt->sw, pt->pw, j, &lo, &hi);
        int64_t off = pt->pw - j; /* input column = ox * sw - off */
        const float *plane = x + (r / khw) * pt->ih * pt->iw;
        float *d = col + r * nq; /* d[ox - ox0]: position (oy, ox) */
        int64_t left = nq, ox0 = ox00;
        for (int64_t oy = oy0; left > 0; oy++) {
            int64_t ox1 = min64(pt->ow, ox0 + left), iy = oy * pt->sh - pt->ph + i;
            int64_t a = ox0, b = ox0; /* copied range [a, b) */
            if (iy >= 0 && iy < pt->ih) {
                a = min64(max64(lo, ox0), ox1);
                b = max64(min64(hi, ox1), a);
            }
            for (int64_t ox = ox0; ox < a; ox++)
                d[ox - ox0] = 0.0f;
            if (b > a && pt->sw == 1) {
                const float *src = plane + iy * pt->iw + (a - off);
                float *dst = d + (a - ox0);
#pragma omp simd
                for (int64_t k = 0; k < b - a; k++)
                    dst[k] = src[k];
            } else if (b > a) {
                const float *src = plane + iy * pt->iw;
                for (int64_t ox = a; ox < b; ox++)
                    d[ox - ox0] = src[ox * pt->sw - off];
            }
            for (int64_t ox = b; ox < ox1; ox++)
                d[ox - ox0] = 0.0f;
            d += ox1 - ox0;
            left -= ox1 - ox0;
            ox0 = 0;
        }
    }
}

/* x += the columns of positions [q0, q0 + nq) folded back onto the planes;
 * each plane is summed by one thread in a fixed order. */
UZ_SIMD_CLONES static void col2im_add_block(const patches *pt, const float *col, int64_t q0,
                                         int64_t nq, float *x, bool par)
{
    int64_t khw = pt->kh * pt->kw;
    int64_t oy0 = q0 / pt->ow, ox00 = q0 - oy0 * pt->ow;
#pragma omp parallel for schedule(static) if (par && pt->planes * khw * nq >= PAR_MIN_WORK)
    for (int64_t c = 0; c < pt->planes; c++) {
        float *plane = x + c * pt->ih * pt->iw;
        for (int64_t ij = 0; ij < khw; ij++) {
            int64_t i = ij / pt->kw, j = ij % pt->kw;
            int64_t lo, hi;
            valid_range(pt->iw, pt->ow, pt->sw, pt->pw, j, &lo, &hi);
            int64_t off = pt->pw - j;
            const float *s = col + (c * khw + ij) * nq; /* s[ox - ox0]: position (oy, ox) */
            int64_t left = nq, ox0 = ox00;
            for (int64_t oy = oy0; left > 0; oy++) {
                int64_t ox1 = min64(pt->ow, ox0 + left), iy = oy * pt->sh - pt->ph + i;
                int64_t a = min64(max64(lo, ox0), ox1), b = max64(min64(hi, ox1), a);
                if (b > a && iy >= 0 && iy < pt->ih) {
                    float *row = plane + iy * pt->iw;
                    const float *sa = s + (a - ox0);
                    if (pt->sw == 1) {
                        float *d = row + (a - off);
#pragma omp simd
                        for (int64_t k = 0; k < b - a; k++)
                            d[k] += sa[k];
                    } else {
                        for (int64_t k = 0; k < b - a; k++)
                            row[(a + k) * pt->sw - off] += sa[k];
                    }
                }
                s += ox1 - ox0;
                left -= ox1 - ox0;
                ox0 = 0;
            }
        }
    }
}

/* wt[group][c][o][i][j] = w[o][c][kh-1-i][kw-1-j] within each group: the
 * weight of the transposed view, one [c/groups, o/groups * kh * kw] matrix per
 * group. */
static void flip_weight(const uz_conv2d_geom *g, const float *w, float *wt)
{
    int64_t og = g->o / g->groups, cg = g->c / g->groups, khw = g->kh * g->kw;
    for (int64_t o = 0; o < g->o; o++) {
        int64_t gi = o / og, ol = o % og;
        for (int64_t cl = 0; cl < cg; cl++) {
            const float *src = w + (o * cg + cl) * khw;
            float *dst = wt + ((gi * cg + cl) * og + ol) * khw;
            for (int64_t t = 0; t < khw; t++)
                dst[khw - 1 - t] = src[t];
        }
    }
}

static void forward_sample(const uz_conv2d_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *col, bool par)
{
    const struct uz_kernels_blas *blas = &uz_cpu_kernels_blas;
    int64_t og = g->o / g->groups, kg = (g->c / g->groups) * g->kh * g->kw, p = g->oh * g->ow;
    bool point = is_pointwise(g);
    int64_t bl = point ? p : block_len(g->c * g->kh * g->kw, p);
    patches pt = input_patches(g);
    for (int64_t q0 = 0; q0 < p; q0 += bl) {
        int64_t nq = min64(bl, p - q0);
        const float *src = x + q0;
        int64_t ld = p;
        if (!point) {
            im2col_block(&pt, x, q0, nq, col, par);
            src = col;
            ld = nq;
        }
        if (bias)
            for (int64_t o = 0; o < g->o; o++)
                for (int64_t i = 0; i < nq; i++)
                    y[o * p + q0 + i] = bias[o];
        for (int64_t gi = 0; gi < g->groups; gi++)
            blas->gemm(false, false, og, nq, kg, 1.0f, w + gi * og * kg, kg, src + gi * kg * ld,
                       ld, bias ? 1.0f : 0.0f, y + gi * og * p + q0, p);
    }
}

/* dx += one sample's input gradient (wt: the flipped weight when the
 * transposed view applies, else NULL); dwp = (acc: +=) its weight gradient. */
static void backward_sample(const uz_conv2d_geom *g, const float *x, const float *w,
                            const float *wt, const float *dy, float *dx, float *dwp, bool acc,
                            float *col, bool par)
{
    const struct uz_kernels_blas *blas = &uz_cpu_kernels_blas;
    int64_t og = g->o / g->groups, cg = g->c / g->groups, khw = g->kh * g->kw;
    int64_t kg = cg * khw, p = g->oh * g->ow, hw = g->h * g->w;
    if (is_pointwise(g)) {
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *dyg = dy + gi * og * p;
            if (dx)
                blas->gemm(true, false, kg, p, og, 1.0f, w + gi * og * kg, kg, dyg, p, 1.0f,
                           dx + gi * kg * p, p);
            if (dwp)
                blas->gemm(false, true, og, kg, p, 1.0f, dyg, p, x + gi * kg * p, p,
                           acc ? 1.0f : 0.0f, dwp + gi * og * kg, kg);
        }
        return;
    }
    patches pt = input_patches(g);
    int64_t bl = block_len(g->c * khw, p);
    if (dx && wt) {
        patches tp = grad_patches(g);
        int64_t kt = og * khw, tbl = block_len(g->o * khw, hw);
        for (int64_t q0 = 0; q0 < hw; q0 += tbl) {
            int64_t nq = min64(tbl, hw - q0);
            im2col_block(&tp, dy, q0, nq, col, par);
            for (int64_t gi = 0; gi < g->groups; gi++)
                blas->gemm(false, false, cg, nq, kt, 1.0f, wt + gi * cg * kt, kt,
                           col + gi * kt * nq, nq, 1.0f, dx + gi * cg * hw + q0, hw);
        }
    } else if (dx) {
        for (int64_t q0 = 0; q0 < p; q0 += bl) {
            int64_t nq = min64(bl, p - q0);
            for (int64_t gi = 0; gi < g->groups; gi++)
                blas->gemm(true, false, kg, nq, og, 1.0f, w + gi * og * kg, kg,
                           dy + gi * og * p + q0, p, 0.0f, col + gi * kg * nq, nq);
            col2im_add_block(&pt, col, q0, nq, dx, par);
        }
    }
    if (!dwp)
        return;
    for (int64_t q0 = 0; q0 < p; q0 += bl) {
        int64_t nq = min64(bl, p - q0);
        im2col_block(&pt, x, q0, nq, col, par);
        for (int64_t gi = 0; gi < g->groups; gi++)
            blas->gemm(false, true, og, kg, nq, 1.0f, dy + gi * og * p + q0, p,
                       col + gi * kg * nq, nq, acc || q0 ? 1.0f : 0.0f, dwp + gi * og * kg, kg);
    }
}

static void conv2d_forward(const uz_conv2d_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *work)
{
    int64_t xs = g->c * g->h * g->w, ys = g->o * g->oh * g->ow, cf = col_floats(g);
    int64_t nt = sample_threads(g);
    if (nt > 1) {
#pragma omp parallel for schedule(dynamic) num_threads((int)nt)
        for (int64_t n = 0; n < g->n; n++)
            forward_sample(g, x + n * xs, w, bias, y + n * ys, work + omp_get_thread_num() * cf,
                           false);
    } else {
        for (int64_t n = 0; n < g->n; n++)
            forward_sample(g, x + n * xs, w, bias, y + n * ys, work, true);
    }
}

/* dw += the partials of nb runs, in run order for every element. */
static void add_partials(float *dw, const float *part, int64_t nb, int64_t wf)
{
    enum { SPAN = 4096 };
    int64_t spans = (wf + SPAN - 1) / SPAN;
#pragma omp parallel for schedule(static) if (nb * wf >= PAR_MIN_WORK)
    for (int64_t s = 0; s < spans; s++) {
        int64_t j0 = s * SPAN, len = min64(SPAN, wf - j0);
        float *d = dw + j0;
        for (int64_t t = 0; t < nb; t++) {
            const float *pp = part + t * wf + j0;
#pragma omp simd
            for (int64_t j = 0; j < len; j++)
                d[j] += pp[j];
        }
    }
}

/* Sums each output channel's gradient plane by plane: float SIMD sums over
 * fixed chunks, added in double, in an order independent of the threads. */
static void bias_grad(const uz_conv2d_geom *g, const float *dy, float *db)
{
    enum { CHUNK = 256 };
    int64_t p = g->oh * g->ow;
#pragma omp parallel for schedule(static) if (g->n * g->o * p >= PAR_MIN_WORK)
    for (int64_t o = 0; o < g->o; o++) {
        double acc = 0.0;
        for (int64_t n = 0; n < g->n; n++) {
            const float *plane = dy + (n * g->o + o) * p;
            for (int64_t i0 = 0; i0 < p; i0 += CHUNK) {
                int64_t len = min64(CHUNK, p - i0);
                float f = 0.0f;
#pragma omp simd reduction(+ : f)
                for (int64_t i = 0; i < len; i++)
                    f += plane[i0 + i];
                acc += (double)f;
            }
        }
        db[o] += (float)acc;
    }
}

/* Run ri of runs: its samples' input gradients, and their weight gradient
 * summed in sample order into dwp (NULL: not wanted). */
static void backward_run(const uz_conv2d_geom *g, const float *x, const float *w, const float *wt,
                         const float *dy, float *dx, float *dwp, int64_t ri, int64_t runs,
                         float *col, bool par)
{
    int64_t xs = g->c * g->h * g->w, ys = g->o * g->oh * g->ow;
    int64_t n0 = ri * g->n / runs, n1 = (ri + 1) * g->n / runs;
    for (int64_t n = n0; n < n1; n++)
        backward_sample(g, x + n * xs, w, wt, dy + n * ys, dx ? dx + n * xs : NULL, dwp, n > n0,
                        col, par);
}

static void conv2d_backward(const uz_conv2d_geom *g, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *db, float *work)
{
    if (db)
        bias_grad(g, dy, db);
    if (!dx && !dw)
        return;
    int64_t cf = col_floats(g), wf = weight_floats(g), nt = sample_threads(g);
    int64_t runs = weight_runs(g);
    bool transposed = grad_by_transpose(g);
    float *wt = transposed && dx ? work + nt * cf : NULL;
    float *part = work + nt * cf + (transposed ? wf : 0);
    if (wt)
        flip_weight(g, w, wt);
    if (nt > 1) {
#pragma omp parallel for schedule(dynamic) num_threads((int)nt)
        for (int64_t ri = 0; ri < runs; ri++)
            backward_run(g, x, w, wt, dy, dx, dw ? part + ri * wf : NULL, ri, runs,
                         work + omp_get_thread_num() * cf, false);
    } else {
        for (int64_t ri = 0; ri < runs; ri++)
            backward_run(g, x, w, wt, dy, dx, dw ? part + ri * wf : NULL, ri, runs, work, true);
    }
    if (dw)
        add_partials(dw, part, runs, wf);
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
