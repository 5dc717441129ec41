/* SIMD-callable declarations of libm functions for the CPU kernels.
 *
 * glibc's libmvec has vector erff and expf, but math.h declares them SIMD-
 * callable only under -ffast-math. Declared so here, omp simd loops call
 * them 4 or 8 lanes at a time (GELU runs about 10x faster than with one
 * scalar call per element). Vector and scalar results may differ in the last
 * bit, so callers keep which elements take the vector path independent of
 * the thread count (fixed chunks or whole rows). */
#ifndef UZ_CPU_SIMD_MATH_H
#define UZ_CPU_SIMD_MATH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Loops compiled twice, for AVX2 and for the x86-64 baseline (SSE2); the
 * loader picks one (GNU ifunc), so a default build runs 8 lanes wide, with
 * libmvec's 8-lane functions, where the CPU allows. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define UZ_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define UZ_SIMD_CLONES
#endif

#if defined(__GLIBC__) && defined(__x86_64__) && defined(_OPENMP) && !defined(__FAST_MATH__)
#pragma omp declare simd notinbranch
float erff(float x);
#pragma omp declare simd notinbranch
float expf(float x);
#endif

/* v where keep, else +0, without a branch: a branch in a loop body stops
 * the vectoriser (the compiler sinks v's computation into it). */
static inline float uz_simd_keep(float v, bool keep)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= keep ? ~0u : 0u;
    memcpy(&v, &bits, sizeof v);
    return v;
}

#endif
