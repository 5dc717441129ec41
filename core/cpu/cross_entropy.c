/* Fused softmax cross-entropy: one log-sum-exp per row is all the forward
 * keeps; the backward writes softmax minus the (smoothed) target straight
 * into the logits' gradient. Whole rows go through libmvec's vector expf
 * (simd_math.h) and the row sums through the fixed lanes of row_sum.h, so a
 * row's result does not depend on the thread count. */
#include "nn.h"
#include "row_sum.h"

#include <math.h>
#include <string.h>

UZ_SIMD_CLONES static double lse_row(const float *xr, int64_t c)
{
    float mx = row_max(xr, c);
    return (double)mx + log(row_sum_exp(xr, c, mx));
}

UZ_SIMD_CLONES static double sum_row(const float *xr, int64_t c)
{
    return row_sum(xr, c);
}

/* assign writes 0 + the term: the bits of adding it to a zeroed row. */
UZ_SIMD_CLONES static void softmax_grad_row(float *dr, bool assign, const float *xr, int64_t c,
                                        float lse, float scale, float off)
{
#pragma omp simd
    for (int64_t j = 0; j < c; j++)
        dr[j] = (assign ? 0.0f : dr[j]) + scale * (expf(xr[j] - lse) - off);
}

void uz_cpu_cross_entropy_forward(float *loss, float *lse, float *row_loss, const float *x,
                                  const int32_t *targets, int64_t n, int64_t c,
                                  int32_t ignore_index, float smoothing, int64_t count)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        int32_t t = targets[r];
        if (t == ignore_index) {
            lse[r] = 0.0f;
            row_loss[r] = 0.0f;
            continue;
        }
        const float *xr = x + r * c;
        double l = lse_row(xr, c);
        double xsum = smoothing != 0.0f ? sum_row(xr, c) : 0.0;
        lse[r] = (float)l;
        /* (1-s) * -log p_t + s * mean_j(-log p_j), with -log p_j = lse - x_j. */
        row_loss[r] = (float)(l - (1.0 - (double)smoothing) * (double)xr[t] -
                              (double)smoothing * xsum / (double)c);
    }
    /* A serial sum keeps the loss independent of the thread count. */
    double total = 0.0;
    for (int64_t r = 0; r < n; r++)
        total += (double)row_loss[r];
    loss[0] = count ? (float)(total / (double)count) : NAN;
}

void uz_cpu_cross_entropy_backward(float *dx, bool dx_assign, const float *dloss, const float *x,
                                   const float *lse, const int32_t *targets, int64_t n, int64_t c,
                                   int32_t ignore_index, float smoothing, int64_t count)
{
    if (!count) {
        if (dx_assign)
            memset(dx, 0, sizeof(float) * (size_t)(n * c));
        return;
    }
    float scale = dloss[0] / (float)count;
    float off = smoothing / (float)c, on = 1.0f - smoothing;
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        int32_t t = targets[r];
        if (t == ignore_index) {
            if (dx_assign)
                memset(dx + r * c, 0, sizeof(float) * (size_t)c);
            continue;
        }
        softmax_grad_row(dx + r * c, dx_assign, x + r * c, c, lse[r], scale, off);
        dx[r * c + t] -= scale * on;
    }
}
