/* AdamW and MT-AdamW with PyTorch's AdamW arithmetic (decoupled decay
 * w *= 1 - lr*wd, then w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)), over
 * f32 moments or FP8 (E4M3) moments stored per 128-element group. */
#include "optim_internal.h"

#include <math.h>

typedef struct adam_coef {
    float b1, b2;         /* moment decay */
    float c1, c2;         /* new-gradient coefficients: (1-beta)/s_k */
    float step_size;      /* lr / (1 - beta1^t) */
    float bc2_sqrt;       /* sqrt(1 - beta2^t) */
    float eps, decay;     /* decay = 1 - lr*wd */
} adam_coef;

/* One AdamW update of n elements; m and v are updated in place. Torch's
 * operation order, so that the golden test can be tight. Blocks of
 * UZ_FP8_GROUP keep the square roots in L1 between the two loops. */
static void adam_elems(float *restrict w, const float *restrict g, float *restrict m,
                       float *restrict v, int64_t n, float gs, const adam_coef *c)
{
    const float b1 = c->b1, b2 = c->b2, c1 = c->c1, c2 = c->c2, step = c->step_size;
    const float bc2 = c->bc2_sqrt, eps = c->eps, decay = c->decay;
    float root[UZ_FP8_GROUP];
    for (int64_t b = 0; b < n; b += UZ_FP8_GROUP) {
        int64_t len = n - b < UZ_FP8_GROUP ? n - b : UZ_FP8_GROUP;
        float *wb = w + b, *mb = m + b, *vb = v + b;
        const float *gb = g + b;
        for (int64_t i = 0; i < len; i++) {
            float gi = gs * gb[i];
            mb[i] = b1 * mb[i] + c1 * gi;
            vb[i] = b2 * vb[i] + c2 * (gi * gi);
        }
        uz_optim_sqrt(root, vb, len);
        for (int64_t i = 0; i < len; i++) {
            float denom = root[i] / bc2 + eps;
            wb[i] = wb[i] * decay - step * (mb[i] / denom);
        }
    }
}

/* COAT's order: dequantize the group, update with the unquantized new
 * moments, then requantize them with dynamic range expansion. */
static void adam_fp8_chunk(uz_optim *o, const uz_optim_chunk *ch, float gs, const adam_coef *c)
{
    const uz_optim_seg *sg = &o->seg[ch->seg];
    float *w = uz_params_data(o->p);
    const float *g = uz_params_grad(o->p);
    float mb[UZ_FP8_GROUP], vb[UZ_FP8_GROUP];
    for (int64_t j = 0; j < ch->n; j += UZ_FP8_GROUP) {
        int64_t len = ch->n - j < UZ_FP8_GROUP ? ch->n - j : UZ_FP8_GROUP;
        int64_t off = ch->off + j, grp = sg->group0 + (off - sg->off) / UZ_FP8_GROUP;
        uz_fp8_dequantize(o->qm + off, o->sm + grp, o->km + grp, len, mb);
        uz_fp8_dequantize(o->qv + off, o->sv + grp, o->kv + grp, len, vb);
        adam_elems(w + off, g + off, mb, vb, len, gs, c);
        uz_fp8_quantize(mb, len, true, o->qm + off, o->sm + grp, o->km + grp);
        uz_fp8_quantize(vb, len, true, o->qv + off, o->sv + grp, o->kv + grp);
    }
}

void uz_optim_adamw_update(uz_optim *o, float lr, float gscale, float ratio)
{
    double t = (double)o->step;
    double bc1 = 1.0 - pow(o->beta1_dec, t), bc2 = 1.0 - pow(o->beta2_dec, t);
    adam_coef base = {
        .b1 = o->beta1,
        .b2 = o->beta2,
        .c1 = (float)((1.0 - o->beta1_dec) / (double)ratio),
        .c2 = (float)((1.0 - o->beta2_dec) / (double)ratio),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = o->eps,
    };
    float *w = uz_params_data(o->p);
    const float *g = uz_params_grad(o->p);
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const uz_optim_seg *sg = &o->seg[ch->seg];
        double lr_eff = (double)lr * (double)sg->lr_scale;
        adam_coef c = base;
        c.step_size = (float)(lr_eff / bc1);
        c.decay = (float)(1.0 - lr_eff * (double)sg->wd);
        if (o->fp8)
            adam_fp8_chunk(o, ch, gscale, &c);
        else
            adam_elems(w + ch->off, g + ch->off, o->m + ch->off, o->v + ch->off, ch->n, gscale,
                       &c);
    }
}
