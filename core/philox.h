/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11), shared by the CPU (core/rng.c) and the CUDA dropout, so both
 * draw the same numbers for the same (seed, stream, block). */
#ifndef UZ_PHILOX_H
#define UZ_PHILOX_H

#include "host_device.h"

#include <math.h>
#include <stdint.h>

/* Round keys are bumped by these Weyl constants after every round. */
#define UZ_PHILOX_BUMP0 0x9E3779B9u
#define UZ_PHILOX_BUMP1 0xBB67AE85u

/* One round on the counter (c0, c1, c2, c3) with round key (k0, k1). */
UZ_HOST_DEVICE void uz_philox_round(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3,
                                    uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)0xD2511F53u * *c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * *c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ *c1 ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ *c3 ^ k1;
    *c1 = (uint32_t)p1;
    *c3 = (uint32_t)p0;
    *c0 = n0;
    *c2 = n2;
}

UZ_HOST_DEVICE void uz_philox4x32(uint64_t seed, uint64_t stream, uint64_t block,
                                  uint32_t out[4])
{
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uz_philox_round(&c0, &c1, &c2, &c3, k0, k1);
        k0 += UZ_PHILOX_BUMP0;
        k1 += UZ_PHILOX_BUMP1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The top 24 bits of a word as a float in [0, 1). */
UZ_HOST_DEVICE float uz_philox_unit(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* Dropout keeps an element where uz_philox_unit(word) >= p, which is
 * (word >> 8) >= this cut: the same decision as integers, which both
 * backends use (a float compare may trap and stops the CPU vectoriser). */
UZ_HOST_DEVICE uint32_t uz_philox_keep_cut(float p)
{
    return (uint32_t)ceil((double)p * 16777216.0);
}

#endif
