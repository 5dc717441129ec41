/* DETR decoder layer on uz_nn_mha, uz_linear, uz_gelu and uz_layer_norm. */
#include "detr_decoder.h"

uz_status uz_detr_decoder_config_check(uz_detr_decoder_config *c)
{
    if (c->ffn_hidden == 0)
        c->ffn_hidden = 4 * c->width;
    if (c->ln_eps == 0.0f)
        c->ln_eps = 1e-5f;
    if (c->width <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "detr_decoder: width is %lld, must be positive",
                       (long long)c->width);
    if (c->heads <= 0 || c->width % c->heads != 0)
        return UZ_FAIL(UZ_ERR_ARG, "detr_decoder: heads is %d, must divide width %lld", c->heads,
                       (long long)c->width);
    if (c->ffn_hidden < 0)
        return UZ_FAIL(UZ_ERR_ARG, "detr_decoder: ffn_hidden is %lld, must be positive",
                       (long long)c->ffn_hidden);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return UZ_FAIL(UZ_ERR_ARG, "detr_decoder: dropout is %g, must be in [0, 1)",
                       (double)c->dropout);
    if (!(c->ln_eps > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "detr_decoder: ln_eps is %g, must be positive",
                       (double)c->ln_eps);
    return UZ_OK;
}

uz_status uz_detr_decoder_declare(uz_detr_decoder_layer *l, uz_params *p, const char *prefix,
                                  const uz_detr_decoder_config *cfg)
{
    l->cfg = *cfg;
    uz_status st = uz_detr_decoder_config_check(&l->cfg);
    if (st != UZ_OK)
        return st;
    int64_t d = l->cfg.width, f = l->cfg.ffn_hidden;
    float eps = l->cfg.ln_eps;
    if (uz_nn_mha_declare(&l->self_attn, p, prefix, "self_attn", d, l->cfg.heads) != UZ_OK ||
        uz_nn_mha_declare(&l->cross_attn, p, prefix, "cross_attn", d, l->cfg.heads) != UZ_OK ||
        uz_nn_linear_declare(&l->linear1, p, prefix, "linear1", d, f) != UZ_OK ||
        uz_nn_linear_declare(&l->linear2, p, prefix, "linear2", f, d) != UZ_OK ||
        uz_nn_layer_norm_declare(&l->norm1, p, prefix, "norm1", d, eps) != UZ_OK ||
        uz_nn_layer_norm_declare(&l->norm2, p, prefix, "norm2", d, eps) != UZ_OK ||
        uz_nn_layer_norm_declare(&l->norm3, p, prefix, "norm3", d, eps) != UZ_OK)
        return uz_error_status();
    return UZ_OK;
}

void uz_detr_decoder_init(uz_detr_decoder_layer *l, uint64_t seed)
{
    uz_nn_mha_init(&l->self_attn, seed);
    uz_nn_mha_init(&l->cross_attn, seed);
    uz_nn_linear_init(&l->linear1, seed);
    uz_nn_linear_init(&l->linear2, seed);
    uz_nn_layer_norm_init(&l->norm1);
    uz_nn_layer_norm_init(&l->norm2);
    uz_nn_layer_norm_init(&l->norm3);
}

uz_tensor *uz_detr_decoder_forward(uz_ctx *ctx, const uz_detr_decoder_layer *l, uz_tensor *tgt,
                                   uz_tensor *query_pos, uz_tensor *memory,
                                   uz_tensor *memory_pos, uz_tensor *memory_mask, bool training)
{
    if (!tgt || !query_pos || !memory || !memory_pos)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    int64_t d = l->cfg.width;
    if (tgt->ndim != 3 || tgt->shape[2] != d || memory->ndim != 3 || memory->shape[2] != d ||
        memory->shape[0] != tgt->shape[0]) {
        UZ_FAIL(UZ_ERR_ARG, "detr_decoder: tgt %s and memory %s are not [B, Q, %lld], [B, N, %lld]",
                uz_shape_str(tgt, s1, sizeof s1), uz_shape_str(memory, s2, sizeof s2),
                (long long)d, (long long)d);
        return NULL;
    }
    float p = l->cfg.dropout;
    uz_tensor *q = uz_add(ctx, tgt, query_pos);
    uz_tensor *h = uz_nn_mha_forward(ctx, &l->self_attn, q, q, tgt, NULL);
    tgt = uz_nn_layer_norm_forward(ctx, &l->norm1, uz_add(ctx, tgt, uz_dropout(ctx, h, p, training)));

    uz_tensor *k = uz_add(ctx, memory, memory_pos);
    h = uz_nn_mha_forward(ctx, &l->cross_attn, uz_add(ctx, tgt, query_pos), k, memory, memory_mask);
    tgt = uz_nn_layer_norm_forward(ctx, &l->norm2, uz_add(ctx, tgt, uz_dropout(ctx, h, p, training)));

    h = uz_gelu(ctx, uz_nn_linear_forward(ctx, &l->linear1, tgt), UZ_GELU_ERF);
    h = uz_nn_linear_forward(ctx, &l->linear2, h);
    return uz_nn_layer_norm_forward(ctx, &l->norm3, uz_add(ctx, tgt, uz_dropout(ctx, h, p, training)));
}
