/* Layer norm over rows: forward saves mean and rstd, backward is the
 * closed form dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. */
#include "nn.h"

#include <math.h>

/* Columns per task of the weight/bias reduction; each task walks every row
 * in order, so the sums do not depend on the thread count. */
enum { LN_COL_BLOCK = 64 };

void uz_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t n, int64_t c, float eps)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        double s = 0.0;
        for (int64_t j = 0; j < c; j++)
            s += (double)xr[j];
        double mu = c ? s / (double)c : 0.0, v = 0.0;
        /* Two passes: the variance of the centred values does not cancel. */
        for (int64_t j = 0; j < c; j++) {
            double dv = (double)xr[j] - mu;
            v += dv * dv;
        }
        v = c ? v / (double)c : 0.0;
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
        double sg = 0.0, sgh = 0.0;
        for (int64_t j = 0; j < c; j++) {
            float g = w ? gr[j] * w[j] : gr[j];
            sg += (double)g;
            sgh += (double)(g * ((xr[j] - m) * rs));
        }
        float mg = (float)(sg / (double)c), mgh = (float)(sgh / (double)c);
        for (int64_t j = 0; j < c; j++) {
            float g = w ? gr[j] * w[j] : gr[j];
            dr[j] += rs * (g - mg - (xr[j] - m) * rs * mgh);
        }
    }
}
