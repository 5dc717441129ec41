/* Scaled-dot-product attention on the CPU: per (batch, head) slice, two
 * GEMMs around a row softmax forward and four GEMMs backward. Slices run in
 * parallel, each wholly on one thread, so results do not depend on the
 * thread count; OpenBLAS runs single-threaded inside the parallel region. */
#include "kernels_cpu.h"
#include "../kernels_attention.h"

#include "simd_math.h"

#include <omp.h>
#include <string.h>

/* Below this many multiply-adds per call the thread start-up costs more
 * than it saves; a single slice is left to OpenBLAS's own threads. */
static const int64_t PARALLEL_WORK = 1 << 16;

static int64_t cpu_scratch_slices(int64_t bh)
{
    int64_t threads = omp_get_max_threads();
    return bh < threads ? (bh > 0 ? bh : 1) : threads;
}

static int64_t team_size(int64_t bh, int64_t slices)
{
    int64_t threads = cpu_scratch_slices(bh);
    return threads < slices ? threads : slices;
}

static bool run_parallel(const uz_attention_layout *l, int64_t bh)
{
    return bh > 1 && bh * l->tq * l->tk * (l->d + l->dv) > PARALLEL_WORK;
}

static const float *slice(const float *base, const int64_t *stride, int64_t i, int64_t heads)
{
    return base + (i / heads) * stride[0] + (i % heads) * stride[1];
}

/* Query rows per block under a causal mask: each block multiplies only
 * against the keys up to its last row, which skips most of the masked
 * upper triangle while keeping the GEMMs large enough to run well. */
enum { CAUSAL_ROW_BLOCK = 16 };

static int64_t row_block(const uz_attention_layout *l)
{
    return l->causal ? CAUSAL_ROW_BLOCK : (l->tq > 0 ? l->tq : 1);
}

/* Keys that rows before r1 can see: under a causal mask row i sees i + 1. */
static int64_t key_span(const uz_attention_layout *l, int64_t r1)
{
    return l->causal && r1 < l->tk ? r1 : l->tk;
}

/* Masked scores of row i into probabilities; a row with no finite score
 * (every key masked) becomes zeros rather than 0/0. Only the visible
 * entries are read: under a causal mask the rest may be unset. */
static void softmax_row(float *s, int64_t i, const uz_attention_layout *l, const float *mrow)
{
    int64_t tk = l->tk, visible = l->causal ? (i + 1 < tk ? i + 1 : tk) : tk;
    if (mrow)
        for (int64_t j = 0; j < visible; j++)
            s[j] += mrow[j * l->mask_stride[3]];
    float max = -INFINITY;
#pragma omp simd reduction(max : max)
    for (int64_t j = 0; j < visible; j++)
        max = s[j] > max ? s[j] : max;
    if (max == -INFINITY) {
        memset(s, 0, sizeof(float) * (size_t)tk);
        return;
    }
    /* Separate loops, so the exponentials run on libmvec's vector expf. */
#pragma omp simd
    for (int64_t j = 0; j < visible; j++)
        s[j] = expf(s[j] - max);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < visible; j++)
        sum += s[j];
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < visible; j++)
        s[j] *= inv;
    for (int64_t j = visible; j < tk; j++)
        s[j] = 0.0f;
}

static void forward_slice(const uz_attention_layout *l, int64_t i, const float *q,
                          const float *k, const float *v, const float *mask, float *out,
                          float *p)
{
    const struct uz_kernels_blas *blas = &uz_cpu_kernels_blas;
    int64_t tq = l->tq, tk = l->tk, d = l->d, dv = l->dv;
    const float *qs = slice(q, l->q_stride, i, l->heads);
    const float *ks = slice(k, l->k_stride, i, l->heads);
    const float *vs = slice(v, l->v_stride, i, l->heads);
    float *o = out + i * tq * dv;
    if (tk == 0) {
        memset(o, 0, sizeof(float) * (size_t)(tq * dv));
        return;
    }
    const float *mslice = mask ? slice(mask, l->mask_stride, i, l->heads) : NULL;
    int64_t rb = row_block(l);
    for (int64_t r0 = 0; r0 < tq; r0 += rb) {
        int64_t rows = tq - r0 < rb ? tq - r0 : rb, kn = key_span(l, r0 + rows);
        float *pb = p + r0 * tk;
        if (d > 0)
            blas->gemm(false, true, rows, kn, d, l->scale, qs + r0 * l->q_stride[2],
                       l->q_stride[2], ks, l->k_stride[2], 0.0f, pb, tk);
        else
            memset(pb, 0, sizeof(float) * (size_t)(rows * tk));
        for (int64_t r = r0; r < r0 + rows; r++)
            softmax_row(p + r * tk, r, l, mslice ? mslice + r * l->mask_stride[2] : NULL);
        if (dv > 0)
            blas->gemm(false, false, rows, dv, kn, 1.0f, pb, tk, vs, l->v_stride[2], 0.0f,
                       o + r0 * dv, dv);
    }
}

static void cpu_attention_forward(const uz_attention_layout *l, const float *q, const float *k,
                                  const float *v, const float *mask, float *out, float *probs,
                                  int64_t slices)
{
    int64_t bh = l->batch * l->heads, area = l->tq * l->tk;
    bool keep = slices >= bh;
    int threads = (int)team_size(bh, keep ? bh : slices);
#pragma omp parallel for num_threads(threads) if (run_parallel(l, bh)) schedule(static)
    for (int64_t i = 0; i < bh; i++)
        forward_slice(l, i, q, k, v, mask, out,
                      probs + (keep ? i : (int64_t)omp_get_thread_num()) * area);
}

static void backward_slice(const uz_attention_layout *l, int64_t i, const float *q,
                           const float *k, const float *v, const float *probs, const float *dout,
                           float *dq, float *dk, float *dv, float *ds)
{
    const struct uz_kernels_blas *blas = &uz_cpu_kernels_blas;
    int64_t tq = l->tq, tk = l->tk, d = l->d, nv = l->dv;
    if (tk == 0)
        return;
    const float *p = probs + i * tq * tk, *go = dout + i * tq * nv;
    const float *qs = slice(q, l->q_stride, i, l->heads);
    const float *ks = slice(k, l->k_stride, i, l->heads);
    const float *vs = slice(v, l->v_stride, i, l->heads);
    bool scores = (dq || dk) && d > 0;
    int64_t rb = row_block(l);
    /* Row blocks as in forward_slice: P is zero beyond each block's keys. */
    for (int64_t r0 = 0; r0 < tq; r0 += rb) {
        int64_t rows = tq - r0 < rb ? tq - r0 : rb, kn = key_span(l, r0 + rows);
        const float *pb = p + r0 * tk, *gb = go + r0 * nv;
        if (dv && nv > 0)
            blas->gemm(true, false, kn, nv, rows, 1.0f, pb, tk, gb, nv, 1.0f, dv + i * tk * nv,
                       nv);
        if (!scores)
            continue;
        /* ds = P * (dP - rowsum(dP * P)) with dP = dout v^T. */
        float *dsb = ds + r0 * tk;
        if (nv > 0)
            blas->gemm(false, true, rows, kn, nv, 1.0f, gb, nv, vs, l->v_stride[2], 0.0f, dsb,
                       tk);
        else
            memset(dsb, 0, sizeof(float) * (size_t)(rows * tk));
        for (int64_t r = 0; r < rows; r++) {
            float *dsr = dsb + r * tk;
            const float *pr = pb + r * tk;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t j = 0; j < kn; j++)
                dot += dsr[j] * pr[j];
#pragma omp simd
            for (int64_t j = 0; j < kn; j++)
                dsr[j] = pr[j] * (dsr[j] - dot);
        }
        if (dq)
            blas->gemm(false, false, rows, d, kn, l->scale, dsb, tk, ks, l->k_stride[2], 1.0f,
                       dq + (i * tq + r0) * d, d);
        if (dk)
            blas->gemm(true, false, kn, d, rows, l->scale, dsb, tk, qs + r0 * l->q_stride[2],
                       l->q_stride[2], 1.0f, dk + i * tk * d, d);
    }
}

static void cpu_attention_backward(const uz_attention_layout *l, const float *q, const float *k,
                                   const float *v, const float *probs, const float *dout,
                                   float *dq, float *dk, float *dv, float *scratch)
{
    int64_t bh = l->batch * l->heads, area = l->tq * l->tk;
    int threads = (int)cpu_scratch_slices(bh);
#pragma omp parallel for num_threads(threads) if (run_parallel(l, bh)) schedule(static)
    for (int64_t i = 0; i < bh; i++)
        backward_slice(l, i, q, k, v, probs, dout, dq, dk, dv,
                       scratch + (int64_t)omp_get_thread_num() * area);
}

const struct uz_kernels_attention uz_cpu_kernels_attention = {
    .scratch_slices = cpu_scratch_slices,
    .forward = cpu_attention_forward,
    .backward = cpu_attention_backward,
};
