/* FP8 (E4M3, one byte) storage of optimizer moments in groups of 128, with
 * COAT's dynamic range expansion (NVlabs/COAT, ICLR 2025): each group
 * stores f(x) = sign(x)|x|^k scaled to the format's range, k chosen per
 * group so the group's dynamic range fills E4M3's.
 * Spec and vectors: ../shared/reference/optimizers.md section 6. */
#ifndef UZ_FP8_H
#define UZ_FP8_H

#include <stdbool.h>
#include <stdint.h>

enum { UZ_FP8_GROUP = 128 };

/* E4M3 (no infinities, max 448, NaN 0x7f/0xff), round to nearest even;
 * encode saturates (infinities too) to +-448 and keeps the sign of NaN. */
uint8_t uz_e4m3_encode(float x);
float uz_e4m3_decode(uint8_t code);

/* Quantizes x[0..n) group by group into codes[n], with per-group scale[g]
 * and exponent k[g] (g < ceil(n/128)). expand = false: plain absmax/448
 * scaling with k = 1. Constant and all-zero groups are exact.
 * scale[g] is the group's max |x| (what code 448 stands for) and an element
 * comes back as sign(q) * scale * (|q|/448)^(1/k): COAT's
 * (q*s)^(1/k) * c with its centre c folded into the scale. */
void uz_fp8_quantize(const float *x, int64_t n, bool expand, uint8_t *codes, float *scale,
                     float *k);
void uz_fp8_dequantize(const uint8_t *codes, const float *scale, const float *k, int64_t n,
                       float *out);

#endif
