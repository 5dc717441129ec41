/* Differentiable ops. Every op takes the step context first, returns a new
 * tensor from its arena, records itself on the tape when an input requires
 * grad, and returns NULL with the error set on failure. A NULL input makes
 * an op return NULL at once, so a forward pass can be checked once at its end. */
#ifndef UZ_OPS_H
#define UZ_OPS_H

#include "tensor.h"

/* ---- matrix products ---- */
/* a [..., m, k] x b [..., k, n] with equal batch dims, or b 2-D shared by
 * the batch. Transposed views are fed to GEMM without a copy. */
uz_tensor *uz_matmul(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);
/* y = x w^T + bias: x [..., in], w [out, in], bias [out] or NULL. */
uz_tensor *uz_linear(uz_ctx *ctx, uz_tensor *x, uz_tensor *w, uz_tensor *bias);

#include "ops_elementwise.h"
#include "ops_reduce.h"
#include "ops_nn.h"
#include "ops_index.h"
#include "ops_conv.h"
#include "ops_attention.h"

#endif
