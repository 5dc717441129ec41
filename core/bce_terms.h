/* Sigmoid binary cross-entropy and sigmoid focal loss of one logit, shared
 * by the CPU (core/cpu/bce.c) and CUDA (core/cuda/nn.cu) kernels. Both use
 * the stable forms: log(1 + exp(-|x|)) never overflows, and 1 - p_t is
 * formed from sigmoid(x) and sigmoid(-x) directly instead of by a
 * subtraction that cancels when the logit is large. */
#ifndef UZ_BCE_TERMS_H
#define UZ_BCE_TERMS_H

#include "activation_terms.h"

#include <math.h>

UZ_HOST_DEVICE float uz_bce1(float x, float y)
{
    return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
}

/* The per-element terms of the focal loss shared by forward and backward. */
typedef struct uz_focal_terms {
    float p, q;   /* sigmoid(x), sigmoid(-x) */
    float ce;     /* bce(x, y) */
    float m;      /* 1 - p_t = y q + (1 - y) p */
    float mod;    /* m^gamma */
    float alpha_t;
} uz_focal_terms;

UZ_HOST_DEVICE uz_focal_terms uz_focal_terms_of(float x, float y, float alpha, float gamma)
{
    uz_focal_terms t;
    t.p = uz_sigmoid1(x);
    t.q = uz_sigmoid1(-x);
    t.ce = uz_bce1(x, y);
    t.m = y * t.q + (1.0f - y) * t.p;
    /* 0^0 = 1 as torch.pow: gamma 0 is plain (alpha-weighted) BCE. */
    t.mod = gamma == 0.0f ? 1.0f : powf(t.m, gamma);
    t.alpha_t = alpha >= 0.0f ? alpha * y + (1.0f - alpha) * (1.0f - y) : 1.0f;
    return t;
}

UZ_HOST_DEVICE float uz_focal1(const uz_focal_terms *t) { return t->alpha_t * t->ce * t->mod; }

/* d/dx [ce m^gamma] (the focal loss's gradient before alpha_t) = (p - y)
 * m^gamma + ce gamma m^(gamma-1) dm/dx with dm/dx = p q (1 - 2y). Where m
 * is 0 the sigmoid has saturated and dm/dx is 0 too: the second term is
 * taken as 0 (finite for gamma < 1). */
UZ_HOST_DEVICE float uz_focal1_dx(const uz_focal_terms *t, float y, float gamma)
{
    float d = (t->p - y) * t->mod;
    if (gamma != 0.0f && t->m > 0.0f)
        d += t->ce * gamma * powf(t->m, gamma - 1.0f) * t->p * t->q * (1.0f - 2.0f * y);
    return d;
}

#endif
