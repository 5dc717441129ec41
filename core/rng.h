/* Counter-based random numbers (Philox4x32-10), keyed by (seed, stream) with
 * a 64-bit element offset as the counter: element i of a draw is the same
 * whatever the thread count, the device, or the order it is computed in. */
#ifndef UZ_RNG_H
#define UZ_RNG_H

#include <stdint.h>

/* Four 32-bit words for counter `block` of (seed, stream). */
void uz_philox(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]);

/* Uniform in [0, 1) for element `index` of (seed, stream). */
float uz_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* dst[i] = element (offset + i) of the stream mapped to [lo, hi) or N(mean, std). */
void uz_rng_fill_uniform(float *dst, int64_t n, uint64_t seed, uint64_t stream,
                         uint64_t offset, float lo, float hi);
void uz_rng_fill_normal(float *dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                        float mean, float std);

#endif
