/* Held-out metrics of the generalist, one set per task: top-1 accuracy,
 * COCO box mAP, BLEU-4 and CIDEr-D of beam-searched captions, retrieval
 * recall. */
#include "models/generalist_eval.h"

#include "core/alloc.h"
#include "datasets/datasets.h"
#include "text/caption_metrics.h"
#include "vision/det_metrics.h"
#include "vision/retrieval_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EVAL_BATCH = 64, CAPTION_TEXT = 512 };

/* Detections an image reports: its best (proposal, class) pairs, every
 * proposal standing for each class at objectness x class probability, as
 * Deformable DETR, DINO and MaskDINO are evaluated (top 100 per image). */
enum { DETS_PER_IMAGE = 100 };

static int64_t limit_of(int64_t n, int64_t limit)
{
    return limit > 0 && limit < n ? limit : n;
}

/* Every task once: accuracy; mAP, mAP@.5, boxes' mAP@.5 and each class's
 * AP@.5; BLEU-4, CIDEr; R@1/5/10 both ways. */
_Static_assert(1 + 3 + UZ_GEN_CLASSES + 2 + 6 <= UZ_MAX_METRICS, "uz_metrics too small");

static void put(uz_metrics *out, int task, const char *name, double value)
{
    if (out->n >= UZ_MAX_METRICS)
        return;
    uz_metric *m = &out->m[out->n++];
    m->task = task;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
}

static int64_t *iota(int64_t s, int64_t n)
{
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; idx && i < n; i++)
        idx[i] = s + i;
    return idx;
}

static uz_status eval_classify(uz_ctx *ctx, const uz_gen_eval *e, int task, uz_metrics *out)
{
    const uz_gen_digits *dg = &e->data->digits[1];
    int64_t n = limit_of(dg->images.n, e->limit);
    float *probs = malloc(sizeof(float) * (size_t)(n * UZ_GEN_CLASSES));
    int64_t *idx = iota(0, n);
    uz_status st = probs && idx ? UZ_OK : UZ_FAIL(UZ_ERR_NOMEM, "out of memory in eval");
    for (int64_t s = 0; s < n && st == UZ_OK; s += EVAL_BATCH) {
        int64_t b = n - s < EVAL_BATCH ? n - s : EVAL_BATCH;
        uz_tensor *x = uz_gen_image_batch(ctx, &dg->images, idx + s, b);
        st = x ? uz_gen_classify(ctx, e->g, x, probs + s * UZ_GEN_CLASSES) : uz_error_status();
        uz_ctx_reset(ctx);
    }
    double acc = 0;
    if (st == UZ_OK)
        st = uz_top1_accuracy(probs, n, UZ_GEN_CLASSES, dg->labels, &acc);
    if (st == UZ_OK)
        put(out, task, "accuracy", acc);
    free(probs);
    free(idx);
    return st;
}

static uz_status eval_detect(uz_ctx *ctx, const uz_gen_eval *e, int task, uz_metrics *out)
{
    const uz_gen_scenes *sc = &e->data->scenes[1];
    const uz_coco *c = &sc->coco;
    /* Each batch's pairs are cut to the images' best as they come. */
    int64_t n = limit_of(sc->images.n, e->limit), Q = e->g->cfg.queries;
    int64_t pairs = Q * UZ_GEN_CLASSES, kept = pairs < DETS_PER_IMAGE ? pairs : DETS_PER_IMAGE;
    uz_det_pred *dets = malloc(sizeof(uz_det_pred) * (size_t)(n * kept + EVAL_BATCH * pairs));
    uz_det_pred *found = malloc(sizeof(uz_det_pred) * (size_t)(n * Q));
    uz_det_gt *gts = malloc(sizeof(uz_det_gt) * (size_t)(c->n_annotations + 1));
    uz_gen_detection *d = malloc(sizeof(uz_gen_detection) * (size_t)(EVAL_BATCH * pairs));
    int64_t *idx = iota(0, n);
    uz_status st = dets && found && gts && d && idx
                       ? UZ_OK
                       : UZ_FAIL(UZ_ERR_NOMEM, "out of memory in eval");
    int64_t n_gts = 0, n_dets = 0;
    for (int64_t s = 0; s < n && st == UZ_OK; s += EVAL_BATCH) {
        int64_t b = n - s < EVAL_BATCH ? n - s : EVAL_BATCH;
        uz_tensor *x = uz_gen_image_batch(ctx, &sc->images, idx + s, b);
        st = x ? uz_gen_detect(ctx, e->g, x, UZ_GEN_CLASSES, d) : uz_error_status();
        uz_ctx_reset(ctx);
        for (int64_t i = 0; i < b && st == UZ_OK; i++) {
            const uz_coco_image *im = &c->images[s + i];
            for (int64_t pair = 0; pair < pairs; pair++) {
                const uz_gen_detection *p = &d[i * pairs + pair];
                uz_det_pred *o = &dets[n_dets + i * pairs + pair];
                o->image_id = s + i;
                o->category_id = p->cls;
                o->score = p->score;
                double w = im->width, h = im->height;
                o->box[0] = (p->box[0] - 0.5 * p->box[2]) * w;
                o->box[1] = (p->box[1] - 0.5 * p->box[3]) * h;
                o->box[2] = p->box[2] * w;
                o->box[3] = p->box[3] * h;
                if (pair % UZ_GEN_CLASSES == 0) { /* the proposal, at its best class's score */
                    uz_det_pred *f = &found[(s + i) * Q + pair / UZ_GEN_CLASSES];
                    *f = *o;
                    f->category_id = 0;
                }
            }
            int64_t k;
            const int64_t *ann = uz_coco_image_annotations(c, s + i, &k);
            for (int64_t j = 0; j < k; j++) {
                const uz_coco_annotation *a = &c->annotations[ann[j]];
                uz_det_gt *gt = &gts[n_gts++];
                gt->image_id = s + i;
                gt->category_id = e->data->category_class[1][a->category];
                for (int t = 0; t < 4; t++)
                    gt->box[t] = a->bbox[t];
                gt->iscrowd = a->iscrowd != 0;
            }
        }
        int64_t n_kept = 0;
        if (st == UZ_OK)
            st = uz_det_keep_top(dets + n_dets, b * pairs, DETS_PER_IMAGE, &n_kept);
        n_dets += n_kept;
    }
    uz_det_map map, boxes;
    uz_det_category_ap cats[UZ_GEN_CLASSES];
    int64_t n_cats = 0;
    if (st == UZ_OK)
        st = uz_det_map_compute_categories(dets, n_dets, gts, n_gts, &map, cats, UZ_GEN_CLASSES,
                                           &n_cats);
    /* Every class as one, each proposal once at its best class's score:
     * what the boxes reach whatever they are called. */
    for (int64_t j = 0; j < n_gts; j++)
        gts[j].category_id = 0;
    if (st == UZ_OK)
        st = uz_det_map_compute(found, n * Q, gts, n_gts, &boxes);
    if (st == UZ_OK) {
        put(out, task, "map", map.ap);
        put(out, task, "map50", map.ap50);
        put(out, task, "map50_boxes", boxes.ap50);
        /* e.g. "ap50/sandal"; the ids are class indices (map_categories). */
        for (int64_t k = 0; k < n_cats; k++) {
            char name[UZ_METRIC_NAME];
            snprintf(name, sizeof name, "ap50/%s", uz_fmnist_classes[cats[k].category_id]);
            put(out, task, name, cats[k].ap50);
        }
    }
    free(dets);
    free(found);
    free(gts);
    free(d);
    free(idx);
    return st;
}

static uz_status eval_caption(uz_ctx *ctx, const uz_gen_eval *e, int task, uz_metrics *out)
{
    const uz_gen_scenes *sc = &e->data->scenes[1];
    const uz_coco *c = &sc->coco;
    int64_t n = limit_of(sc->images.n, e->limit), L = sc->captions.len;
    char *texts = malloc((size_t)(n * CAPTION_TEXT));
    const char **cands = malloc(sizeof(char *) * (size_t)n);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(EVAL_BATCH * L));
    int64_t *len = malloc(sizeof(int64_t) * EVAL_BATCH);
    int64_t *idx = iota(0, n);
    uz_status st = texts && cands && ids && len && idx
                       ? UZ_OK
                       : UZ_FAIL(UZ_ERR_NOMEM, "out of memory in eval");
    for (int64_t s = 0; s < n && st == UZ_OK; s += EVAL_BATCH) {
        int64_t b = n - s < EVAL_BATCH ? n - s : EVAL_BATCH;
        uz_tensor *x = uz_gen_image_batch(ctx, &sc->images, idx + s, b);
        st = x ? uz_gen_caption_beam(ctx, e->g, x, e->beam, L, ids, len) : uz_error_status();
        for (int64_t i = 0; i < b && st == UZ_OK; i++) {
            char *t = texts + (s + i) * CAPTION_TEXT;
            st = uz_gen_caption_text(e->g, e->tok, ids + i * L, len[i], t, CAPTION_TEXT);
            cands[s + i] = t;
        }
    }
    /* References: every caption of each image, from the annotation file. */
    int64_t n_refs = sc->image_caption_start[n];
    const char **refs = malloc(sizeof(char *) * (size_t)(n_refs + 1));
    int64_t *ref_start = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (st == UZ_OK && (!refs || !ref_start))
        st = UZ_FAIL(UZ_ERR_NOMEM, "out of memory in eval");
    for (int64_t i = 0, r = 0; i < n && st == UZ_OK; i++) {
        int64_t k;
        const int64_t *ci = uz_coco_image_captions(c, i, &k);
        ref_start[i] = r;
        for (int64_t j = 0; j < k; j++)
            refs[r++] = c->captions[ci[j]].caption;
        ref_start[i + 1] = r;
    }
    uz_caption_scores cs;
    if (st == UZ_OK)
        st = uz_caption_score(cands, refs, ref_start, n, &cs);
    if (st == UZ_OK) {
        put(out, task, "bleu4", cs.bleu[3]);
        put(out, task, "cider", cs.cider_d);
    }
    free(texts);
    free(cands);
    free(ids);
    free(len);
    free(idx);
    free(refs);
    free(ref_start);
    return st;
}

static uz_status eval_retrieve(uz_ctx *ctx, const uz_gen_eval *e, int task, uz_metrics *out)
{
    const uz_gen_scenes *sc = &e->data->scenes[1];
    int64_t n = limit_of(sc->images.n, e->limit), m = sc->image_caption_start[n];
    int64_t D = e->g->cfg.width, L = sc->captions.len;
    float *ie = malloc(sizeof(float) * (size_t)(n * D));
    float *te = malloc(sizeof(float) * (size_t)(m * D));
    float *sim = malloc(sizeof(float) * (size_t)(n * m));
    int64_t *idx = iota(0, n);
    uz_status st = ie && te && sim && idx ? UZ_OK
                                          : UZ_FAIL(UZ_ERR_NOMEM, "out of memory in eval");
    for (int64_t s = 0; s < n && st == UZ_OK; s += EVAL_BATCH) {
        int64_t b = n - s < EVAL_BATCH ? n - s : EVAL_BATCH;
        uz_image_encoding enc;
        uz_tensor *x = uz_gen_image_batch(ctx, &sc->images, idx + s, b);
        uz_tensor *a = x ? uz_gen_image_embedding(ctx, e->g, UZ_GEN_RETRIEVE, x, false, &enc)
                         : NULL;
        if (a)
            uz_tensor_copy_out(a, ie + s * D);
        st = a ? UZ_OK : uz_error_status();
        uz_ctx_reset(ctx);
    }
    for (int64_t s = 0; s < m && st == UZ_OK; s += EVAL_BATCH) {
        int64_t b = m - s < EVAL_BATCH ? m - s : EVAL_BATCH;
        uz_tensor *t = uz_gen_embed_texts(ctx, e->g, UZ_GEN_RETRIEVE, true,
                                          sc->captions.ids + s * L, b, L, false);
        if (t)
            uz_tensor_copy_out(t, te + s * D);
        st = t ? UZ_OK : uz_error_status();
        uz_ctx_reset(ctx);
    }
    if (st == UZ_OK) {
        /* Both sides are unit vectors: the similarity is their dot product. */
        uz_tensor *a = uz_tensor_wrap(ctx, 2, (int64_t[]){n, D}, ie);
        uz_tensor *b = uz_tensor_wrap(ctx, 2, (int64_t[]){m, D}, te);
        uz_tensor *s = a && b ? uz_matmul(ctx, a, uz_transpose(ctx, b, 0, 1)) : NULL;
        if (s)
            memcpy(sim, s->data, sizeof(float) * (size_t)(n * m));
        st = s ? UZ_OK : uz_error_status();
        uz_ctx_reset(ctx);
    }
    uz_retrieval_recall r;
    if (st == UZ_OK)
        st = uz_retrieval_recall_compute(sim, n, m, sc->caption_image, &r);
    if (st == UZ_OK) {
        put(out, task, "i2t_r1", r.i2t_r1);
        put(out, task, "i2t_r5", r.i2t_r5);
        put(out, task, "i2t_r10", r.i2t_r10);
        put(out, task, "t2i_r1", r.t2i_r1);
        put(out, task, "t2i_r5", r.t2i_r5);
        put(out, task, "t2i_r10", r.t2i_r10);
    }
    free(ie);
    free(te);
    free(sim);
    free(idx);
    return st;
}

uz_status uz_gen_evaluate(uz_ctx *ctx, const uz_gen_eval *e, const int *tasks, int n_tasks,
                          uz_metrics *out)
{
    out->n = 0;
    for (int k = 0; k < n_tasks; k++) {
        uz_status st;
        switch (tasks[k]) {
        case UZ_GEN_CLASSIFY:
            st = eval_classify(ctx, e, k, out);
            break;
        case UZ_GEN_DETECT:
            st = eval_detect(ctx, e, k, out);
            break;
        case UZ_GEN_CAPTION:
            st = eval_caption(ctx, e, k, out);
            break;
        default:
            st = eval_retrieve(ctx, e, k, out);
            break;
        }
        uz_ctx_reset(ctx);
        if (st != UZ_OK)
            return st;
    }
    return UZ_OK;
}
