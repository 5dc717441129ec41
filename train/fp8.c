/* E4M3 conversion and per-group FP8 quantization with COAT's dynamic range
 * expansion (optimizers.md section 6). Deliberate deviations from the COAT
 * kernel, all at edge cases:
 *  - the minimum is taken over the nonzero magnitudes of the whole group
 *    (the kernel lets a lane's own zero through, giving k < 1 spuriously);
 *  - groups whose range R <= 1 + 1e-6 (constant, one element, all zero) use
 *    plain absmax scaling with k = 1 instead of the kernel's k = +inf;
 *  - the stored scale is the group's max |x| and COAT's centre c is folded
 *    into it (see fp8.h), so the 1e-20/1e-30 guards against dividing by a
 *    zero max are not needed there and groups of tiny values (below 1e-20)
 *    are not flushed to zero. */
#include "fp8.h"

#include <math.h>
#include <string.h>

/* Codes 0x7f and 0xff are NaN; 0x80 is -0. */
static const float e4m3_values[256] = {
    0.0f, 0.001953125f, 0.00390625f, 0.005859375f, 0.0078125f, 0.009765625f, 0.01171875f, 0.013671875f,
    0.015625f, 0.017578125f, 0.01953125f, 0.021484375f, 0.0234375f, 0.025390625f, 0.02734375f, 0.029296875f,
    0.03125f, 0.03515625f, 0.0390625f, 0.04296875f, 0.046875f, 0.05078125f, 0.0546875f, 0.05859375f,
    0.0625f, 0.0703125f, 0.078125f, 0.0859375f, 0.09375f, 0.1015625f, 0.109375f, 0.1171875f,
    0.125f, 0.140625f, 0.15625f, 0.171875f, 0.1875f, 0.203125f, 0.21875f, 0.234375f,
    0.25f, 0.28125f, 0.3125f, 0.34375f, 0.375f, 0.40625f, 0.4375f, 0.46875f,
    0.5f, 0.5625f, 0.625f, 0.6875f, 0.75f, 0.8125f, 0.875f, 0.9375f,
    1.0f, 1.125f, 1.25f, 1.375f, 1.5f, 1.625f, 1.75f, 1.875f,
    2.0f, 2.25f, 2.5f, 2.75f, 3.0f, 3.25f, 3.5f, 3.75f,
    4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f, 7.5f,
    8.0f, 9.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 15.0f,
    16.0f, 18.0f, 20.0f, 22.0f, 24.0f, 26.0f, 28.0f, 30.0f,
    32.0f, 36.0f, 40.0f, 44.0f, 48.0f, 52.0f, 56.0f, 60.0f,
    64.0f, 72.0f, 80.0f, 88.0f, 96.0f, 104.0f, 112.0f, 120.0f,
    128.0f, 144.0f, 160.0f, 176.0f, 192.0f, 208.0f, 224.0f, 240.0f,
    256.0f, 288.0f, 320.0f, 352.0f, 384.0f, 416.0f, 448.0f, NAN,
    -0.0f, -0.001953125f, -0.00390625f, -0.005859375f, -0.0078125f, -0.009765625f, -0.01171875f, -0.013671875f,
    -0.015625f, -0.017578125f, -0.01953125f, -0.021484375f, -0.0234375f, -0.025390625f, -0.02734375f, -0.029296875f,
    -0.03125f, -0.03515625f, -0.0390625f, -0.04296875f, -0.046875f, -0.05078125f, -0.0546875f, -0.05859375f,
    -0.0625f, -0.0703125f, -0.078125f, -0.0859375f, -0.09375f, -0.1015625f, -0.109375f, -0.1171875f,
    -0.125f, -0.140625f, -0.15625f, -0.171875f, -0.1875f, -0.203125f, -0.21875f, -0.234375f,
    -0.25f, -0.28125f, -0.3125f, -0.34375f, -0.375f, -0.40625f, -0.4375f, -0.46875f,
    -0.5f, -0.5625f, -0.625f, -0.6875f, -0.75f, -0.8125f, -0.875f, -0.9375f,
    -1.0f, -1.125f, -1.25f, -1.375f, -1.5f, -1.625f, -1.75f, -1.875f,
    -2.0f, -2.25f, -2.5f, -2.75f, -3.0f, -3.25f, -3.5f, -3.75f,
    -4.0f, -4.5f, -5.0f, -5.5f, -6.0f, -6.5f, -7.0f, -7.5f,
    -8.0f, -9.0f, -10.0f, -11.0f, -12.0f, -13.0f, -14.0f, -15.0f,
    -16.0f, -18.0f, -20.0f, -22.0f, -24.0f, -26.0f, -28.0f, -30.0f,
    -32.0f, -36.0f, -40.0f, -44.0f, -48.0f, -52.0f, -56.0f, -60.0f,
    -64.0f, -72.0f, -80.0f, -88.0f, -96.0f, -104.0f, -112.0f, -120.0f,
    -128.0f, -144.0f, -160.0f, -176.0f, -192.0f, -208.0f, -224.0f, -240.0f,
    -256.0f, -288.0f, -320.0f, -352.0f, -384.0f, -416.0f, -448.0f, -NAN,
};

enum {
    E4M3_MAX_CODE = 0x7e,
    E4M3_NAN_CODE = 0x7f,
    F32_BITS_448 = 0x43e00000,       /* 1.75 * 2^8 */
    F32_BITS_MIN_NORMAL = 0x3c800000, /* 2^-6, E4M3's smallest normal */
    F32_BITS_INF = 0x7f800000
};

/* COAT's expand_min: k is a multiple of 1/16. */
static const double EXPAND_MIN = 16.0;
/* log2 of the largest group range an expanded group may have, 448*448/2. */
static const double LOG2_RANGE = 16.614709844115208;

/* Below this many elements a parallel region costs more than it saves, and
 * callers that already split their work into chunks this size (the
 * optimizer) never open a nested region. */
enum { FP8_PARALLEL_MIN = 65536 };

/* c ? a : b with masks: GCC does not if-convert the ternary chain below,
 * and the quantize loops only vectorize without branches. */
static inline uint32_t pick(bool c, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)c;
    return (a & m) | (b & ~m);
}

static inline uint32_t abs_bits(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return bits & 0x7fffffffu;
}

static inline uint8_t e4m3_encode(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint32_t sign = (bits >> 24) & 0x80u, abits = bits & 0x7fffffffu;
    /* Normal: round the 23-bit mantissa to 3 bits, ties to even; a carry
     * moves into the exponent, which is what rounding up should do. Then
     * rebias the exponent from 127 to 7. */
    uint32_t normal = ((abits + 0x7ffffu + ((abits >> 20) & 1u)) >> 20) - ((127u - 7u) << 3);
    /* Subnormal range (|x| < 2^-6, multiples of 2^-9): adding 2^23 to
     * |x| * 2^9 < 8 (exact) rounds it to an integer, to nearest even, in
     * the low mantissa bits; 8 lands on the smallest normal's code. */
    float a;
    memcpy(&a, &abits, sizeof a);
    float t = a * 512.0f + 0x1p23f;
    uint32_t tbits;
    memcpy(&tbits, &t, sizeof tbits);
    uint32_t sub = tbits - 0x4b000000u; /* bits of 2^23 */
    uint32_t mag = pick(abits < F32_BITS_MIN_NORMAL, sub, normal);
    mag = pick(abits >= F32_BITS_448, E4M3_MAX_CODE, mag); /* satfinite: infinities too */
    mag = pick(abits > F32_BITS_INF, E4M3_NAN_CODE, mag);
    return (uint8_t)(sign | mag);
}

uint8_t uz_e4m3_encode(float x)
{
    return e4m3_encode(x);
}

float uz_e4m3_decode(uint8_t code)
{
    return e4m3_values[code];
}

/* Plain absmax scaling: amax maps to 448. The product is formed in double
 * so that a max near FLT_MIN does not overflow 448/amax. */
static void quantize_plain(const float *x, int64_t len, float amax, uint8_t *q)
{
    double r = 448.0 / (double)amax;
    for (int64_t i = 0; i < len; i++)
        q[i] = e4m3_encode((float)((double)x[i] * r));
}

static void quantize_group(const float *x, int64_t len, bool expand, uint8_t *q, float *scale,
                           float *k)
{
    /* Max and smallest nonzero magnitude on the bit patterns, which order
     * like the values for non-negative floats; NaNs are left out. */
    uint32_t max_bits = 0, min_bits = UINT32_MAX;
    for (int64_t i = 0; i < len; i++) {
        uint32_t b = abs_bits(x[i]);
        b = pick(b > F32_BITS_INF, 0, b);
        max_bits = b > max_bits ? b : max_bits;
        b = pick(b == 0, UINT32_MAX, b);
        min_bits = b < min_bits ? b : min_bits;
    }
    float amax, amin;
    memcpy(&amax, &max_bits, sizeof amax);
    memcpy(&amin, &min_bits, sizeof amin); /* only read when amax > 0 */
    *scale = amax;
    *k = 1.0f;
    if (amax == 0.0f) {
        /* All zeros (NaNs aside): keep each zero's sign, let NaN codes
         * carry NaN through. */
        for (int64_t i = 0; i < len; i++)
            q[i] = e4m3_encode(x[i]);
        return;
    }
    if (expand) {
        double big = (double)amax + 1e-30, small = (double)amin + 1e-30;
        double range = big / small;
        if (range > 1.0 + 1e-6) {
            double kk = floor(EXPAND_MIN * LOG2_RANGE / log2(range)) / EXPAND_MIN;
            /* kk <= 0 only for an infinite max; kk == 1 is the plain path
             * exactly (the centre cancels), without the pow. */
            if (kk > 0.0 && kk != 1.0) {
                double c = sqrt(big) * sqrt(small);
                double s = pow(big / c, kk) / 448.0;
                float cf = (float)c, sf = (float)s, kf = (float)kk;
                for (int64_t i = 0; i < len; i++) {
                    float y = powf(fabsf(x[i]) / cf, kf);
                    q[i] = e4m3_encode(copysignf(y / sf, x[i]));
                }
                *k = kf;
                return;
            }
        }
    }
    quantize_plain(x, len, amax, q);
}

void uz_fp8_quantize(const float *x, int64_t n, bool expand, uint8_t *codes, float *scale,
                     float *k)
{
    int64_t groups = (n + UZ_FP8_GROUP - 1) / UZ_FP8_GROUP;
#pragma omp parallel for if (n > FP8_PARALLEL_MIN) schedule(static)
    for (int64_t g = 0; g < groups; g++) {
        int64_t off = g * UZ_FP8_GROUP;
        int64_t len = n - off < UZ_FP8_GROUP ? n - off : UZ_FP8_GROUP;
        quantize_group(x + off, len, expand, codes + off, scale + g, k + g);
    }
}

void uz_fp8_dequantize(const uint8_t *codes, const float *scale, const float *k, int64_t n,
                       float *out)
{
    int64_t groups = (n + UZ_FP8_GROUP - 1) / UZ_FP8_GROUP;
#pragma omp parallel for if (n > FP8_PARALLEL_MIN) schedule(static)
    for (int64_t g = 0; g < groups; g++) {
        int64_t off = g * UZ_FP8_GROUP;
        int64_t len = n - off < UZ_FP8_GROUP ? n - off : UZ_FP8_GROUP;
        const uint8_t *q = codes + off;
        float *o = out + off;
        float s = scale[g];
        if (k[g] == 1.0f) {
            /* (q / 448) first: the max code gives exactly 1, so the max
             * element and constant groups come back bit-exact. */
            for (int64_t i = 0; i < len; i++)
                o[i] = e4m3_values[q[i]] / 448.0f * s;
        } else {
            float inv_k = 1.0f / k[g];
            for (int64_t i = 0; i < len; i++) {
                float d = e4m3_values[q[i]];
                o[i] = copysignf(powf(fabsf(d) / 448.0f, inv_k) * s, d);
            }
        }
    }
}
