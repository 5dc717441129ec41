/* Inverted dropout keyed by Philox: element i's keep/drop decision is
 * uz_rng_uniform(seed, stream, i) >= p, so the mask is never stored: the
 * backward draws it again. */
#include "nn.h"

#include "../philox.h"

/* out[i] = in[i] * scale where kept, 0 where dropped; out += when accumulate. */
static void apply_mask(float *out, const float *in, int64_t n, float p, uint64_t seed,
                       uint64_t stream, bool accumulate)
{
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t blocks = (n + 3) / 4;
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t bi = 0; bi < blocks; bi++) {
        uint32_t w[4];
        uz_philox4x32(seed, stream, (uint64_t)bi, w); /* one call, four elements */
        int64_t i0 = bi * 4, len = n - i0 < 4 ? n - i0 : 4;
        for (int64_t k = 0; k < len; k++) {
            float v = uz_philox_unit(w[k]) < p ? 0.0f : in[i0 + k] * scale;
            if (accumulate)
                out[i0 + k] += v;
            else
                out[i0 + k] = v;
        }
    }
}

void uz_cpu_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed,
                            uint64_t stream)
{
    apply_mask(y, x, n, p, seed, stream, false);
}

void uz_cpu_dropout_backward(float *dx, const float *dy, int64_t n, float p, uint64_t seed,
                             uint64_t stream)
{
    apply_mask(dx, dy, n, p, seed, stream, true);
}
