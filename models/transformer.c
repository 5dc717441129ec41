/* Transformer block on uz_linear, uz_attention, uz_layer_norm, uz_gelu,
 * uz_dropout and uz_add. */
#include "transformer.h"

#include <stdio.h>

static uz_tensor *declare(uz_params *p, const char *prefix, const char *name, int ndim,
                          const int64_t *shape)
{
    char full[256];
    if (snprintf(full, sizeof full, "%s%s", prefix, name) >= (int)sizeof full) {
        UZ_FAIL(UZ_ERR_ARG, "transformer: parameter name prefix '%s' too long", prefix);
        return NULL;
    }
    return uz_params_add(p, full, ndim, shape);
}

uz_status uz_transformer_block_declare(uz_transformer_block *b, uz_params *p, const char *prefix,
                                       const uz_transformer_config *cfg)
{
    uz_transformer_config c = *cfg;
    if (c.mlp_hidden == 0)
        c.mlp_hidden = 4 * c.width;
    if (c.ln_eps == 0.0f)
        c.ln_eps = 1e-5f;
    if (c.width <= 0 || c.heads <= 0 || c.width % c.heads != 0)
        return UZ_FAIL(UZ_ERR_ARG, "transformer: width %lld is not a positive multiple of %d heads",
                       (long long)c.width, c.heads);
    if (c.mlp_hidden < 0 || c.ln_eps < 0.0f || !(c.dropout >= 0.0f && c.dropout < 1.0f))
        return UZ_FAIL(UZ_ERR_ARG,
                       "transformer: mlp_hidden %lld, ln_eps %g, dropout %g out of range",
                       (long long)c.mlp_hidden, (double)c.ln_eps, (double)c.dropout);
    b->cfg = c;
    int64_t C = c.width, F = c.mlp_hidden;
    b->ln1_w = declare(p, prefix, "ln1.weight", 1, (int64_t[]){C});
    b->ln1_b = declare(p, prefix, "ln1.bias", 1, (int64_t[]){C});
    b->qkv_w = declare(p, prefix, "attn.qkv.weight", 2, (int64_t[]){3 * C, C});
    b->qkv_b = declare(p, prefix, "attn.qkv.bias", 1, (int64_t[]){3 * C});
    b->proj_w = declare(p, prefix, "attn.proj.weight", 2, (int64_t[]){C, C});
    b->proj_b = declare(p, prefix, "attn.proj.bias", 1, (int64_t[]){C});
    b->ln2_w = declare(p, prefix, "ln2.weight", 1, (int64_t[]){C});
    b->ln2_b = declare(p, prefix, "ln2.bias", 1, (int64_t[]){C});
    if (!b->ln1_w || !b->ln1_b || !b->qkv_w || !b->qkv_b || !b->proj_w || !b->proj_b ||
        !b->ln2_w || !b->ln2_b)
        return uz_error_status();
    b->fc_w = b->fc_b = b->fc_proj_w = b->fc_proj_b = NULL;
    if (c.no_mlp)
        return UZ_OK;
    b->fc_w = declare(p, prefix, "mlp.fc.weight", 2, (int64_t[]){F, C});
    b->fc_b = declare(p, prefix, "mlp.fc.bias", 1, (int64_t[]){F});
    b->fc_proj_w = declare(p, prefix, "mlp.proj.weight", 2, (int64_t[]){C, F});
    b->fc_proj_b = declare(p, prefix, "mlp.proj.bias", 1, (int64_t[]){C});
    if (!b->fc_w || !b->fc_b || !b->fc_proj_w || !b->fc_proj_b)
        return uz_error_status();
    return UZ_OK;
}

/* FNV-1a: a stable per-name stream, independent of declaration order. */
static uint64_t name_stream(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void uz_transformer_block_init(uz_transformer_block *b, uint64_t seed)
{
    uz_tensor *weights[] = {b->qkv_w, b->proj_w, b->fc_w, b->fc_proj_w};
    uz_tensor *biases[] = {b->ln1_b, b->qkv_b, b->proj_b, b->ln2_b, b->fc_b, b->fc_proj_b};
    for (size_t i = 0; i < sizeof weights / sizeof *weights; i++)
        if (weights[i]) /* the MLP's are NULL when no_mlp */
            uz_param_init_normal(weights[i], seed, name_stream(weights[i]->name), 0.0f, 0.02f);
    for (size_t i = 0; i < sizeof biases / sizeof *biases; i++)
        if (biases[i])
            uz_param_init_const(biases[i], 0.0f);
    uz_param_init_const(b->ln1_w, 1.0f);
    uz_param_init_const(b->ln2_w, 1.0f);
}

/* [B, T, C] slice of a projection -> [B, H, T, C / H], all views. */
static uz_tensor *split_heads(uz_ctx *ctx, uz_tensor *proj, int64_t offset, int64_t C, int64_t H)
{
    if (!proj)
        return NULL;
    int64_t B = proj->shape[0], T = proj->shape[1];
    uz_tensor *part = uz_narrow(ctx, proj, 2, offset, C);
    return uz_permute(ctx, uz_reshape(ctx, part, 4, (int64_t[]){B, T, H, C / H}),
                      (int[]){0, 2, 1, 3});
}

/* Multi-head self-attention of h [B, T, C], up to (not including) the
 * output projection; keys and values follow prefix's when given, and h's
 * own go to kv_out when given. rows (NULL: all): only the queries of rows
 * [rows[0], rows[0] + rows[1]), against the keys and values of every row. */
static uz_tensor *self_attention(uz_ctx *ctx, const uz_transformer_block *b, uz_tensor *h,
                                 uz_tensor *mask, bool causal, const uz_kv *prefix,
                                 uz_kv *kv_out, const int64_t *rows)
{
    if (!h)
        return NULL;
    int64_t B = h->shape[0], T = h->shape[1], C = b->cfg.width, H = b->cfg.heads;
    uz_tensor *q, *kv;
    int64_t kv_at = C;
    if (rows) {
        /* The weight's rows are q, k, v: two products instead of one, so
         * the unread rows cost no query projection. */
        q = uz_linear(ctx, uz_narrow(ctx, h, 1, rows[0], rows[1]),
                      uz_narrow(ctx, b->qkv_w, 0, 0, C), uz_narrow(ctx, b->qkv_b, 0, 0, C));
        kv = uz_linear(ctx, h, uz_narrow(ctx, b->qkv_w, 0, C, 2 * C),
                       uz_narrow(ctx, b->qkv_b, 0, C, 2 * C));
        kv_at = 0;
        int64_t mask_rows = mask && mask->ndim >= 2 ? mask->shape[mask->ndim - 2] : 1;
        if (mask && (mask->ndim < 2 || (mask_rows != 1 && mask_rows != T))) {
            char s[UZ_SHAPE_STR_LEN];
            UZ_FAIL(UZ_ERR_ARG, "transformer: mask %s has neither 1 nor %lld query rows",
                    uz_shape_str(mask, s, sizeof s), (long long)T);
            return NULL;
        }
        if (mask_rows != 1 && !(mask = uz_narrow(ctx, mask, mask->ndim - 2, rows[0], rows[1])))
            return NULL;
        T = rows[1];
    } else {
        q = kv = uz_linear(ctx, h, b->qkv_w, b->qkv_b);
    }
    uz_tensor *heads[3] = {split_heads(ctx, q, 0, C, H), split_heads(ctx, kv, kv_at, C, H),
                           split_heads(ctx, kv, kv_at + C, C, H)};
    if (kv_out)
        *kv_out = (uz_kv){heads[1], heads[2]};
    if (prefix) {
        heads[1] = uz_concat(ctx, (uz_tensor *[]){prefix->k, heads[1]}, 2, 2);
        heads[2] = uz_concat(ctx, (uz_tensor *[]){prefix->v, heads[2]}, 2, 2);
    }
    uz_tensor *o = uz_attention(ctx, heads[0], heads[1], heads[2], mask, causal, 0.0f);
    return uz_reshape(ctx, uz_permute(ctx, o, (int[]){0, 2, 1, 3}), 3, (int64_t[]){B, T, C});
}

static uz_tensor *dense_mlp(uz_ctx *ctx, uz_tensor *h, const void *arg)
{
    const uz_transformer_block *b = arg;
    h = uz_gelu(ctx, uz_linear(ctx, h, b->fc_w, b->fc_b), b->cfg.gelu);
    return uz_linear(ctx, h, b->fc_proj_w, b->fc_proj_b);
}

uz_tensor *uz_transformer_block_forward(uz_ctx *ctx, const uz_transformer_block *b, uz_tensor *x,
                                        uz_tensor *mask, bool causal, bool training)
{
    if (b->cfg.no_mlp) {
        UZ_FAIL(UZ_ERR_ARG, "transformer: block declared without an MLP needs forward_ffn");
        return NULL;
    }
    return uz_transformer_block_forward_ffn(ctx, b, x, mask, causal, training, dense_mlp, b);
}

static uz_tensor *block(uz_ctx *ctx, const uz_transformer_block *b, uz_tensor *x,
                        uz_tensor *mask, bool causal, bool training, uz_transformer_ffn ffn,
                        const void *arg, const uz_kv *prefix, uz_kv *kv_out,
                        const int64_t *rows)
{
    if (!x)
        return NULL;
    const uz_transformer_config *c = &b->cfg;
    if (x->ndim != 3 || x->shape[2] != c->width) {
        char s[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "transformer: input %s is not [B, T, %lld]",
                uz_shape_str(x, s, sizeof s), (long long)c->width);
        return NULL;
    }
    uz_tensor *h = c->pre_ln ? uz_layer_norm(ctx, x, b->ln1_w, b->ln1_b, c->ln_eps) : x;
    h = uz_linear(ctx, self_attention(ctx, b, h, mask, causal, prefix, kv_out, rows), b->proj_w,
                  b->proj_b);
    if (rows)
        x = uz_narrow(ctx, x, 1, rows[0], rows[1]);
    h = uz_add(ctx, x, uz_dropout(ctx, h, c->dropout, training));
    if (!c->pre_ln)
        h = uz_layer_norm(ctx, h, b->ln1_w, b->ln1_b, c->ln_eps);

    uz_tensor *m = c->pre_ln ? uz_layer_norm(ctx, h, b->ln2_w, b->ln2_b, c->ln_eps) : h;
    m = m ? ffn(ctx, m, arg) : NULL;
    uz_tensor *y = uz_add(ctx, h, uz_dropout(ctx, m, c->dropout, training));
    return c->pre_ln ? y : uz_layer_norm(ctx, y, b->ln2_w, b->ln2_b, c->ln_eps);
}

uz_tensor *uz_transformer_block_forward_ffn(uz_ctx *ctx, const uz_transformer_block *b,
                                            uz_tensor *x, uz_tensor *mask, bool causal,
                                            bool training, uz_transformer_ffn ffn,
                                            const void *arg)
{
    return block(ctx, b, x, mask, causal, training, ffn, arg, NULL, NULL, NULL);
}

uz_tensor *uz_transformer_block_forward_rows(uz_ctx *ctx, const uz_transformer_block *b,
                                             uz_tensor *x, uz_tensor *mask, bool training,
                                             uz_transformer_ffn ffn, const void *arg,
                                             int64_t start, int64_t len)
{
    if (!x)
        return NULL;
    if (!ffn && b->cfg.no_mlp) {
        UZ_FAIL(UZ_ERR_ARG, "transformer: block declared without an MLP needs an ffn");
        return NULL;
    }
    if (x->ndim != 3 || start < 0 || len < 1 || start + len > x->shape[1]) {
        char s[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "transformer: rows [%lld, %lld) of input %s", (long long)start,
                (long long)(start + len), uz_shape_str(x, s, sizeof s));
        return NULL;
    }
    return block(ctx, b, x, mask, false, training, ffn ? ffn : dense_mlp, ffn ? arg : b, NULL,
                 NULL, (int64_t[]){start, len});
}

uz_tensor *uz_transformer_block_forward_kv(uz_ctx *ctx, const uz_transformer_block *b,
                                           uz_tensor *x, const uz_kv *prefix, uz_kv *kv_out,
                                           uz_tensor *mask, uz_transformer_ffn ffn,
                                           const void *arg)
{
    if (!ffn && b->cfg.no_mlp) {
        UZ_FAIL(UZ_ERR_ARG, "transformer: block declared without an MLP needs an ffn");
        return NULL;
    }
    return block(ctx, b, x, mask, false, false, ffn ? ffn : dense_mlp, ffn ? arg : b, prefix,
                 kv_out, NULL);
}
