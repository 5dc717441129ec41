/* E4M3 conversion and FP8 group quantization (train/fp8.h) against a
 * brute-force nearest-value search, hand-checked values, the COAT vectors
 * of optimizers.md section 6 and error bounds derived from the format.
 *
 * Error bound used throughout: E4M3 keeps 3 mantissa bits, so rounding to
 * nearest moves a value y in the normal range (2^-6 <= y <= 448) by at most
 * half a unit in the last place, 2^-4 * y; in the subnormal range (spacing
 * 2^-9) by at most 2^-10. With e(y) = max(2^-4 y, 2^-10) the quantized y'
 * lies in [y - e, y + e]. A group stores y = 448 (|x|/M)^k (k = 1 without
 * expansion) and returns x' = M (y'/448)^(1/k), so
 *   |x' - x| / |x| <= max(1 - (1 - e/y)^(1/k), (1 + e/y)^(1/k) - 1),
 * which is 2^-4 at most for y in the normal range and k >= 1. 1e-5 of
 * slack covers the float arithmetic (pow, division) around the rounding. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "core/rng.h"
#include "train/fp8.h"

static const double FP8_SLACK = 1e-5;

static uint32_t float_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static float bits_float(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

START_TEST(test_e4m3_every_code_round_trips)
{
    for (int c = 0; c < 256; c++) {
        uint8_t code = (uint8_t)c;
        float v = uz_e4m3_decode(code);
        if ((c & 0x7f) == 0x7f) {
            ck_assert_msg(isnan(v), "code 0x%02x should be NaN", c);
            ck_assert_int_eq(signbit(v) != 0, (c & 0x80) != 0);
        } else {
            ck_assert_msg(isfinite(v), "code 0x%02x", c);
        }
        ck_assert_msg(uz_e4m3_encode(v) == code, "code 0x%02x -> %g -> 0x%02x", c, (double)v,
                      uz_e4m3_encode(v));
    }
    /* Codes are sign-magnitude and monotonic in the magnitude. */
    for (int c = 1; c < 0x7f; c++) {
        ck_assert(uz_e4m3_decode((uint8_t)c) > uz_e4m3_decode((uint8_t)(c - 1)));
        ck_assert(uz_e4m3_decode((uint8_t)(c | 0x80)) == -uz_e4m3_decode((uint8_t)c));
    }
}
END_TEST

START_TEST(test_e4m3_known_values)
{
    const struct {
        uint8_t code;
        float value;
    } known[] = {
        {0x00, 0.0f},          {0x01, 0x1p-9f},    {0x02, 0.00390625f}, {0x03, 3 * 0x1p-9f},
        {0x07, 7 * 0x1p-9f},   {0x08, 0x1p-6f},    {0x09, 1.125f * 0x1p-6f},
        {0x38, 1.0f},          {0x39, 1.125f},     {0x3f, 1.875f},      {0x40, 2.0f},
        {0x4d, 6.5f},          {0x60, 32.0f},      {0x62, 40.0f},       {0x78, 256.0f},
        {0x7d, 416.0f},        {0x7e, 448.0f},     {0xb8, -1.0f},       {0xfe, -448.0f},
        {0x81, -0x1p-9f},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        ck_assert_msg(uz_e4m3_decode(known[i].code) == known[i].value, "code 0x%02x",
                      known[i].code);
        ck_assert_int_eq(uz_e4m3_encode(known[i].value), known[i].code);
    }
    ck_assert_int_eq(uz_e4m3_encode(-0.0f), 0x80);
    ck_assert(signbit(uz_e4m3_decode(0x80)) && uz_e4m3_decode(0x80) == 0.0f);
}
END_TEST

START_TEST(test_e4m3_ties_to_even)
{
    const struct {
        float x;
        float want;
    } ties[] = {
        {1.0625f, 1.0f},              /* between 1 (mantissa 0) and 1.125 (1) */
        {1.1875f, 1.25f},             /* between 1.125 (1) and 1.25 (2) */
        {1.9375f, 2.0f},              /* 1.875 (7) and 2.0: the carry into the exponent */
        {232.0f, 224.0f},             /* 224 (6) and 240 (7) */
        {432.0f, 448.0f},             /* 416 (5) and 448 (6) */
        {0.5f * 0x1p-9f, 0.0f},       /* subnormal ties: half the smallest */
        {1.5f * 0x1p-9f, 2 * 0x1p-9f},
        {2.5f * 0x1p-9f, 2 * 0x1p-9f},
        {7.5f * 0x1p-9f, 0x1p-6f},    /* largest subnormal (7) vs smallest normal (8) */
        {1.0625f * 0x1p-6f, 0x1p-6f}, /* normal spacing 2^-9 at the bottom too */
    };
    for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++) {
        float x = ties[i].x, w = ties[i].want;
        ck_assert_msg(uz_e4m3_decode(uz_e4m3_encode(x)) == w, "%.9g -> %.9g, want %.9g",
                      (double)x, (double)uz_e4m3_decode(uz_e4m3_encode(x)), (double)w);
        ck_assert(uz_e4m3_decode(uz_e4m3_encode(-x)) == -w);
    }
    /* One float either side of a tie leaves it. */
    ck_assert(uz_e4m3_decode(uz_e4m3_encode(nextafterf(1.0625f, 2.0f))) == 1.125f);
    ck_assert(uz_e4m3_decode(uz_e4m3_encode(nextafterf(1.1875f, 0.0f))) == 1.125f);
    ck_assert(uz_e4m3_decode(uz_e4m3_encode(nextafterf(0.5f * 0x1p-9f, 1.0f))) == 0x1p-9f);
}
END_TEST

START_TEST(test_e4m3_saturation_and_nan)
{
    const float big[] = {448.0f, nextafterf(448.0f, 1e9f), 464.0f, 480.0f, 1e6f, 3e38f, INFINITY};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        ck_assert_int_eq(uz_e4m3_encode(big[i]), 0x7e);
        ck_assert_int_eq(uz_e4m3_encode(-big[i]), 0xfe);
    }
    ck_assert_int_eq(uz_e4m3_encode(447.0f), 0x7e);
    ck_assert_int_eq(uz_e4m3_encode(0x1p-11f), 0x00);
    ck_assert_int_eq(uz_e4m3_encode(-0x1p-11f), 0x80);
    ck_assert_int_eq(uz_e4m3_encode(1e-45f), 0x00); /* float subnormals */
    ck_assert_int_eq(uz_e4m3_encode(NAN), 0x7f);
    ck_assert_int_eq(uz_e4m3_encode(-NAN), 0xff);
}
END_TEST

/* The code a correct round-to-nearest-even saturating conversion gives,
 * by searching the value table in double. */
static uint8_t nearest_code(float x)
{
    double a = fabs((double)x);
    uint8_t sign = signbit(x) ? 0x80 : 0x00;
    if (a >= 448.0)
        return (uint8_t)(sign | 0x7e);
    int best = 0;
    for (int c = 1; c <= 0x7e; c++) {
        double d = fabs(a - (double)uz_e4m3_decode((uint8_t)c));
        double db = fabs(a - (double)uz_e4m3_decode((uint8_t)best));
        if (d < db || (d == db && (c & 1) == 0))
            best = c;
    }
    return (uint8_t)(sign | best);
}

START_TEST(test_e4m3_encode_matches_brute_force)
{
    /* Every midpoint between neighbouring values and one float either side
     * of it, then a stride through all floats up to 500. */
    for (int c = 0; c < 0x7e; c++) {
        float mid = 0.5f * (uz_e4m3_decode((uint8_t)c) + uz_e4m3_decode((uint8_t)(c + 1)));
        const float xs[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, 1e9f)};
        for (int j = 0; j < 3; j++) {
            ck_assert_int_eq(uz_e4m3_encode(xs[j]), nearest_code(xs[j]));
            ck_assert_int_eq(uz_e4m3_encode(-xs[j]), nearest_code(-xs[j]));
        }
    }
    uint32_t end = float_bits(500.0f);
    for (uint32_t b = 0; b < end; b += 9973) {
        float x = bits_float(b);
        ck_assert_msg(uz_e4m3_encode(x) == nearest_code(x), "%.9g", (double)x);
    }
}
END_TEST

/* ---- COAT vectors (optimizers.md section 6, optimizer_vectors.txt) ---- */

typedef struct coat_case {
    float x[3];
    float k;             /* 1 for the plain path */
    double c;            /* COAT's sqrt(min*max); unused when k == 1 */
    double s;            /* COAT's scale */
    float codes[3];      /* as values */
    double dequant[3];
} coat_case;

static void check_coat(const coat_case *t, bool expand)
{
    uint8_t q[3];
    float scale, k, out[3];
    uz_fp8_quantize(t->x, 3, expand, q, &scale, &k);
    ck_assert_msg(k == t->k, "k %.9g, want %.9g", (double)k, (double)t->k);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(uz_e4m3_decode(q[i]) == t->codes[i], "code %d: %.9g, want %.9g", i,
                      (double)uz_e4m3_decode(q[i]), (double)t->codes[i]);
    double amax = 0.0, amin = INFINITY;
    for (int i = 0; i < 3; i++) {
        amax = fmax(amax, fabs((double)t->x[i]));
        amin = fmin(amin, fabs((double)t->x[i]));
    }
    ck_assert_double_eq_tol(scale, amax, 1e-9 * amax);
    /* COAT's scale from ours: s = (M/c)^k / 448 (k = 1, c = 1: M/448). */
    double c = t->k == 1.0f ? 1.0 : sqrt(amax * amin);
    if (t->k != 1.0f)
        ck_assert_double_eq_tol(c, t->c, 2e-5 * t->c);
    double s = pow((double)scale / c, (double)k) / 448.0;
    ck_assert_double_eq_tol(s, t->s, 2e-5 * t->s);
    uz_fp8_dequantize(q, &scale, &k, 3, out);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs((double)out[i] - t->dequant[i]) <= 2e-5 * fabs(t->dequant[i]),
                      "dequant %d: %.9g, want %.9g", i, (double)out[i], t->dequant[i]);
}

START_TEST(test_fp8_coat_vectors_expansion)
{
    const coat_case cases[] = {
        /* step 1: m, v */
        {{0.01f, -0.02f, 0.03f}, 10.4375f, 0.0173205, 0.689761,
         {0.00390625f, -6.5f, 448.0f}, {0.00982601, -0.0199982, 0.03}},
        {{1e-05f, 4e-05f, 9e-05f}, 5.1875f, 3e-05, 0.666482,
         {0.005859375f, 6.5f, 448.0f}, {1.03005e-05, 3.97978e-05, 9e-05}},
        /* step 2: m, v */
        {{0.00384341f, 0.0220016f, 0.037f}, 5.0625f, 0.011925, 0.688922,
         {0.00390625f, 32.0f, 448.0f}, {0.00370502, 0.0219688, 0.037}},
        {{1.27902e-05f, 0.000199758f, 9.991e-05f}, 4.1875f, 5.05465e-05, 0.704493,
         {0.00390625f, 448.0f, 24.0f}, {1.23669e-05, 0.000199758, 9.93038e-05}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_coat(&cases[i], true);
}
END_TEST

START_TEST(test_fp8_coat_vectors_plain)
{
    const coat_case cases[] = {
        {{0.01f, -0.02f, 0.03f}, 1.0f, 0.0, 6.69643e-05, {144.0f, -288.0f, 448.0f},
         {0.00964286, -0.0192857, 0.03}},
        {{1e-05f, 4e-05f, 9e-05f}, 1.0f, 0.0, 2.00893e-07, {48.0f, 192.0f, 448.0f},
         {9.64286e-06, 3.85714e-05, 9e-05}},
        {{0.00367857f, 0.0226429f, 0.037f}, 1.0f, 0.0, 8.25893e-05, {44.0f, 288.0f, 448.0f},
         {0.00363393, 0.0237857, 0.037}},
        {{1.21332e-05f, 0.000198533f, 9.991e-05f}, 1.0f, 0.0, 4.43154e-07,
         {28.0f, 448.0f, 224.0f}, {1.24083e-05, 0.000198533, 9.92664e-05}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_coat(&cases[i], false);
}
END_TEST

/* ---- random data ---- */

/* The k section 6 prescribes for a group (1 without expansion or for a
 * (near-)constant group), computed independently in double. */
static double spec_k(const float *x, int64_t len, bool expand)
{
    double amax = 0.0, amin = INFINITY;
    for (int64_t i = 0; i < len; i++) {
        double a = fabs((double)x[i]);
        amax = fmax(amax, a);
        if (a > 0.0)
            amin = fmin(amin, a);
    }
    if (!expand || amax == 0.0)
        return 1.0;
    double range = (amax + 1e-30) / (amin + 1e-30);
    if (range <= 1.0 + 1e-6)
        return 1.0;
    return floor(16.0 * log2(448.0 * 448.0 / 2.0) / log2(range)) / 16.0;
}

/* The per-element bound of the header comment. */
static double rel_bound(double y, double k)
{
    double e = fmax(0x1p-4 * y, 0x1p-10);
    double lo = 1.0 - pow(fmax(0.0, 1.0 - e / y), 1.0 / k);
    double hi = pow(1.0 + e / y, 1.0 / k) - 1.0;
    return fmax(lo, hi) + FP8_SLACK;
}

typedef struct err_stats {
    double max_rel;        /* over all nonzero elements */
    double max_rel_normal; /* over elements whose y is in E4M3's normal range, k >= 1 */
} err_stats;

/* Quantizes and dequantizes x, checks k against the spec and every element
 * against its bound; returns the observed errors. */
static err_stats round_trip(const float *x, int64_t n, bool expand)
{
    int64_t groups = (n + UZ_FP8_GROUP - 1) / UZ_FP8_GROUP;
    uint8_t *q = malloc((size_t)n);
    float *scale = malloc(sizeof(float) * (size_t)groups), *k = malloc(sizeof(float) * (size_t)groups);
    float *out = malloc(sizeof(float) * (size_t)n);
    uz_fp8_quantize(x, n, expand, q, scale, k);
    uz_fp8_dequantize(q, scale, k, n, out);
    err_stats st = {0.0, 0.0};
    for (int64_t g = 0; g < groups; g++) {
        int64_t off = g * UZ_FP8_GROUP, len = n - off < UZ_FP8_GROUP ? n - off : UZ_FP8_GROUP;
        double kg = spec_k(x + off, len, expand);
        ck_assert_msg(k[g] == (float)kg, "group %lld: k %.9g, spec %.9g", (long long)g,
                      (double)k[g], kg);
        for (int64_t i = off; i < off + len; i++) {
            double xi = (double)x[i], oi = (double)out[i];
            if (xi == 0.0) {
                ck_assert(oi == 0.0);
                continue;
            }
            double y = 448.0 * pow(fabs(xi) / (double)scale[g], kg);
            double rel = fabs(oi - xi) / fabs(xi);
            ck_assert_msg(rel <= rel_bound(y, kg), "x[%lld] = %.9g -> %.9g (k %.9g, y %.9g)",
                          (long long)i, xi, oi, kg, y);
            st.max_rel = fmax(st.max_rel, rel);
            if (y >= 0x1p-6 && kg >= 1.0)
                st.max_rel_normal = fmax(st.max_rel_normal, rel);
        }
    }
    free(q);
    free(scale);
    free(k);
    free(out);
    return st;
}

enum { RAND_N = 64 * UZ_FP8_GROUP + 77 }; /* a partial last group */

START_TEST(test_fp8_error_bounds_normal_data)
{
    float *x = malloc(sizeof(float) * RAND_N);
    uz_rng_fill_normal(x, RAND_N, 7, 0, 0, 0.0f, 1.0f);
    for (int e = 0; e < 2; e++) {
        err_stats st = round_trip(x, RAND_N, e == 1);
        /* The headline bound: 3 mantissa bits, half an ulp. (Groups holding
         * a value near zero get k < 1 with expansion; rel_bound covers them.) */
        ck_assert_msg(st.max_rel_normal <= 0x1p-4 + FP8_SLACK, "%g", st.max_rel_normal);
    }
    /* Second moments: positive, squares spread the range. */
    for (int64_t i = 0; i < RAND_N; i++)
        x[i] = x[i] * x[i] * 1e-6f;
    for (int e = 0; e < 2; e++)
        round_trip(x, RAND_N, e == 1);
    free(x);
}
END_TEST

START_TEST(test_fp8_expansion_on_wide_range)
{
    /* Magnitudes log-uniform over [1e-6, 1] with random signs: plain
     * absmax flushes the smallest to zero, expansion (k < 1 here) keeps
     * every element within about 20%. */
    float *x = malloc(sizeof(float) * RAND_N), *u = malloc(sizeof(float) * RAND_N);
    uz_rng_fill_uniform(x, RAND_N, 11, 0, 0, -6.0f, 0.0f);
    uz_rng_fill_uniform(u, RAND_N, 11, 1, 0, -1.0f, 1.0f);
    for (int64_t i = 0; i < RAND_N; i++)
        x[i] = copysignf(powf(10.0f, x[i]), u[i]);
    err_stats plain = round_trip(x, RAND_N, false), expanded = round_trip(x, RAND_N, true);
    ck_assert_double_eq(plain.max_rel, 1.0);
    ck_assert_msg(expanded.max_rel < 0.25, "%g", expanded.max_rel);
    free(x);
    free(u);
}
END_TEST

static void check_exact(const float *x, int64_t n, bool expand)
{
    int64_t groups = (n + UZ_FP8_GROUP - 1) / UZ_FP8_GROUP;
    uint8_t q[2 * UZ_FP8_GROUP];
    float scale[2], k[2], out[2 * UZ_FP8_GROUP];
    ck_assert(groups <= 2);
    uz_fp8_quantize(x, n, expand, q, scale, k);
    uz_fp8_dequantize(q, scale, k, n, out);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(float_bits(out[i]) == float_bits(x[i]), "x[%lld] = %.9g -> %.9g",
                      (long long)i, (double)x[i], (double)out[i]);
}

START_TEST(test_fp8_constant_and_zero_groups_exact)
{
    const float values[] = {0.3f, -0.3f, 1.0f, 2.5e-7f, 1e-30f, 1e-40f, 3e38f, 448.0f, 1e6f};
    float x[2 * UZ_FP8_GROUP];
    for (int e = 0; e < 2; e++) {
        bool expand = e == 1;
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            for (int i = 0; i < 2 * UZ_FP8_GROUP; i++)
                x[i] = values[v];
            check_exact(x, 2 * UZ_FP8_GROUP, expand);
            check_exact(x, 1, expand);   /* a one-element group */
            check_exact(x, 130, expand); /* a two-element last group */
            /* Same magnitude, both signs, zeros in between. */
            for (int i = 0; i < 2 * UZ_FP8_GROUP; i++)
                x[i] = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? values[v] : -values[v]);
            check_exact(x, 2 * UZ_FP8_GROUP, expand);
        }
        /* All zeros, signs of zero kept. */
        for (int i = 0; i < 2 * UZ_FP8_GROUP; i++)
            x[i] = i % 2 ? -0.0f : 0.0f;
        check_exact(x, 2 * UZ_FP8_GROUP, expand);
        check_exact(x, 5, expand);
    }
}
END_TEST

START_TEST(test_fp8_groups_are_independent)
{
    /* n not a multiple of 128, large enough for the parallel path: the
     * whole call matches quantizing every group on its own. */
    const int64_t n = 1024 * UZ_FP8_GROUP + 77, groups = 1025;
    float *x = malloc(sizeof(float) * (size_t)n), *out = malloc(sizeof(float) * (size_t)n);
    uint8_t *q = malloc((size_t)n);
    float *scale = malloc(sizeof(float) * (size_t)groups), *k = malloc(sizeof(float) * (size_t)groups);
    uz_rng_fill_normal(x, n, 3, 0, 0, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++) /* vary the range from group to group */
        x[i] *= powf(10.0f, (float)((i / UZ_FP8_GROUP) % 9) - 4.0f) * (i % 5 == 0 ? 1e-3f : 1.0f);
    for (int e = 0; e < 2; e++) {
        bool expand = e == 1;
        uz_fp8_quantize(x, n, expand, q, scale, k);
        uz_fp8_dequantize(q, scale, k, n, out);
        for (int64_t g = 0; g < groups; g++) {
            int64_t off = g * UZ_FP8_GROUP, len = n - off < UZ_FP8_GROUP ? n - off : UZ_FP8_GROUP;
            uint8_t q1[UZ_FP8_GROUP];
            float s1, k1, o1[UZ_FP8_GROUP];
            uz_fp8_quantize(x + off, len, expand, q1, &s1, &k1);
            uz_fp8_dequantize(q1, &s1, &k1, len, o1);
            ck_assert(s1 == scale[g] && k1 == k[g]);
            ck_assert(memcmp(q1, q + off, (size_t)len) == 0);
            ck_assert(memcmp(o1, out + off, sizeof(float) * (size_t)len) == 0);
        }
        ck_assert(k[groups - 1] == (float)spec_k(x + n - 77, 77, expand));
    }
    free(x);
    free(out);
    free(q);
    free(scale);
    free(k);
}
END_TEST

START_TEST(test_fp8_k_one_and_nan)
{
    /* Range 60000: floor(16 * 16.6147 / log2 60000) / 16 = 1, so expansion
     * gives exactly the plain codes. */
    const float x[4] = {1.0f, -1.0f / 60000.0f, 0.25f, 0.0f};
    uint8_t qa[4], qb[4];
    float sa, ka, sb, kb;
    uz_fp8_quantize(x, 4, true, qa, &sa, &ka);
    uz_fp8_quantize(x, 4, false, qb, &sb, &kb);
    ck_assert(ka == 1.0f && kb == 1.0f && sa == sb && memcmp(qa, qb, 4) == 0);
    /* A NaN element stays NaN and leaves the others alone. */
    const float y[3] = {0.5f, NAN, -2.0f};
    float out[3];
    for (int e = 0; e < 2; e++) {
        uz_fp8_quantize(y, 3, e == 1, qa, &sa, &ka);
        uz_fp8_dequantize(qa, &sa, &ka, 3, out);
        ck_assert(sa == 2.0f && isnan(out[1]) && out[2] == -2.0f);
        ck_assert_double_eq_tol(out[0], 0.5, 0.5 * 0.1);
    }
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("fp8");
    TCase *tc = tcase_create("fp8");
    tcase_add_test(tc, test_e4m3_every_code_round_trips);
    tcase_add_test(tc, test_e4m3_known_values);
    tcase_add_test(tc, test_e4m3_ties_to_even);
    tcase_add_test(tc, test_e4m3_saturation_and_nan);
    tcase_add_test(tc, test_e4m3_encode_matches_brute_force);
    tcase_add_test(tc, test_fp8_coat_vectors_expansion);
    tcase_add_test(tc, test_fp8_coat_vectors_plain);
    tcase_add_test(tc, test_fp8_error_bounds_normal_data);
    tcase_add_test(tc, test_fp8_expansion_on_wide_range);
    tcase_add_test(tc, test_fp8_constant_and_zero_groups_exact);
    tcase_add_test(tc, test_fp8_groups_are_independent);
    tcase_add_test(tc, test_fp8_k_one_and_nan);
    suite_add_tcase(s, tc);
    return s;
}
