/* The task-agnostic unified decoder g of the generalist (Uni-Perceiver v2):
 * a learned <SPE> vector prepended to the caller's token parts, a learned
 * type embedding added to every other token, pre-LN transformer layers
 * (self-attention under a caller-given additive mask, then the dense MLP or
 * the attribute-level MoE FFN), a final layer norm. Around it: the output
 * projection with L2 normalisation, the cosine score head with learnable
 * per-task temperatures, and the two-stream captioning mask.
 *
 * Parameter names under the caller's prefix: "spe" [d],
 * "type_embedding.weight" [UZ_TOKEN_TYPES, d], "layers.<i>." + the
 * transformer block's names (without "mlp.*" when moe) and, when moe,
 * "layers.<i>.moe." + the MoE's names (models/moe_ffn.h), "ln_f.weight",
 * "ln_f.bias", when out_dim > 0 "out_proj.ln.weight", "out_proj.ln.bias",
 * "out_proj.linear.weight" [out_dim, d], "out_proj.linear.bias", and
 * "logit_scale" [tasks]. */
#ifndef UZ_UNIFIED_DECODER_H
#define UZ_UNIFIED_DECODER_H

#include "core/unizoo.h"
#include "moe_ffn.h"
#include "nn_layers.h"
#include "transformer.h"

enum { UZ_DECODER_MAX_LAYERS = 8, UZ_DECODER_MAX_PARTS = 8 };

/* Which type embedding a part's tokens get (<SPE> gets none). */
typedef enum uz_token_type {
    UZ_TOKEN_IMAGE_GLOBAL,
    UZ_TOKEN_IMAGE_REGION,
    UZ_TOKEN_TEXT,
    UZ_TOKEN_CAPTION_QUERY,
    UZ_TOKEN_TYPES
} uz_token_type;

typedef struct uz_unified_decoder_config {
    int64_t width;      /* d */
    int heads;
    int layers;         /* 0 means 2 */
    int64_t mlp_hidden; /* dense MLP and each expert; 0 means 4 d */
    float dropout;      /* on every residual branch */
    float ln_eps;       /* 0 means 1e-5 */
    bool moe;           /* attribute-level MoE FFN instead of the dense MLP */
    int experts;        /* 0 means 4 */
    int top_k;          /* 0 means 2 */
    int64_t out_dim;    /* > 0: output projection LN + Linear(d -> out_dim); 0: none */
    int tasks;          /* number of per-task logit scales, >= 1 */
} uz_unified_decoder_config;

typedef struct uz_unified_decoder {
    uz_unified_decoder_config cfg; /* with the defaults filled in */
    uz_tensor *spe, *type_emb;
    uz_transformer_block layers[UZ_DECODER_MAX_LAYERS];
    uz_moe_ffn moe[UZ_DECODER_MAX_LAYERS];
    uz_nn_layer_norm ln_f, out_ln;
    uz_nn_linear out_proj;
    uz_tensor *logit_scale;
} uz_unified_decoder;

/* One run of input tokens: tokens [B, n, d] (all parts share B), their type,
 * and their MoE attribute vector (uz_moe_attribute; unused without moe).
 * <SPE> is routed with the first part. */
typedef struct uz_decoder_part {
    uz_tensor *tokens;
    uz_token_type type;
    const float *attr;
} uz_decoder_part;

uz_status uz_unified_decoder_declare(uz_unified_decoder *dec, uz_params *p, const char *prefix,
                                     const uz_unified_decoder_config *cfg);

/* <SPE>, type embeddings and linear weights of the layers N(0, 0.02), layer
 * norms 1 and 0, output projection as nn.Linear, logit scales log(1/0.07).
 * Call after uz_params_finalize. */
void uz_unified_decoder_init(uz_unified_decoder *dec, uint64_t seed);

/* g([SPE, parts...]) -> [B, 1 + sum n, d]; position 0 is <SPE>, then the
 * parts in order. mask: additive, [B or 1, 1, T, T] (T = 1 + sum n) or NULL
 * for full attention. */
uz_tensor *uz_unified_decoder_forward(uz_ctx *ctx, const uz_unified_decoder *dec,
                                      const uz_decoder_part *parts, int n_parts,
                                      uz_tensor *mask, bool training);

/* Rows [start, start + len) of uz_unified_decoder_forward's result ->
 * [B, len, d], with the last layer run on those rows alone (its keys and
 * values still from every position): the same values up to float rounding
 * for a fraction of the last layer's work when only some outputs are read
 * (<SPE>, the regions, the caption queries). */
uz_tensor *uz_unified_decoder_forward_rows(uz_ctx *ctx, const uz_unified_decoder *dec,
                                           const uz_decoder_part *parts, int n_parts,
                                           uz_tensor *mask, bool training, int64_t start,
                                           int64_t len);

/* Inference with a cached prefix (evaluation mode). uz_unified_decoder_prefix
 * runs [<SPE>, parts...] through the layers (full attention among them) and
 * writes each layer's keys and values to kv[0..layers). Tokens that come
 * after such a prefix then go through uz_unified_decoder_forward_after:
 * parts (no <SPE>) attend to the prefix and to each other under mask
 * [B or 1, 1, T, P + T] (P = the prefix's length, NULL: all visible) ->
 * [B, T, d], after the final norm. Together they equal one
 * uz_unified_decoder_forward over [<SPE>, prefix parts, parts] whose mask
 * lets the prefix see only itself, e.g. caption decoding a step at a time
 * over image tokens encoded once. */
uz_status uz_unified_decoder_prefix(uz_ctx *ctx, const uz_unified_decoder *dec,
                                    const uz_decoder_part *parts, int n_parts, uz_kv *kv);
uz_tensor *uz_unified_decoder_forward_after(uz_ctx *ctx, const uz_unified_decoder *dec,
                                            const uz_kv *prefix, const uz_decoder_part *parts,
                                            int n_parts, uz_tensor *mask);

/* h [..., d] -> the output projection (when configured), L2-normalised over
 * the last dim: [..., out_dim or d]. */
uz_tensor *uz_unified_decoder_output(uz_ctx *ctx, const uz_unified_decoder *dec, uz_tensor *h);

/* Scores of inputs a [N, D] against candidates b [M, D] for task:
 * cos(a_i, b_j) * exp(min(logit_scale[task], log 100)) -> [N, M]. Past the
 * cap the scale gets no gradient (as torch.clamp: it still does at equality). */
uz_tensor *uz_unified_decoder_scores(uz_ctx *ctx, const uz_unified_decoder *dec, int task,
                                     uz_tensor *a, uz_tensor *b);

/* The two-stream teacher-forcing mask of captioning (reference §2.4) for
 * the sequence [SPE, n_img image tokens, L context tokens, L query tokens]
 * -> [B, 1, T, T] holding 0 (may attend) or -INFINITY, T = 1 + n_img + 2 L.
 * Everyone sees SPE and the image tokens, which see nothing else; context
 * i sees context <= i; query j sees context < j and itself. Positions at
 * or past a caption's length[b] (context and query) are masked as keys
 * for everyone, so every row still sees SPE. Query j is trained to predict
 * caption token j. */
uz_tensor *uz_caption_mask(uz_ctx *ctx, int64_t B, int64_t n_img, int64_t L,
                           const int64_t *lengths);

#endif
