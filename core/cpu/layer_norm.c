/* Layer norm over rows: forward saves mean and rstd, backward is the
 * closed form dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. */
#include "nn.h"

#include <math.h>

/* Columns per task of the weight/bias reduction; each task walks every row
 * in order, so the sums do not depend on the thread count. */
enum { LN_COL_BLOCK = 64 };

/* The row sums are SIMD reductions in double: the vector partial sums make
 * them several times faster than one serial (latency-bound) chain, and
 * their order is fixed at compile time, the same for any thread count. */
static double row_sum(const float *x, int64_t c)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < c; j++)
        s += (double)x[j];
    return s;
}

/* Sum of squared deviations from mu: two passes, so the variance of the
 * centred values does not cancel. */
static double row_sq_dev(const float *x, int64_t c, double mu)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < c; j++) {
        double d = (double)x[j] - mu;
        s += d * d;
    }
    return s;
}

void uz_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t n, int64_t c, float eps)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        double mu = c ? row_sum(xr, c) / (double)c : 0.0;
        double v = c ? row_sq_dev(xr, c, mu) / (double)c : 0.0;
        float m = (float)mu, rs = (float)(1.0 / sqrt(v + (double)eps));
        mean[r] = m;
        rstd[r] = rs;
        for (int64_t j = 0; j < c; j++) {
            float h = (xr[j] - m) * rs;
            yr[j] = (w ? h * w[j] : h) + (b ? b[j] : 0.0f);
        }
    }
}

static void param_grads(float *dw, float *db, const float *dy, const float *x, const float *mean,
                        const float *rstd, int64_t n, int64_t c)
{
    int64_t blocks = (c + LN_COL_BLOCK - 1) / LN_COL_BLOCK;
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t bi = 0; bi < blocks; bi++) {
        int64_t j0 = bi * LN_COL_BLOCK;
        int64_t len = c - j0 < LN_COL_BLOCK ? c - j0 : LN_COL_BLOCK;
        double aw[LN_COL_BLOCK] = {0}, ab[LN_COL_BLOCK] = {0};
        for (int64_t r = 0; r < n; r++) {
            const float *gr = dy + r * c + j0, *xr = x + r * c + j0;
            float m = mean[r], rs = rstd[r];
            for (int64_t j = 0; j < len; j++) {
                aw[j] += (double)(gr[j] * ((xr[j] - m) * rs));
                ab[j] += (double)gr[j];
            }
        }
        for (int64_t j = 0; j < len; j++) {
            if (dw)
                dw[j0 + j] += (float)aw[j];
            if (db)
                db[j0 + j] += (float)ab[j];
        }
    }
}

/* Row sums of g = dy * w and of g * xhat, SIMD-reduced as row_sum; the
 * weight test stays outside the loops so they vectorise. */
static void row_grad_sums(const float *gr, const float *xr, const float *w, float m, float rs,
                          int64_t c, double *sg, double *sgh)
{
    double s1 = 0.0, s2 = 0.0;
    if (w) {
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t j = 0; j < c; j++) {
            float g = gr[j] * w[j];
            s1 += (double)g;
            s2 += (double)(g * ((xr[j] - m) * rs));
        }
    } else {
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t j = 0; j < c; j++) {
            float g = gr[j];
            s1 += (double)g;
            s2 += (double)(g * ((xr[j] - m) * rs));
        }
    }
    *sg = s1;
    *sgh = s2;
}

void uz_cpu_layer_norm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, const float *mean, const float *rstd, int64_t n,
                                int64_t c)
{
    if (dw || db)
        param_grads(dw, db, dy, x, mean, rstd, n, c);
    if (!dx)
        return;
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c, *gr = dy + r * c;
        float *dr = dx + r * c, m = mean[r], rs = rstd[r];
        double sg, sgh;
        row_grad_sums(gr, xr, w, m, rs, c, &sg, &sgh);
        float mg = (float)(sg / (double)c), mgh = (float)(sgh / (double)c);
        for (int64_t j = 0; j < c; j++) {
            float g = w ? gr[j] * w[j] : gr[j];
            dr[j] += rs * (g - mg - (xr[j] - m) * rs * mgh);
        }
    }
}
