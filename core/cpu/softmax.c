/* Softmax and log-softmax over rows, with an optional broadcast additive mask. */
#include "nn.h"

#include <math.h>

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
        float mx = -INFINITY;
        for (int64_t j = 0; j < c; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        if (mx == -INFINITY) {
            /* Nothing left to normalise over: an empty distribution. */
            for (int64_t j = 0; j < c; j++)
                yr[j] = log_space ? -INFINITY : 0.0f;
            continue;
        }
        double sum = 0.0;
        if (log_space) {
            for (int64_t j = 0; j < c; j++)
                sum += (double)expf(xr[j] - mx);
            float lsum = (float)log(sum);
            for (int64_t j = 0; j < c; j++)
                yr[j] = (xr[j] - mx) - lsum;
        } else {
            for (int64_t j = 0; j < c; j++) {
                float e = expf(xr[j] - mx);
                yr[j] = e;
                sum += (double)e;
            }
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < c; j++)
                yr[j] *= inv;
        }
    }
}

void uz_cpu_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int64_t c,
                             bool log_space)
{
#pragma omp parallel for if (n * c > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *yr = y + r * c, *gr = dy + r * c;
        float *dr = dx + r * c;
        double acc = 0.0;
        if (log_space) {
            /* Excluded entries (-inf outputs) are constants: they neither
             * pass their upstream gradient on nor get one. */
            for (int64_t j = 0; j < c; j++)
                if (yr[j] != -INFINITY)
                    acc += (double)gr[j];
            float s = (float)acc;
            for (int64_t j = 0; j < c; j++)
                if (yr[j] != -INFINITY)
                    dr[j] += gr[j] - expf(yr[j]) * s;
        } else {
            for (int64_t j = 0; j < c; j++)
                acc += (double)gr[j] * (double)yr[j];
            float s = (float)acc;
            for (int64_t j = 0; j < c; j++)
                dr[j] += yr[j] * (gr[j] - s);
        }
    }
}
