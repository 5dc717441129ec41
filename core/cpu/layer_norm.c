/* Layer norm over rows: forward saves mean and rstd, backward is the
 * closed form dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. */
#include "nn.h"

#include <math.h>

/* Row sums run in float over chunks of SUM_CHUNK elements (SIMD
 * reductions, several times faster than double on plain x86-64) and add the
 * chunk sums in double, so the rounding error grows with the chunk length,
 * not the row length. The order is fixed at compile time, the same for any
 * thread count. */
enum { SUM_CHUNK = 64 };

static int64_t chunk_len(int64_t j0, int64_t c)
{
    return c - j0 < SUM_CHUNK ? c - j0 : SUM_CHUNK;
}

static double row_sum(const float *x, int64_t c)
{
    double s = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        const float *xc = x + j0;
        int64_t len = chunk_len(j0, c);
        float f = 0.0f;
#pragma omp simd reduction(+ : f)
        for (int64_t j = 0; j < len; j++)
            f += xc[j];
        s += (double)f;
    }
    return s;
}

/* Sum of squared deviations from mu: two passes, so the variance of the
 * centred values does not cancel. */
static double row_sq_dev(const float *x, int64_t c, float mu)
{
    double s = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        const float *xc = x + j0;
        int64_t len = chunk_len(j0, c);
        float f = 0.0f;
#pragma omp simd reduction(+ : f)
        for (int64_t j = 0; j < len; j++) {
            float d = xc[j] - mu;
            f += d * d;
        }
        s += (double)f;
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
        double v = c ? row_sq_dev(xr, c, (float)mu) / (double)c : 0.0;
        float m = (float)mu, rs = (float)(1.0 / sqrt(v + (double)eps));
        mean[r] = m;
        rstd[r] = rs;
        for (int64_t j = 0; j < c; j++) {
            float h = (xr[j] - m) * rs;
            yr[j] = (w ? h * w[j] : h) + (b ? b[j] : 0.0f);
        }
    }
}

/* Row sums of g = dy * w and of g * xhat, chunked as row_sum, and this
 * row's share of the weight and bias gradients, dy * xhat and dy, added to
 * the row block's partials pw and pb (NULL: not wanted). The weight test
 * stays outside the loops so they vectorise. */
static void row_grad_sums(const float *gr, const float *xr, const float *w, float m, float rs,
                          int64_t c, double *sg, double *sgh, float *pw, float *pb)
{
    if (pw) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++) {
            pw[j] += gr[j] * ((xr[j] - m) * rs);
            pb[j] += gr[j];
        }
    }
    double s1 = 0.0, s2 = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        const float *gc = gr + j0, *xc = xr + j0, *wc = w ? w + j0 : NULL;
        int64_t len = chunk_len(j0, c);
        float f1 = 0.0f, f2 = 0.0f;
        if (wc) {
#pragma omp simd reduction(+ : f1, f2)
            for (int64_t j = 0; j < len; j++) {
                float g = gc[j] * wc[j];
                f1 += g;
                f2 += g * ((xc[j] - m) * rs);
            }
        } else {
#pragma omp simd reduction(+ : f1, f2)
            for (int64_t j = 0; j < len; j++) {
                f1 += gc[j];
                f2 += gc[j] * ((xc[j] - m) * rs);
            }
        }
        s1 += (double)f1;
        s2 += (double)f2;
    }
    *sg = s1;
    *sgh = s2;
}

/* dx (+)= rstd * (g - mean(g) - xhat * mean(g * xhat)) for one row. */
static void row_dx(float *dr, bool assign, const float *gr, const float *xr, const float *w,
                   float m, float rs, float mg, float mgh, int64_t c)
{
    if (w && assign) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            dr[j] = rs * (gr[j] * w[j] - mg - (xr[j] - m) * rs * mgh);
    } else if (w) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            dr[j] += rs * (gr[j] * w[j] - mg - (xr[j] - m) * rs * mgh);
    } else if (assign) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            dr[j] = rs * (gr[j] - mg - (xr[j] - m) * rs * mgh);
    } else {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            dr[j] += rs * (gr[j] - mg - (xr[j] - m) * rs * mgh);
    }
}

/* One pass over the rows in fixed blocks of UZ_LN_ROW_BLOCK: each block
 * writes its rows of dx and its own partial weight/bias sums (in float over
 * the block's rows), and the partials are then added block by block in
 * order in double, so the gradients do not depend on the thread count. */
void uz_cpu_layer_norm_backward(float *dx, bool dx_assign, float *dw, float *db, const float *dy,
                                const float *x, const float *w, const float *mean,
                                const float *rstd, int64_t n, int64_t c, float *scratch)
{
    bool params = dw || db;
    int64_t blocks = (n + UZ_LN_ROW_BLOCK - 1) / UZ_LN_ROW_BLOCK;
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t bi = 0; bi < blocks; bi++) {
        float *pw = params ? scratch + 2 * bi * c : NULL, *pb = params ? pw + c : NULL;
        if (params)
            for (int64_t j = 0; j < 2 * c; j++)
                pw[j] = 0.0f;
        int64_t r1 = (bi + 1) * UZ_LN_ROW_BLOCK < n ? (bi + 1) * UZ_LN_ROW_BLOCK : n;
        for (int64_t r = bi * UZ_LN_ROW_BLOCK; r < r1; r++) {
            const float *xr = x + r * c, *gr = dy + r * c;
            float m = mean[r], rs = rstd[r];
            double sg, sgh;
            row_grad_sums(gr, xr, w, m, rs, c, &sg, &sgh, pw, pb);
            if (dx)
                row_dx(dx + r * c, dx_assign, gr, xr, w, m, rs, (float)(sg / (double)c),
                       (float)(sgh / (double)c), c);
        }
    }
    if (!params)
        return;
#pragma omp parallel for if (blocks * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t j = 0; j < c; j++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t bi = 0; bi < blocks; bi++) {
            sw += (double)scratch[2 * bi * c + j];
            sb += (double)scratch[(2 * bi + 1) * c + j];
        }
        if (dw)
            dw[j] += (float)sw;
        if (db)
            db[j] += (float)sb;
    }
}
