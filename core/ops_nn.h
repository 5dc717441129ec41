/* Fused neural-network ops with hand-written backward passes. */
#ifndef UZ_OPS_NN_H
#define UZ_OPS_NN_H

#include "tensor.h"

/* Softmax / log-softmax over the last dim. mask (optional, not
 * differentiated) is added to the logits first and broadcasts to a's shape;
 * -INFINITY entries are excluded. A fully masked row gives zeros (softmax)
 * and -INFINITY (log-softmax), with zero gradient. */
uz_tensor *uz_softmax(uz_ctx *ctx, uz_tensor *a, uz_tensor *mask);
uz_tensor *uz_log_softmax(uz_ctx *ctx, uz_tensor *a, uz_tensor *mask);

/* Mean softmax cross-entropy of logits [..., C] (rows N = numel / C) against
 * targets[N] in [0, C). Rows whose target is ignore_index add nothing and are
 * not counted in the mean (PyTorch semantics, including label smoothing in
 * [0, 1)). Returns a 0-d tensor. Besides the logits only the gradient buffer
 * is ever [N, C]: forward keeps one log-sum-exp per row. A target outside
 * [0, C) is an error naming the row. */
uz_tensor *uz_cross_entropy(uz_ctx *ctx, uz_tensor *logits, const int32_t *targets,
                            int32_t ignore_index, float label_smoothing);

/* Layer norm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias
 * (biased variance, as PyTorch); weight and bias are [C] or NULL. */
uz_tensor *uz_layer_norm(uz_ctx *ctx, uz_tensor *x, uz_tensor *weight, uz_tensor *bias,
                         float eps);

/* Inverted dropout: zero with probability p, scale the rest by 1/(1-p). The
 * mask of element i comes from (ctx seed, a fresh ctx stream, i), so it is
 * identical for any thread count. Identity when !training or p == 0. */
uz_tensor *uz_dropout(uz_ctx *ctx, uz_tensor *x, float p, bool training);

/* table [V, D] gathered at ids (shape `shape`, ndim <= 4) -> [shape..., D].
 * Rows equal to padding_idx (use -1 for none) get no gradient. An id outside
 * [0, V) is an error naming its position. */
uz_tensor *uz_embedding(uz_ctx *ctx, uz_tensor *table, const int32_t *ids, int ndim,
                        const int64_t *shape, int32_t padding_idx);

/* x / max(||x||_2, eps) over the last dim. */
uz_tensor *uz_l2_normalize(uz_ctx *ctx, uz_tensor *x, float eps);

/* Cosine similarity of every row of a [N, D] with every row of b [M, D] -> [N, M]. */
uz_tensor *uz_cosine_similarity_matrix(uz_ctx *ctx, uz_tensor *a, uz_tensor *b, float eps);

/* Per-element sigmoid binary cross-entropy on logits (reduction "none"):
 * weight * (max(x, 0) - x y + log1p(exp(-|x|))). targets has the logits'
 * shape, weight (or NULL) broadcasts to it; both are constants (no gradient). */
uz_tensor *uz_bce_with_logits(uz_ctx *ctx, uz_tensor *logits, uz_tensor *targets,
                              uz_tensor *weight);
/* torchvision.ops.sigmoid_focal_loss, reduction "none": with p = sigmoid(x)
 * and p_t = p y + (1 - p)(1 - y), alpha_t * bce * (1 - p_t)^gamma where
 * alpha_t = alpha y + (1 - alpha)(1 - y), or 1 when alpha < 0; gamma >= 0.
 * targets (constant) has the logits' shape. */
uz_tensor *uz_sigmoid_focal_loss(uz_ctx *ctx, uz_tensor *logits, uz_tensor *targets,
                                 float alpha, float gamma);

#endif
