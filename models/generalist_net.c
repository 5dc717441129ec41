/* The generalist's network: declaring its blocks and the passes every task
 * shares (image and text inputs through the unified decoder, candidate
 * embeddings, the two-stream captioning pass). */
#include "models/generalist.h"

#include "core/alloc.h"

#include <math.h>
#include <string.h>

const char *const uz_gen_task_names[UZ_GEN_TASKS] = {"classify", "detect", "caption",
                                                     "retrieve"};

/* The MoE attribute of each task (uz_moe_task has the same order). */
static const uz_moe_task MOE_TASK[UZ_GEN_TASKS] = {UZ_MOE_CLASSIFY, UZ_MOE_DETECT,
                                                   UZ_MOE_CAPTION, UZ_MOE_RETRIEVE};

uz_status uz_gen_declare(uz_generalist *g, uz_params *p, const uz_gen_config *cfg, uint64_t seed)
{
    g->cfg = *cfg;
    uz_image_encoder_config ic = uz_image_encoder_default_config();
    ic.backbone.channels = cfg->channels;
    for (int i = 0; i < 4; i++)
        ic.backbone.widths[i] = cfg->widths[i];
    ic.width = cfg->width;
    ic.heads = cfg->heads;
    ic.ffn_hidden = 4 * cfg->width;
    ic.n_queries = cfg->queries;
    ic.n_layers = cfg->rpn_layers;
    ic.query_content = cfg->query_content;
    ic.n_pools = cfg->pools;
    ic.dropout = cfg->dropout;
    uz_text_encoder_config tc = {.vocab = cfg->vocab,
                                 .max_len = cfg->caption_len > cfg->text_len ? cfg->caption_len
                                                                             : cfg->text_len,
                                 .width = cfg->width,
                                 .heads = cfg->heads,
                                 .layers = cfg->text_layers,
                                 .dropout = cfg->dropout};
    uz_unified_decoder_config dc = {.width = cfg->width,
                                    .heads = cfg->heads,
                                    .layers = cfg->decoder_layers,
                                    .dropout = cfg->dropout,
                                    .moe = cfg->moe,
                                    .experts = cfg->experts,
                                    .top_k = cfg->top_k,
                                    .out_dim = cfg->width,
                                    .tasks = UZ_GEN_TASKS};
    uz_status st = uz_image_encoder_declare(&g->image, p, "image.", &ic);
    if (st == UZ_OK)
        st = uz_text_encoder_declare(&g->text, p, "text.", &tc);
    if (st == UZ_OK)
        st = uz_unified_decoder_declare(&g->dec, p, "decoder.", &dc);
    if (st == UZ_OK)
        st = uz_params_finalize(p);
    if (st != UZ_OK)
        return st;
    uz_image_encoder_init(&g->image, seed);
    uz_text_encoder_init(&g->text, seed);
    uz_unified_decoder_init(&g->dec, seed);
    return UZ_OK;
}

static const float *attr(uz_ctx *ctx, uz_gen_task task, bool target, uz_moe_modality mod)
{
    float *a = uz_ctx_alloc(ctx, sizeof(float) * UZ_MOE_ATTR_DIM);
    if (a && uz_moe_attribute(MOE_TASK[task], target, mod, a) != UZ_OK)
        return NULL;
    return a;
}

/* Image parts of the decoder input: the global tokens then the regional. */
static int image_parts(uz_ctx *ctx, uz_gen_task task, const uz_image_encoding *im,
                       uz_decoder_part *parts)
{
    const float *a = attr(ctx, task, false, UZ_MOE_IMAGE);
    parts[0] = (uz_decoder_part){uz_narrow(ctx, im->tokens, 1, 0, im->n_global),
                                 UZ_TOKEN_IMAGE_GLOBAL, a};
    parts[1] = (uz_decoder_part){uz_narrow(ctx, im->tokens, 1, im->n_global, im->n_regional),
                                 UZ_TOKEN_IMAGE_REGION, a};
    return a && parts[0].tokens && parts[1].tokens ? 2 : -1;
}

uz_tensor *uz_gen_decode_image(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                               const uz_image_encoding *im, int64_t start, int64_t len,
                               bool training)
{
    uz_decoder_part parts[2];
    if (image_parts(ctx, task, im, parts) < 0)
        return NULL;
    return uz_unified_decoder_forward_rows(ctx, &g->dec, parts, 2, NULL, training, start, len);
}

uz_tensor *uz_gen_spe(uz_ctx *ctx, const uz_generalist *g, uz_tensor *h)
{
    uz_tensor *spe = h ? uz_narrow(ctx, h, 1, 0, 1) : NULL;
    spe = spe ? uz_reshape(ctx, spe, 2, (int64_t[]){h->shape[0], h->shape[2]}) : NULL;
    return spe ? uz_unified_decoder_output(ctx, &g->dec, spe) : NULL;
}

uz_tensor *uz_gen_embed_texts(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                              bool target, const int32_t *ids, int64_t n, int64_t len,
                              bool training)
{
    uz_tensor *t = uz_text_encoder_forward(ctx, &g->text, ids, n, len, false, training);
    uz_tensor *mask = t ? uz_text_padding_mask(ctx, ids, n, len, 1) : NULL;
    const float *a = mask ? attr(ctx, task, target, UZ_MOE_TEXT) : NULL;
    if (!a)
        return NULL;
    uz_decoder_part part = {t, UZ_TOKEN_TEXT, a};
    uz_tensor *h = uz_unified_decoder_forward_rows(ctx, &g->dec, &part, 1, mask, training, 0, 1);
    return uz_gen_spe(ctx, g, h);
}

uz_tensor *uz_gen_embed_vocab(uz_ctx *ctx, const uz_generalist *g, bool training)
{
    int64_t v = g->n_pieces;
    int32_t *ids = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)v);
    if (!ids)
        return NULL;
    for (int64_t i = 0; i < v; i++)
        ids[i] = (int32_t)i;
    return uz_gen_embed_texts(ctx, g, UZ_GEN_CAPTION, true, ids, v, 1, training);
}

uz_tensor *uz_gen_caption_queries(uz_ctx *ctx, const uz_generalist *g,
                                  const uz_image_encoding *im, const int32_t *ids,
                                  const int64_t *lengths, int64_t L, bool training)
{
    int64_t B = im->tokens->shape[0], d = g->cfg.width;
    uz_decoder_part parts[4];
    if (image_parts(ctx, UZ_GEN_CAPTION, im, parts) < 0)
        return NULL;
    /* The context stream is encoded causally, so context token i carries
     * nothing of the tokens after it; the query stream is the positions
     * alone (the decoder adds the query type embedding). */
    uz_tensor *context = uz_text_encoder_forward(ctx, &g->text, ids, B, L, true, training);
    uz_tensor *pos = uz_narrow(ctx, g->text.pos_emb, 0, 0, L);
    uz_tensor *queries = pos ? uz_expand(ctx, pos, 3, (int64_t[]){B, L, d}) : NULL;
    const float *a_ctx = attr(ctx, UZ_GEN_CAPTION, false, UZ_MOE_TEXT);
    const float *a_q = attr(ctx, UZ_GEN_CAPTION, false, UZ_MOE_CAPTION_QUERY);
    int64_t n_img = im->n_global + im->n_regional;
    uz_tensor *mask = uz_caption_mask(ctx, B, n_img, L, lengths);
    if (!context || !queries || !a_ctx || !a_q || !mask)
        return NULL;
    parts[2] = (uz_decoder_part){context, UZ_TOKEN_TEXT, a_ctx};
    parts[3] = (uz_decoder_part){queries, UZ_TOKEN_CAPTION_QUERY, a_q};
    uz_tensor *q =
        uz_unified_decoder_forward_rows(ctx, &g->dec, parts, 4, mask, training, 1 + n_img + L, L);
    return q ? uz_unified_decoder_output(ctx, &g->dec, q) : NULL;
}

uz_status uz_gen_caption_prefix(uz_ctx *ctx, const uz_generalist *g, const uz_image_encoding *im,
                                uz_kv *kv)
{
    uz_decoder_part parts[2];
    if (image_parts(ctx, UZ_GEN_CAPTION, im, parts) < 0)
        return uz_error_status();
    return uz_unified_decoder_prefix(ctx, &g->dec, parts, 2, kv);
}

uz_tensor *uz_gen_caption_query(uz_ctx *ctx, const uz_generalist *g, const uz_kv *prefix,
                                const int32_t *ids, int64_t ld, int64_t t)
{
    if (!prefix || !prefix[0].k || !prefix[0].v) {
        UZ_FAIL(UZ_ERR_ARG, "caption_query: no prefix keys and values");
        return NULL;
    }
    int64_t B = prefix[0].k->shape[0], P = prefix[0].k->shape[2], d = g->cfg.width;
    uz_decoder_part parts[2];
    int n = 0;
    if (t > 0) {
        int32_t *so_far = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * t));
        if (!so_far)
            return NULL;
        for (int64_t b = 0; b < B; b++)
            memcpy(so_far + b * t, ids + b * ld, sizeof(int32_t) * (size_t)t);
        uz_tensor *context = uz_text_encoder_forward(ctx, &g->text, so_far, B, t, true, false);
        parts[n++] = (uz_decoder_part){context, UZ_TOKEN_TEXT,
                                       attr(ctx, UZ_GEN_CAPTION, false, UZ_MOE_TEXT)};
    }
    uz_tensor *pos = uz_narrow(ctx, g->text.pos_emb, 0, t, 1);
    parts[n++] = (uz_decoder_part){pos ? uz_expand(ctx, pos, 3, (int64_t[]){B, 1, d}) : NULL,
                                   UZ_TOKEN_CAPTION_QUERY,
                                   attr(ctx, UZ_GEN_CAPTION, false, UZ_MOE_CAPTION_QUERY)};
    /* Context i sees the prefix and context <= i; the query (last) sees the
     * prefix, every context token and itself: causal after the prefix. */
    int64_t T = t + 1;
    uz_tensor *mask = uz_tensor_full(ctx, 4, (int64_t[]){1, 1, T, P + T}, 0.0f);
    if (!mask)
        return NULL;
    for (int64_t r = 0; r < T; r++)
        for (int64_t k = r + 1; k < T; k++)
            mask->data[r * (P + T) + P + k] = -INFINITY;
    uz_tensor *h = uz_unified_decoder_forward_after(ctx, &g->dec, prefix, parts, n, mask);
    h = h ? uz_narrow(ctx, h, 1, t, 1) : NULL;
    h = h ? uz_reshape(ctx, h, 2, (int64_t[]){B, d}) : NULL;
    return h ? uz_unified_decoder_output(ctx, &g->dec, h) : NULL;
}

uz_tensor *uz_gen_class_scores(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images,
                               bool training)
{
    uz_image_encoding enc;
    uz_tensor *a = images ? uz_gen_image_embedding(ctx, g, UZ_GEN_CLASSIFY, images, training,
                                                   &enc)
                          : NULL;
    uz_tensor *c = a ? uz_gen_embed_texts(ctx, g, UZ_GEN_CLASSIFY, true, g->classes.ids,
                                          UZ_GEN_CLASSES, g->classes.len, training)
                     : NULL;
    return c ? uz_unified_decoder_scores(ctx, &g->dec, UZ_GEN_CLASSIFY, a, c) : NULL;
}

uz_tensor *uz_gen_region_scores(uz_ctx *ctx, const uz_generalist *g,
                                const uz_image_encoding *enc, bool training)
{
    int64_t B = enc->tokens->shape[0], Q = enc->n_regional;
    uz_tensor *r = uz_gen_decode_image(ctx, g, UZ_GEN_DETECT, enc, 1 + enc->n_global, Q, training);
    r = r ? uz_reshape(ctx, r, 2, (int64_t[]){B * Q, g->cfg.width}) : NULL;
    uz_tensor *a = r ? uz_unified_decoder_output(ctx, &g->dec, r) : NULL;
    uz_tensor *c = a ? uz_gen_embed_texts(ctx, g, UZ_GEN_DETECT, true, g->classes.ids,
                                          g->classes.n, g->classes.len, training)
                     : NULL;
    return c ? uz_unified_decoder_scores(ctx, &g->dec, UZ_GEN_DETECT, a, c) : NULL;
}
