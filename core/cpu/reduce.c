/* Sum and max over a set of dims, and their backwards.
 *
 * The input is first coalesced: size-1 dims dropped, neighbouring dims with
 * the same reduce flag merged. What is left alternates kept and reduced dims;
 * the last one decides the loop shape:
 *   - last dim kept (K wide): every output row of K is a sum of contiguous
 *     input rows, accumulated in vector lanes; threads split the columns;
 *   - last dim reduced (L long): every output is a sum over contiguous runs,
 *     cut into at most MAX_SEGS segments whose partial sums are combined in
 *     order, so that a few huge reductions can still use every thread.
 * Segment and row-block boundaries come from the shape alone and a column's
 * order never depends on which task owns it, which keeps the results bitwise
 * identical for any thread count. */
#include "kernels_cpu.h"
#include "../reduce_dims.h"

#include <math.h>
#include <omp.h>
#include <string.h>

enum {
    PAR_MIN = 32768,   /* elements below which threads cost more than they save */
    COLS_MIN = 64,     /* narrowest column block of a task when the last dim is kept */
    COLS_MAX = 2048,   /* widest (its accumulators live on the stack) */
    ROW_BLOCK = 64,    /* rows summed into a partial before it joins the total */
    SEG_MIN = 4096,    /* smallest segment of a reduction along the last dim */
    MAX_SEGS = 256,    /* most segments per output (their partials live on the stack) */
    OUTER_PAR = 16     /* outputs from which the threads split outputs, not segments */
};

/* Kept and reduced dims before the last, innermost first, with their input
 * strides; offsets are decoded innermost first (row-major enumeration). */
typedef struct red_plan {
    int nk, nr;
    int64_t ks[UZ_MAX_DIMS], kst[UZ_MAX_DIMS];
    int64_t rs[UZ_MAX_DIMS], rst[UZ_MAX_DIMS];
    int64_t outer, rows, inner;          /* products of ks and rs; last dim size */
    bool inner_reduced;
} red_plan;

static void plan_make(red_plan *p, int ndim, const int64_t *shape, const bool *reduce)
{
    int64_t sh[UZ_MAX_DIMS];
    bool red[UZ_MAX_DIMS];
    int m = uz_reduce_coalesce(ndim, shape, reduce, sh, red);
    memset(p, 0, sizeof *p);
    p->outer = p->rows = 1;
    if (m == 0) {
        p->inner = 1;
        return;
    }
    p->inner = sh[m - 1];
    p->inner_reduced = red[m - 1];
    int64_t stride = p->inner;
    for (int d = m - 2; d >= 0; d--) {
        if (red[d]) {
            p->rs[p->nr] = sh[d];
            p->rst[p->nr++] = stride;
            p->rows *= sh[d];
        } else {
            p->ks[p->nk] = sh[d];
            p->kst[p->nk++] = stride;
            p->outer *= sh[d];
        }
        stride *= sh[d];
    }
}

/* Input offset of the o-th combination of kept dims (row-major over them). */
static int64_t kept_offset(const red_plan *p, int64_t o)
{
    int64_t off = 0;
    for (int d = 0; d < p->nk; d++) {
        off += (o % p->ks[d]) * p->kst[d];
        o /= p->ks[d];
    }
    return off;
}

static int64_t row_offset(const red_plan *p, int64_t r)
{
    int64_t off = 0;
    for (int d = 0; d < p->nr; d++) {
        off += (r % p->rs[d]) * p->rst[d];
        r /= p->rs[d];
    }
    return off;
}

static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

static int64_t out_numel(int ndim, const int64_t *shape, const bool *reduce)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (!reduce[d])
            n *= shape[d];
    return n;
}

static void store(float *out, float value, float scale, bool accumulate)
{
    *out = accumulate ? *out + scale * value : scale * value;
}

/* ---- last dim kept ---------------------------------------------------------- */

/* Columns per task: wide for long contiguous reads, narrow enough that every
 * thread gets some. */
static int64_t col_width(const red_plan *p)
{
    int64_t per_outer = (omp_get_max_threads() + p->outer - 1) / p->outer;
    int64_t w = (p->inner + per_outer - 1) / per_outer;
    w = (w + 15) / 16 * 16;
    return w < COLS_MIN ? COLS_MIN : w > COLS_MAX ? COLS_MAX : w;
}

static void sum_kept(const red_plan *p, float *out, const float *in, float scale, bool accumulate)
{
    int64_t K = p->inner, width = col_width(p), n_kc = (K + width - 1) / width;
    int64_t tasks = p->outer * n_kc, work = p->outer * p->rows * K;
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / n_kc, k0 = (t % n_kc) * width;
        int64_t kn = K - k0 < width ? K - k0 : width;
        const float *base = in + kept_offset(p, o) + k0;
        float acc[COLS_MAX], part[COLS_MAX];
        memset(acc, 0, sizeof(float) * (size_t)kn);
        for (int64_t r0 = 0; r0 < p->rows; r0 += ROW_BLOCK) {
            int64_t r1 = r0 + ROW_BLOCK < p->rows ? r0 + ROW_BLOCK : p->rows;
            memset(part, 0, sizeof(float) * (size_t)kn);
            for (int64_t r = r0; r < r1; r++) {
                const float *src = base + row_offset(p, r);
#pragma omp simd
                for (int64_t k = 0; k < kn; k++)
                    part[k] += src[k];
            }
#pragma omp simd
            for (int64_t k = 0; k < kn; k++)
                acc[k] += part[k];
        }
        float *dst = out + o * K + k0;
        for (int64_t k = 0; k < kn; k++)
            store(dst + k, acc[k], scale, accumulate);
    }
}

/* v replaces best: larger, or the first NaN (NaN propagates as in PyTorch). */
static bool beats(float v, float best)
{
    return v > best || (v != v && best == best);
}

static void max_kept(const red_plan *p, float *out, int64_t *arg, const float *in)
{
    int64_t K = p->inner, width = col_width(p), n_kc = (K + width - 1) / width;
    int64_t tasks = p->outer * n_kc, work = p->outer * p->rows * K;
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / n_kc, k0 = (t % n_kc) * width;
        int64_t kn = K - k0 < width ? K - k0 : width;
        int64_t base = kept_offset(p, o) + k0;
        float best[COLS_MAX];
        int64_t where[COLS_MAX];
        for (int64_t k = 0; k < kn; k++) {
            best[k] = in[base + k];
            where[k] = base + k;
        }
        for (int64_t r = 1; r < p->rows; r++) {
            int64_t off = base + row_offset(p, r);
            const float *src = in + off;
            /* Branch-free so that it vectorises. */
#pragma omp simd
            for (int64_t k = 0; k < kn; k++) {
                bool take = beats(src[k], best[k]);
                best[k] = take ? src[k] : best[k];
                where[k] = take ? off + k : where[k];
            }
        }
        memcpy(out + o * K + k0, best, sizeof(float) * (size_t)kn);
        if (arg)
            memcpy(arg + o * K + k0, where, sizeof(int64_t) * (size_t)kn);
    }
}

/* ---- last dim reduced --------------------------------------------------------- */

/* Segment length for reductions of `total` elements per output. */
static int64_t seg_len(int64_t total)
{
    int64_t seg = (total + MAX_SEGS - 1) / MAX_SEGS;
    return seg > SEG_MIN ? seg : SEG_MIN;
}

/* Sum of elements [j, end) of output o's reduced range (row-major over the
 * reduced dims, the last dim innermost), one contiguous run at a time. */
static float seg_sum(const red_plan *p, const float *in, int64_t o, int64_t j, int64_t end)
{
    int64_t L = p->inner, base = kept_offset(p, o);
    float acc = 0.0f;
    while (j < end) {
        int64_t r = j / L, c = j % L, n = L - c < end - j ? L - c : end - j;
        const float *src = in + base + row_offset(p, r) + c;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < n; i++)
            part += src[i];
        acc += part;
        j += n;
    }
    return acc;
}

static void sum_reduced(const red_plan *p, float *out, const float *in, float scale,
                        bool accumulate)
{
    int64_t total = p->rows * p->inner, seg = seg_len(total), n_seg = (total + seg - 1) / seg;
    int64_t work = p->outer * total;
    if (p->outer >= OUTER_PAR || n_seg == 1) {
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
        for (int64_t o = 0; o < p->outer; o++) {
            float acc = 0.0f;
            for (int64_t s = 0; s < n_seg; s++) {
                int64_t j = s * seg, end = j + seg < total ? j + seg : total;
                acc += seg_sum(p, in, o, j, end);
            }
            store(out + o, acc, scale, accumulate);
        }
        return;
    }
    for (int64_t o = 0; o < p->outer; o++) {
        float parts[MAX_SEGS];
#pragma omp parallel for if (total > PAR_MIN) schedule(static)
        for (int64_t s = 0; s < n_seg; s++) {
            int64_t j = s * seg, end = j + seg < total ? j + seg : total;
            parts[s] = seg_sum(p, in, o, j, end);
        }
        float acc = 0.0f;
        for (int64_t s = 0; s < n_seg; s++)
            acc += parts[s];
        store(out + o, acc, scale, accumulate);
    }
}

typedef struct best_at {
    float v;
    int64_t at;
} best_at;

/* First maximum of elements [j, end) of output o's reduced range. Each
 * contiguous run is scanned for its maximum (and any NaN) with vector
 * reductions first; only a run that beats the best so far is searched again
 * for the position. */
static best_at seg_max(const red_plan *p, const float *in, int64_t o, int64_t j, int64_t end)
{
    int64_t L = p->inner, base = kept_offset(p, o);
    best_at b = {0.0f, -1};
    while (j < end) {
        int64_t r = j / L, c = j % L, n = L - c < end - j ? L - c : end - j;
        int64_t off = base + row_offset(p, r) + c;
        const float *src = in + off;
        float m = -INFINITY;
        int nan_seen = 0;
#pragma omp simd reduction(max : m) reduction(| : nan_seen)
        for (int64_t i = 0; i < n; i++) {
            m = src[i] > m ? src[i] : m;
            nan_seen |= src[i] != src[i];
        }
        if (nan_seen)
            m = NAN;
        if (b.at < 0 || beats(m, b.v)) {
            int64_t i = 0;
            if (nan_seen)
                while (src[i] == src[i])
                    i++;
            else
                while (src[i] != m)
                    i++;
            b.v = src[i];
            b.at = off + i;
        }
        j += n;
    }
    return b;
}

static best_at max_of_segs(const best_at *parts, int64_t n_seg)
{
    best_at b = {0.0f, -1};
    for (int64_t s = 0; s < n_seg; s++)
        if (b.at < 0 || beats(parts[s].v, b.v))
            b = parts[s];
    return b;
}

static void max_reduced(const red_plan *p, float *out, int64_t *arg, const float *in)
{
    int64_t total = p->rows * p->inner, seg = seg_len(total), n_seg = (total + seg - 1) / seg;
    int64_t work = p->outer * total;
    if (p->outer >= OUTER_PAR || n_seg == 1) {
#pragma omp parallel for if (work > PAR_MIN) schedule(static)
        for (int64_t o = 0; o < p->outer; o++) {
            best_at parts[MAX_SEGS];
            for (int64_t s = 0; s < n_seg; s++) {
                int64_t j = s * seg, end = j + seg < total ? j + seg : total;
                parts[s] = seg_max(p, in, o, j, end);
            }
            best_at b = max_of_segs(parts, n_seg);
            out[o] = b.v;
            if (arg)
                arg[o] = b.at;
        }
        return;
    }
    for (int64_t o = 0; o < p->outer; o++) {
        best_at parts[MAX_SEGS];
#pragma omp parallel for if (total > PAR_MIN) schedule(static)
        for (int64_t s = 0; s < n_seg; s++) {
            int64_t j = s * seg, end = j + seg < total ? j + seg : total;
            parts[s] = seg_max(p, in, o, j, end);
        }
        best_at b = max_of_segs(parts, n_seg);
        out[o] = b.v;
        if (arg)
            arg[o] = b.at;
    }
}

/* ---- entry points ---------------------------------------------------------------- */

static void cpu_sum(float *out, const float *in, int ndim, const int64_t *shape,
                    const bool *reduce, float scale, bool accumulate)
{
    int64_t n_out = out_numel(ndim, shape, reduce);
    if (n_out == 0)
        return;
    if (numel_of(ndim, shape) == 0) {
        /* Empty reduced dims: the sum is 0 (and mean's 0 * (1/0) is NaN, as in PyTorch). */
        for (int64_t i = 0; i < n_out; i++)
            store(out + i, 0.0f, scale, accumulate);
        return;
    }
    red_plan p;
    plan_make(&p, ndim, shape, reduce);
    if (p.inner_reduced)
        sum_reduced(&p, out, in, scale, accumulate);
    else
        sum_kept(&p, out, in, scale, accumulate);
}

static void cpu_max(float *out, int64_t *arg, const float *in, int ndim, const int64_t *shape,
                    const bool *reduce)
{
    if (numel_of(ndim, shape) == 0)
        return;
    red_plan p;
    plan_make(&p, ndim, shape, reduce);
    if (p.inner_reduced)
        max_reduced(&p, out, arg, in);
    else
        max_kept(&p, out, arg, in);
}

static void cpu_sum_backward(float *grad, const float *gout, int ndim, const int64_t *shape,
                             const bool *reduce, float scale)
{
    if (numel_of(ndim, shape) == 0)
        return;
    red_plan p;
    plan_make(&p, ndim, shape, reduce);
    int64_t L = p.inner, tasks = p.outer * p.rows;
    /* Every input element is written by exactly one task, so any split is safe. */
#pragma omp parallel for if (tasks * L > PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / p.rows, r = t % p.rows;
        float *dst = grad + kept_offset(&p, o) + row_offset(&p, r);
        if (p.inner_reduced) {
            float g = scale * gout[o];
#pragma omp simd
            for (int64_t i = 0; i < L; i++)
                dst[i] += g;
        } else {
            const float *src = gout + o * L;
#pragma omp simd
            for (int64_t i = 0; i < L; i++)
                dst[i] += scale * src[i];
        }
    }
}

static void cpu_max_backward(float *grad, const float *gout, const int64_t *arg, int64_t n)
{
    /* Each output points at its own input element: no two writes collide. */
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        grad[arg[i]] += gout[i];
}

const struct uz_kernels_reduce uz_cpu_kernels_reduce = {
    .sum = cpu_sum,
    .max = cpu_max,
    .sum_backward = cpu_sum_backward,
    .max_backward = cpu_max_backward,
};
