/* LAMB in the TFA / apex adam_w_mode form: Adam moments (optionally
 * bias-corrected), direction r = m^/(sqrt(v^)+eps) + wd*w, and per tensor
 * the trust ratio ||w||/||r|| (1 when either is 0, or for tensors excluded
 * from adaptation). Two passes: the first updates the moments and sums the
 * per-tensor norms, the second recomputes r from the stored moments (the
 * same arithmetic, so the same values) and applies it. */
#include "optim_internal.h"

#include <math.h>

typedef struct lamb_coef {
    float b1, b2, c1, c2;
    float ibc1, ibc2;     /* 1 / bias corrections (1 when off) */
    float eps;
} lamb_coef;

static void lamb_moments(const float *restrict g, float *restrict m, float *restrict v, int64_t n,
                         float gs, const lamb_coef *c)
{
    const float b1 = c->b1, b2 = c->b2, c1 = c->c1, c2 = c->c2;
    for (int64_t i = 0; i < n; i++) {
        float gi = gs * g[i];
        m[i] = b1 * m[i] + c1 * gi;
        v[i] = b2 * v[i] + c2 * (gi * gi);
    }
}

/* n <= UZ_FP8_GROUP; r doubles as the square-root scratch. */
static void lamb_dir(const float *restrict w, const float *restrict m, const float *restrict v,
                     int64_t n, float wd, const lamb_coef *c, float *r)
{
    const float ibc1 = c->ibc1, ibc2 = c->ibc2, eps = c->eps;
    for (int64_t i = 0; i < n; i++)
        r[i] = v[i] * ibc2;
    uz_optim_sqrt(r, r, n);
    for (int64_t i = 0; i < n; i++)
        r[i] = (m[i] * ibc1) / (r[i] + eps) + wd * w[i];
}

/* Moments and the block's direction r; in FP8 mode the moments are
 * requantized and r is taken from their dequantized values, which is what
 * the second pass will see. */
static void lamb_block(uz_optim *o, const uz_optim_seg *sg, int64_t off, int64_t len, float gs,
                       const lamb_coef *c, bool update, float *mb, float *vb, float *r)
{
    const float *w = uz_params_data(o->p), *g = uz_params_grad(o->p);
    if (!o->fp8) {
        if (update)
            lamb_moments(g + off, o->m + off, o->v + off, len, gs, c);
        lamb_dir(w + off, o->m + off, o->v + off, len, sg->wd, c, r);
        return;
    }
    int64_t grp = sg->group0 + (off - sg->off) / UZ_FP8_GROUP;
    uz_fp8_dequantize(o->qm + off, o->sm + grp, o->km + grp, len, mb);
    uz_fp8_dequantize(o->qv + off, o->sv + grp, o->kv + grp, len, vb);
    if (update) {
        lamb_moments(g + off, mb, vb, len, gs, c);
        uz_fp8_quantize(mb, len, true, o->qm + off, o->sm + grp, o->km + grp);
        uz_fp8_quantize(vb, len, true, o->qv + off, o->sv + grp, o->kv + grp);
        uz_fp8_dequantize(o->qm + off, o->sm + grp, o->km + grp, len, mb);
        uz_fp8_dequantize(o->qv + off, o->sv + grp, o->kv + grp, len, vb);
    }
    lamb_dir(w + off, mb, vb, len, sg->wd, c, r);
}

void uz_optim_lamb_update(uz_optim *o, float lr, float gscale)
{
    double t = (double)o->step;
    lamb_coef c = {.b1 = o->beta1, .b2 = o->beta2, .c1 = (float)(1.0 - o->beta1_dec),
                   .c2 = (float)(1.0 - o->beta2_dec), .ibc1 = 1.0f, .ibc2 = 1.0f, .eps = o->eps};
    if (o->bias_correction) {
        c.ibc1 = (float)(1.0 / (1.0 - pow(o->beta1_dec, t)));
        c.ibc2 = (float)(1.0 / (1.0 - pow(o->beta2_dec, t)));
    }
    float *w = uz_params_data(o->p);
    /* Pass 1: moments, and per chunk sum ||w||^2 and ||r||^2 block by block
     * in a fixed order. */
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const uz_optim_seg *sg = &o->seg[ch->seg];
        float mb[UZ_FP8_GROUP], vb[UZ_FP8_GROUP], r[UZ_FP8_GROUP];
        double w2 = 0.0, r2 = 0.0;
        for (int64_t j = 0; j < ch->n; j += UZ_FP8_GROUP) {
            int64_t len = ch->n - j < UZ_FP8_GROUP ? ch->n - j : UZ_FP8_GROUP;
            lamb_block(o, sg, ch->off + j, len, gscale, &c, true, mb, vb, r);
            w2 += uz_optim_sumsq(w + ch->off + j, len);
            r2 += uz_optim_sumsq(r, len);
        }
        o->part_a[ci] = w2;
        o->part_b[ci] = r2;
    }
    uz_optim_reduce(o, o->part_a, o->seg_a);
    uz_optim_reduce(o, o->part_b, o->seg_b);
    for (int s = 0; s < o->n_seg; s++) {
        double wn = sqrt(o->seg_a[s]), rn = sqrt(o->seg_b[s]);
        double ratio = o->seg[s].adapt && wn > 0.0 && rn > 0.0 ? wn / rn : 1.0;
        o->seg_ratio[s] = (float)((double)lr * (double)o->seg[s].lr_scale * ratio);
    }
    /* Pass 2: w -= lr * ratio * r. */
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const uz_optim_seg *sg = &o->seg[ch->seg];
        const float step = o->seg_ratio[ch->seg];
        float mb[UZ_FP8_GROUP], vb[UZ_FP8_GROUP], r[UZ_FP8_GROUP];
        for (int64_t j = 0; j < ch->n; j += UZ_FP8_GROUP) {
            int64_t len = ch->n - j < UZ_FP8_GROUP ? ch->n - j : UZ_FP8_GROUP;
            float *wj = w + ch->off + j;
            lamb_block(o, sg, ch->off + j, len, gscale, &c, false, mb, vb, r);
            for (int64_t i = 0; i < len; i++)
                wj[i] -= step * r[i];
        }
    }
}
