/* Row-wise L2 normalisation x / max(||x||, eps). */
#include "nn.h"

#include <math.h>

void uz_cpu_l2_normalize_forward(float *y, float *norm, const float *x, int64_t n, int64_t c,
                                 float eps)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        double ss = 0.0;
        for (int64_t j = 0; j < c; j++)
            ss += (double)xr[j] * (double)xr[j];
        float nr = (float)sqrt(ss);
        norm[r] = nr;
        float inv = 1.0f / (nr > eps ? nr : eps);
        for (int64_t j = 0; j < c; j++)
            yr[j] = xr[j] * inv;
    }
}

void uz_cpu_l2_normalize_backward(float *dx, const float *dy, const float *y, const float *norm,
                                  int64_t n, int64_t c, float eps)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *yr = y + r * c, *gr = dy + r * c;
        float *dr = dx + r * c, nr = norm[r];
        if (!(nr > eps)) {
            /* Clamped: y = x / eps is linear in x. */
            for (int64_t j = 0; j < c; j++)
                dr[j] += gr[j] / eps;
            continue;
        }
        /* d(x/||x||) = (I - y y^T) / ||x||. */
        double dot = 0.0;
        for (int64_t j = 0; j < c; j++)
            dot += (double)yr[j] * (double)gr[j];
        float s = (float)dot;
        for (int64_t j = 0; j < c; j++)
            dr[j] += (gr[j] - yr[j] * s) / nr;
    }
}
