/* Uni-Perceiver v2's global tokens from the last feature map F3 [B, C, h, w]:
 * M' CLIP-style attention pools, then every F3 token projected to d.
 *
 * Pool i is CLIP's AttentionPool2d with its positional table split in two:
 * the mean token gets the learned row "attn_pools.<i>.query_pos" [C], the map
 * tokens get the fixed 2-D sine encoding (so any map size works). The keys
 * and values are [mean + query_pos, tokens + sine]; the query is the first of
 * them; projections "q_proj", "k_proj", "v_proj" (Linear(C, C)) and "c_proj"
 * (Linear(C, d)). The flattened tokens are "global_proj" = Linear(C, d) plus
 * the 2-D sine encoding of width d, so the decoder sees where each one is.
 * Output: [B, M' + h w, d], pools first, tokens in row-major map order. */
#ifndef UZ_ATTN_POOL_H
#define UZ_ATTN_POOL_H

#include "models/nn_layers.h"

enum { UZ_MAX_ATTN_POOLS = 8 };

typedef struct uz_global_tokens_config {
    int64_t in_channels; /* C of F3, a multiple of 4 and of heads */
    int64_t width;       /* d, a multiple of 4 */
    int heads;           /* attention heads of each pool */
    int n_pools;         /* M', 0..UZ_MAX_ATTN_POOLS */
} uz_global_tokens_config;

typedef struct uz_attn_pool {
    uz_tensor *query_pos;
    uz_nn_linear q_proj, k_proj, v_proj, c_proj;
} uz_attn_pool;

typedef struct uz_global_tokens {
    uz_global_tokens_config cfg;
    uz_attn_pool pools[UZ_MAX_ATTN_POOLS];
    uz_nn_linear global_proj;
} uz_global_tokens;

/* Checks cfg (an error names the bad field) and declares the parameters. */
uz_status uz_global_tokens_declare(uz_global_tokens *g, uz_params *p, const char *prefix,
                                   const uz_global_tokens_config *cfg);
/* nn.Linear's default; query_pos ~ N(0, 1/C) as CLIP's table. */
void uz_global_tokens_init(uz_global_tokens *g, uint64_t seed);
/* F3 [B, C, h, w] -> [B, M' + h w, d]. */
uz_tensor *uz_global_tokens_forward(uz_ctx *ctx, const uz_global_tokens *g, uz_tensor *f3);

#endif
