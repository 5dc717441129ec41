/* The image encoder: its blocks wired together. */
#include "image_encoder.h"

#include <string.h>

uz_image_encoder_config uz_image_encoder_default_config(void)
{
    return (uz_image_encoder_config){.backbone = {.channels = 1, .widths = {32, 64, 96, 128}},
                                     .width = 128, .heads = 4, .ffn_hidden = 512,
                                     .n_queries = 16, .n_layers = 2, .n_pools = 2,
                                     .anchor_size = 0.1f};
}

uz_status uz_image_encoder_declare(uz_image_encoder *e, uz_params *p, const char *prefix,
                                   const uz_image_encoder_config *cfg)
{
    const uz_image_encoder_config *c = cfg;
    /* The constraints that span blocks are checked here so the message names
     * this config's field; each block checks the rest under the same names. */
    if (c->width <= 0 || c->width % 8 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "image_encoder: width is %lld, must be a positive multiple of 8",
                       (long long)c->width);
    int64_t c3 = c->backbone.widths[3];
    if (c->heads > 0 && c3 > 0 && (c3 % 4 != 0 || c3 % c->heads != 0))
        return UZ_FAIL(UZ_ERR_ARG,
                       "image_encoder: backbone.widths[3] is %lld, must be a multiple of 4 and of heads %d",
                       (long long)c3, c->heads);
    e->cfg = *c;
    char sub[4][256];
    const char *names[4] = {"backbone.", "rpn.", "global_tokens.", "box_encoding."};
    for (int i = 0; i < 4; i++)
        if (uz_nn_name(sub[i], sizeof sub[i], prefix, names[i]) != UZ_OK)
            return uz_error_status();
    uz_region_proposal_config rc = {
        .in_channels = {c->backbone.widths[2], c->backbone.widths[3]},
        .decoder = {.width = c->width, .heads = c->heads, .ffn_hidden = c->ffn_hidden,
                    .dropout = c->dropout, .ln_eps = c->ln_eps},
        .n_queries = c->n_queries, .n_layers = c->n_layers, .anchor_size = c->anchor_size,
        .query_content = c->query_content};
    uz_global_tokens_config gc = {.in_channels = c->backbone.widths[3], .width = c->width,
                                  .heads = c->heads, .n_pools = c->n_pools};
    if (uz_backbone_declare(&e->backbone, p, sub[0], &c->backbone) != UZ_OK ||
        uz_region_proposal_declare(&e->rpn, p, sub[1], &rc) != UZ_OK ||
        uz_global_tokens_declare(&e->global_tokens, p, sub[2], &gc) != UZ_OK ||
        uz_box_encoding_declare(&e->box_encoding, p, sub[3], c->width) != UZ_OK)
        return uz_error_status();
    return UZ_OK;
}

void uz_image_encoder_init(uz_image_encoder *e, uint64_t seed)
{
    uz_backbone_init(&e->backbone, seed);
    uz_region_proposal_init(&e->rpn, seed);
    uz_global_tokens_init(&e->global_tokens, seed);
    uz_box_encoding_init(&e->box_encoding, seed);
}

uz_status uz_image_encoder_forward(uz_ctx *ctx, const uz_image_encoder *e, uz_tensor *images,
                                   bool training, uz_image_encoding *out)
{
    memset(out, 0, sizeof *out);
    uz_status st = uz_backbone_forward(ctx, &e->backbone, images, out->features);
    if (st == UZ_OK)
        st = uz_region_proposal_forward(ctx, &e->rpn, out->features[1], out->features[2],
                                        training, &out->det);
    if (st != UZ_OK)
        return st;
    uz_tensor *global = uz_global_tokens_forward(ctx, &e->global_tokens, out->features[2]);
    uz_tensor *regional = uz_add(ctx, out->det.q_sem,
                                 uz_box_encoding_forward(ctx, &e->box_encoding, out->det.boxes));
    out->tokens = uz_concat(ctx, (uz_tensor *[]){global, regional}, 2, 1);
    if (!out->tokens)
        return uz_error_status();
    out->n_global = global->shape[1];
    out->n_regional = regional->shape[1];
    return UZ_OK;
}
