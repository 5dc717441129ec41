/* Softmax and log-softmax over rows, with an optional broadcast additive mask. */
#include "nn.h"
#include "row_sum.h"

#include <math.h>

/* A row's softmax (or log-softmax) of x into y (y may be x): the
 * exponentials on libmvec's vector expf, the max and sum in the fixed lanes
 * of row_sum.h. A row with nothing left to normalise over (all -inf) is an
 * empty distribution. */
UZ_SIMD_CLONES static void normalize_row(float *yr, const float *xr, int64_t c, bool log_space)
{
    float mx = row_max(xr, c);
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < c; j++)
            yr[j] = log_space ? -INFINITY : 0.0f;
        return;
    }
    if (log_space) {
        float lsum = (float)log(row_sum_exp(xr, c, mx));
        for (int64_t j = 0; j < c; j++)
            yr[j] = (xr[j] - mx) - lsum;
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < c; j++)
        yr[j] = expf(xr[j] - mx);
    float inv = (float)(1.0 / row_sum(yr, c));
    for (int64_t j = 0; j < c; j++)
        yr[j] *= inv;
}

/* dx += dy - softmax * sum(dy) for a log-softmax row; excluded entries
 * (-inf outputs) are constants: they neither pass their upstream gradient
 * on nor get one. */
UZ_SIMD_CLONES static void log_softmax_grad_row(float *dr, const float *gr, const float *yr,
                                            int64_t c)
{
    double acc = 0.0;
    for (int64_t j = 0; j < c; j++)
        if (yr[j] != -INFINITY)
            acc += (double)gr[j];
    float s = (float)acc;
#pragma omp simd
    for (int64_t j = 0; j < c; j++)
        dr[j] += uz_simd_keep(gr[j] - expf(yr[j]) * s, yr[j] != -INFINITY);
}

/* Offset of row r's first mask element: r decomposed over the outer dims. */
static int64_t mask_row_offset(const uz_nn_mask *m, int64_t r)
{
    int64_t off = 0;
    for (int d = m->ndim - 1; d >= 0; d--) {
        off += (r % m->shape[d]) * m->stride[d];
        r /= m->shape[d];
    }
    return off;
}

void uz_cpu_softmax_forward(float *y, const float *x, const uz_nn_mask *mask, int64_t n,
                            int64_t c, bool log_space)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        if (mask) {
            /* The masked logits are staged in y, then normalised in place. */
            const float *mr = mask->data + mask_row_offset(mask, r);
            int64_t ms = mask->col_stride;
            for (int64_t j = 0; j < c; j++)
                yr[j] = xr[j] + mr[j * ms];
            xr = yr;
        }
        normalize_row(yr, xr, c, log_space);
    }
}

void uz_cpu_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int64_t c,
                             bool log_space)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *yr = y + r * c, *gr = dy + r * c;
        float *dr = dx + r * c;
        if (log_space) {
            log_softmax_grad_row(dr, gr, yr, c);
        } else {
            double acc = 0.0;
            for (int64_t j = 0; j < c; j++)
                acc += (double)gr[j] * (double)yr[j];
            float s = (float)acc;
            for (int64_t j = 0; j < c; j++)
                dr[j] += yr[j] * (gr[j] - s);
        }
    }
}
