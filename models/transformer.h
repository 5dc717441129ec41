/* A transformer block (self-attention + MLP with residuals and layer norms),
 * pre-LN (GPT-2) or post-LN (original Transformer / BERT), built on core ops
 * so its backward comes from autograd. Parameter names follow PyTorch:
 * prefix + "ln1.weight", "attn.qkv.weight" [3C, C] (rows: q, k, v; within
 * each, head h owns rows h*D..(h+1)*D), "attn.proj.weight" [C, C],
 * "mlp.fc.weight" [hidden, C], "mlp.proj.weight" [C, hidden], ... */
#ifndef UZ_TRANSFORMER_H
#define UZ_TRANSFORMER_H

#include "core/unizoo.h"

typedef struct uz_transformer_config {
    int64_t width;       /* C, the model dim */
    int heads;           /* must divide width */
    int64_t mlp_hidden;  /* 0 means 4 * width */
    bool pre_ln;         /* x + f(ln(x)) if true, ln(x + f(x)) otherwise */
    uz_gelu_mode gelu;
    float dropout;       /* on each residual branch, in [0, 1) */
    float ln_eps;        /* 0 means 1e-5 */
    bool no_mlp;         /* declare no dense MLP: the caller brings its own
                          * feed-forward (e.g. a mixture of experts) through
                          * uz_transformer_block_forward_ffn */
} uz_transformer_config;

typedef struct uz_transformer_block {
    uz_transformer_config cfg; /* with the defaults filled in */
    uz_tensor *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    uz_tensor *ln2_w, *ln2_b, *fc_w, *fc_b, *fc_proj_w, *fc_proj_b; /* fc*: NULL if no_mlp */
} uz_transformer_block;

/* Checks cfg and declares the block's twelve parameters in p under prefix
 * (e.g. "h.0."); eight when cfg->no_mlp. */
uz_status uz_transformer_block_declare(uz_transformer_block *b, uz_params *p, const char *prefix,
                                       const uz_transformer_config *cfg);

/* GPT-2's init: weights N(0, 0.02), biases 0, layer-norm weights 1. Each
 * weight draws from a stream hashed from its name, so blocks initialised
 * with the same seed still differ. Call after uz_params_finalize. */
void uz_transformer_block_init(uz_transformer_block *b, uint64_t seed);

/* x [B, T, C] -> [B, T, C]. mask: optional additive attention mask
 * broadcastable to [B, heads, T, T] (e.g. [B, 1, 1, T] padding with
 * -INFINITY); causal: token t attends to tokens <= t. Dropout (when
 * training) applies to the attention and MLP outputs before each residual
 * add; uz_attention has no dropout on the probabilities. */
uz_tensor *uz_transformer_block_forward(uz_ctx *ctx, const uz_transformer_block *b, uz_tensor *x,
                                        uz_tensor *mask, bool causal, bool training);

/* A feed-forward sub-layer: h [B, T, C] (already layer-normed when pre-LN)
 * -> its branch [B, T, C], before dropout and the residual add. */
typedef uz_tensor *(*uz_transformer_ffn)(uz_ctx *ctx, uz_tensor *h, const void *arg);

/* As uz_transformer_block_forward with ffn(ctx, h, arg) in place of the
 * dense MLP (same norms, dropout and residuals); for blocks declared with
 * no_mlp, or to swap the MLP of any block. */
uz_tensor *uz_transformer_block_forward_ffn(uz_ctx *ctx, const uz_transformer_block *b,
                                            uz_tensor *x, uz_tensor *mask, bool causal,
                                            bool training, uz_transformer_ffn ffn,
                                            const void *arg);

/* The rows [start, start + len) of uz_transformer_block_forward_ffn's
 * result (no causal flag), computed alone: the keys and values still come
 * from every row of x, but the queries, the output projection, the residuals
 * and the feed-forward run on those rows only, so ffn gets [B, len, C] (its
 * arg must describe those rows). For a last layer whose other rows nobody
 * reads. mask: additive, [..., 1 or T, T]; ffn NULL: the dense MLP. */
uz_tensor *uz_transformer_block_forward_rows(uz_ctx *ctx, const uz_transformer_block *b,
                                             uz_tensor *x, uz_tensor *mask, bool training,
                                             uz_transformer_ffn ffn, const void *arg,
                                             int64_t start, int64_t len);

/* The keys and values of a block's attention, [B, heads, T, C / heads] each. */
typedef struct uz_kv {
    uz_tensor *k, *v;
} uz_kv;

/* Inference over a cached prefix (evaluation mode: no dropout): x [B, T, C]
 * attends to prefix's keys and values (kept from an earlier call's kv_out,
 * P positions) followed by its own, under mask [B or 1, 1, T, P + T] (NULL:
 * everything visible). The result equals the rows of x in one
 * uz_transformer_block_forward_ffn pass over [prefix tokens, x] whose
 * prefix rows see only the prefix. prefix NULL: no prefix (P = 0). kv_out
 * (may be NULL) receives x's own keys and values. ffn NULL: the dense MLP. */
uz_tensor *uz_transformer_block_forward_kv(uz_ctx *ctx, const uz_transformer_block *b,
                                           uz_tensor *x, const uz_kv *prefix, uz_kv *kv_out,
                                           uz_tensor *mask, uz_transformer_ffn ffn,
                                           const void *arg);

#endif
