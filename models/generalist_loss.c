/* The generalist's training losses, one per task, each a cross-entropy over
 * that task's candidates (Uni-Perceiver v2, Eq. 7) plus, for detection, the
 * region-proposal losses after Hungarian matching. */
#include "models/generalist.h"

#include "core/rng.h"
#include "vision/boxes.h"
#include "vision/hungarian.h"

#include <math.h>
#include <string.h>

enum { IGNORE = -100 };

/* Focal-loss constants of the objectness term and its matching cost (DINO's). */
static const float FOCAL_ALPHA = 0.25f, FOCAL_GAMMA = 2.0f;

uz_tensor *uz_gen_image_batch(uz_ctx *ctx, const uz_gen_images *im, const int64_t *idx,
                              int64_t n)
{
    int64_t shape[4] = {n, im->channels, im->size, im->size};
    uz_tensor *x = uz_tensor_empty(ctx, 4, shape);
    if (x)
        uz_gen_images_batch(im, idx, n, x->data);
    return x;
}

uz_tensor *uz_gen_image_embedding(uz_ctx *ctx, const uz_generalist *g, uz_gen_task task,
                                  uz_tensor *images, bool training, uz_image_encoding *enc)
{
    if (uz_image_encoder_forward(ctx, &g->image, images, training, enc) != UZ_OK)
        return NULL;
    return uz_gen_spe(ctx, g, uz_gen_decode_image(ctx, g, task, enc, 0, 1, training));
}

static uz_tensor *classify_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                                const int64_t *idx, int64_t n)
{
    const uz_gen_digits *dg = &d->digits[0];
    int32_t *y = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!y)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        y[i] = dg->labels[idx[i]];
    uz_tensor *s = uz_gen_class_scores(ctx, g, uz_gen_image_batch(ctx, &dg->images, idx, n),
                                       true);
    return s ? uz_cross_entropy(ctx, s, y, IGNORE, 0.0f) : NULL;
}

/* Ground truth of a detection batch: boxes cxcywh in [0, 1] and classes. */
typedef struct det_truth {
    int64_t total;
    int64_t *start;   /* [n + 1]: image i owns rows start[i] .. start[i + 1] - 1 */
    float *boxes;     /* [total, 4] */
    int32_t *cls;     /* [total] */
} det_truth;

static uz_status gather_truth(uz_ctx *ctx, const uz_gen_scenes *sc, const int32_t *cat_class,
                              const int64_t *idx, int64_t n, det_truth *t)
{
    const uz_coco *c = &sc->coco;
    t->start = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)(n + 1));
    if (!t->start)
        return UZ_ERR_NOMEM;
    t->total = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t k;
        uz_coco_image_annotations(c, idx[i], &k);
        t->start[i] = t->total;
        t->total += k;
    }
    t->start[n] = t->total;
    t->boxes = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(4 * t->total + 4));
    t->cls = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(t->total + 1));
    if (!t->boxes || !t->cls)
        return UZ_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t k;
        const int64_t *ann = uz_coco_image_annotations(c, idx[i], &k);
        const uz_coco_image *im = &c->images[idx[i]];
        for (int64_t j = 0; j < k; j++) {
            const uz_coco_annotation *a = &c->annotations[ann[j]];
            float *b = t->boxes + 4 * (t->start[i] + j);
            b[0] = (a->bbox[0] + 0.5f * a->bbox[2]) / (float)im->width;
            b[1] = (a->bbox[1] + 0.5f * a->bbox[3]) / (float)im->height;
            b[2] = a->bbox[2] / (float)im->width;
            b[3] = a->bbox[3] / (float)im->height;
            t->cls[t->start[i] + j] = cat_class[a->category];
        }
    }
    return UZ_OK;
}

/* Hungarian matching of one set of predictions (logits [B, Q], boxes
 * [B, Q, 4]) to the truth, and its objectness + L1 + GIoU loss, each term
 * summed and divided by the number of true boxes (DETR's normalisation).
 * match[b * Q + q] receives the truth row of query q or -1. */
static uz_tensor *proposal_loss(uz_ctx *ctx, const uz_gen_config *cfg, uz_tensor *logits,
                                uz_tensor *boxes, const det_truth *t, int64_t *match)
{
    int64_t B = logits->shape[0], Q = logits->shape[1];
    float *lv = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * Q));
    float *bv = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * Q * 4));
    float *xyxy = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(Q * 4));
    float *gxyxy = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(t->total * 4 + 4));
    float *giou = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(Q * (t->total + 1)));
    double *cost = uz_ctx_alloc(ctx, sizeof(double) * (size_t)(Q * (t->total + 1)));
    int64_t *assign = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)Q);
    if (!lv || !bv || !xyxy || !gxyxy || !giou || !cost || !assign)
        return NULL;
    uz_tensor_copy_out(logits, lv);
    uz_tensor_copy_out(boxes, bv);
    uz_box_cxcywh_to_xyxy(gxyxy, t->boxes, t->total);
    for (int64_t i = 0; i < B * Q; i++)
        match[i] = -1;
    for (int64_t b = 0; b < B; b++) {
        int64_t g0 = t->start[b], G = t->start[b + 1] - g0;
        if (G == 0)
            continue;
        uz_box_cxcywh_to_xyxy(xyxy, bv + b * Q * 4, Q);
        uz_box_giou_matrix(giou, xyxy, Q, gxyxy + 4 * g0, G);
        for (int64_t q = 0; q < Q; q++) {
            double p = 1.0 / (1.0 + exp(-(double)lv[b * Q + q]));
            double pos = FOCAL_ALPHA * pow(1 - p, FOCAL_GAMMA) * -log(p + 1e-8);
            double neg = (1 - FOCAL_ALPHA) * pow(p, FOCAL_GAMMA) * -log(1 - p + 1e-8);
            const float *pb = bv + (b * Q + q) * 4;
            for (int64_t j = 0; j < G; j++) {
                const float *tb = t->boxes + 4 * (g0 + j);
                double l1 = fabs(pb[0] - tb[0]) + fabs(pb[1] - tb[1]) + fabs(pb[2] - tb[2]) +
                            fabs(pb[3] - tb[3]);
                cost[q * G + j] = cfg->cost_obj * (pos - neg) + cfg->cost_l1 * l1 -
                                  cfg->cost_giou * giou[q * G + j];
            }
        }
        void *work = uz_ctx_alloc(ctx, uz_hungarian_workspace(Q, G));
        if (!work || uz_hungarian(cost, Q, G, work, assign) != UZ_OK)
            return NULL;
        for (int64_t q = 0; q < Q; q++)
            if (assign[q] >= 0)
                match[b * Q + q] = g0 + assign[q];
    }
    /* Objectness: every query, target 1 where matched. */
    uz_tensor *target = uz_tensor_zeros(ctx, 2, (int64_t[]){B, Q});
    int32_t *rows = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(t->total + 1));
    float *tb = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(t->total * 4 + 4));
    if (!target || !rows || !tb)
        return NULL;
    int64_t m = 0;
    for (int64_t i = 0; i < B * Q; i++)
        if (match[i] >= 0) {
            target->data[i] = 1.0f;
            rows[m] = (int32_t)i;
            memcpy(tb + 4 * m, t->boxes + 4 * match[i], 4 * sizeof(float));
            m++;
        }
    float norm = 1.0f / (float)(t->total > 0 ? t->total : 1);
    uz_tensor *obj = uz_sum(ctx, uz_sigmoid_focal_loss(ctx, logits, target, FOCAL_ALPHA,
                                                       FOCAL_GAMMA),
                            NULL, 0, false);
    uz_tensor *loss = uz_mul_scalar(ctx, obj, cfg->w_obj * norm);
    if (m == 0 || !loss)
        return loss;
    uz_tensor *flat = uz_reshape(ctx, boxes, 2, (int64_t[]){B * Q, 4});
    uz_tensor *pred = flat ? uz_index_select(ctx, flat, 0, rows, m) : NULL;
    uz_tensor *want = uz_tensor_from(ctx, 2, (int64_t[]){m, 4}, tb);
    if (!pred || !want)
        return NULL;
    uz_tensor *l1 = uz_sum(ctx, uz_abs(ctx, uz_sub(ctx, pred, want)), NULL, 0, false);
    uz_tensor *gl = uz_sum(ctx, uz_box_giou_loss(ctx, pred, want), NULL, 0, false);
    loss = uz_add(ctx, loss, uz_mul_scalar(ctx, l1, cfg->w_l1 * norm));
    return uz_add(ctx, loss, uz_mul_scalar(ctx, gl, cfg->w_giou * norm));
}

/* The objectness of the encoder proposals that seeded the queries:
 * enc_logits[b, selected[b, q]]. */
static uz_tensor *selected_logits(uz_ctx *ctx, const uz_region_proposals *rp)
{
    int64_t B = rp->logits->shape[0], Q = rp->logits->shape[1];
    return uz_gather(ctx, rp->enc_logits, 1, rp->selected, 2, (int64_t[]){B, Q});
}

static uz_tensor *detect_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                              const int64_t *idx, int64_t n)
{
    const uz_gen_scenes *sc = &d->scenes[0];
    const uz_gen_config *cfg = &g->cfg;
    det_truth t;
    if (gather_truth(ctx, sc, d->category_class[0], idx, n, &t) != UZ_OK)
        return NULL;
    uz_image_encoding enc;
    uz_tensor *x = uz_gen_image_batch(ctx, &sc->images, idx, n);
    if (!x || uz_image_encoder_forward(ctx, &g->image, x, true, &enc) != UZ_OK)
        return NULL;
    const uz_region_proposals *rp = &enc.det;
    int64_t Q = enc.n_regional;
    int64_t *match = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)(n * Q));
    if (!match)
        return NULL;
    /* Auxiliary losses first, the last layer's last: its matching is the one
     * the classification term uses. */
    uz_tensor *el = selected_logits(ctx, rp);
    if (!el)
        return NULL;
    uz_tensor *loss = proposal_loss(ctx, cfg, el, rp->enc_boxes, &t, match);
    for (int l = 0; l < rp->n_layers && loss; l++)
        loss = uz_add(ctx, loss, proposal_loss(ctx, cfg, rp->layer_logits[l],
                                               rp->layer_boxes[l], &t, match));
    if (!loss)
        return NULL;
    /* Each region's decoded feature against the class names + background;
     * background rows weigh bg_weight each (DETR's eos_coef). */
    uz_tensor *s = uz_gen_region_scores(ctx, g, &enc, true);
    int32_t *fg = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * Q));
    int32_t *bg = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * Q));
    if (!s || !fg || !bg)
        return NULL;
    int64_t n_fg = 0;
    for (int64_t i = 0; i < n * Q; i++) {
        fg[i] = match[i] >= 0 ? t.cls[match[i]] : IGNORE;
        bg[i] = match[i] >= 0 ? IGNORE : UZ_GEN_CLASSES;
        n_fg += match[i] >= 0;
    }
    double w_fg = (double)n_fg, w_bg = cfg->bg_weight * (double)(n * Q - n_fg);
    if (n_fg > 0)
        loss = uz_add(ctx, loss, uz_mul_scalar(ctx, uz_cross_entropy(ctx, s, fg, IGNORE, 0.0f),
                                               (float)(w_fg / (w_fg + w_bg))));
    if (n_fg < n * Q && loss)
        loss = uz_add(ctx, loss, uz_mul_scalar(ctx, uz_cross_entropy(ctx, s, bg, IGNORE, 0.0f),
                                               (float)(w_bg / (w_fg + w_bg))));
    return loss;
}

static uz_tensor *caption_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                               const int64_t *idx, int64_t n)
{
    const uz_gen_scenes *sc = &d->scenes[0];
    int64_t L = sc->captions.len;
    int64_t *img = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)n);
    int64_t *len = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)n);
    int32_t *ids = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * L));
    int32_t *y = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * L));
    if (!img || !len || !ids || !y)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        img[i] = sc->caption_image[idx[i]];
        len[i] = sc->captions.lengths[idx[i]];
        memcpy(ids + i * L, sc->captions.ids + idx[i] * L, sizeof(int32_t) * (size_t)L);
        for (int64_t j = 0; j < L; j++)
            y[i * L + j] = j < len[i] ? ids[i * L + j] : IGNORE;
    }
    uz_image_encoding enc;
    uz_tensor *x = uz_gen_image_batch(ctx, &sc->images, img, n);
    if (!x || uz_image_encoder_forward(ctx, &g->image, x, true, &enc) != UZ_OK)
        return NULL;
    uz_tensor *q = uz_gen_caption_queries(ctx, g, &enc, ids, len, L, true);
    q = q ? uz_reshape(ctx, q, 2, (int64_t[]){n * L, q->shape[2]}) : NULL;
    uz_tensor *v = q ? uz_gen_embed_vocab(ctx, g, true) : NULL;
    uz_tensor *s = v ? uz_unified_decoder_scores(ctx, &g->dec, UZ_GEN_CAPTION, q, v) : NULL;
    return s ? uz_cross_entropy(ctx, s, y, IGNORE, 0.0f) : NULL;
}

static uz_tensor *retrieve_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                                const int64_t *idx, int64_t n)
{
    const uz_gen_scenes *sc = &d->scenes[0];
    int64_t L = sc->captions.len;
    int32_t *ids = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * L));
    int32_t *diag = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!ids || !diag)
        return NULL;
    /* One of the image's captions, drawn from this step's stream. */
    uint64_t seed = uz_ctx_seed(ctx), stream = uz_ctx_next_stream(ctx);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = sc->image_caption_start[idx[i] + 1] - sc->image_caption_start[idx[i]];
        int64_t pick = (int64_t)(uz_rng_uniform(seed, stream, (uint64_t)i) * (float)k);
        int64_t row = sc->image_caption_start[idx[i]] + (pick < k ? pick : k - 1);
        memcpy(ids + i * L, sc->captions.ids + row * L, sizeof(int32_t) * (size_t)L);
        diag[i] = (int32_t)i;
    }
    uz_image_encoding enc;
    uz_tensor *a = uz_gen_image_embedding(ctx, g, UZ_GEN_RETRIEVE,
                                          uz_gen_image_batch(ctx, &sc->images, idx, n), true,
                                          &enc);
    uz_tensor *b = a ? uz_gen_embed_texts(ctx, g, UZ_GEN_RETRIEVE, true, ids, n, L, true) : NULL;
    uz_tensor *s = b ? uz_unified_decoder_scores(ctx, &g->dec, UZ_GEN_RETRIEVE, a, b) : NULL;
    if (!s)
        return NULL;
    uz_tensor *i2t = uz_cross_entropy(ctx, s, diag, IGNORE, 0.0f);
    uz_tensor *t2i = uz_cross_entropy(ctx, uz_transpose(ctx, s, 0, 1), diag, IGNORE, 0.0f);
    return uz_mul_scalar(ctx, uz_add(ctx, i2t, t2i), 0.5f);
}

uz_tensor *uz_gen_loss(uz_ctx *ctx, const uz_generalist *g, const uz_gen_data *d,
                       uz_gen_task task, const int64_t *idx, int64_t n)
{
    switch (task) {
    case UZ_GEN_CLASSIFY:
        return classify_loss(ctx, g, d, idx, n);
    case UZ_GEN_DETECT:
        return detect_loss(ctx, g, d, idx, n);
    case UZ_GEN_CAPTION:
        return caption_loss(ctx, g, d, idx, n);
    case UZ_GEN_RETRIEVE:
        return retrieve_loss(ctx, g, d, idx, n);
    default:
        UZ_FAIL(UZ_ERR_ARG, "generalist: unknown task %d", (int)task);
        return NULL;
    }
}
