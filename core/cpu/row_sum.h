/* Row kernels' building blocks shared by the CPU layer norm and the fused
 * cross-entropy: the AVX2/baseline clone switch and float sums in fixed
 * lanes, so a row's sum has the same bits for any thread count and any
 * vector width. */
#ifndef UZ_CPU_ROW_SUM_H
#define UZ_CPU_ROW_SUM_H

#include <math.h>
#include <stdint.h>

#include "simd_math.h"

/* Row loops are UZ_SIMD_CLONES. Their sums give the same bits in both
 * clones: they run in explicit lanes in a fixed order and AVX2 has no FMA to
 * contract into. Helpers are forced inline so that they are compiled into
 * each clone. */
#if defined(__GNUC__)
#define INLINE __attribute__((always_inline)) inline
#else
#define INLINE inline
#endif

/* Row sums run in float over chunks of SUM_CHUNK elements and add the chunk
 * sums in double, so the rounding error grows with the chunk length, not the
 * row length. Within a chunk each of LANES accumulators sums every LANES-th
 * element (independent chains: a single vector accumulator would leave the
 * loop waiting on the add latency) and the lanes are added in a fixed tree.
 * The order is fixed at compile time: the same for any thread count and any
 * vector width. */
enum { SUM_CHUNK = 256, LANES = 16 };

static INLINE int64_t chunk_len(int64_t j0, int64_t c)
{
    return c - j0 < SUM_CHUNK ? c - j0 : SUM_CHUNK;
}

/* The lanes added pairwise in a fixed tree, written out so that it stays in
 * vector registers. */
static INLINE float lanes_total(const float *acc)
{
    float a[LANES / 2], b[LANES / 4];
    for (int k = 0; k < LANES / 2; k++)
        a[k] = acc[k] + acc[k + LANES / 2];
    for (int k = 0; k < LANES / 4; k++)
        b[k] = a[k] + a[k + LANES / 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

static INLINE float chunk_sum(const float *x, int64_t len)
{
    float acc[LANES] = {0.0f}, tail = 0.0f;
    int64_t full = len / LANES * LANES;
    for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
        for (int64_t k = 0; k < LANES; k++)
            acc[k] += x[j + k];
    for (int64_t j = full; j < len; j++)
        tail += x[j];
    return lanes_total(acc) + tail;
}

/* sum_j x_j over a row: chunk sums added in double. */
static INLINE double row_sum(const float *x, int64_t c)
{
    double total = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK)
        total += (double)chunk_sum(x + j0, chunk_len(j0, c));
    return total;
}

/* max_j x_j over a row, NaNs skipped (-inf when all are): each lane keeps
 * x > m ? x : m (one MAXPS), which is exact, so any order gives these bits. */
static INLINE float row_max(const float *x, int64_t c)
{
    float acc[LANES], m = -INFINITY;
    for (int k = 0; k < LANES; k++)
        acc[k] = -INFINITY;
    int64_t full = c / LANES * LANES;
    for (int64_t j = 0; j < full; j += LANES)
#pragma omp simd
        for (int64_t k = 0; k < LANES; k++)
            acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    for (int64_t j = full; j < c; j++)
        m = x[j] > m ? x[j] : m;
    for (int k = 0; k < LANES; k++)
        m = acc[k] > m ? acc[k] : m;
    return m;
}

/* sum_j exp(x_j - mx) over a row: each chunk's exponentials (libmvec's
 * vector expf, simd_math.h) into a buffer, then summed as row_sum does. */
static INLINE double row_sum_exp(const float *x, int64_t c, float mx)
{
    float e[SUM_CHUNK];
    double total = 0.0;
    for (int64_t j0 = 0; j0 < c; j0 += SUM_CHUNK) {
        int64_t len = chunk_len(j0, c);
#pragma omp simd
        for (int64_t j = 0; j < len; j++)
            e[j] = expf(x[j0 + j] - mx);
        total += (double)chunk_sum(e, len);
    }
    return total;
}

#endif
