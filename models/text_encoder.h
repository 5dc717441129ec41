/* The text encoder f_text of the generalist: token embedding (id 0 is
 * padding and gets no gradient) plus learned position embedding, then
 * post-LN transformer blocks (erf GELU) with a key-padding mask.
 * Parameter names under the caller's prefix: "token_embedding.weight"
 * [vocab, d], "position_embedding.weight" [max_len, d], and each block's
 * "layers.<i>." + the transformer block's names (models/transformer.h). */
#ifndef UZ_TEXT_ENCODER_H
#define UZ_TEXT_ENCODER_H

#include "core/unizoo.h"
#include "transformer.h"

enum { UZ_TEXT_PAD_ID = 0, UZ_TEXT_MAX_LAYERS = 8 };

typedef struct uz_text_encoder_config {
    int64_t vocab;      /* ids in [0, vocab), 0 = padding */
    int64_t max_len;    /* learned positions */
    int64_t width;      /* d */
    int heads;
    int layers;         /* 0 means 2 */
    int64_t mlp_hidden; /* 0 means 4 d */
    float dropout;      /* on the embeddings and every residual branch */
    float ln_eps;       /* 0 means 1e-5 */
} uz_text_encoder_config;

typedef struct uz_text_encoder {
    uz_text_encoder_config cfg; /* with the defaults filled in */
    uz_tensor *token_emb, *pos_emb;
    uz_transformer_block layers[UZ_TEXT_MAX_LAYERS];
} uz_text_encoder;

uz_status uz_text_encoder_declare(uz_text_encoder *te, uz_params *p, const char *prefix,
                                  const uz_text_encoder_config *cfg);

/* Embeddings N(0, 0.02) with the padding row zero, blocks as
 * uz_transformer_block_init. Call after uz_params_finalize. */
void uz_text_encoder_init(uz_text_encoder *te, uint64_t seed);

/* ids [B, L] (row-major, L <= max_len, right-padded with 0) -> [B, L, d].
 * Padding positions are masked as keys; their own outputs are defined but
 * meaningless. causal: position i also sees only positions <= i (the
 * caption context stream, so token i carries nothing of later tokens). A
 * row with every key masked (all padding) gets zeros from attention
 * (uz_attention's convention). */
uz_tensor *uz_text_encoder_forward(uz_ctx *ctx, const uz_text_encoder *te, const int32_t *ids,
                                   int64_t B, int64_t L, bool causal, bool training);

/* The additive key-padding mask [B, 1, 1, n_prefix + L] for a sequence of
 * n_prefix always-visible positions (e.g. <SPE>) followed by ids [B, L]:
 * 0, or -INFINITY where the id is UZ_TEXT_PAD_ID. Not differentiable. */
uz_tensor *uz_text_padding_mask(uz_ctx *ctx, const int32_t *ids, int64_t B, int64_t L,
                                int64_t n_prefix);

#endif
