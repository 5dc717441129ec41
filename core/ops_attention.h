/* Fused scaled-dot-product attention. */
#ifndef UZ_OPS_ATTENTION_H
#define UZ_OPS_ATTENTION_H

#include "tensor.h"

/* softmax(q k^T * scale + mask [+ causal]) v for q [B, H, Tq, D],
 * k and v [B, H, Tk, D] (any strides; e.g. a [B, T, H, D] projection
 * permuted) -> [B, H, Tq, D] contiguous.
 * mask: optional additive mask (not differentiated) broadcastable to
 * [B, H, Tq, Tk], e.g. [B, 1, 1, Tk] padding with -INFINITY or [Tq, Tk].
 * causal: query i sees keys j <= i (top-left aligned, as PyTorch's is_causal).
 * scale <= 0 means 1/sqrt(D). A query with every key masked gets zeros
 * (PyTorch gives NaN there). Backward recomputes nothing: the probabilities
 * of each (batch, head) are kept from the forward pass. */
uz_tensor *uz_attention(uz_ctx *ctx, uz_tensor *q, uz_tensor *k, uz_tensor *v, uz_tensor *mask,
                        bool causal, float scale);

#endif
