// Scaled-dot-product attention on CUDA, materialised: per batch item, one
// strided-batched GEMM over the heads for the scores, a row softmax kernel
// (mask, causal, fully masked rows to zeros), one for P V; the backward is
// four batched GEMMs around the softmax-gradient kernel. The probabilities
// of every (batch, head) slice are kept, so scratch_slices(bh) is bh.
#include "cuda_internal.h"

#include <math.h>

namespace {

constexpr int ROW_THREADS = 256;

// Row r = (slice i, query q) of the scores, in place: + mask, causal cut,
// softmax; entries past the visible keys and rows with no finite score
// become 0.
__global__ void softmax_rows_kernel(float *p, const float *mask, uz_cu_dims mstride,
                                    int64_t heads, int64_t tq, int64_t tk, bool causal,
                                    int64_t rows)
{
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t i = r / tq, q = r % tq;
        float *s = p + r * tk;
        const float *m = mask ? mask + (i / heads) * mstride.v[0] + (i % heads) * mstride.v[1] +
                                    q * mstride.v[2]
                              : nullptr;
        int64_t visible = causal ? (q + 1 < tk ? q + 1 : tk) : tk;
        float mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
            float v = s[j] + (m ? m[j * mstride.v[3]] : 0.0f);
            s[j] = v;
            mx = v > mx ? v : mx;
        }
        // Every thread reads back only its own columns, so no barrier is
        // needed between the staging above and the passes below.
        mx = uz_cu_block_reduce(mx, uz_cu_fmax(), sh);
        if (mx == -INFINITY) {
            for (int64_t j = threadIdx.x; j < tk; j += blockDim.x)
                s[j] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
            float e = expf(s[j] - mx);
            s[j] = e;
            sum += e;
        }
        sum = uz_cu_block_reduce(sum, uz_cu_add(), sh);
        float inv = 1.0f / sum;
        for (int64_t j = threadIdx.x; j < tk; j += blockDim.x)
            s[j] = j < visible ? s[j] * inv : 0.0f;
    }
}

// ds = P * (dP - rowsum(dP * P)), in place over dP.
__global__ void softmax_grad_rows_kernel(float *ds, const float *p, int64_t tk, int64_t rows)
{
    __shared__ float sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        float *d = ds + r * tk;
        const float *pr = p + r * tk;
        float dot = 0.0f;
        for (int64_t j = threadIdx.x; j < tk; j += blockDim.x)
            dot += d[j] * pr[j];
        dot = uz_cu_block_reduce(dot, uz_cu_add(), sh);
        for (int64_t j = threadIdx.x; j < tk; j += blockDim.x)
            d[j] = pr[j] * (d[j] - dot);
    }
}

int64_t cu_scratch_slices(int64_t bh) { return bh > 0 ? bh : 1; }

// Calls fn(batch index b, q/k/v/mask offsets of b, number of heads per call):
// one call for all of B * H when every operand's batch stride is heads
// times its head stride, else one per batch item.
struct batch_walk {
    bool fused;
    int64_t calls, heads_per_call;
};

batch_walk walk_of(const uz_attention_layout *l)
{
    bool fused = l->q_stride[0] == l->heads * l->q_stride[1] &&
                 l->k_stride[0] == l->heads * l->k_stride[1] &&
                 l->v_stride[0] == l->heads * l->v_stride[1];
    return fused ? batch_walk{true, 1, l->batch * l->heads}
                 : batch_walk{false, l->batch, l->heads};
}

void cu_forward(const uz_attention_layout *l, const float *q, const float *k, const float *v,
                const float *mask, float *out, float *probs, int64_t slices)
{
    (void)slices; // always batch * heads here (scratch_slices)
    int64_t bh = l->batch * l->heads, tq = l->tq, tk = l->tk, d = l->d, dv = l->dv;
    if (bh == 0 || tq == 0)
        return;
    if (tk == 0 || dv == 0) {
        uz_cuda_kernels_copy.fill(out, 0.0f, bh * tq * dv);
        return;
    }
    batch_walk w = walk_of(l);
    for (int64_t b = 0; b < w.calls; b++) {
        int64_t i0 = b * w.heads_per_call;
        float *pb = probs + i0 * tq * tk;
        if (d > 0)
            uz_cu_gemm_batched(w.heads_per_call, false, true, tq, tk, d, l->scale,
                               q + b * l->q_stride[0], l->q_stride[2], l->q_stride[1],
                               k + b * l->k_stride[0], l->k_stride[2], l->k_stride[1], 0.0f, pb,
                               tk, tq * tk);
        else
            uz_cuda_kernels_copy.fill(pb, 0.0f, w.heads_per_call * tq * tk);
    }
    uz_cu_dims ms = {};
    for (int i = 0; i < 4; i++)
        ms.v[i] = l->mask_stride[i];
    int64_t rows = bh * tq;
    softmax_rows_kernel<<<uz_cu_blocks(rows, 1), ROW_THREADS, 0, uz_cu_stream()>>>(
        probs, mask, ms, l->heads, tq, tk, l->causal, rows);
    uz_cu_launched("attention softmax");
    for (int64_t b = 0; b < w.calls; b++) {
        int64_t i0 = b * w.heads_per_call;
        uz_cu_gemm_batched(w.heads_per_call, false, false, tq, dv, tk, 1.0f,
                           probs + i0 * tq * tk, tk, tq * tk, v + b * l->v_stride[0],
                           l->v_stride[2], l->v_stride[1], 0.0f, out + i0 * tq * dv, dv,
                           tq * dv);
    }
}

void cu_backward(const uz_attention_layout *l, const float *q, const float *k, const float *v,
                 const float *probs, const float *dout, float *dq, float *dk, float *dv,
                 float *scratch)
{
    int64_t bh = l->batch * l->heads, tq = l->tq, tk = l->tk, d = l->d, nv = l->dv;
    if (bh == 0 || tq == 0 || tk == 0)
        return;
    batch_walk w = walk_of(l);
    int64_t hp = w.heads_per_call;
    // dV += P^T dO (dv is contiguous like v's logical shape).
    for (int64_t b = 0; dv && nv > 0 && b < w.calls; b++) {
        int64_t i0 = b * hp;
        uz_cu_gemm_batched(hp, true, false, tk, nv, tq, 1.0f, probs + i0 * tq * tk, tk, tq * tk,
                           dout + i0 * tq * nv, nv, tq * nv, 1.0f, dv + i0 * tk * nv, nv,
                           tk * nv);
    }
    if (!(dq || dk) || d == 0)
        return;
    // dP = dO V^T, then ds = P * (dP - rowsum(dP * P)).
    for (int64_t b = 0; b < w.calls; b++) {
        int64_t i0 = b * hp;
        if (nv > 0)
            uz_cu_gemm_batched(hp, false, true, tq, tk, nv, 1.0f, dout + i0 * tq * nv, nv,
                               tq * nv, v + b * l->v_stride[0], l->v_stride[2], l->v_stride[1],
                               0.0f, scratch + i0 * tq * tk, tk, tq * tk);
        else
            uz_cuda_kernels_copy.fill(scratch + i0 * tq * tk, 0.0f, hp * tq * tk);
    }
    int64_t rows = bh * tq;
    softmax_grad_rows_kernel<<<uz_cu_blocks(rows, 1), ROW_THREADS, 0, uz_cu_stream()>>>(
        scratch, probs, tk, rows);
    uz_cu_launched("attention softmax backward");
    for (int64_t b = 0; b < w.calls; b++) {
        int64_t i0 = b * hp;
        const float *ds = scratch + i0 * tq * tk;
        // dQ += scale dS K; dK += scale dS^T Q (both contiguous [B, H, T, D]).
        if (dq)
            uz_cu_gemm_batched(hp, false, false, tq, d, tk, l->scale, ds, tk, tq * tk,
                               k + b * l->k_stride[0], l->k_stride[2], l->k_stride[1], 1.0f,
                               dq + i0 * tq * d, d, tq * d);
        if (dk)
            uz_cu_gemm_batched(hp, true, false, tk, d, tq, l->scale, ds, tk, tq * tk,
                               q + b * l->q_stride[0], l->q_stride[2], l->q_stride[1], 1.0f,
                               dk + i0 * tk * d, d, tk * d);
    }
}

} // namespace

extern const struct uz_kernels_attention uz_cuda_kernels_attention;
const struct uz_kernels_attention uz_cuda_kernels_attention = {
    .scratch_slices = cu_scratch_slices,
    .forward = cu_forward,
    .backward = cu_backward,
};
