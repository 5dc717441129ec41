/* Layer norm over rows: forward saves mean and rstd, backward is the
 * closed form dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w. */
#include "nn.h"
#include "row_sum.h"

#include <math.h>

static INLINE float chunk_sq_dev(const float *x, int64_t len, float mu)
{
    float acc[LANES] = {0.0f}, tail = 0.0f;
    int64_t full = len / LANES * LANES;
    for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
        for (int64_t k = 0; k < LANES; k++) {
            float d = x[j + k] - mu;
            acc[k] += d * d;
        }
    for (int64_t j = full; j < len; j++) {
        float d = x[j] - mu;
        tail += d * d;
    }
    return lanes_total(acc) + tail;
}

/* Mean and sum of squared deviations of a row in one sweep over memory: per
 * chunk (which stays in L1 between its two loops) the chunk mean and the
 * squared deviations from it, the chunks merged in double by Chan et al.'s
 * update. No large sums are subtracted, so nothing cancels however far the
 * mean is from zero. */
static INLINE void row_moments(const float *x, int64_t c, double *mean, double *m2)
{
    double mu = 0.0, s2 = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        int64_t len = chunk_len(j0, c);
        float mc = chunk_sum(x + j0, len) / (float)len;
        float d2 = chunk_sq_dev(x + j0, len, mc);
        double seen = (double)j0, tot = (double)(j0 + len), delta = (double)mc - mu;
        mu += delta * (double)len / tot;
        s2 += (double)d2 + delta * delta * seen * (double)len / tot;
    }
    *mean = mu;
    *m2 = s2;
}

/* y = (x - m) * rs * w + b, one loop per affine case so that each vectorises. */
static INLINE void row_normalize(float *y, const float *x, const float *w, const float *b,
                                 float m, float rs, int64_t c)
{
    if (w && b) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            y[j] = (x[j] - m) * rs * w[j] + b[j];
    } else if (w) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            y[j] = (x[j] - m) * rs * w[j];
    } else if (b) {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            y[j] = (x[j] - m) * rs + b[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < c; j++)
            y[j] = (x[j] - m) * rs;
    }
}

/* One row: mean[0], rstd[0] and y. */
UZ_SIMD_CLONES static void forward_row(float *y, float *mean, float *rstd, const float *x,
                                   const float *w, const float *b, int64_t c, float eps)
{
    double mu = 0.0, m2 = 0.0;
    row_moments(x, c, &mu, &m2);
    float m = (float)mu, rs = (float)(1.0 / sqrt(m2 / (double)(c ? c : 1) + (double)eps));
    *mean = m;
    *rstd = rs;
    row_normalize(y, x, w, b, m, rs, c);
}

void uz_cpu_layer_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *w, const float *b, int64_t n, int64_t c, float eps)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++)
        forward_row(y + r * c, mean + r, rstd + r, x + r * c, w, b, c, eps);
}

/* One chunk's sums of g = dy * w and of g * xhat in LANES accumulators each
 * and, with pw non-NULL, its share of the weight and bias gradients, dy * xhat
 * and dy, added to the row block's partials: all in one loop. The weight and
 * partial tests stay outside the loops so that they vectorise. */
static INLINE void chunk_grad_sums(const float *gc, const float *xc, const float *wc, float m,
                                   float rs, int64_t len, float *pw, float *pb, float *f1,
                                   float *f2)
{
    float a1[LANES] = {0.0f}, a2[LANES] = {0.0f}, t1 = 0.0f, t2 = 0.0f;
    int64_t full = len / LANES * LANES;
    if (wc && pw) {
        for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
            for (int64_t k = 0; k < LANES; k++) {
                float d = gc[j + k], h = (xc[j + k] - m) * rs, g = d * wc[j + k];
                a1[k] += g;
                a2[k] += g * h;
                pw[j + k] += d * h;
                pb[j + k] += d;
            }
    } else if (wc) {
        for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
            for (int64_t k = 0; k < LANES; k++) {
                float g = gc[j + k] * wc[j + k];
                a1[k] += g;
                a2[k] += g * ((xc[j + k] - m) * rs);
            }
    } else if (pw) {
        for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
            for (int64_t k = 0; k < LANES; k++) {
                float d = gc[j + k], h = (xc[j + k] - m) * rs;
                a1[k] += d;
                a2[k] += d * h;
                pw[j + k] += d * h;
                pb[j + k] += d;
            }
    } else {
        for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
            for (int64_t k = 0; k < LANES; k++) {
                a1[k] += gc[j + k];
                a2[k] += gc[j + k] * ((xc[j + k] - m) * rs);
            }
    }
    for (int64_t j = full; j < len; j++) {
        float d = gc[j], h = (xc[j] - m) * rs, g = wc ? d * wc[j] : d;
        t1 += g;
        t2 += g * h;
        if (pw) {
            pw[j] += d * h;
            pb[j] += d;
        }
    }
    *f1 = lanes_total(a1) + t1;
    *f2 = lanes_total(a2) + t2;
}

/* Row sums of g and g * xhat, chunked as row_moments, plus the row's share of
 * the parameter gradients (pw, pb NULL: not wanted). */
static INLINE void row_grad_sums(const float *gr, const float *xr, const float *w, float m,
                                 float rs, int64_t c, double *sg, double *sgh, float *pw,
                                 float *pb)
{
    double s1 = 0.0, s2 = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        float f1, f2;
        chunk_grad_sums(gr + j0, xr + j0, w ? w + j0 : NULL, m, rs, chunk_len(j0, c),
                        pw ? pw + j0 : NULL, pb ? pb + j0 : NULL, &f1, &f2);
        s1 += (double)f1;
        s2 += (double)f2;
    }
    *sg = s1;
    *sgh = s2;
}

/* dx (+)= rstd * (g - mean(g) - xhat * mean(g * xhat)) for one row. */
static INLINE void row_dx(float *dr, bool assign, const float *gr, const float *xr,
                          const float *w, float m, float rs, float mg, float mgh, int64_t c)
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

/* Rows [r0, r1) of dx and, with pw non-NULL, their weight and bias gradient
 * sums in pw and pb (zeroed first). */
UZ_SIMD_CLONES static void backward_rows(float *dx, bool dx_assign, float *pw, float *pb,
                                     const float *dy, const float *x, const float *w,
                                     const float *mean, const float *rstd, int64_t r0,
                                     int64_t r1, int64_t c)
{
    if (pw)
        for (int64_t j = 0; j < c; j++)
            pw[j] = pb[j] = 0.0f;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * c, *gr = dy + r * c;
        float m = mean[r], rs = rstd[r];
        double sg, sgh;
        row_grad_sums(gr, xr, w, m, rs, c, &sg, &sgh, pw, pb);
        if (dx)
            row_dx(dx + r * c, dx_assign, gr, xr, w, m, rs, (float)(sg / (double)c),
                   (float)(sgh / (double)c), c);
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
        float *pw = params ? scratch + 2 * bi * c : NULL;
        int64_t r0 = bi * UZ_LN_ROW_BLOCK;
        int64_t r1 = r0 + UZ_LN_ROW_BLOCK < n ? r0 + UZ_LN_ROW_BLOCK : n;
        backward_rows(dx, dx_assign, pw, pw ? pw + c : NULL, dy, x, w, mean, rstd, r0, r1, c);
    }
    if (!params)
        return;
    /* Columns in spans, blocks in order within each: vector-wide and the
     * same sum for every column whatever the threads. */
    enum { SPAN = 64 };
    int64_t spans = (c + SPAN - 1) / SPAN;
#pragma omp parallel for if (blocks * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t s = 0; s < spans; s++) {
        int64_t j0 = s * SPAN, len = c - j0 < SPAN ? c - j0 : SPAN;
        double sw[SPAN] = {0.0}, sb[SPAN] = {0.0};
        for (int64_t bi = 0; bi < blocks; bi++) {
            const float *pw = scratch + 2 * bi * c + j0, *pb = pw + c;
#pragma omp simd
            for (int64_t k = 0; k < len; k++) {
                sw[k] += (double)pw[k];
                sb[k] += (double)pb[k];
            }
        }
        for (int64_t k = 0; k < len; k++) {
            if (dw)
                dw[j0 + k] += (float)sw[k];
            if (db)
                db[j0 + k] += (float)sb[k];
        }
    }
}
