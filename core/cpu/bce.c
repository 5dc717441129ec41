/* Sigmoid binary cross-entropy and sigmoid focal loss on logits, per
 * element. Both use the stable forms: log(1 + exp(-|x|)) never overflows,
 * and 1 - p_t is formed from sigmoid(x) and sigmoid(-x) directly instead of
 * by a subtraction that cancels when the logit is large. */
#include "nn.h"

#include <math.h>

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static float bce(float x, float y)
{
    return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
}

void uz_cpu_bce_logits_forward(float *loss, const float *x, const float *y, const float *w,
                               int64_t n)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        loss[i] = bce(x[i], y[i]) * (w ? w[i] : 1.0f);
}

void uz_cpu_bce_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                const float *w, int64_t n)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dloss[i] * (w ? w[i] : 1.0f) * (sigmoid(x[i]) - y[i]);
}

/* The per-element terms of the focal loss shared by forward and backward. */
typedef struct focal_terms {
    float p, q;   /* sigmoid(x), sigmoid(-x) */
    float ce;     /* bce(x, y) */
    float m;      /* 1 - p_t = y q + (1 - y) p */
    float mod;    /* m^gamma */
    float alpha_t;
} focal_terms;

static focal_terms focal_terms_of(float x, float y, float alpha, float gamma)
{
    focal_terms t;
    t.p = sigmoid(x);
    t.q = sigmoid(-x);
    t.ce = bce(x, y);
    t.m = y * t.q + (1.0f - y) * t.p;
    /* 0^0 = 1 as torch.pow: gamma 0 is plain (alpha-weighted) BCE. */
    t.mod = gamma == 0.0f ? 1.0f : powf(t.m, gamma);
    t.alpha_t = alpha >= 0.0f ? alpha * y + (1.0f - alpha) * (1.0f - y) : 1.0f;
    return t;
}

void uz_cpu_focal_logits_forward(float *loss, const float *x, const float *y, int64_t n,
                                 float alpha, float gamma)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        focal_terms t = focal_terms_of(x[i], y[i], alpha, gamma);
        loss[i] = t.alpha_t * t.ce * t.mod;
    }
}

void uz_cpu_focal_logits_backward(float *dx, const float *dloss, const float *x, const float *y,
                                  int64_t n, float alpha, float gamma)
{
#pragma omp parallel for if (n > UZ_NN_PAR_MIN / 4) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        focal_terms t = focal_terms_of(x[i], y[i], alpha, gamma);
        /* d/dx [ce m^gamma] = (p - y) m^gamma + ce gamma m^(gamma-1) dm/dx with
         * dm/dx = p q (1 - 2y). Where m is 0 the sigmoid has saturated and
         * dm/dx is 0 too: the second term is taken as 0 (finite for gamma < 1). */
        float d = (t.p - y[i]) * t.mod;
        if (gamma != 0.0f && t.m > 0.0f)
            d += t.ce * gamma * powf(t.m, gamma - 1.0f) * t.p * t.q * (1.0f - 2.0f * y[i]);
        dx[i] += dloss[i] * t.alpha_t * d;
    }
}
