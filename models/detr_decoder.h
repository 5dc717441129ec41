/* A DETR decoder layer (post-LN, DETR's forward_post, GELU in the FFN):
 *   q = tgt + query_pos
 *   tgt = norm1(tgt + self_attn(q, q, tgt))
 *   tgt = norm2(tgt + cross_attn(tgt + query_pos, memory + memory_pos, memory))
 *   tgt = norm3(tgt + linear2(gelu(linear1(tgt))))
 * Parameters (PyTorch's nn.MultiheadAttention / DETR names): "self_attn.*" and
 * "cross_attn.*" (in_proj_weight [3d, d], in_proj_bias, out_proj.weight,
 * out_proj.bias), "linear1.*" [ffn, d], "linear2.*" [d, ffn], "norm1..3.*". */
#ifndef UZ_DETR_DECODER_H
#define UZ_DETR_DECODER_H

#include "models/nn_layers.h"

typedef struct uz_detr_decoder_config {
    int64_t width;       /* d */
    int heads;           /* must divide width */
    int64_t ffn_hidden;  /* 0 means 4 d */
    float dropout;       /* on each residual branch when training, in [0, 1) */
    float ln_eps;        /* 0 means 1e-5 */
} uz_detr_decoder_config;

typedef struct uz_detr_decoder_layer {
    uz_detr_decoder_config cfg; /* with the defaults filled in */
    uz_nn_mha self_attn, cross_attn;
    uz_nn_linear linear1, linear2;
    uz_nn_layer_norm norm1, norm2, norm3;
} uz_detr_decoder_layer;

/* Fills the defaults of cfg and checks it; an error names the bad field. */
uz_status uz_detr_decoder_config_check(uz_detr_decoder_config *cfg);
uz_status uz_detr_decoder_declare(uz_detr_decoder_layer *l, uz_params *p, const char *prefix,
                                  const uz_detr_decoder_config *cfg);
/* PyTorch's initialisation of the same modules. */
void uz_detr_decoder_init(uz_detr_decoder_layer *l, uint64_t seed);

/* tgt [B, Q, d]; query_pos broadcastable to it; memory [B, N, d];
 * memory_pos broadcastable to memory (e.g. [N, d]); memory_mask: optional
 * additive key padding mask broadcastable to [B, heads, Q, N] (e.g.
 * [B, 1, 1, N] holding 0 or -INFINITY). Returns [B, Q, d]. */
uz_tensor *uz_detr_decoder_forward(uz_ctx *ctx, const uz_detr_decoder_layer *l, uz_tensor *tgt,
                                   uz_tensor *query_pos, uz_tensor *memory,
                                   uz_tensor *memory_pos, uz_tensor *memory_mask, bool training);

#endif
