/* Counter-based random numbers on Philox4x32-10 (core/philox.h). */
#include "rng.h"

#include "philox.h"

#include <math.h>

void uz_philox(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    uz_philox4x32(seed, stream, block, out);
}

float uz_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    uz_philox(seed, stream, index >> 2, w);
    return uz_philox_unit(w[index & 3u]);
}

void uz_rng_fill_uniform(float *dst, int64_t n, uint64_t seed, uint64_t stream,
                         uint64_t offset, float lo, float hi)
{
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++)
        dst[i] = lo + (hi - lo) * uz_rng_uniform(seed, stream, offset + (uint64_t)i);
}

void uz_rng_fill_normal(float *dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                        float mean, float std)
{
    /* Box-Muller on words (2j, 2j+1) of the stream, so element i depends only on i. */
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t e = offset + (uint64_t)i;
        uint64_t pair = e >> 1;
        float u1 = uz_rng_uniform(seed, stream, 2 * pair);
        float u2 = uz_rng_uniform(seed, stream, 2 * pair + 1);
        float r = sqrtf(-2.0f * logf(1.0f - u1));
        float th = 6.2831853071795864f * u2;
        dst[i] = mean + std * r * ((e & 1u) ? sinf(th) : cosf(th));
    }
}
