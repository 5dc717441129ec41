/* Text encoder on uz_embedding and the transformer block. */
#include "text_encoder.h"

#include <math.h>
#include <stdio.h>

#include "nn_layers.h"

uz_status uz_text_encoder_declare(uz_text_encoder *te, uz_params *p, const char *prefix,
                                  const uz_text_encoder_config *cfg)
{
    uz_text_encoder_config c = *cfg;
    if (c.layers == 0)
        c.layers = 2;
    if (c.vocab < 1 || c.max_len < 1 || c.width < 1 || c.layers < 1 ||
        c.layers > UZ_TEXT_MAX_LAYERS)
        return UZ_FAIL(UZ_ERR_ARG,
                       "text_encoder: vocab %lld, max_len %lld, width %lld, %d layers (1..%d)",
                       (long long)c.vocab, (long long)c.max_len, (long long)c.width, c.layers,
                       UZ_TEXT_MAX_LAYERS);
    te->cfg = c;
    te->token_emb =
        uz_nn_param(p, prefix, "token_embedding.weight", 2, (int64_t[]){c.vocab, c.width});
    te->pos_emb =
        uz_nn_param(p, prefix, "position_embedding.weight", 2, (int64_t[]){c.max_len, c.width});
    if (!te->token_emb || !te->pos_emb)
        return uz_error_status();
    uz_transformer_config bc = {.width = c.width, .heads = c.heads, .mlp_hidden = c.mlp_hidden,
                                .pre_ln = false, .gelu = UZ_GELU_ERF, .dropout = c.dropout,
                                .ln_eps = c.ln_eps};
    for (int i = 0; i < c.layers; i++) {
        char name[32], full[256];
        snprintf(name, sizeof name, "layers.%d.", i);
        uz_status st = uz_nn_name(full, sizeof full, prefix, name);
        if (st == UZ_OK)
            st = uz_transformer_block_declare(&te->layers[i], p, full, &bc);
        if (st != UZ_OK)
            return st;
    }
    te->cfg.mlp_hidden = te->layers[0].cfg.mlp_hidden;
    te->cfg.ln_eps = te->layers[0].cfg.ln_eps;
    return UZ_OK;
}

void uz_text_encoder_init(uz_text_encoder *te, uint64_t seed)
{
    uz_param_init_normal(te->token_emb, seed, uz_nn_stream(te->token_emb), 0.0f, 0.02f);
    uz_param_init_normal(te->pos_emb, seed, uz_nn_stream(te->pos_emb), 0.0f, 0.02f);
    /* As nn.Embedding(padding_idx=0): the padding row starts (and stays) zero. */
    for (int64_t j = 0; j < te->cfg.width; j++)
        te->token_emb->data[UZ_TEXT_PAD_ID * te->cfg.width + j] = 0.0f;
    for (int i = 0; i < te->cfg.layers; i++)
        uz_transformer_block_init(&te->layers[i], seed);
}

uz_tensor *uz_text_padding_mask(uz_ctx *ctx, const int32_t *ids, int64_t B, int64_t L,
                                int64_t n_prefix)
{
    if (!ids || B < 1 || L < 0 || n_prefix < 0 || n_prefix + L < 1) {
        UZ_FAIL(UZ_ERR_ARG, "text_padding_mask: ids %s, B %lld, L %lld, prefix %lld",
                ids ? "given" : "NULL", (long long)B, (long long)L, (long long)n_prefix);
        return NULL;
    }
    int64_t T = n_prefix + L;
    uz_tensor *m = uz_tensor_zeros(ctx, 4, (int64_t[]){B, 1, 1, T});
    if (!m)
        return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++)
            if (ids[b * L + t] == UZ_TEXT_PAD_ID)
                m->data[b * T + n_prefix + t] = -INFINITY;
    return m;
}

uz_tensor *uz_text_encoder_forward(uz_ctx *ctx, const uz_text_encoder *te, const int32_t *ids,
                                   int64_t B, int64_t L, bool causal, bool training)
{
    const uz_text_encoder_config *c = &te->cfg;
    if (L < 1 || L > c->max_len) {
        UZ_FAIL(UZ_ERR_ARG, "text_encoder: length %lld outside [1, %lld]", (long long)L,
                (long long)c->max_len);
        return NULL;
    }
    uz_tensor *mask = uz_text_padding_mask(ctx, ids, B, L, 0);
    if (!mask)
        return NULL;
    uz_tensor *x = uz_embedding(ctx, te->token_emb, ids, 2, (int64_t[]){B, L}, UZ_TEXT_PAD_ID);
    x = uz_add(ctx, x, uz_narrow(ctx, te->pos_emb, 0, 0, L));
    x = uz_dropout(ctx, x, c->dropout, training);
    for (int i = 0; i < c->layers; i++)
        x = uz_transformer_block_forward(ctx, &te->layers[i], x, mask, causal, training);
    return x;
}
