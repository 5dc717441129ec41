/* Kernel table of the fused neural-network ops (core/ops_nn.h). Rows are the
 * last dim: n rows of c elements, contiguous. Gradient outputs accumulate
 * (+=); a NULL gradient output is skipped. */
#ifndef UZ_KERNELS_NN_H
#define UZ_KERNELS_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

/* An additive mask read through broadcast strides, so a [T, T] attention
 * mask serves every batch and head without a copy. Row r of the [n, c] view
 * is decomposed row-major over shape[0..ndim) (the outer dims of the masked
 * tensor); element (r, j) is data[sum_d idx_d * stride[d] + j * col_stride].
 * Broadcast dims have stride 0. */
typedef struct uz_nn_mask {
    const float *data;
    int ndim;
    int64_t shape[UZ_MAX_DIMS];
    int64_t stride[UZ_MAX_DIMS];
    int64_t col_stride;
} uz_nn_mask;

/* Rows per block of the layer-norm backward: each block keeps its own
 * partial weight and bias gradients (2 * c floats of scratch). */
enum { UZ_LN_ROW_BLOCK = 32 };

static inline int64_t uz_layer_norm_scratch(int64_t n, int64_t c)
{
    return 2 * c * ((n + UZ_LN_ROW_BLOCK - 1) / UZ_LN_ROW_BLOCK);
}

struct uz_kernels_nn {
    /* y = softmax(x + mask) or log_softmax(x + mask) per row; mask NULL for
     * none. -INFINITY logits are excluded; a row with no finite logit gives
     * zeros (softmax) or -INFINITY (log-softmax). */
    void (*softmax_forward)(float *y, const float *x, const uz_nn_mask *mask, int64_t n,
                            int64_t c, bool log_space);
    /* dx += d/dx from the saved output y; excluded entries get no gradient. */
    void (*softmax_backward)(float *dx, const float *dy, const float *y, int64_t n, int64_t c,
                             bool log_space);

    /* loss[0] = sum over rows with targets[i] != ignore_index of
     * lse_i - (1 - smoothing) x[i, t_i] - smoothing / c * sum_j x[i, j],
     * divided by count (NaN when count is 0, as PyTorch). Writes the row
     * log-sum-exps to lse[n]; row_loss[n] is scratch. Targets are in range. */
    void (*cross_entropy_forward)(float *loss, float *lse, float *row_loss, const float *x,
                                  const int32_t *targets, int64_t n, int64_t c,
                                  int32_t ignore_index, float smoothing, int64_t count);
    /* dx[i, j] += dloss[0] / count * (softmax_ij - smoothing / c - (1 - smoothing) [j == t_i])
     * for non-ignored rows, softmax recomputed from x and lse; dx_assign: dx
     * is written as if it held zeros (ignored rows, and every row when count
     * is 0, become 0). dloss is read by the kernel so that it may live in
     * device memory. */
    void (*cross_entropy_backward)(float *dx, bool dx_assign, const float *dloss, const float *x,
                                   const float *lse, const int32_t *targets, int64_t n, int64_t c,
                                   int32_t ignore_index, float smoothing, int64_t count);

    /* y = (x - mean) * rstd * w + b per row (w, b NULL: 1 and 0); saves
     * mean[n] and rstd[n] = 1 / sqrt(biased var + eps). */
    void (*layer_norm_forward)(float *y, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t n, int64_t c, float eps);
    /* dx is written (=) instead of accumulated when dx_assign; scratch holds
     * uz_layer_norm_scratch(n, c) floats when dw or db is wanted. */
    void (*layer_norm_backward)(float *dx, bool dx_assign, float *dw, float *db, const float *dy,
                                const float *x, const float *w, const float *mean,
                                const float *rstd, int64_t n, int64_t c, float *scratch);

    /* Element i is dropped when uz_rng_uniform(seed, stream, i) < p and
     * otherwise scaled by 1 / (1 - p); p == 1 drops everything. */
    void (*dropout_forward)(float *y, const float *x, int64_t n, float p, uint64_t seed,
                            uint64_t stream);
    /* dx += the masked dy; dx_assign: dx is written as if it held zeros. */
    void (*dropout_backward)(float *dx, bool dx_assign, const float *dy, int64_t n, float p,
                             uint64_t seed, uint64_t stream);

    /* y[i, :] = table[ids[i], :] for n ids in [0, V), rows of d. */
    void (*embedding_forward)(float *y, const float *table, const int32_t *ids, int64_t n,
                              int64_t d);
    /* dtable[ids[i], :] += dy[i, :] in id order, skipping ids == padding_idx. */
    void (*embedding_backward)(float *dtable, const float *dy, const int32_t *ids, int64_t n,
                               int64_t d, int32_t padding_idx);

    /* y = x / max(||x||, eps) per row; saves the unclamped norm[n]. */
    void (*l2_normalize_forward)(float *y, float *norm, const float *x, int64_t n, int64_t c,
                                 float eps);
    void (*l2_normalize_backward)(float *dx, const float *dy, const float *y, const float *norm,
                                  int64_t n, int64_t c, float eps);

    /* loss[i] = w[i] (max(x, 0) - x y + log1p(exp(-|x|))) over n elements,
     * w NULL for 1; backward dx[i] += dloss[i] w[i] (sigmoid(x) - y). */
    void (*bce_logits_forward)(float *loss, const float *x, const float *y, const float *w,
                               int64_t n);
    void (*bce_logits_backward)(float *dx, const float *dloss, const float *x, const float *y,
                                const float *w, int64_t n);
    /* torchvision's sigmoid_focal_loss per element: alpha_t * bce * (1 - p_t)^gamma,
     * no alpha_t factor when alpha < 0; gamma >= 0. */
    void (*focal_logits_forward)(float *loss, const float *x, const float *y, int64_t n,
                                 float alpha, float gamma);
    void (*focal_logits_backward)(float *dx, const float *dloss, const float *x, const float *y,
                                  int64_t n, float alpha, float gamma);

    /* loss[i] = 1 - GIoU of boxes pred[i] and target[i] (cxcywh, rows of 4),
     * widths and heights clamped at 0, with torchvision's eps = 1e-7 on the
     * union and the enclosing area. Backward recomputes from the boxes;
     * dpred or dtarget NULL is skipped. */
    void (*giou_loss_forward)(float *loss, const float *pred, const float *target, int64_t n);
    void (*giou_loss_backward)(float *dpred, float *dtarget, const float *dloss,
                               const float *pred, const float *target, int64_t n);
};

#endif
