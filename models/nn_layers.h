/* Parameter-holding layers shared by the nn blocks in models/: linear, 2-D
 * convolution, layer norm and multi-head attention, named as PyTorch names
 * them ("<prefix><name>.weight", nn.MultiheadAttention's "in_proj_weight")
 * and initialised as PyTorch initialises them. Each initialiser draws from a
 * Philox stream hashed from the parameter's name, so blocks initialised with
 * the same seed still differ. */
#ifndef UZ_NN_LAYERS_H
#define UZ_NN_LAYERS_H

#include "core/unizoo.h"

/* Declares prefix + name (e.g. "rpn." + "level_embed"). */
uz_tensor *uz_nn_param(uz_params *p, const char *prefix, const char *name, int ndim,
                       const int64_t *shape);
/* prefix + name into buf; an error when it does not fit. */
uz_status uz_nn_name(char *buf, size_t n, const char *prefix, const char *name);
/* The Philox stream of a parameter: FNV-1a of its name. */
uint64_t uz_nn_stream(const uz_tensor *t);

typedef struct uz_nn_linear {
    uz_tensor *weight, *bias; /* [out, in], [out] */
} uz_nn_linear;

uz_status uz_nn_linear_declare(uz_nn_linear *l, uz_params *p, const char *prefix,
                               const char *name, int64_t in, int64_t out);
/* nn.Linear's default: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
void uz_nn_linear_init(const uz_nn_linear *l, uint64_t seed);
uz_tensor *uz_nn_linear_forward(uz_ctx *ctx, const uz_nn_linear *l, uz_tensor *x);

typedef struct uz_nn_conv2d {
    uz_tensor *weight, *bias; /* [out, in, k, k], [out] */
    uz_conv2d_opts opts;
} uz_nn_conv2d;

/* A k x k convolution with zero padding `pad`. */
uz_status uz_nn_conv2d_declare(uz_nn_conv2d *c, uz_params *p, const char *prefix,
                               const char *name, int64_t in, int64_t out, int k, int stride,
                               int pad);
/* nn.Conv2d's default: U(-1/sqrt(in k k), 1/sqrt(in k k)). */
void uz_nn_conv2d_init(const uz_nn_conv2d *c, uint64_t seed);
uz_tensor *uz_nn_conv2d_forward(uz_ctx *ctx, const uz_nn_conv2d *c, uz_tensor *x);

typedef struct uz_nn_layer_norm {
    uz_tensor *weight, *bias; /* [width] */
    float eps;
} uz_nn_layer_norm;

uz_status uz_nn_layer_norm_declare(uz_nn_layer_norm *n, uz_params *p, const char *prefix,
                                   const char *name, int64_t width, float eps);
void uz_nn_layer_norm_init(const uz_nn_layer_norm *n); /* weight 1, bias 0 */
uz_tensor *uz_nn_layer_norm_forward(uz_ctx *ctx, const uz_nn_layer_norm *n, uz_tensor *x);

/* The eight tensors of multi-head attention: input projections [E, in_q],
 * [E, in_k], [E, in_v] with biases [E], output projection [out, E] and [out]. */
typedef struct uz_nn_attention_proj {
    uz_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *out_w, *out_b;
} uz_nn_attention_proj;

/* torch.nn.functional.multi_head_attention_forward (batch first, no
 * dropout): xq [B, Tq, in_q], xk [B, Tk, in_k], xv [B, Tk, in_v] ->
 * [B, Tq, out], scores scaled by 1/sqrt(E / heads). mask: optional additive
 * mask broadcastable to [B, heads, Tq, Tk] (key padding: [B, 1, 1, Tk]
 * holding 0 or -INFINITY). */
uz_tensor *uz_nn_attention(uz_ctx *ctx, const uz_nn_attention_proj *w, int heads, uz_tensor *xq,
                           uz_tensor *xk, uz_tensor *xv, uz_tensor *mask);

/* torch.nn.MultiheadAttention(width, heads): "<name>.in_proj_weight"
 * [3 width, width] (rows q, k, v), "<name>.in_proj_bias",
 * "<name>.out_proj.weight", "<name>.out_proj.bias". */
typedef struct uz_nn_mha {
    uz_tensor *in_proj_weight, *in_proj_bias;
    uz_nn_linear out_proj;
    int heads;
} uz_nn_mha;

uz_status uz_nn_mha_declare(uz_nn_mha *m, uz_params *p, const char *prefix, const char *name,
                            int64_t width, int heads);
/* PyTorch's: in_proj Xavier-uniform, out_proj nn.Linear's default, biases 0. */
void uz_nn_mha_init(const uz_nn_mha *m, uint64_t seed);
uz_tensor *uz_nn_mha_forward(uz_ctx *ctx, const uz_nn_mha *m, uz_tensor *xq, uz_tensor *xk,
                             uz_tensor *xv, uz_tensor *mask);

#endif
