/* Kernel table of the attention family: fused scaled-dot-product attention
 * over every (batch, head) slice, forward and backward. */
#ifndef UZ_KERNELS_ATTENTION_H
#define UZ_KERNELS_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

/* Sizes and strides of one attention call. q, k and v are read in place, so
 * the usual [B, T, H, D] projection permuted to [B, H, T, D] needs no copy:
 * element (b, h, t, e) of q is q[b*q_stride[0] + h*q_stride[1] + t*q_stride[2] + e],
 * i.e. the head dim is contiguous and q_stride[2] (the GEMM leading dimension)
 * is >= max(d, 1); likewise k and v. The mask, when there is one, is read
 * through mask_stride over [batch, heads, tq, tk], 0 on broadcast dims. */
typedef struct uz_attention_layout {
    int64_t batch, heads, tq, tk;
    int64_t d;  /* head dim of q and k */
    int64_t dv; /* head dim of v and of the output */
    int64_t q_stride[3], k_stride[3], v_stride[3];
    int64_t mask_stride[4];
    bool causal; /* query i sees keys j <= i */
    float scale;
} uz_attention_layout;

struct uz_kernels_attention {
    /* How many [tq, tk] slices of scratch `forward` (when it does not keep
     * the probabilities) and `backward` need for `bh` = batch * heads slices. */
    int64_t (*scratch_slices)(int64_t bh);
    /* out (contiguous [batch, heads, tq, dv], overwritten) = softmax(q k^T *
     * scale + mask [+ causal]) v, rows with every key masked giving zeros.
     * probs holds `slices` [tq, tk] slices: with slices == batch * heads,
     * slice i keeps the probabilities of (batch, head) i for the backward;
     * otherwise slices == scratch_slices(batch * heads) and they are scratch. */
    void (*forward)(const uz_attention_layout *l, const float *q, const float *k,
                    const float *v, const float *mask, float *out, float *probs,
                    int64_t slices);
    /* Accumulates (+=) the gradients into dq, dk, dv (contiguous in q's, k's,
     * v's logical shapes; NULL ones are skipped) from dout (contiguous like
     * out) and the probabilities kept by forward. scratch holds
     * scratch_slices(batch * heads) slices of [tq, tk]. */
    void (*backward)(const uz_attention_layout *l, const float *q, const float *k,
                     const float *v, const float *probs, const float *dout, float *dq,
                     float *dk, float *dv, float *scratch);
};

#endif
