/* Inference with the generalist: class probabilities, detections, captions
 * (greedy and beam search) and retrieval embeddings. Callers turn gradient
 * recording off; everything here runs in evaluation mode. */
#include "models/generalist.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uz_status uz_gen_classify(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, float *probs)
{
    uz_tensor *s = uz_gen_class_scores(ctx, g, images, false);
    uz_tensor *p = s ? uz_softmax(ctx, s, NULL) : NULL;
    if (!p)
        return uz_error_status();
    uz_tensor_copy_out(p, probs);
    return UZ_OK;
}

uz_status uz_gen_detect(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, int k,
                        uz_gen_detection *out)
{
    if (k < 1 || k > UZ_GEN_CLASSES)
        return UZ_FAIL(UZ_ERR_ARG, "detect: %d classes per proposal, must be in [1, %d]", k,
                       UZ_GEN_CLASSES);
    uz_image_encoding enc;
    if (uz_image_encoder_forward(ctx, &g->image, images, false, &enc) != UZ_OK)
        return uz_error_status();
    int64_t B = images->shape[0], Q = enc.n_regional;
    uz_tensor *s = uz_gen_region_scores(ctx, g, &enc, false);
    uz_tensor *p = s ? uz_softmax(ctx, s, NULL) : NULL;
    float *pv = p ? uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * Q * g->classes.n)) : NULL;
    float *lv = pv ? uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * Q)) : NULL;
    float *bv = lv ? uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * Q * 4)) : NULL;
    if (!bv)
        return uz_error_status();
    uz_tensor_copy_out(p, pv);
    uz_tensor_copy_out(enc.det.logits, lv);
    uz_tensor_copy_out(enc.det.boxes, bv);
    /* Score = objectness x class probability (background aside). */
    for (int64_t i = 0; i < B * Q; i++) {
        const float *row = pv + i * g->classes.n;
        int order[UZ_GEN_CLASSES];
        for (int c = 0; c < UZ_GEN_CLASSES; c++) { /* insertion: ties keep class order */
            int j = c;
            for (; j > 0 && row[c] > row[order[j - 1]]; j--)
                order[j] = order[j - 1];
            order[j] = c;
        }
        float objectness = 1.0f / (1.0f + expf(-lv[i]));
        for (int j = 0; j < k; j++) {
            uz_gen_detection *d = &out[i * k + j];
            d->cls = order[j];
            d->score = row[order[j]] * objectness;
            memcpy(d->box, bv + 4 * i, sizeof d->box);
        }
    }
    return UZ_OK;
}

/* What every decoding step reuses, kept outside the arena so that each
 * step can reset the context: the decoder's keys and values of <SPE> and
 * the image tokens (encoded once, one row per hypothesis) and the
 * vocabulary's embeddings. */
typedef struct caption_cache {
    int64_t rows, H, P, dh, V, D;
    int layers;
    float *kv[2 * UZ_DECODER_MAX_LAYERS]; /* k, v of each layer: [rows, H, P, dh] */
    float *vocab;                         /* [V, D] */
} caption_cache;

static void cache_free(caption_cache *cc)
{
    for (int i = 0; i < 2 * cc->layers; i++)
        uz_free(cc->kv[i]);
    uz_free(cc->vocab);
}

/* The cache of images [B, ...] with each image's row repeated `copies`
 * times (row b * copies + k). */
static uz_status cache_build(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images,
                             int64_t copies, caption_cache *cc)
{
    uz_image_encoding enc;
    uz_kv kv[UZ_DECODER_MAX_LAYERS];
    if (uz_image_encoder_forward(ctx, &g->image, images, false, &enc) != UZ_OK ||
        uz_gen_caption_prefix(ctx, g, &enc, kv) != UZ_OK)
        return uz_error_status();
    uz_tensor *v = uz_gen_embed_vocab(ctx, g, false);
    if (!v)
        return uz_error_status();
    const uz_tensor *k0 = kv[0].k;
    *cc = (caption_cache){.rows = k0->shape[0] * copies, .H = k0->shape[1], .P = k0->shape[2],
                          .dh = k0->shape[3], .V = v->shape[0], .D = v->shape[1],
                          .layers = g->dec.cfg.layers};
    int64_t row = cc->H * cc->P * cc->dh;
    uz_status st = UZ_OK;
    for (int i = 0; i < 2 * cc->layers && st == UZ_OK; i++) {
        const uz_tensor *t = i % 2 ? kv[i / 2].v : kv[i / 2].k;
        if (!(cc->kv[i] = uz_malloc(sizeof(float) * (size_t)(cc->rows * row), "caption cache"))) {
            st = uz_error_status();
            break;
        }
        uz_tensor_copy_out(t, cc->kv[i]);
        for (int64_t r = cc->rows - 1; r > 0 && copies > 1; r--) /* spread, last row first */
            memcpy(cc->kv[i] + r * row, cc->kv[i] + (r / copies) * row,
                   sizeof(float) * (size_t)row);
    }
    if (st == UZ_OK && !(cc->vocab = uz_malloc(sizeof(float) * (size_t)uz_tensor_numel(v),
                                               "caption cache")))
        st = uz_error_status();
    if (st != UZ_OK) {
        cache_free(cc);
        return st;
    }
    uz_tensor_copy_out(v, cc->vocab);
    uz_ctx_reset(ctx);
    return UZ_OK;
}

/* Log-probabilities over the vocabulary of query t of every cache row
 * (row i of ids [rows, L]), into lp[rows, V]. Ids that are never generated
 * (pad, unk, bos, <spe>) get -INFINITY; a NaN is an error. */
static uz_status step_logprobs(uz_ctx *ctx, const uz_generalist *g, const caption_cache *cc,
                               const int32_t *ids, int64_t L, int64_t t, float *lp)
{
    uz_ctx_reset(ctx);
    uz_kv kv[UZ_DECODER_MAX_LAYERS];
    int64_t n = cc->rows, shape[4] = {n, cc->H, cc->P, cc->dh};
    for (int i = 0; i < 2 * cc->layers; i++) {
        uz_tensor *w = uz_tensor_wrap(ctx, 4, shape, cc->kv[i]);
        if (!w)
            return uz_error_status();
        *(i % 2 ? &kv[i / 2].v : &kv[i / 2].k) = w;
    }
    uz_tensor *v = uz_tensor_wrap(ctx, 2, (int64_t[]){cc->V, cc->D}, cc->vocab);
    uz_tensor *q = v ? uz_gen_caption_query(ctx, g, kv, ids, L, t) : NULL;
    uz_tensor *s = q ? uz_unified_decoder_scores(ctx, &g->dec, UZ_GEN_CAPTION, q, v) : NULL;
    if (!s)
        return uz_error_status();
    for (int k = 0; k < g->n_banned; k++)
        for (int64_t i = 0; i < n; i++)
            s->data[i * cc->V + g->banned[k]] = -INFINITY;
    uz_tensor *l = uz_log_softmax(ctx, s, NULL);
    if (!l)
        return uz_error_status();
    uz_tensor_copy_out(l, lp);
    for (int64_t i = 0; i < n * cc->V; i++)
        if (isnan(lp[i]))
            return UZ_FAIL(UZ_ERR_NUMERIC, "captioning: NaN log-probability at step %lld of "
                           "hypothesis %lld", (long long)t, (long long)(i / cc->V));
    return UZ_OK;
}

/* One hypothesis of the beam: ids so far and their summed log-probability. */
typedef struct beam_hyp {
    double score;
    int64_t len;
    bool done;
} beam_hyp;

/* One image's K best extensions of its hypotheses hyp/cur at step t
 * (log-probabilities lp[K, V]) into nh/next; finished hypotheses carry over
 * unchanged. A small insertion selection over K * V candidates (K is small). */
static void beam_extend(const beam_hyp *hyp, const int32_t *cur, const float *lp, int64_t K,
                        int64_t V, int64_t L, int64_t t, int32_t eos, beam_hyp *nh,
                        int32_t *next)
{
    for (int64_t k = 0; k < K; k++)
        nh[k].score = -INFINITY;
    for (int64_t k = 0; k < K; k++) {
        if (hyp[k].score == -INFINITY)
            continue;
        for (int64_t v = 0; v < (hyp[k].done ? 1 : V); v++) {
            double s = hyp[k].done ? hyp[k].score : hyp[k].score + lp[k * V + v];
            if (s <= nh[K - 1].score)
                continue;
            int64_t pos = K - 1;
            while (pos > 0 && nh[pos - 1].score < s) {
                nh[pos] = nh[pos - 1];
                memcpy(next + pos * L, next + (pos - 1) * L, sizeof(int32_t) * (size_t)L);
                pos--;
            }
            memcpy(next + pos * L, cur + k * L, sizeof(int32_t) * (size_t)L);
            nh[pos] = hyp[k];
            nh[pos].score = s;
            if (!hyp[k].done) {
                next[pos * L + t] = (int32_t)v;
                nh[pos].len = t + 1;
                nh[pos].done = v == eos;
            }
        }
    }
}

uz_status uz_gen_caption_beam(uz_ctx *ctx, const uz_generalist *g, uz_tensor *images, int beam,
                              int64_t L, int32_t *ids, int64_t *lengths)
{
    if (beam < 1)
        return UZ_FAIL(UZ_ERR_ARG, "caption beam search: beam %d, must be >= 1", beam);
    /* Row b * K + k is hypothesis k of image b. */
    caption_cache cc = {.rows = 0};
    uz_status st = cache_build(ctx, g, images, beam, &cc);
    if (st != UZ_OK)
        return st;
    int64_t K = beam, n = cc.rows, B = n / K, V = cc.V;
    int32_t *cur = calloc((size_t)(n * L), sizeof(int32_t));
    int32_t *next = calloc((size_t)(n * L), sizeof(int32_t));
    beam_hyp *hyp = calloc((size_t)n, sizeof(beam_hyp));
    beam_hyp *nh = calloc((size_t)n, sizeof(beam_hyp));
    float *lp = malloc(sizeof(float) * (size_t)(n * V));
    if (!cur || !next || !hyp || !nh || !lp)
        st = UZ_FAIL(UZ_ERR_NOMEM, "out of memory in beam search");
    /* One live hypothesis per image at first; the others start at -inf. */
    for (int64_t r = 0; r < n && st == UZ_OK; r++)
        if (r % K)
            hyp[r].score = -INFINITY;
    for (int64_t t = 0; t < L && st == UZ_OK; t++) {
        if ((st = step_logprobs(ctx, g, &cc, cur, L, t, lp)) != UZ_OK)
            break;
        for (int64_t b = 0; b < B; b++)
            beam_extend(hyp + b * K, cur + b * K * L, lp + b * K * V, K, V, L, t, g->eos_id,
                        nh + b * K, next + b * K * L);
        memcpy(cur, next, sizeof(int32_t) * (size_t)(n * L));
        memcpy(hyp, nh, sizeof(beam_hyp) * (size_t)n);
        bool all = true;
        for (int64_t r = 0; r < n; r++)
            all = all && (hyp[r].done || hyp[r].score == -INFINITY);
        if (all)
            break;
    }
    for (int64_t b = 0; b < B && st == UZ_OK; b++) {
        memcpy(ids + b * L, cur + b * K * L, sizeof(int32_t) * (size_t)L);
        lengths[b] = hyp[b * K].len;
    }
    free(cur);
    free(next);
    free(hyp);
    free(nh);
    free(lp);
    cache_free(&cc);
    uz_ctx_reset(ctx);
    return st;
}

uz_status uz_gen_caption_text(const uz_generalist *g, const uz_tokenizer *tok, const int32_t *ids,
                              int64_t n, char *out, size_t cap)
{
    while (n > 0 && ids[n - 1] == g->eos_id)
        n--;
    return uz_tokenizer_decode(tok, ids, n, out, cap) < 0 ? uz_error_status() : UZ_OK;
}
