/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). */
#include "rng.h"

#include <math.h>

enum { PHILOX_ROUNDS = 10 };

void uz_philox(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static float to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

float uz_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t w[4];
    uz_philox(seed, stream, index >> 2, w);
    return to_unit(w[index & 3u]);
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
