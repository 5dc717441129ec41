/* The momentum family: SGD with PyTorch's semantics (L2 decay into the
 * gradient, lr-free buffer that starts as the first gradient) and LARS in
 * the TF / apex form (per-tensor trust ratio eta*||w||/(||g|| + wd*||w|| +
 * eps) folded into a scaled lr that sits inside the buffer; tensors
 * excluded from adaptation take plain momentum SGD). */
#include "optim_internal.h"

#include <math.h>

void uz_optim_sgd_update(uz_optim *o, float lr, float gscale)
{
    float *w = uz_params_data(o->p), *buf = o->m;
    const float *g = uz_params_grad(o->p);
    const float mu = o->momentum;
    const bool first = o->step == 1, nesterov = o->nesterov;
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const uz_optim_seg *sg = &o->seg[ch->seg];
        const float wd = sg->wd, neg_lr = -(lr * sg->lr_scale);
        float *wc = w + ch->off, *bc = buf ? buf + ch->off : NULL;
        const float *gc = g + ch->off;
        for (int64_t i = 0; i < ch->n; i++) {
            float d = gscale * gc[i] + wd * wc[i];
            if (bc) {
                bc[i] = first ? d : mu * bc[i] + d;
                d = nesterov ? d + mu * bc[i] : bc[i];
            }
            wc[i] = wc[i] + neg_lr * d;
        }
    }
}

void uz_optim_lars_update(uz_optim *o, float lr, float gscale)
{
    float *w = uz_params_data(o->p), *buf = o->m;
    const float *g = uz_params_grad(o->p);
    uz_optim_chunk_sumsq(o, w, o->part_b);
    uz_optim_reduce(o, o->part_b, o->seg_a);
    for (int s = 0; s < o->n_seg; s++) {
        const uz_optim_seg *sg = &o->seg[s];
        double base = (double)lr * (double)sg->lr_scale, trust = 1.0;
        if (sg->adapt) {
            /* ||g|| is the raw (clipped) gradient's, without the decay term. */
            double wn = sqrt(o->seg_a[s]), gn = sqrt(o->seg_g2[s]) * (double)gscale;
            if (wn > 0.0 && gn > 0.0)
                trust = (double)o->lars_eta * wn / (gn + (double)sg->wd * wn + (double)o->eps);
        }
        o->seg_ratio[s] = (float)(base * trust);
    }
    const float mu = o->momentum;
    const bool nesterov = o->nesterov;
#pragma omp parallel for schedule(static) if (UZ_OPTIM_PARALLEL(o))
    for (int ci = 0; ci < o->n_chunk; ci++) {
        const uz_optim_chunk *ch = &o->chunk[ci];
        const float wd = o->seg[ch->seg].wd, slr = o->seg_ratio[ch->seg];
        float *wc = w + ch->off, *bc = buf ? buf + ch->off : NULL;
        const float *gc = g + ch->off;
        for (int64_t i = 0; i < ch->n; i++) {
            float d = gscale * gc[i] + wd * wc[i];
            float u = bc ? mu * bc[i] + slr * d : slr * d;
            if (bc)
                bc[i] = u;
            wc[i] -= nesterov ? slr * d + mu * u : u;
        }
    }
}
