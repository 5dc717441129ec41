/* Attention pools and projected map tokens on uz_nn_attention and uz_linear. */
#include "attn_pool.h"

#include <math.h>
#include <stdio.h>

#include "models/sine_encoding.h"

uz_status uz_global_tokens_declare(uz_global_tokens *g, uz_params *p, const char *prefix,
                                   const uz_global_tokens_config *cfg)
{
    const uz_global_tokens_config *c = cfg;
    if (c->heads <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "global_tokens: heads is %d, must be positive", c->heads);
    if (c->in_channels <= 0 || c->in_channels % 4 != 0 || c->in_channels % c->heads != 0)
        return UZ_FAIL(UZ_ERR_ARG,
                       "global_tokens: in_channels is %lld, must be a positive multiple of 4 and of heads %d",
                       (long long)c->in_channels, c->heads);
    if (c->width <= 0 || c->width % 4 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "global_tokens: width is %lld, must be a positive multiple of 4",
                       (long long)c->width);
    if (c->n_pools < 0 || c->n_pools > UZ_MAX_ATTN_POOLS)
        return UZ_FAIL(UZ_ERR_ARG, "global_tokens: n_pools is %d, must be in [0, %d]", c->n_pools,
                       UZ_MAX_ATTN_POOLS);
    g->cfg = *c;
    int64_t C = c->in_channels;
    for (int i = 0; i < c->n_pools; i++) {
        uz_attn_pool *a = &g->pools[i];
        char sub[256], pre[64];
        snprintf(pre, sizeof pre, "attn_pools.%d.", i);
        if (uz_nn_name(sub, sizeof sub, prefix, pre) != UZ_OK ||
            !(a->query_pos = uz_nn_param(p, sub, "query_pos", 1, (int64_t[]){C})) ||
            uz_nn_linear_declare(&a->q_proj, p, sub, "q_proj", C, C) != UZ_OK ||
            uz_nn_linear_declare(&a->k_proj, p, sub, "k_proj", C, C) != UZ_OK ||
            uz_nn_linear_declare(&a->v_proj, p, sub, "v_proj", C, C) != UZ_OK ||
            uz_nn_linear_declare(&a->c_proj, p, sub, "c_proj", C, c->width) != UZ_OK)
            return uz_error_status();
    }
    return uz_nn_linear_declare(&g->global_proj, p, prefix, "global_proj", C, c->width);
}

void uz_global_tokens_init(uz_global_tokens *g, uint64_t seed)
{
    for (int i = 0; i < g->cfg.n_pools; i++) {
        const uz_attn_pool *a = &g->pools[i];
        uz_param_init_normal(a->query_pos, seed, uz_nn_stream(a->query_pos), 0.0f,
                             1.0f / sqrtf((float)g->cfg.in_channels));
        uz_nn_linear_init(&a->q_proj, seed);
        uz_nn_linear_init(&a->k_proj, seed);
        uz_nn_linear_init(&a->v_proj, seed);
        uz_nn_linear_init(&a->c_proj, seed);
    }
    uz_nn_linear_init(&g->global_proj, seed);
}

uz_tensor *uz_global_tokens_forward(uz_ctx *ctx, const uz_global_tokens *g, uz_tensor *f3)
{
    if (!f3)
        return NULL;
    const uz_global_tokens_config *c = &g->cfg;
    if (f3->ndim != 4 || f3->shape[1] != c->in_channels) {
        char s[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "global_tokens: feature map %s is not [B, %lld, h, w]",
                uz_shape_str(f3, s, sizeof s), (long long)c->in_channels);
        return NULL;
    }
    int64_t B = f3->shape[0], C = c->in_channels, h = f3->shape[2], w = f3->shape[3];
    uz_tensor *tokens = uz_transpose(ctx, uz_reshape(ctx, f3, 3, (int64_t[]){B, C, h * w}), 1, 2);
    uz_tensor *flat = uz_add(ctx, uz_nn_linear_forward(ctx, &g->global_proj, tokens),
                             uz_sine_position_2d(ctx, h, w, c->width));
    uz_tensor *parts[UZ_MAX_ATTN_POOLS + 1];
    if (c->n_pools > 0) {
        uz_tensor *keyed = uz_add(ctx, tokens, uz_sine_position_2d(ctx, h, w, C));
        uz_tensor *mean = uz_mean(ctx, tokens, (const int[]){1}, 1, true);
        for (int i = 0; i < c->n_pools; i++) {
            const uz_attn_pool *a = &g->pools[i];
            uz_tensor *query = uz_add(ctx, mean, a->query_pos);
            uz_tensor *kv = uz_concat(ctx, (uz_tensor *[]){query, keyed}, 2, 1);
            uz_nn_attention_proj proj = {a->q_proj.weight, a->q_proj.bias, a->k_proj.weight,
                                         a->k_proj.bias,   a->v_proj.weight, a->v_proj.bias,
                                         a->c_proj.weight, a->c_proj.bias};
            parts[i] = uz_nn_attention(ctx, &proj, c->heads, query, kv, kv, NULL);
        }
    }
    parts[c->n_pools] = flat;
    return uz_concat(ctx, parts, c->n_pools + 1, 1);
}
