/* AdaGrad with torch.optim.Adagrad's semantics (lr_decay 0): per-element
 * sum of squares, L2 decay into the gradient; and AdaGrad-Norm (Ward, Wu,
 * Bottou): one scalar b^2 accumulating the global squared gradient norm,
 * step lr * g / (sqrt(b^2) + eps). */
#include "optim_internal.h"

#include <math.h>

void uz_optim_adagrad_update(uz_optim *o, float lr, float gscale)
{
    float *w = uz_params_data(o->p), *sum = o->v;
    const float *g = uz_params_grad(o->p);
    const float eps = o->eps;
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const uz_optim_seg *sg = &o->seg[ch->seg];
        const float wd = sg->wd, neg_lr = -(lr * sg->lr_scale);
        float d[UZ_FP8_GROUP], root[UZ_FP8_GROUP];
        for (int64_t b = 0; b < ch->n; b += UZ_FP8_GROUP) {
            int64_t len = ch->n - b < UZ_FP8_GROUP ? ch->n - b : UZ_FP8_GROUP;
            float *wc = w + ch->off + b, *sc = sum + ch->off + b;
            const float *gc = g + ch->off + b;
            for (int64_t i = 0; i < len; i++) {
                d[i] = gscale * gc[i] + wd * wc[i];
                sc[i] = sc[i] + d[i] * d[i];
            }
            uz_optim_sqrt(root, sc, len);
            for (int64_t i = 0; i < len; i++)
                wc[i] = wc[i] + neg_lr * (d[i] / (root[i] + eps));
        }
    }
}

void uz_optim_adagrad_norm_update(uz_optim *o, float lr, float gscale, double total_g2)
{
    o->b2 += total_g2;
    double denom = sqrt(o->b2) + (double)o->eps;
    for (int s = 0; s < o->n_seg; s++)
        o->seg_ratio[s] = (float)((double)lr * (double)o->seg[s].lr_scale / denom);
    float *w = uz_params_data(o->p);
    const float *g = uz_params_grad(o->p);
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const float step = o->seg_ratio[ch->seg];
        float *wc = w + ch->off;
        const float *gc = g + ch->off;
        for (int64_t i = 0; i < ch->n; i++)
            wc[i] -= step * (gscale * gc[i]);
    }
}
