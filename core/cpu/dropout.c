/* Inverted dropout keyed by Philox: element i's keep/drop decision is
 * uz_rng_uniform(seed, stream, i) >= p, so the mask is never stored: the
 * backward draws it again. */
#include "nn.h"

#include "../philox.h"
#include "row_sum.h"

#include <math.h>

/* Philox blocks per chunk: the rounds run lane by lane across a chunk's
 * blocks, which the compiler vectorises (one block per lane). */
enum { CHUNK_BLOCKS = 64 };

/* The words of blocks b0 .. b0+nb (nb <= CHUNK_BLOCKS): w[4 i + k] is word k
 * of block b0 + i, as uz_philox4x32 gives it. */
static UZ_SIMD_CLONES void philox_chunk(uint64_t seed, uint64_t stream, uint64_t b0, int nb,
                                     uint32_t *w)
{
    uint32_t c0[CHUNK_BLOCKS], c1[CHUNK_BLOCKS], c2[CHUNK_BLOCKS], c3[CHUNK_BLOCKS];
    for (int i = 0; i < CHUNK_BLOCKS; i++) {
        uint64_t b = b0 + (uint64_t)i;
        c0[i] = (uint32_t)b;
        c1[i] = (uint32_t)(b >> 32);
        c2[i] = (uint32_t)stream;
        c3[i] = (uint32_t)(stream >> 32);
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
#pragma omp simd
        for (int i = 0; i < CHUNK_BLOCKS; i++)
            uz_philox_round(&c0[i], &c1[i], &c2[i], &c3[i], k0, k1);
        k0 += UZ_PHILOX_BUMP0;
        k1 += UZ_PHILOX_BUMP1;
    }
    for (int i = 0; i < nb; i++) {
        w[4 * i] = c0[i];
        w[4 * i + 1] = c1[i];
        w[4 * i + 2] = c2[i];
        w[4 * i + 3] = c3[i];
    }
}

/* out[i] = in[i] * scale where kept, +0 where dropped; out += when
 * accumulate (written as 0 + v otherwise, the same bits as adding to a
 * zeroed buffer). Kept means (word >> 8) >= uz_philox_keep_cut(p). */
static UZ_SIMD_CLONES void apply_mask(float *out, const float *in, int64_t n, float p,
                                   uint64_t seed, uint64_t stream, bool accumulate)
{
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    uint32_t cut = uz_philox_keep_cut(p);
    int64_t blocks = (n + 3) / 4, chunks = (blocks + CHUNK_BLOCKS - 1) / CHUNK_BLOCKS;
#pragma omp parallel for if (n > UZ_NN_PAR_MIN) schedule(static)
    for (int64_t ci = 0; ci < chunks; ci++) {
        int64_t b0 = ci * CHUNK_BLOCKS;
        int nb = (int)(blocks - b0 < CHUNK_BLOCKS ? blocks - b0 : CHUNK_BLOCKS);
        uint32_t w[4 * CHUNK_BLOCKS];
        philox_chunk(seed, stream, (uint64_t)b0, nb, w);
        int64_t i0 = 4 * b0, len = n - i0 < 4 * nb ? n - i0 : 4 * nb;
        float *o = out + i0;
        const float *x = in + i0;
#pragma omp simd
        for (int64_t k = 0; k < len; k++) {
            float v = uz_simd_keep(x[k] * scale, (w[k] >> 8) >= cut);
            o[k] = (accumulate ? o[k] : 0.0f) + v;
        }
    }
}

void uz_cpu_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed,
                            uint64_t stream)
{
    apply_mask(y, x, n, p, seed, stream, false);
}

void uz_cpu_dropout_backward(float *dx, bool dx_assign, const float *dy, int64_t n, float p,
                             uint64_t seed, uint64_t stream)
{
    apply_mask(dx, dy, n, p, seed, stream, !dx_assign);
}
