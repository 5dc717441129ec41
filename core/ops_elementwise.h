/* Elementwise ops. Binary ops broadcast like PyTorch (shapes right-aligned,
 * size-1 dims stretch) and accept non-contiguous inputs; the gradient of a
 * broadcast input is summed over the broadcast dims. */
#ifndef UZ_OPS_ELEMENTWISE_H
#define UZ_OPS_ELEMENTWISE_H

#include "tensor.h"

uz_tensor *uz_add(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);
uz_tensor *uz_sub(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);
uz_tensor *uz_mul(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);
uz_tensor *uz_div(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);
/* a^b elementwise (a > 0 where b's gradient is needed). */
uz_tensor *uz_pow(uz_ctx *ctx, uz_tensor *a, uz_tensor *b);

uz_tensor *uz_add_scalar(uz_ctx *ctx, uz_tensor *a, float s);
uz_tensor *uz_mul_scalar(uz_ctx *ctx, uz_tensor *a, float s);
uz_tensor *uz_pow_scalar(uz_ctx *ctx, uz_tensor *a, float p);

uz_tensor *uz_exp(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_log(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_sqrt(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_relu(uz_ctx *ctx, uz_tensor *a);
/* |a|; gradient sign(a), 0 at 0 (as PyTorch). */
uz_tensor *uz_abs(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_sigmoid(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_tanh(uz_ctx *ctx, uz_tensor *a);
uz_tensor *uz_silu(uz_ctx *ctx, uz_tensor *a);

typedef enum uz_gelu_mode { UZ_GELU_ERF, UZ_GELU_TANH } uz_gelu_mode;
uz_tensor *uz_gelu(uz_ctx *ctx, uz_tensor *a, uz_gelu_mode mode);

/* cond != 0 ? a : b, all three broadcast together; cond gets no gradient. */
uz_tensor *uz_where(uz_ctx *ctx, uz_tensor *cond, uz_tensor *a, uz_tensor *b);

#endif
