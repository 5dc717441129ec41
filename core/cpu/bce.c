/* Sigmoid binary cross-entropy and sigmoid focal loss on logits, per
 * element, on the formulas of core/bce_terms.h (shared with CUDA). */
#include "nn.h"

#include "../bce_terms.h"

void uz_cpu_bce_logits_forward(float *loss, const float *x, const float *y, const float *w,
                               int64_t n)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        loss[i] = uz_bce1(x[i], y[i]) * (w ? w[i] : 1.0f);
}

void uz_cpu_bce_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                const float *w, int64_t n)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dloss[i] * (w ? w[i] : 1.0f) * (uz_sigmoid1(x[i]) - y[i]);
}

void uz_cpu_focal_logits_forward(float *loss, const float *x, const float *y, int64_t n,
                                 float alpha, float gamma)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uz_focal_terms t = uz_focal_terms_of(x[i], y[i], alpha, gamma);
        loss[i] = uz_focal1(&t);
    }
}

void uz_cpu_focal_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                  int64_t n, float alpha, float gamma)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uz_focal_terms t = uz_focal_terms_of(x[i], y[i], alpha, gamma);
        float d = uz_focal1_dx(&t, y[i], gamma);
        dx[i] += dloss[i] * t.alpha_t * d;
    }
}
